//! sea-orm entities of SafeGrid, one module per table. Only plain table mappings live here;
//! the rules live in the `safegrid` crate's domain modules.

pub mod areas;
pub mod categories;
pub mod dashboard_rollups;
pub mod dead_letters;
pub mod enums;
pub mod grid_members;
pub mod idempotency;
pub mod integrations;
pub mod invites;
pub mod job_leases;
pub mod outbox;
pub mod patrol_checkins;
pub mod patrols;
pub mod refresh_tokens;
pub mod report_units;
pub mod reports;
pub mod settings;
pub mod subscriptions;
pub mod timeline_events;
pub mod unit_areas;
pub mod unit_members;
pub mod units;
pub mod uploads;
pub mod users;
pub mod volunteer_requests;
pub mod wishes;
