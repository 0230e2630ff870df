//! The `users` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub appid: Option<String>,
    pub openid: Option<String>,
    pub unionid: Option<String>,
    pub session_key: Option<String>,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub nickname: String,
    /// Encrypted (`v1:KID:NONCE:CT`, see `infra::crypto`); never the number itself.
    pub phone: Option<String>,
    /// HMAC-SHA256 of the number under the phone hash key: what lookups compare.
    pub phone_hash: Option<String>,
    pub admin_area_code: Option<String>,
    pub is_volunteer: bool,
    pub volunteer_unit: Option<String>,
    pub created_at: i64,
    /// A separated duty (MLPS): `system`, `security` or `audit`; `None` for everyone else.
    pub duty: Option<String>,
    /// Set when an operator chose the password (CLI, reset): it must be changed first.
    pub must_change_password: bool,
    /// Failed attempts since the last success (reserved before the password is checked).
    pub failed_logins: i32,
    /// Epoch ms until which password login is refused.
    pub locked_until: Option<i64>,
    /// The active TOTP secret (base32); null until a factor is confirmed.
    pub totp_secret: Option<String>,
    /// A secret enrolled but not yet confirmed with a code.
    pub totp_pending_secret: Option<String>,
    /// The last TOTP time step accepted: a code of this step or an earlier one is refused.
    pub totp_last_step: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
