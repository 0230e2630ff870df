//! The HTTP-level test suite: every test starts the real server on port 0 with its own
//! database (a temp SQLite file, or a fresh database on the PostgreSQL/MySQL server named by
//! SAFEGRID_TEST_DATABASE_URL), its own Redis key prefix (SAFEGRID_TEST_REDIS_URL) and its
//! own fake WeChat server.

mod admin_login;
mod audit;
mod auth;
mod browser;
mod case_numbers;
mod caselist;
mod cli;
mod console;
mod dashboard;
mod dashboard_page;
mod duties;
mod encryption;
mod faults;
mod foundation;
mod grids;
mod hardening;
mod helpers;
mod matrix;
mod notify;
mod open311;
mod openapi;
mod reports;
mod retention;
mod rights;
mod session;
mod source_metrics;
mod sources;
mod subscribe;
mod unit_metrics;
mod units;
mod uploads;
mod wechat_fake;
mod wishes;
