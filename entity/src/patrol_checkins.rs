//! The `patrol_checkins` table: the points of a patrol's track, personal data of the worker.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "patrol_checkins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patrol_id: String,
    /// The mini-program's id for the point: a batch sent again adds nothing.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// GCJ-02.
    #[sea_orm(column_type = "Double")]
    pub lat: f64,
    #[sea_orm(column_type = "Double")]
    pub lng: f64,
    pub at: i64,
    /// The point lies outside the patrol's grid (accepted, flagged).
    pub outside: bool,
    pub received_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
