//! The `timeline_events` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "timeline_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub subject_kind: String,
    pub subject_id: String,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    #[sea_orm(column_type = "Text")]
    pub note: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub data: Option<String>,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
