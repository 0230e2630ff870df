//! The `reports` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `R20261205-00042`: the kind, the Asia/Shanghai day of creation, a counter that only grows.
    #[sea_orm(unique)]
    pub case_no: String,
    pub reporter_id: String,
    pub category: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Double")]
    pub lat: f64,
    #[sea_orm(column_type = "Double")]
    pub lng: f64,
    pub coord_input: String,
    pub address: Option<String>,
    pub anonymous: bool,
    pub urgency: crate::enums::Urgency,
    pub status: crate::enums::ReportStatus,
    pub grid_code: String,
    pub queue_code: String,
    pub queue_path: String,
    pub accepted_by: Option<String>,
    pub submitted_at: i64,
    pub accepted_at: Option<i64>,
    pub deadline: Option<i64>,
    pub suspended_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub rework_count: i32,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub extension_until: Option<i64>,
    pub extension_reason: Option<String>,
    pub duplicate_of: Option<String>,
    pub flagged: bool,
    pub overdue_notified: bool,
    /// The unit leading its handling now (主办), while one holds it.
    pub lead_unit: Option<String>,
    /// Flagged for supervision (督办).
    pub supervised: bool,
    /// How many times units returned it (退单); the third escalates it.
    pub return_count: i32,
    pub source: crate::enums::Source,
    /// `hotline:<order no>` or `device:<integration>:<alarm id>`: the same again is this case.
    pub external_ref: Option<String>,
    /// The patrol a worker found it on.
    pub patrol_id: Option<String>,
    /// A hotline caller's phone: personal data, masked in every view.
    /// Encrypted like `users.phone`.
    pub caller_phone: Option<String>,
    /// HMAC-SHA256 of the caller's number: what lookups compare.
    pub caller_phone_hash: Option<String>,
    /// When the retention job took the closed case's exact point, address and photos.
    pub retained_at: Option<i64>,
    /// A dispute's latest mediation (the timeline keeps them all).
    pub mediation_tier: Option<String>,
    pub mediation_outcome: Option<String>,
    pub mediated_at: Option<i64>,
    /// The follow-up visit due after an agreement (调后回访).
    pub follow_up_due: Option<i64>,
    pub follow_up_result: Option<String>,
    pub follow_up_at: Option<i64>,
    /// A link an Open311 client sent with the case (never fetched by the server).
    pub media_url: Option<String>,
    pub version: i32,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
