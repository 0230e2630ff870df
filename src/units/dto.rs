//! Request and response bodies of the unit endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::reports::dto::ReportView;
use crate::reports::status::Light;
use entity::enums::{AssignmentStatus, UnitKind, UnitRole};

#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewUnit {
    /// 1–32 letters, digits, `-` or `_`; unique; never reused.
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    /// The areas it serves (its jurisdiction), inside the admin's area.
    pub area_codes: Vec<String>,
}

/// Fields to change; absent fields stay. A unit is never deleted: `active: false` stops new
/// dispatches and keeps its cases and record.
#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct UnitPatch {
    pub name: Option<String>,
    pub kind: Option<UnitKind>,
    pub area_codes: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct UnitView {
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    pub active: bool,
    pub area_codes: Vec<String>,
    /// Whether the caller may change it (it was created at or below their area).
    pub manageable: bool,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct UnitList {
    pub items: Vec<UnitView>,
}

/// A case in a unit's queue: the unit's part and its clocks, and the report.
#[derive(Serialize, ToSchema)]
pub struct UnitTask {
    pub unit_code: String,
    pub role: UnitRole,
    pub status: AssignmentStatus,
    pub instruction: Option<String>,
    pub dispatched_at: String,
    pub sign_deadline: String,
    pub deadline: String,
    /// The sign-for clock: green under 80 % of the limit used, yellow to the deadline, red
    /// past it; once signed, whether it was signed in time.
    pub sign_light: Light,
    /// The handling clock, the same way; once resolved, whether it was resolved in time.
    pub light: Light,
    pub report: ReportView,
}

#[derive(Serialize, ToSchema)]
pub struct UnitTaskPage {
    pub items: Vec<UnitTask>,
    pub next_cursor: Option<String>,
}
