//! Request and response bodies of the wish and volunteer endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::status::WishStatus;
use crate::cases::dto::{LocationIn, LocationOut, PhotoView, PlaceRef};
use crate::timeline::EntryView;

pub use entity::enums::WishKind;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewWish {
    /// 1–100 characters.
    pub title: String,
    /// 1–2,000 characters.
    pub description: String,
    pub kind: WishKind,
    /// In fen; at most the configured cap (¥300 by default).
    pub estimated_value_fen: Option<i64>,
    pub location: LocationIn,
    /// Up to 9 ids from `POST /uploads`.
    #[serde(default)]
    pub photo_ids: Vec<String>,
    /// RFC 3339: when an unclaimed wish becomes a grid task (default: in 30 days).
    pub deadline: Option<String>,
}

/// One entry to the wish state machine. Which fields are needed depends on `action`.
#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct WishActionRequest {
    /// approve, reject {reason}, claim {unit?}, release {reason?}, fulfil {note, photo_ids},
    /// confirm, cancel {reason?} (`auto_confirm` and `expire` are the system's own: 422 from
    /// a client).
    #[schema(value_type = super::status::WishAction)]
    pub action: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    /// The claimant's organisation; defaults to the volunteer's registered unit.
    pub unit: Option<String>,
    #[serde(default)]
    pub photo_ids: Vec<String>,
}

/// The wisher as the claimant, the community and the wisher see them.
#[derive(Serialize, ToSchema)]
pub struct WisherContact {
    pub nickname: String,
    /// The full number, so the claimant can call; null when none is bound.
    pub phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClaimantView {
    pub nickname: String,
    pub unit: Option<String>,
}

/// A wish. On the wall and for anyone but the wisher, the claimant and the community, the
/// `wisher` and `location` fields are absent: the grid is the only place shown.
#[derive(Serialize, ToSchema)]
pub struct WishView {
    pub id: String,
    /// The case number people read and search: `W20261205-00042`.
    pub case_no: String,
    pub title: String,
    pub description: String,
    pub kind: WishKind,
    pub estimated_value_fen: Option<i64>,
    pub status: WishStatus,
    /// The grid (or, outside every grid, the smallest area) the wish belongs to.
    pub grid: PlaceRef,
    /// When an unclaimed wish becomes a grid task.
    pub deadline: String,
    pub submitted_at: String,
    pub approved_at: Option<String>,
    pub claimed_at: Option<String>,
    pub fulfilled_at: Option<String>,
    pub closed_at: Option<String>,
    /// Went unclaimed past its deadline and sits in the grid's queue.
    pub expired_to_queue: bool,
    /// The rejection reason.
    pub reason: Option<String>,
    pub fulfil_note: Option<String>,
    pub photos: Vec<PhotoView>,
    /// Optimistic-concurrency version: increases with every change.
    pub version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimant: Option<ClaimantView>,
    /// Only for the wisher, the claimant (after claiming) and the community.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wisher: Option<WisherContact>,
    /// The exact point; same audience as `wisher`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationOut>,
    /// Flagged by content review; shown to admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    /// Actions the caller may take now.
    pub available_actions: Vec<String>,
    /// Only on `GET /wishes/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<EntryView>>,
}

#[derive(Serialize, ToSchema)]
pub struct WishPage {
    pub items: Vec<WishView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct VolunteerApplication {
    /// The organisation the volunteer acts for (party branch, company, school…), 1–200.
    pub unit: String,
    /// The area (community or grid) the volunteer serves; its admins decide.
    pub area_code: String,
}

#[derive(Serialize, ToSchema)]
pub struct VolunteerRequestView {
    pub id: String,
    pub user_id: String,
    pub nickname: String,
    pub unit: String,
    pub area_code: String,
    /// pending, approved or rejected.
    pub status: String,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VolunteerRequestPage {
    pub items: Vec<VolunteerRequestView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct VolunteerRejection {
    /// 1–500 characters, shown to the applicant.
    pub reason: String,
}
