//! Dashboards for admins: closure metrics (DOMAIN.md §4) of an area and a period.
//! `metrics` (definitions) and `histogram` (mergeable quantiles) are pure; `rollup` keeps
//! the `dashboard_rollups` table exact, recounting a key through `count` (tallied by the
//! database); `service` reads it; `page` is the admin web page.

pub mod count;
mod handlers;
pub mod histogram;
pub mod metrics;
pub mod rollup;
pub mod service;

pub use handlers::{csv_line, routes, CSV_HEADER};
pub use rollup::{rebuild, refresh_all_stale, refresh_stale, report_changed, upkeep, UpkeepPace};
