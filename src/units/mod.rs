//! Partner units (DOMAIN.md §8, 协同处置): the police desk, the property company, the gas
//! company… that take the cases a grid cannot fix. `service` manages units and checks a
//! dispatch's choice of units; `tasks` is the unit staff's queue; `load` reads the
//! assignments views show. What a dispatch, sign-for or return does to a report is decided
//! where every report change is: `reports::status`, `reports::plan`, `reports::dispatch`.

pub mod dto;
mod handlers;
pub mod load;
pub mod service;
pub mod tasks;

pub use handlers::routes;
