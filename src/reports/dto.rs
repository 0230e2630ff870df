//! Request and response bodies of the report endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::categories::Urgency;
use super::status::{Light, ReportStatus};
use crate::cases::dto::{LocationIn, LocationOut, PhotoView, PlaceRef};
use crate::timeline::EntryView;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewReport {
    pub category: String,
    /// 1–2,000 characters.
    pub description: String,
    pub location: LocationIn,
    pub address: Option<String>,
    /// Up to 9 ids from `POST /uploads`.
    #[serde(default)]
    pub photo_ids: Vec<String>,
    /// Hidden from workers (not from the system).
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub urgency: Urgency,
    // Staff only: the source and what goes with it (DOMAIN.md §9). Plain fields rather than
    // a flattened struct: flattening buffers unknown fields, and a deeply nested one would
    // then fail as invalid JSON instead of being skipped.
    /// `patrol` or `visit` (a grid worker in their grid), `hotline` (an admin); residents
    /// send nothing or `resident`.
    pub source: Option<entity::enums::Source>,
    /// The patrol a worker found it on.
    pub patrol_id: Option<String>,
    /// Fixed on the spot: the report starts resolved.
    pub resolved_on_site: Option<super::origin::OnSite>,
    /// The hotline's work-order number: the same number again is the same case.
    pub hotline_order_no: Option<String>,
    /// The hotline caller's phone: stored, masked in every view.
    pub caller_phone: Option<String>,
    /// The hotline's deadline (RFC 3339), overriding the category's.
    pub deadline: Option<String>,
}

