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
use crate::notify::signal::OutboxSignal;
use crate::reports::calendar::WorkCalendar;
use crate::telemetry::Metrics;

pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub redis: Option<Arc<RedisHandle>>,
    pub metrics: Metrics,
    pub wechat: WeChatClient,
    pub wechat_tokens: Arc<AccessTokenCache>,
    pub jwt: JwtKeys,
    pub limiter: RateLimiter,
    pub router: GridRouter,
    pub calendar: WorkCalendar,
    pub categories: crate::reports::categories::KnownCategories,
    /// This instance's blocks of case numbers.
    pub case_numbers: crate::cases::number::CaseNumbers,
    pub bus: Arc<dyn Bus>,
    /// Wakes the outbox relay right after a commit on this instance (or, through the bus,
    /// on another one). Use [`AppState::outbox_written`].
    pub relay_nudge: Arc<tokio::sync::Notify>,
    /// Whether this instance's relay holds the relay lease (then no one else needs telling).
    pub relay_lease_held: std::sync::atomic::AtomicBool,
    /// The dashboard upkeep's pace per key (a hint for this process's upkeep only).
    pub upkeep_pace: crate::dashboard::UpkeepPace,
    /// Builds, queues and sends subscribe messages (shares the token cache above).
    pub notify: Arc<crate::notify::subscribe::Sender>,
    /// Distinguishes this process in leases and logs.
    pub instance_id: String,
}

impl AppState {
    /// Call after committing outbox rows (see [`OutboxSignal::written`]).
    pub fn outbox_written(&self) {
        self.outbox_signal().written();
    }

    pub fn outbox_signal(&self) -> OutboxSignal<'_> {
        OutboxSignal {
            nudge: &self.relay_nudge,
            lease_held: &self.relay_lease_held,
            bus: self.bus.as_ref(),
        }
    }
}
