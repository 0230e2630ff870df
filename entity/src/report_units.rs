//! The `report_units` table: one dispatch of a report to a unit, with its own states
//! (`AssignmentStatus`). Rows are never deleted: returned and withdrawn ones are the record
//! the unit metrics count.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report_units")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub report_id: String,
    pub unit_code: String,
    pub role: crate::enums::UnitRole,
    pub status: crate::enums::AssignmentStatus,
    pub instruction: Option<String>,
    /// Who dispatched it; `None` for the ownership rule's pre-dispatch on submission.
    pub dispatched_by: Option<String>,
    pub dispatched_at: i64,
    /// Sign for it by then (the category's sign-for limit on the working calendar).
    pub sign_deadline: i64,
    /// Resolve it by then (the handling limit).
    pub deadline: i64,
    pub signed_at: Option<i64>,
    pub signed_by: Option<String>,
    pub returned_at: Option<i64>,
    pub return_reason: Option<String>,
    pub resolved_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
