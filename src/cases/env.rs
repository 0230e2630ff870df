//! [`Env`]: what the case services (reports, wishes) use of the running application,
//! borrowed from `AppState` for one call — the connection, the routing index, the calendar,
//! the category codes, photo links, the content check, the relay's doorbell, the data keys
//! and four settings — and nothing else of it (no limiter, token keys, metrics or subscribe queue).

use sea_orm::DatabaseConnection;

use crate::cases::number::CaseNumbers;
use crate::content::ContentCheck;
use crate::grids::router::GridRouter;
use crate::infra::db::{Conn, Session};
use crate::notify::signal::OutboxSignal;
use crate::reports::calendar::WorkCalendar;
use crate::reports::categories::KnownCategories;
use crate::state::AppState;
use crate::uploads::PhotoLinks;

#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub db: &'a DatabaseConnection,
    /// Where the read paths that a handler may pin run their statements: the pool, or the
    /// handler's `Session` (see `Env::on`). Transactions always start from `db`.
    pub conn: Conn<'a>,
    pub router: &'a GridRouter,
    pub calendar: &'a WorkCalendar,
    pub categories: &'a KnownCategories,
    pub case_numbers: &'a CaseNumbers,
    pub photos: PhotoLinks<'a>,
    pub content: ContentCheck<'a>,
    pub outbox: OutboxSignal<'a>,
    /// Resolved reports and fulfilled wishes close by themselves after this.
    pub confirm_window_ms: i64,
    pub wish_cap_fen: i64,
    /// The default deadline of a wish, from its submission.
    pub wish_claim_window_ms: i64,
    /// A dispute's agreement is followed up this long after its mediation.
    pub follow_up_after_ms: i64,
    /// Encrypts and decrypts phone numbers at rest (`infra::crypto`).
    pub keys: &'a crate::infra::crypto::Keyring,
}

impl AppState {
    /// The case services' view of the application.
    pub fn cases(&self) -> Env<'_> {
        Env {
            db: &self.db,
            conn: Conn::Pool(&self.db),
            router: &self.router,
            calendar: &self.calendar,
            categories: &self.categories,
            case_numbers: &self.case_numbers,
            photos: crate::uploads::links(self),
            content: ContentCheck {
                enabled: self.settings.content_check,
                wechat: &self.wechat,
                tokens: &self.wechat_tokens,
            },
            outbox: self.outbox_signal(),
            confirm_window_ms: self.settings.confirm_window.as_millis() as i64,
            wish_cap_fen: self.settings.wish_cap_fen,
            wish_claim_window_ms: self.settings.wish_claim_window.as_millis() as i64,
            follow_up_after_ms: self.settings.follow_up_after.as_millis() as i64,
            keys: &self.settings.keys,
        }
    }
}

impl<'a> Env<'a> {
    /// The same view with its read paths (`conn`) on `session`: one checkout for the request's
    /// statements instead of one per statement (see `infra::db::Session` for the rules).
    pub fn on(self, session: &'a Session<'a>) -> Env<'a> {
        Env {
            conn: Conn::Session(session),
            ..self
        }
    }
}
