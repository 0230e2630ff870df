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
    pub phone: Option<String>,
    pub admin_area_code: Option<String>,
    pub is_volunteer: bool,
    pub volunteer_unit: Option<String>,
    pub created_at: i64,
    /// A separated duty (MLPS): `system`, `security` or `audit`; `None` for everyone else.
    pub duty: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
