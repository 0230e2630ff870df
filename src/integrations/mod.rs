//! Device platforms (DOMAIN.md §9): an IoT platform posts alarms signed with its secret;
//! each alarm becomes a `device` case routed by its point like any report, once per
//! `alarm_id`. `signature` is the pure check; `service` creates integrations and cases.

mod handlers;
pub mod service;
pub mod signature;

pub use handlers::routes;
