//! The `wishes` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "wishes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `R20261205-00042`: the kind, the Asia/Shanghai day of creation, a counter that only grows.
    #[sea_orm(unique)]
    pub case_no: String,
    pub wisher_id: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub kind: crate::enums::WishKind,
    pub estimated_value_fen: Option<i64>,
    #[sea_orm(column_type = "Double")]
    pub lat: f64,
    #[sea_orm(column_type = "Double")]
    pub lng: f64,
    pub grid_code: String,
    pub queue_path: String,
    pub status: crate::enums::WishStatus,
    pub deadline: i64,
    pub claimant_id: Option<String>,
    pub claimant_unit: Option<String>,
    pub reason: Option<String>,
    pub flagged: bool,
    pub expired_to_queue: bool,
    pub submitted_at: i64,
    pub approved_at: Option<i64>,
    pub claimed_at: Option<i64>,
    pub fulfilled_at: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub fulfil_note: Option<String>,
    pub closed_at: Option<i64>,
    pub version: i32,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
