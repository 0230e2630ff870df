//! The append-only timeline shared by reports and wishes: every transition is one row —
//! who, when, from, to, note — written in the same transaction as the change. Nothing in it
//! is ever updated or deleted.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use utoipa::ToSchema;

use entity::timeline_events as te;

/// One timeline row to write.
pub struct Entry<'a> {
    pub subject_kind: &'a str,
    pub subject_id: &'a str,
    pub actor_id: Option<&'a str>,
    /// The actor's relation: reporter, worker, admin, system, wisher, claimant…
    pub actor_role: &'a str,
    pub action: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub note: Option<String>,
    pub data: Option<serde_json::Value>,
    pub at: i64,
}

pub async fn record(db: &impl ConnectionTrait, e: Entry<'_>) -> Result<(), sea_orm::DbErr> {
    db.execute(db.get_database_backend().build(&insert_statement(e)))
        .await
        .map(|_| ())
}

/// The INSERT of [`record`], for a caller that sends it as part of a larger statement.
/// Without RETURNING or a follow-up SELECT: nobody needs the row back.
pub fn insert_statement(e: Entry<'_>) -> sea_orm::sea_query::InsertStatement {
    sea_orm::QueryTrait::into_query(te::Entity::insert(row(e)))
}

/// The entry as a row to insert.
pub fn row(e: Entry<'_>) -> te::ActiveModel {
    te::ActiveModel {
        subject_kind: Set(e.subject_kind.into()),
        subject_id: Set(e.subject_id.into()),
        actor_id: Set(e.actor_id.map(Into::into)),
        actor_role: Set(e.actor_role.into()),
        action: Set(e.action.into()),
        from_status: Set(e.from.into()),
        to_status: Set(e.to.into()),
        note: Set(e.note),
        data: Set(e.data.map(|d| d.to_string())),
        at: Set(e.at),
        ..Default::default()
    }
}

/// A timeline row as shown to clients. `actor_id` is left out: the role says enough and an
/// anonymous reporter stays anonymous.
#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub action: String,
    pub actor_role: String,
    pub from: String,
    pub to: String,
    pub note: Option<String>,
    pub data: Option<serde_json::Value>,
    pub at: String,
}

pub async fn load(
    db: &impl ConnectionTrait,
    subject_kind: &str,
    subject_id: &str,
) -> Result<Vec<EntryView>, sea_orm::DbErr> {
    Ok(te::Entity::find()
        .filter(te::Column::SubjectKind.eq(subject_kind))
        .filter(te::Column::SubjectId.eq(subject_id))
        .order_by_asc(te::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|r| EntryView {
            action: r.action,
            actor_role: r.actor_role,
            from: r.from_status,
            to: r.to_status,
            note: r.note,
            data: r.data.and_then(|d| serde_json::from_str(&d).ok()),
            at: crate::util::rfc3339(r.at),
        })
        .collect())
}
