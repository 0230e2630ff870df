//! The `units` table: partner units (DOMAIN.md §8).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "units")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub name: String,
    pub kind: crate::enums::UnitKind,
    /// An inactive unit takes no new dispatches; a unit is never deleted.
    pub active: bool,
    /// The path of the admin area that created it: admins at or above it manage it.
    pub owner_path: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
