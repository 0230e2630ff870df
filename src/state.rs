//! The state every handler shares: one `AppState` in `web::Data`, built once at start.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::grids::router::GridRouter;
use crate::infra::ratelimit::RateLimiter;
use crate::infra::redis::RedisHandle;
use crate::infra::wechat::WeChatClient;
use crate::infra::wechat_token::AccessTokenCache;
use crate::notify::bus::Bus;
use crate::reports::calendar::WorkCalendar;
use crate::telemetry::Metrics;

pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub redis: Option<Arc<RedisHandle>>,
    pub metrics: Metrics,
    pub wechat: WeChatClient,
    pub wechat_tokens: AccessTokenCache,
    pub jwt: JwtKeys,
    pub limiter: RateLimiter,
    pub router: GridRouter,
    pub calendar: WorkCalendar,
    pub bus: Arc<dyn Bus>,
    /// Wakes the outbox relay right after a commit on this instance.
    pub relay_nudge: tokio::sync::Notify,
    pub notify_jobs: Arc<crate::notify::subscribe::JobQueue>,
    /// Distinguishes this process in leases and logs.
    pub instance_id: String,
}
