//! The `invites` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "invites")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// The grid of a grid invite; '' for a unit invite.
    pub grid_code: String,
    /// The unit of a unit invite (`unit_lead`, `unit_member`).
    pub unit_code: Option<String>,
    pub role: String,
    pub created_by: String,
    pub expires_at: i64,
    pub used_by: Option<String>,
    pub used_at: Option<i64>,
    pub created_at: i64,
    /// Revoked by an admin before use; a revoked code is refused like an expired one.
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
