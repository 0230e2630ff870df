//! The `patrols` table: a grid worker's walk through their grid (巡查).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patrols")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub worker_id: String,
    pub grid_code: String,
    pub grid_path: String,
    pub started_at: i64,
    /// `None` while walking; a patrol left open ends itself 8 hours after it started.
    pub ended_at: Option<i64>,
    /// Check-ins received (each `client_id` once).
    pub checkins: i32,
    /// Of which outside the grid.
    pub outside: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
