//! Patrols (巡查, DOMAIN.md §9): a grid worker walks their grid, the mini-program sends
//! check-ins in batches (offline gaps are normal), and the walk ends — by the worker, or by
//! itself 8 hours after it began. A track is the worker's personal location data: the worker
//! and admins of a community or above see it; it is coarsened after the retention period.

pub mod dto;
mod handlers;
pub mod service;

pub use handlers::routes;
