//! The `integrations` table: device platforms that post signed alarms.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The HMAC key; shown once at creation.
    pub secret: String,
    /// The admin area that created it: its alarms must fall inside.
    pub owner_path: String,
    /// JSON object: alarm kind → category code.
    #[sea_orm(column_type = "Text")]
    pub kind_map: String,
    pub active: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
