//! HTTP handlers of the identity endpoints: extract, call the service, answer.

use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::admin_login;
use super::dto::*;
use super::principal::{Authenticated, Principal};
use super::service;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::util::rfc3339;

fn client_ip(req: &HttpRequest) -> String {
    // The socket peer, not X-Forwarded-For: a client could forge that header to dodge limits.
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn limit(state: &AppState, key: String, max: u32, window_secs: i64) -> ApiResult<()> {
    state
        .limiter
        .hit(&key, max, window_secs)
        .await
        .map_err(service::rate_limited)
}

/// Log in from the mini-program with the code of `wx.login()`.
#[utoipa::path(tag = "auth", request_body = WechatLogin, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "wechat_code_invalid", body = crate::error::ErrorBody),
    (status = 429, description = "rate_limited or wechat_rate_limited", body = crate::error::ErrorBody),
    (status = 503, description = "wechat_unavailable", body = crate::error::ErrorBody)))]
#[post("/auth/wechat-login")]
async fn wechat_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<WechatLogin>,
) -> ApiResult<web::Json<TokenResponse>> {
    limit(&state, format!("login-ip:{}", client_ip(&req)), 60, 60).await?;
    let result = service::login_wechat(&state, &body.code).await;
    let record = crate::compliance::audit::Record {
        actor_id: result.as_ref().ok().map(|t| t.user.id.clone()),
        actor_role: "wechat_user".into(),
        action: "login.wechat".into(),
        object: None,
        result: if result.is_ok() { "ok" } else { "failed" },
        detail: result.as_ref().err().map(|e| e.code.as_str()),
    };
    crate::compliance::audit::record(&state.db, record).await;
    Ok(web::Json(result?))
}

/// Log in to the admin page with a username and password, and the `totp` code once a
/// second factor is active. Five failed attempts lock the account for 15 minutes.
#[utoipa::path(tag = "auth", request_body = PasswordLogin, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "invalid_credentials, or mfa_required (a right password of an account with a second factor, without its current code, or with a used one)", body = crate::error::ErrorBody),
    (status = 423, description = "account_locked, with Retry-After", body = crate::error::ErrorBody),
    (status = 429, description = "rate_limited", body = crate::error::ErrorBody)))]
#[post("/auth/password-login")]
async fn password_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PasswordLogin>,
) -> ApiResult<web::Json<TokenResponse>> {
    if body.username.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::invalid("username", "too long"));
    }
    if body.totp.as_ref().is_some_and(|t| t.len() > 16) {
        return Err(ApiError::invalid("totp", "must be a 6-digit code"));
    }
    limit(
        &state,
        format!("pw-user:{}", body.username.to_lowercase()),
        10,
        300,
    )
    .await?;
    limit(&state, format!("pw-ip:{}", client_ip(&req)), 30, 300).await?;
    let result =
        admin_login::login_password(&state, &body.username, &body.password, body.totp.as_deref())
            .await;
    let record = crate::compliance::audit::Record {
        actor_id: result.as_ref().ok().map(|t| t.user.id.clone()),
        actor_role: "admin".into(),
        action: "login.password".into(),
        object: Some(format!("username:{}", body.username)),
        result: if result.is_ok() { "ok" } else { "failed" },
        detail: result.as_ref().err().map(|e| e.code.as_str()),
    };
    crate::compliance::audit::record(&state.db, record).await;
    Ok(web::Json(result?))
}

/// Change the caller's password (required first when an operator set it). Ends every other
/// session and answers with fresh tokens.
#[utoipa::path(tag = "auth", request_body = PasswordChange, security(("bearer" = [])), responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = crate::error::ErrorBody),
    (status = 403, description = "forbidden: an account without a password", body = crate::error::ErrorBody),
    (status = 422, description = "validation_failed: the old password is wrong, or the new one breaks the named rule", body = crate::error::ErrorBody),
    (status = 423, description = "account_locked, with Retry-After", body = crate::error::ErrorBody),
    (status = 429, description = "rate_limited", body = crate::error::ErrorBody)))]
#[post("/auth/password")]
async fn change_password(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<PasswordChange>,
) -> ApiResult<web::Json<TokenResponse>> {
    let who = who.0;
    limit(&state, format!("pw-change:{}", who.id()), 10, 300).await?;
    Ok(web::Json(
        admin_login::change_password(&state, &who, &body.old_password, &body.new_password).await?,
    ))
}

/// Start enrolling a TOTP second factor: the `otpauth://` URI to scan. Nothing changes at
/// login until it is confirmed.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = MfaEnrolment),
    (status = 401, body = crate::error::ErrorBody),
    (status = 403, description = "forbidden: an account without a password", body = crate::error::ErrorBody),
    (status = 409, description = "invalid_transition: a factor is already active", body = crate::error::ErrorBody)))]
#[post("/auth/mfa/enrol")]
async fn enrol_mfa(
    state: web::Data<AppState>,
    who: Authenticated,
) -> ApiResult<web::Json<MfaEnrolment>> {
    let otpauth_uri = admin_login::enrol_mfa(&state, &who.0).await?;
    Ok(web::Json(MfaEnrolment {
        qr_svg: super::totp::qr_svg(&otpauth_uri),
        otpauth_uri,
    }))
}

