//! Case numbers (API.md, "Case numbers"): `R20261205-00042` for a report, `W…` for a wish —
//! short, unique, increasing, readable aloud on the phone. The counter after the day never
//! resets, so a number is unique without the day; the day is there for people.
//!
//! The kind's counter table (`report_numbers`, `wish_numbers`: auto-increment, a sequence on
//! PostgreSQL) hands out blocks of [`BLOCK`] numbers: block `k` holds the numbers
//! `(k-1)·BLOCK+1 ..= k·BLOCK`. An instance takes a block in autocommit, outside any creating
//! transaction, and hands its numbers out one by one: two instances never share a number,
//! nothing holds a lock on a shared row until commit, and a creation that fails after taking
//! its number leaves a gap, never a duplicate.

use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

/// What is being numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    Report = 0,
    Wish = 1,
}

impl CaseKind {
    const fn prefix(self) -> &'static str {
        match self {
            Self::Report => "R",
            Self::Wish => "W",
        }
    }

    const fn counter_table(self) -> &'static str {
        match self {
            Self::Report => "report_numbers",
            Self::Wish => "wish_numbers",
        }
    }
}

/// How many numbers an instance takes from a counter at once. One round trip per block,
/// not per case: a counter round trip on every submission cost 12 % of its throughput
/// (BENCHMARKS.md). Numbers grow within an instance; two instances interleave their blocks,
/// and a restart leaves the rest of a block unused (a gap, never a duplicate).
pub const BLOCK: i64 = 20;

/// The blocks of numbers this instance holds, one per kind.
#[derive(Default)]
pub struct CaseNumbers {
    /// Per kind: the next number to hand out and the end of its block (exclusive).
    blocks: tokio::sync::Mutex<[(i64, i64); 2]>,
}

impl CaseNumbers {
    /// The next number of `kind`, formatted for a case created at `at_ms`.
    pub async fn next(
        &self,
        db: &impl ConnectionTrait,
        kind: CaseKind,
        at_ms: i64,
    ) -> Result<String, DbErr> {
        let mut blocks = self.blocks.lock().await;
        let (next, end) = &mut blocks[kind as usize];
        if *next >= *end {
            // Held across the round trip: concurrent takers wait for this block, none wasted.
            let block = next_block(db, kind).await?;
            *next = (block - 1) * BLOCK + 1;
            *end = *next + BLOCK;
        }
        let seq = *next;
        *next += 1;
        Ok(format(kind, seq, at_ms))
    }
}

/// The next block of `kind` from its counter table: on PostgreSQL `nextval` of the table's
/// sequence (no row, so no commit to flush), elsewhere a row inserted for its auto-increment id.
async fn next_block(db: &impl ConnectionTrait, kind: CaseKind) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let table = kind.counter_table();
    if backend == DbBackend::Postgres {
        let row = db
            .query_one(sea_orm::Statement::from_string(
                backend,
                format!("SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id"),
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("the case counter returned no row".into()))?;
        row.try_get::<i64>("", "id")
    } else {
        let insert = Query::insert()
            .into_table(Alias::new(table))
            .or_default_values()
            .to_owned();
        Ok(db.execute(backend.build(&insert)).await?.last_insert_id() as i64)
    }
}

/// Moves the counter of `kind` past the numbers 1..=last, which a bulk load gave its own rows
/// (`safegrid bench-data`). Not for use while cases are being created.
pub async fn advance_past(
    db: &impl ConnectionTrait,
    kind: CaseKind,
    last: i64,
) -> Result<(), DbErr> {
    let last = (last + BLOCK - 1) / BLOCK; // the block that holds `last`
    if last == 0 {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let table = kind.counter_table();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns([Alias::new("id")])
        .values_panic([last.into()])
        .to_owned();
    db.execute(backend.build(&insert)).await?;
    if backend == DbBackend::Postgres {
        db.execute(sea_orm::Statement::from_string(
            backend,
            format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})"),
        ))
        .await?;
    }
    Ok(())
}

/// `R20261205-00042`: the prefix, the Asia/Shanghai day of `at_ms`, the counter (at least
/// five digits).
pub fn format(kind: CaseKind, seq: i64, at_ms: i64) -> String {
    use chrono::TimeZone;
    let day = chrono_tz::Asia::Shanghai
        .timestamp_millis_opt(at_ms)
        .single()
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_default();
    format!("{}{day}-{seq:05}", kind.prefix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_names_the_kind_the_shanghai_day_and_the_counter() {
        // 2026-12-04T16:30:00Z is already 2026-12-05 in Shanghai.
        let at = 1_796_401_800_000;
        assert_eq!(format(CaseKind::Report, 42, at), "R20261205-00042");
        assert_eq!(format(CaseKind::Wish, 7, at), "W20261205-00007");
        assert_eq!(format(CaseKind::Report, 123_456, at), "R20261205-123456");
    }
}
