//! Every schema change of SafeGrid, in order. Each migration runs on SQLite, PostgreSQL and
//! MySQL/MariaDB; `migration/tests/roundtrip.rs` runs them up, down and up again on each.
//!
//! Times are stored as Unix epoch milliseconds (`BIGINT`): one representation that sorts,
//! compares and subtracts the same way on all three backends.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_init;
mod m20261125_000001_wishes;
mod m20261204_000001_dashboard_rollups;
mod m20261204_000001_perf_indexes;
mod m20261205_000001_case_numbers;
mod m20261205_000002_units;
mod m20261205_000003_sources;
mod m20261205_000004_open311;
mod m20261205_000005_audit;
mod m20261205_000006_admin_login;
mod m20261205_000007_phone_encryption;
mod m20261205_000008_case_retention;
mod m20261205_000009_console;
mod m20261206_000001_rollup_refresh_order;
mod m20261206_000002_rollup_source_counters;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_init::Migration),
            Box::new(m20261125_000001_wishes::Migration),
            Box::new(m20261204_000001_perf_indexes::Migration),
            Box::new(m20261204_000001_dashboard_rollups::Migration),
            Box::new(m20261205_000001_case_numbers::Migration),
            Box::new(m20261205_000002_units::Migration),
            Box::new(m20261205_000003_sources::Migration),
            Box::new(m20261205_000004_open311::Migration),
            Box::new(m20261205_000005_audit::Migration),
            Box::new(m20261205_000006_admin_login::Migration),
            Box::new(m20261205_000007_phone_encryption::Migration),
            Box::new(m20261205_000008_case_retention::Migration),
            Box::new(m20261205_000009_console::Migration),
            Box::new(m20261206_000001_rollup_refresh_order::Migration),
            Box::new(m20261206_000002_rollup_source_counters::Migration),
        ]
    }
}
