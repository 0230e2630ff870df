//! The `audit_log` table: append-only; `hash` chains each sealed row to the one before.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub action: String,
    pub object: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub result: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub detail: Option<String>,
    /// The hash of the row before, once sealed.
    pub prev_hash: Option<String>,
    /// SHA-256 over `prev_hash` and this row's fields, once sealed.
    pub hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
