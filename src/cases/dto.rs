//! Bodies shared by every kind of case (reports and wishes): where it is, where it sits in
//! the area tree, its photos.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::grids::geo::CoordSystem;

/// A point as the mini-program sends it.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
pub struct LocationIn {
    pub lat: f64,
    pub lng: f64,
    /// Default `gcj02`.
    #[serde(default)]
    pub coord: CoordSystem,
}

/// A stored point, always in the grids' system.
#[derive(Serialize, ToSchema)]
pub struct LocationOut {
    pub lat: f64,
    pub lng: f64,
    /// Always `gcj02`: points are stored in the grids' system.
    pub coord: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct PlaceRef {
    pub code: String,
    pub name: String,
    pub level: String,
}

#[derive(Serialize, ToSchema)]
pub struct PhotoView {
    pub id: String,
    /// Signed, valid for an hour.
    pub url: String,
}