impl NewReport {
    /// The staff fields, for `origin::decide`.
    pub fn staff(&self) -> super::origin::StaffFields {
        super::origin::StaffFields {
            source: self.source,
            patrol_id: self.patrol_id.clone(),
            resolved_on_site: self.resolved_on_site.clone(),
            hotline_order_no: self.hotline_order_no.clone(),
            caller_phone: self.caller_phone.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

/// One entry to the state machine. Which fields are needed depends on `action`.
#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct ActionRequest {
    /// accept, reject, note, escalate, hand_down, suspend, resume, request_extension,
    /// approve_extension, resolve, confirm, rework, rate, cancel (`auto_close` is the
    /// system's own: 422 from a client).
    #[schema(value_type = super::status::ActionKind)]
    pub action: String,
    pub reason: Option<String>,
    pub text: Option<String>,
    pub note: Option<String>,
    #[serde(default)]
    pub photo_ids: Vec<String>,
    #[serde(default)]
    pub skip_level: bool,
    pub grid_code: Option<String>,
    /// RFC 3339, for `request_extension`.
    pub until: Option<String>,
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub duplicate_of: Option<String>,
    /// `dispatch`: the unit leading the handling (主办).
    pub lead_unit: Option<String>,
    /// `dispatch`: assisting units (协办).
    #[serde(default)]
    pub assist_units: Vec<String>,
    /// `dispatch`: what the units are asked to do.
    pub instruction: Option<String>,
    /// `dispatch`: the handling limit in working hours (the category's limit by default).
    pub limit_hours: Option<i64>,
    /// `mediate`: grid, community, lawyer, street or center.
    pub tier: Option<String>,
    /// `mediate`: agreed, partly_agreed, failed, court or petition.
    pub outcome: Option<String>,
    /// `mediate`: who the parties are.
    pub parties: Option<String>,
    /// `mediate`: what they agreed.
    pub agreement: Option<String>,
    /// `follow_up`: kept, broken or unreachable.
    pub result: Option<String>,
}

/// A hotline caller's number, to find the cases they called about.
#[derive(Deserialize, ToSchema)]
pub struct CallerLookup {
    /// Digits, '-' or '+' (a leading +86 is ignored).
    pub caller_phone: String,
}

/// One hotline case of a caller.
#[derive(Serialize, ToSchema)]
pub struct CallerCase {
    pub id: String,
    pub case_no: String,
    pub category: String,
    pub status: ReportStatus,
    pub submitted_at: String,
}

/// The caller's cases under the admin's area, newest first (at most 50).
#[derive(Serialize, ToSchema)]
pub struct CallerCases {
    pub items: Vec<CallerCase>,
}

/// A hotline caller's number in full.
#[derive(Serialize, ToSchema)]
pub struct CallerPhone {
    pub caller_phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct MediationView {
    pub tier: String,
    pub outcome: String,
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct FollowUpView {
    pub due: String,
    /// Green until 80 % of the week since the mediation, yellow to the due date, red after;
    /// once made, whether it was made in time.
    pub light: Light,
    /// kept, broken or unreachable, once made.
    pub result: Option<String>,
    pub at: Option<String>,
}

/// One unit's part in a dispatched case.
#[derive(Serialize, ToSchema)]
pub struct UnitAssignmentView {
    pub code: String,
    pub name: String,
    pub role: entity::enums::UnitRole,
    pub status: entity::enums::AssignmentStatus,
    /// Sign for it by then (RFC 3339).
    pub sign_deadline: String,
    /// Resolve it by then (RFC 3339).
    pub deadline: String,
    pub signed_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Why the unit returned it (退单).
    pub return_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExtensionView {
    pub until: String,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema, Clone)]
pub struct ReporterView {
    pub nickname: String,
    pub phone_masked: Option<String>,
}

/// An open report of the same category nearby: a hint, with nobody's identity or words.
#[derive(Serialize, ToSchema)]
pub struct DuplicateHint {
    pub id: String,
    /// The case number people read and search: `R20261205-00042`.
    pub case_no: String,
    pub status: ReportStatus,
    pub distance_m: f64,
    pub submitted_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub id: String,
    /// The case number people read and search: `R20261205-00042`.
    pub case_no: String,
    pub category: String,
    pub description: String,
    pub location: LocationOut,
    pub address: Option<String>,
    pub anonymous: bool,
    pub urgency: Urgency,
    pub status: ReportStatus,
    /// The grid the location fell in; null when it fell in none.
    pub grid: Option<PlaceRef>,
    /// The queue that holds it now (a grid, or an upper level after escalation).
    pub queue: PlaceRef,
    pub submitted_at: String,
    pub accepted_at: Option<String>,
    pub deadline: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub light: Light,
    pub rework_count: i32,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub extension_request: Option<ExtensionView>,
    pub duplicate_of: Option<String>,
    /// The partner units dispatched to it (withdrawn dispatches left out), oldest first.
    pub units: Vec<UnitAssignmentView>,
    /// Flagged for supervision (督办).
    pub supervised: bool,
    /// Where the case came from: resident, patrol, visit, hotline, device, open311.
    pub source: entity::enums::Source,
    /// The patrol a worker found it on.
    pub patrol_id: Option<String>,
    /// A hotline case's work-order number.
    pub hotline_order_no: Option<String>,
    /// A dispute's latest mediation.
    pub mediation: Option<MediationView>,
    /// The follow-up visit after an agreement, with its light.
    pub follow_up: Option<FollowUpView>,
    /// A hotline caller's phone, masked; shown to admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_phone_masked: Option<String>,
    /// Flagged by content review; shown to admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    /// Hidden from workers when the report is anonymous.
    pub reporter: Option<ReporterView>,
    pub photos: Vec<PhotoView>,
    /// Actions the caller may take now.
    pub available_actions: Vec<String>,
    /// Only on `GET /reports/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<EntryView>>,
    /// Only in the answer to a submission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub possible_duplicates: Option<Vec<DuplicateHint>>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportPage {
    pub items: Vec<ReportView>,
    pub next_cursor: Option<String>,
}

/// The worker's queue: open reports (paged), and on the first page the wishes of their grids
/// that went unclaimed past their deadline and became grid tasks.
#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<ReportView>,
    pub next_cursor: Option<String>,
    /// Expired wishes awaiting the grid, oldest first; only on the first page, and only when
    /// neither `state` nor `category` narrows the queue to reports.
    pub expired_wishes: Vec<crate::wishes::dto::WishView>,
}
