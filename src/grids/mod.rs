//! Areas and grids: the area tree, GeoJSON import, coordinate systems and point routing.
//! Geometry (`geo`, `locate`, `geojson`, `synth`) is pure; `service` and `router` touch the
//! database; `handlers` is HTTP.

pub mod area;
pub mod geo;
pub mod geojson;
mod handlers;
pub mod locate;
pub mod outlines;
pub mod router;
pub mod service;
pub mod synth;

pub use handlers::{routes, AreaView};
