//! Open311 GeoReport v2 (DOMAIN.md §7) under `/open311/v2/`: discovery, services, service
//! definitions, requests (read by anyone, filed by keyed clients), tokens and the
//! `servicerequestupdates` extension, each as `.json` and `.xml`.
//!
//! `doc` is the one tree both formats are written from (so they cannot drift apart);
//! `public` maps a report to what the public feed may show (status, notes, a rounded WGS-84
//! point, no identity); `service` reads and files; `handlers` speaks HTTP, errors included
//! as the specification's `{code, description}` list.

pub mod admin;
pub mod doc;
mod handlers;
pub mod public;
pub mod service;

pub use handlers::routes;
