//! Reports: the closed loop from the safety key to a checked, rated closure.
//!
//! `status` (the state machine), `calendar` (deadlines) and `plan` (the whole change an
//! action makes) are pure; `submit`, `actions`, `views`, `queue` and `jobs` are the services,
//! one per way in; `access` says who stands where.

pub mod access;
pub mod actions;
pub mod calendar;
pub mod caselist;
pub mod categories;
pub mod dispatch;
pub mod dto;
mod handlers;
pub mod jobs;
pub mod nearby;
pub mod origin;
pub mod plan;
pub mod queue;
pub mod status;
pub mod submit;
pub mod views;

pub use handlers::routes;
