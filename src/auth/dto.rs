//! Request and response bodies of the identity endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::principal::Role;

#[derive(Deserialize, ToSchema)]
pub struct WechatLogin {
    /// The code from `wx.login()`.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordLogin {
    pub username: String,
    pub password: String,
    /// The 6-digit code of the admin's authenticator app, once a second factor is active
    /// (without it such a login answers 401 `mfa_required`).
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub old_password: String,
    /// At least 12 characters, three of lowercase, uppercase, digits and other characters,
    /// not containing the username, not a common password.
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct MfaEnrolment {
    /// `otpauth://totp/SafeGrid:<username>?secret=…` for an authenticator app (shown as a QR
    /// code). The factor is active only after `POST /auth/mfa/confirm`.
    pub otpauth_uri: String,
    /// The same URI as a QR code (an SVG document) for the console to show.
    pub qr_svg: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct MfaConfirmation {
    /// The current 6-digit code of the factor being enrolled.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct LogoutRequest {
    /// The refresh token to revoke (with its family); without it every session of the user ends.
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: Me,
}

#[derive(Serialize, ToSchema)]
pub struct GridRef {
    pub code: String,
    pub name: String,
    /// `worker`, `backup` or `volunteer`.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct AreaRef {
    pub code: String,
    pub name: String,
    pub level: String,
}

/// The calling user. The phone number is only ever shown masked.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub roles: Vec<Role>,
    pub nickname: String,
    /// e.g. `138****5678`; null until a phone is bound.
    pub phone_masked: Option<String>,
    pub grids: Vec<GridRef>,
    /// The admin's area; null for non-admins.
    pub area: Option<AreaRef>,
}

#[derive(Deserialize, ToSchema)]
pub struct PhoneBinding {
    /// The code from the `getPhoneNumber` button (not from `wx.login`).
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct Enrolment {
    pub invite_code: String,
}

/// An invite to a grid (`grid_code`, role `worker`, `backup` or `volunteer`) or to a
/// partner unit (`unit_code`, role `unit_lead` or `unit_member`).
#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    pub grid_code: Option<String>,
    pub unit_code: Option<String>,
    /// `worker`, `backup` or `volunteer` for a grid; `unit_lead` or `unit_member` for a unit.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteResponse {
    pub invite_code: String,
    /// The grid of a grid invite; null for a unit invite.
    pub grid_code: Option<String>,
    /// The unit of a unit invite; null for a grid invite.
    pub unit_code: Option<String>,
    pub role: String,
    pub expires_at: String,
}

#[derive(Deserialize, ToSchema)]
pub struct SubscriptionConsent {
    /// What `wx.requestSubscribeMessage` returned: template id → `accept` | `reject` | `ban` | `filter`.
    pub results: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionLedger {
    /// Template id → sends still allowed.
    pub remaining: std::collections::BTreeMap<String, i32>,
}
