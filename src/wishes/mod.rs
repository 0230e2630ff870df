//! Micro-wishes (微心愿): from a wish to a claimed, fulfilled, confirmed kindness, and the
//! volunteers who claim them. `status` (the state machine) is pure; `service` applies it.

pub mod dto;
mod handlers;
pub mod service;
pub mod status;

pub use handlers::routes;
