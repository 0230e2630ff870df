//! The audit trail (MLPS level 3): who did what to which object, with what result, from where,
//! in which request. Rows are only ever inserted — by the change they record, in its
//! transaction where it has one — and sealed afterwards by a leased job: each sealed row
//! carries the hash of the row before and its own hash over both, so an edited, deleted or
//! reordered row breaks the chain at the first place `verify` looks.
//!
//! Why seal later instead of chaining at insert: chaining at insert needs the previous row's
//! hash, i.e. one lock every staff action in the district queues on. Sealing in id order a
//! minute later keeps writers independent; a transaction still open a minute after its row
//! id was taken (which would land below sealed rows) is reported by `verify` as a break.

use sea_orm::sea_query::{Expr, InsertStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Set,
};
use sha2::{Digest, Sha256};

use crate::infra::crypto::Suite;

use crate::util::now_ms;
use entity::audit_log::{self, Column as A};

/// One thing that happened.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub actor_id: Option<String>,
    /// `resident`, `worker`, `admin`, `lead_unit`, `audit_admin`, `system`, `open311`…
    pub actor_role: String,
    /// e.g. `report.dispatch`, `login.password`, `read.caller_phone`, `export.me`.
    pub action: String,
    /// e.g. `report:<id>`, `unit:GAS1`.
    pub object: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub result: &'static str,
    pub detail: Option<String>,
}

impl Record {
    pub fn ok(actor_id: &str, actor_role: &str, action: &str, object: Option<String>) -> Record {
        Record {
            actor_id: Some(actor_id.to_owned()),
            actor_role: actor_role.to_owned(),
            action: action.to_owned(),
            object,
            result: "ok",
            detail: None,
        }
    }
}

/// The INSERT of `r` at `at`, with the request's id and peer address (for a caller that
/// writes it in its own transaction).
pub fn insert_statement(r: &Record, at: i64) -> InsertStatement {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let row = audit_log::ActiveModel {
        at: Set(at),
        actor_id: Set(r.actor_id.clone()),
        actor_role: Set(r.actor_role.clone()),
        action: Set(r.action.clone()),
        object: Set(r.object.clone()),
        result: Set(r.result.to_owned()),
        ip: Set(non_empty(crate::telemetry::current_peer_ip())),
        request_id: Set(non_empty(crate::telemetry::current_request_id())),
        detail: Set(r.detail.clone()),
        prev_hash: Set(None),
        hash: Set(None),
        ..Default::default()
    };
    audit_log::Entity::insert(row).into_query()
}

/// Writes `r` now, on its own (for what has no transaction of its own: a read, a login).
pub async fn record(db: &impl ConnectionTrait, r: Record) {
    let statement = db
        .get_database_backend()
        .build(&insert_statement(&r, now_ms()));
    if let Err(e) = db.execute(statement).await {
        // The trail must not silently lose a row: loud, and counted by the log pipeline.
        tracing::error!(error = %e, action = %r.action, "audit record not written");
    }
}

/// The prefix of an SM3 hash (`SAFEGRID_CRYPTO=sm`); a SHA-256 hash has none, so a chain may
/// change algorithm midway and `verify` checks each row with its own.
const SM3_PREFIX: &str = "sm3:";

/// The hash of a row given the hash before it: SHA-256 over every field, separated so no
/// two rows can share a preimage.
pub fn hash_of(prev: &str, row: &audit_log::Model) -> String {
    hash_with(Suite::Standard, prev, row)
}

/// [`hash_of`] with the suite's hash: SHA-256, or SM3 (hex after `sm3:`).
pub fn hash_with(suite: Suite, prev: &str, row: &audit_log::Model) -> String {
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let text = format!(
        "{prev}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        row.id,
        row.at,
        opt(&row.actor_id),
        row.actor_role,
        row.action,
        opt(&row.object),
        row.result,
        opt(&row.ip),
        opt(&row.request_id),
        opt(&row.detail)
    );
    match suite {
        Suite::Standard => hex::encode(Sha256::digest(text.as_bytes())),
        Suite::Sm => format!(
            "{SM3_PREFIX}{}",
            hex::encode(sm3::Sm3::digest(text.as_bytes()))
        ),
    }
}

/// Rows younger than this are left for the next seal (their transaction may still be open).
pub const SEAL_AFTER_MS: i64 = 60_000;

/// Seals with SHA-256 (see [`seal_with`]).
pub async fn seal(
    db: &impl ConnectionTrait,
    min_age_ms: i64,
    batch: u64,
) -> Result<usize, sea_orm::DbErr> {
    seal_with(db, Suite::Standard, min_age_ms, batch).await
}

