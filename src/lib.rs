//! SafeGrid: the backend of a WeChat mini-program for grid-based community safety.
//! See ARCHITECTURE.md for the map.

pub mod auth;
pub mod benchdata;
pub mod cases;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod console;
pub mod content;
pub mod dashboard;
pub mod error;
pub mod grids;
pub mod health;
pub mod idempotency;
pub mod infra;
pub mod integrations;
pub mod jobs;
pub mod notify;
pub mod open311;
pub mod openapi;
pub mod paging;
pub mod patrols;
pub mod people;
pub mod reports;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod timeline;
pub mod units;
pub mod uploads;
pub mod util;
pub mod wishes;
