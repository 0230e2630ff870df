//! Micro-wishes (微心愿): from a wish to a claimed, fulfilled, confirmed kindness, and the
//! volunteers who claim them. `status` (the state machine) and `plan` (the whole change an
//! action makes) are pure; `submit`, `actions` (with the jobs), `views` and `volunteers` are
//! the services; `access` says who sees what.

pub mod access;
pub mod actions;
pub mod dto;
mod handlers;
pub mod plan;
pub mod status;
pub mod submit;
pub mod views;
pub mod volunteers;

pub use handlers::routes;
