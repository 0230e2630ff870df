//! The transactional outbox: events are rows written in the same transaction as the change
//! that caused them; the relay (`notify::relay`) publishes them afterwards. A crash or a
//! Redis outage therefore never loses an event, and the row id is the event id everywhere.

use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

/// What travels on the bus and over SSE.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// The outbox id: increasing, the SSE `id:` and the stream entry id.
    pub id: i64,
    /// e.g. `report_submitted`, `report_accepted`, `wish_published`.
    pub kind: String,
    /// The queue (grid or upper area) the subject sits in; events fan out to its ancestors.
    pub queue_code: String,
    /// `/D/S/C/G/` of the queue.
    pub queue_path: String,
    pub subject_id: String,
    pub status: String,
    pub at: i64,
    /// The user to notify by subscribe message (the reporter or wisher), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_user: Option<String>,
}

impl Event {
    /// Every area code from the district down to the queue: the SSE topics it reaches.
    pub fn topics(&self) -> Vec<String> {
        self.queue_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one flat call site per event kind reads best"
)]
pub async fn enqueue(
    db: &impl ConnectionTrait,
    kind: &str,
    queue_code: &str,
    queue_path: &str,
    subject_id: &str,
    status: &str,
    notify_user: Option<&str>,
    at: i64,
) -> Result<(), sea_orm::DbErr> {
    let row = insert_statement(
        kind,
        queue_code,
        queue_path,
        subject_id,
        status,
        notify_user,
        at,
    );
    db.execute(db.get_database_backend().build(&row))
        .await
        .map(|_| ())
}

/// The INSERT of [`enqueue`], for a caller that sends it as part of a larger statement.
/// Without RETURNING or a follow-up SELECT: the relay reads the row, not the writer.
pub fn insert_statement(
    kind: &str,
    queue_code: &str,
    queue_path: &str,
    subject_id: &str,
    status: &str,
    notify_user: Option<&str>,
    at: i64,
) -> sea_orm::sea_query::InsertStatement {
    let payload = Event {
        id: 0,
        kind: kind.into(),
        queue_code: queue_code.into(),
        queue_path: queue_path.into(),
        subject_id: subject_id.into(),
        status: status.into(),
        at,
        notify_user: notify_user.map(Into::into),
    };
    let row = entity::outbox::ActiveModel {
        topic: Set(queue_code.into()),
        kind: Set(kind.into()),
        payload: Set(serde_json::to_string(&payload).unwrap_or_default()),
        created_at: Set(at),
        published_at: Set(None),
        ..Default::default()
    };
    sea_orm::QueryTrait::into_query(entity::outbox::Entity::insert(row))
}