/// Seals the unsealed rows older than `min_age_ms`, in id order, up to `batch`, with the
/// suite's hash; returns how many. Run by one instance at a time (a lease).
pub async fn seal_with(
    db: &impl ConnectionTrait,
    suite: Suite,
    min_age_ms: i64,
    batch: u64,
) -> Result<usize, sea_orm::DbErr> {
    let last = audit_log::Entity::find()
        .filter(A::Hash.is_not_null())
        .order_by_desc(A::Id)
        .one(db)
        .await?;
    let mut prev = last
        .as_ref()
        .and_then(|l| l.hash.clone())
        .unwrap_or_default();
    let after = last.map_or(0, |l| l.id);
    let rows = audit_log::Entity::find()
        .filter(A::Hash.is_null())
        .filter(A::Id.gt(after))
        .filter(A::At.lte(now_ms() - min_age_ms))
        .order_by_asc(A::Id)
        .limit(batch)
        .all(db)
        .await?;
    for row in &rows {
        let hash = hash_with(suite, &prev, row);
        audit_log::Entity::update_many()
            .col_expr(A::PrevHash, Expr::value(prev.clone()))
            .col_expr(A::Hash, Expr::value(hash.clone()))
            .filter(A::Id.eq(row.id))
            .filter(A::Hash.is_null())
            .exec(db)
            .await?;
        prev = hash;
    }
    Ok(rows.len())
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub id: i64,
    pub why: &'static str,
}

/// Checks the whole trail in id order: every sealed row must follow the one before (its
/// `prev_hash` equals that row's hash) and hash to its `hash`; an unsealed row may only be
/// followed by unsealed rows. Returns the number of sealed rows checked, or the first break.
/// The oldest row present anchors the chain (retention purges from the start).
pub async fn verify(db: &impl ConnectionTrait) -> Result<Result<u64, Broken>, sea_orm::DbErr> {
    let mut after = i64::MIN;
    let mut prev: Option<String> = None;
    let mut first = true;
    let mut unsealed_seen = false;
    let mut checked = 0;
    loop {
        let rows = audit_log::Entity::find()
            .filter(A::Id.gt(after))
            .order_by_asc(A::Id)
            .limit(1_000)
            .all(db)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            let Some(hash) = &row.hash else {
                unsealed_seen = true;
                continue;
            };
            if unsealed_seen {
                return Ok(Err(Broken {
                    id: row.id,
                    why: "a sealed record follows an unsealed one (a record inserted or reordered)",
                }));
            }
            let claimed_prev = row.prev_hash.clone().unwrap_or_default();
            if !first && prev.as_deref() != Some(claimed_prev.as_str()) {
                return Ok(Err(Broken {
                    id: row.id,
                    why: "it does not follow the record before it (a record deleted or reordered)",
                }));
            }
            let suite = if hash.starts_with(SM3_PREFIX) {
                Suite::Sm
            } else {
                Suite::Standard
            };
            if hash_with(suite, &claimed_prev, row) != *hash {
                return Ok(Err(Broken {
                    id: row.id,
                    why: "its contents do not match its hash (the record was edited)",
                }));
            }
            first = false;
            prev = Some(hash.clone());
            checked += 1;
        }
    }
    Ok(Ok(checked))
}

/// Deletes records older than `retention_ms` (never less than 180 days), oldest first.
pub async fn purge(db: &impl ConnectionTrait, retention_ms: i64) -> Result<u64, sea_orm::DbErr> {
    let floor = 180 * 86_400_000;
    let cutoff = now_ms() - retention_ms.max(floor);
    Ok(audit_log::Entity::delete_many()
        .filter(A::At.lt(cutoff))
        .filter(A::Hash.is_not_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Filters of the trail as the audit admin reads it.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// The trail, newest first, keyset-paged by id.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &AuditFilter,
    limit: u64,
    before_id: Option<i64>,
) -> Result<Vec<audit_log::Model>, sea_orm::DbErr> {
    let mut q = audit_log::Entity::find().order_by_desc(A::Id).limit(limit);
    if let Some(from) = f.from {
        q = q.filter(A::At.gte(from));
    }
    if let Some(to) = f.to {
        q = q.filter(A::At.lt(to));
    }
    if let Some(actor) = &f.actor {
        q = q.filter(A::ActorId.eq(actor.as_str()));
    }
    if let Some(action) = &f.action {
        q = q.filter(A::Action.starts_with(action.as_str()));
    }
    if let Some(id) = before_id {
        q = q.filter(A::Id.lt(id));
    }
    q.all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> audit_log::Model {
        audit_log::Model {
            id,
            at: 1,
            actor_id: Some("u".into()),
            actor_role: "admin".into(),
            action: "report.dispatch".into(),
            object: Some("report:r1".into()),
            result: "ok".into(),
            ip: None,
            request_id: None,
            detail: None,
            prev_hash: None,
            hash: None,
        }
    }

    #[test]
    fn sm3_hashes_are_marked_and_differ() {
        let sha = hash_with(Suite::Standard, "p", &row(1));
        let sm3 = hash_with(Suite::Sm, "p", &row(1));
        assert_eq!(sha.len(), 64);
        assert!(sm3.starts_with("sm3:") && sm3.len() == 68 && sm3[4..] != sha);
    }

    #[test]
    fn every_field_and_the_previous_hash_enter_the_hash() {
        let base = hash_of("p", &row(1));
        assert_ne!(base, hash_of("q", &row(1)));
        assert_ne!(base, hash_of("p", &row(2)));
        let mut edited = row(1);
        edited.result = "denied".into();
        assert_ne!(base, hash_of("p", &edited));
        // Fields cannot be shifted into one another.
        let mut a = row(1);
        a.actor_role = "ad".into();
        a.action = "minreport.dispatch".into();
        assert_ne!(base, hash_of("p", &a));
    }
}
