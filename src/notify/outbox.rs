//! The transactional outbox: events are rows written in the same transaction as the change
//! that caused them; the relay (`notify::relay`) publishes them afterwards. A crash or a
//! Redis outage therefore never loses an event, and the row id is the event id everywhere.

use sea_orm::{ConnectionTrait, EntityTrait, Set};

pub use super::event::EventKind;
use super::event::StoredEvent;

/// A new event, as a change writes it.
#[derive(Clone, Copy, Debug)]
pub struct NewEvent<'a> {
    pub kind: EventKind,
    /// The queue (grid or upper area) the subject sits in.
    pub queue_code: &'a str,
    /// `/D/S/C/G/` of the queue: the event reaches every area on it.
    pub queue_path: &'a str,
    pub subject_id: &'a str,
    /// The subject's case number, once it has one.
    pub case_no: Option<&'a str>,
    /// The subject's status after the change.
    pub status: &'a str,
    /// The reporter or wisher to message by subscribe message; stays on the server.
    pub notify_user: Option<&'a str>,
    /// The partner units it reaches.
    pub units: &'a [String],
    /// Epoch milliseconds.
    pub at: i64,
}

/// Writes the event's outbox row (inside the caller's transaction).
pub async fn enqueue(
    db: &impl ConnectionTrait,
    event: &NewEvent<'_>,
) -> Result<(), sea_orm::DbErr> {
    let row = insert_statement(event);
    db.execute(db.get_database_backend().build(&row))
        .await
        .map(|_| ())
}

/// The INSERT of [`enqueue`], for a caller that sends it as part of a larger statement.
/// Without RETURNING or a follow-up SELECT: the relay reads the row, not the writer.
pub fn insert_statement(event: &NewEvent<'_>) -> sea_orm::sea_query::InsertStatement {
    sea_orm::QueryTrait::into_query(entity::outbox::Entity::insert(row(event)))
}

/// The event as a row to insert.
pub fn row(event: &NewEvent<'_>) -> entity::outbox::ActiveModel {
    let payload = StoredEvent {
        kind: event.kind,
        queue_code: event.queue_code.into(),
        queue_path: event.queue_path.into(),
        subject_id: event.subject_id.into(),
        case_no: event.case_no.map(Into::into),
        status: event.status.into(),
        at: event.at,
        notify_user: event.notify_user.map(Into::into),
        units: event.units.to_vec(),
    };
    entity::outbox::ActiveModel {
        topic: Set(event.queue_code.into()),
        kind: Set(event.kind.as_str().into()),
        payload: Set(serde_json::to_string(&payload).unwrap_or_default()),
        created_at: Set(event.at),
        published_at: Set(None),
        ..Default::default()
    }
}
