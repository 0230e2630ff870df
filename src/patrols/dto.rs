//! Request and response bodies of the patrol endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cases::dto::LocationOut;
use crate::grids::geo::CoordSystem;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewPatrol {
    pub grid_code: String,
}

/// One point of a track, as the mini-program recorded it.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
pub struct CheckinIn {
    /// The mini-program's id for the point (1–64 characters): sending it again adds nothing.
    pub client_id: String,
    pub lat: f64,
    pub lng: f64,
    /// Default `gcj02`.
    #[serde(default)]
    pub coord: CoordSystem,
    /// When the point was recorded (RFC 3339).
    pub at: String,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct CheckinBatch {
    /// 1–500 points.
    pub items: Vec<CheckinIn>,
}

/// What a batch came to.
#[derive(Serialize, ToSchema)]
pub struct CheckinResult {
    /// Points in this batch not seen before.
    pub added: i64,
    /// Points of the patrol in all.
    pub checkins: i32,
    /// Of which outside the grid (accepted, flagged).
    pub outside: i32,
}

#[derive(Serialize, ToSchema)]
pub struct CheckinView {
    pub client_id: String,
    pub location: LocationOut,
    pub at: String,
    pub outside: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PatrolView {
    pub id: String,
    pub grid_code: String,
    pub worker_id: String,
    pub started_at: String,
    /// Null while walking; 8 hours after the start for a patrol nobody ended.
    pub ended_at: Option<String>,
    /// Ended by itself after 8 hours.
    pub auto_ended: bool,
    pub checkins: i32,
    pub outside: i32,
    /// The track: only for the worker and admins of a community or above, and only on
    /// `GET /patrols/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<Vec<CheckinView>>,
}

#[derive(Serialize, ToSchema)]
pub struct PatrolPage {
    pub items: Vec<PatrolView>,
    pub next_cursor: Option<String>,
}
