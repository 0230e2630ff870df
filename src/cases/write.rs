//! The one writer of a decided change to a case (a report or a wish): the guarded UPDATE, the
//! photos it attaches, its timeline row and its outbox row, in one transaction. Every action
//! and every job goes through [`apply`]; what to write was decided before, without I/O, by
//! the domain's planning step (`reports::plan`, `wishes::plan`).

use sea_orm::sea_query::{InsertStatement, UpdateStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::error::ApiResult;

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
    /// The rows that go with the change: its timeline row, its outbox row.
    pub rows: Vec<InsertStatement>,
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
    for row in &w.rows {
        txn.execute(backend.build(row)).await?;
    }
    txn.commit().await?;
    Ok(true)
}
