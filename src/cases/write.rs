//! The one writer of a decided change to a case (a report or a wish): the guarded UPDATE, the
//! photos it attaches, its timeline row and its outbox row, in one transaction. Every action
//! and every job goes through [`apply`]; what to write was decided before, without I/O, by
//! the domain's planning step (`reports::plan`, `wishes::plan`).

use sea_orm::sea_query::{InsertStatement, UpdateStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::error::ApiResult;
use crate::notify::outbox::{self, NewEvent};
use crate::timeline::{self, Entry};

/// Photos a change attaches to its case, uploaded by `owner_id`.
pub struct Attach {
    pub owner_id: String,
    pub photo_ids: Vec<String>,
    /// `report` or `wish`.
    pub subject_kind: &'static str,
    pub subject_id: String,
}

/// One change, ready to write.
pub struct Write {
    /// The case's UPDATE, guarded (`WHERE id = ? AND version = ?`, or another condition that
    /// only the first of two racing writers meets): zero rows changed means someone else won.
    pub update: UpdateStatement,
    pub attach: Option<Attach>,
    /// Other rows the change updates, after the case (a report's unit assignments).
    pub updates: Vec<UpdateStatement>,
    /// The rows that go with the change: its timeline row, its outbox row, new assignments.
    pub rows: Vec<InsertStatement>,
}

/// What every change of a case writes besides its own columns, the same way for reports and
/// wishes: the photos it attaches, its timeline row, its event.
pub struct Tail<'a> {
    /// `report` or `wish`.
    pub subject_kind: &'static str,
    pub subject_id: &'a str,
    /// Who acted (`None` for a job).
    pub actor_id: Option<&'a str>,
    pub actor_role: &'static str,
    pub action: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub note: Option<String>,
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Photos the actor attaches with this change.
    pub photo_ids: &'a [String],
    pub event: Option<NewEvent<'a>>,
    pub at: i64,
}

impl Write {
    /// The change `update` (already guarded) with its tail.
    pub fn new(update: UpdateStatement, tail: Tail<'_>) -> Write {
        let attach = match (tail.actor_id, tail.photo_ids.is_empty()) {
            (Some(owner), false) => Some(Attach {
                owner_id: owner.into(),
                photo_ids: tail.photo_ids.to_vec(),
                subject_kind: tail.subject_kind,
                subject_id: tail.subject_id.into(),
            }),
            _ => None,
        };
        let mut data = tail.data;
        if attach.is_some() {
            data.insert("photo_ids".into(), serde_json::json!(tail.photo_ids));
        }
        let mut rows = vec![timeline::insert_statement(Entry {
            subject_kind: tail.subject_kind,
            subject_id: tail.subject_id,
            actor_id: tail.actor_id,
            actor_role: tail.actor_role,
            action: tail.action,
            from: tail.from,
            to: tail.to,
            note: tail.note,
            data: (!data.is_empty()).then_some(serde_json::Value::Object(data)),
            at: tail.at,
        })];
        rows.extend(tail.event.as_ref().map(outbox::insert_statement));
        Write {
            update,
            attach,
            updates: Vec::new(),
            rows,
        }
    }
}

/// Writes `w` in one transaction; `Ok(false)` (nothing written) when its guard found the case
/// already changed by someone else.
pub async fn apply(db: &DatabaseConnection, w: Write) -> ApiResult<bool> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    let changed = txn.execute(backend.build(&w.update)).await?.rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    if let Some(a) = &w.attach {
        crate::uploads::attach(
            &txn,
            &a.owner_id,
            &a.photo_ids,
            a.subject_kind,
            &a.subject_id,
        )
        .await?;
    }
    for update in &w.updates {
        txn.execute(backend.build(update)).await?;
    }
    for row in &w.rows {
        txn.execute(backend.build(row)).await?;
    }
    txn.commit().await?;
    Ok(true)
}