/// Activate the enrolled factor with its current code; from then on password login needs
/// `totp`.
#[utoipa::path(tag = "auth", request_body = MfaConfirmation, security(("bearer" = [])), responses(
    (status = 204),
    (status = 401, body = crate::error::ErrorBody),
    (status = 403, description = "forbidden: an account without a password", body = crate::error::ErrorBody),
    (status = 409, description = "invalid_transition: nothing enrolled, or a factor already active", body = crate::error::ErrorBody),
    (status = 422, description = "validation_failed: not the current code", body = crate::error::ErrorBody),
    (status = 429, description = "rate_limited", body = crate::error::ErrorBody)))]
#[post("/auth/mfa/confirm")]
async fn confirm_mfa(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<MfaConfirmation>,
) -> ApiResult<HttpResponse> {
    let who = who.0;
    limit(&state, format!("mfa-confirm:{}", who.id()), 10, 300).await?;
    admin_login::confirm_mfa(&state, &who, &body.code).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate the refresh token. Reusing an old one revokes the whole login.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "refresh_token_invalid or refresh_token_reused", body = crate::error::ErrorBody)))]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    limit(&state, format!("refresh-ip:{}", client_ip(&req)), 120, 60).await?;
    Ok(web::Json(
        service::refresh(&state, &body.refresh_token).await?,
    ))
}

/// Revoke the refresh token (and its family), or every session when none is given.
#[utoipa::path(tag = "auth", request_body = LogoutRequest, security(("bearer" = [])), responses((status = 204)))]
#[post("/auth/logout")]
async fn logout(
    state: web::Data<AppState>,
    who: Authenticated,
    body: Option<web::Json<LogoutRequest>>,
) -> ApiResult<HttpResponse> {
    let who = who.0;
    let token = body.as_ref().and_then(|b| b.refresh_token.clone());
    service::logout(&state, &who, token.as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The calling user.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
#[get("/me")]
async fn get_me(state: web::Data<AppState>, who: Authenticated) -> ApiResult<web::Json<Me>> {
    Ok(web::Json(service::me(&state, &who.0).await?))
}

/// Bind the phone number from the `getPhoneNumber` button.
#[utoipa::path(tag = "auth", request_body = PhoneBinding, security(("bearer" = [])), responses((status = 200, body = Me), (status = 400, body = crate::error::ErrorBody)))]
#[post("/me/phone")]
async fn bind_phone(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<PhoneBinding>,
) -> ApiResult<web::Json<Me>> {
    service::bind_phone(&state, &who, &body.code).await?;
    let fresh = super::principal::load(&state, who.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(web::Json(service::me(&state, &fresh).await?))
}

/// Redeem an invite code: become worker, backup or volunteer of a grid.
#[utoipa::path(tag = "auth", request_body = Enrolment, security(("bearer" = [])), responses(
    (status = 200, body = Me),
    (status = 403, description = "self_grant: the invite's own creator", body = crate::error::ErrorBody),
    (status = 404, description = "invite_not_found", body = crate::error::ErrorBody),
    (status = 409, description = "invite_used", body = crate::error::ErrorBody),
    (status = 410, description = "invite_expired or invite_revoked", body = crate::error::ErrorBody)))]
#[post("/me/enrolments")]
async fn enrol(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<Enrolment>,
) -> ApiResult<web::Json<Me>> {
    service::enrol(&state, &who, &body.invite_code).await?;
    let fresh = super::principal::load(&state, who.id())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(web::Json(service::me(&state, &fresh).await?))
}

/// Record subscribe-message consent (one send per `accept`).
#[utoipa::path(tag = "auth", request_body = SubscriptionConsent, security(("bearer" = [])), responses((status = 200, body = SubscriptionLedger)))]
#[post("/me/subscriptions")]
async fn subscriptions(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<SubscriptionConsent>,
) -> ApiResult<web::Json<SubscriptionLedger>> {
    let remaining = service::record_consent(&state, &who, &body.results).await?;
    Ok(web::Json(SubscriptionLedger { remaining }))
}

/// Create a single-use invite code to a grid inside the admin's area, or to a partner unit
/// the admin manages.
#[utoipa::path(tag = "auth", request_body = InviteRequest, security(("bearer" = [])), responses(
    (status = 201, body = InviteResponse), (status = 403, body = crate::error::ErrorBody)))]
#[post("/admin/invites")]
async fn create_invite(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<InviteRequest>,
) -> ApiResult<HttpResponse> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let invite = match (&body.grid_code, &body.unit_code) {
        (Some(grid), None) => service::create_invite(&state, &who, grid, &body.role).await?,
        (None, Some(unit)) => service::create_unit_invite(&state, &who, unit, &body.role).await?,
        _ => {
            return Err(ApiError::invalid(
                "grid_code",
                "name either a grid_code or a unit_code",
            ))
        }
    };
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "role.invite",
            Some(match &invite.unit_code {
                Some(u) => format!("unit:{u} as {}", invite.role),
                None => format!("grid:{} as {}", invite.grid_code, invite.role),
            }),
        ),
    )
    .await;
    Ok(HttpResponse::Created().json(InviteResponse {
        invite_code: invite.code,
        grid_code: (!invite.grid_code.is_empty()).then_some(invite.grid_code),
        unit_code: invite.unit_code,
        role: invite.role,
        expires_at: rfc3339(invite.expires_at),
    }))
}
