//! Reports: the closed loop from the safety key to a checked, rated closure.
//! `status` (the state machine) and `calendar` (deadlines) are pure; `service` applies them.

pub mod calendar;
pub mod categories;
pub mod dto;
mod handlers;
pub mod service;
pub mod status;

pub use handlers::routes;
