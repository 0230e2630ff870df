//! The `open311_clients` table: partner systems that file cases through Open311.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "open311_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// SHA-256 of the api_key (the key itself is shown once).
    pub key_hash: String,
    /// The admin area that created it: its cases must fall inside.
    pub owner_path: String,
    /// A revoked key answers 403.
    pub active: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
