//! Case numbers (API.md, "Case numbers"): `R20261205-00042` for a report, `W…` for a wish —
//! short, unique, increasing, readable aloud on the phone. The counter after the day never
//! resets, so a number is unique without the day; the day is there for people.
//!
//! A number comes from inserting a row into the kind's counter table (`report_numbers`,
//! `wish_numbers`; auto-increment, a sequence on PostgreSQL), in autocommit before the
//! creating transaction: two instances creating at once never share a number, and nothing
//! holds a lock on a shared row until commit. A creation that fails after taking its number
//! leaves a gap, never a duplicate.

use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

/// What is being numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    Report,
    Wish,
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

/// The next number of `kind`, formatted for a case created at `at_ms`.
pub async fn next(db: &impl ConnectionTrait, kind: CaseKind, at_ms: i64) -> Result<String, DbErr> {
    let backend = db.get_database_backend();
    let mut insert = Query::insert()
        .into_table(Alias::new(kind.counter_table()))
        .or_default_values()
        .to_owned();
    let seq = if backend == DbBackend::Postgres {
        insert.returning_col(Alias::new("id"));
        let row = db
            .query_one(backend.build(&insert))
            .await?
            .ok_or_else(|| DbErr::Custom("the case counter returned no row".into()))?;
        i64::from(row.try_get::<i32>("", "id")?)
    } else {
        db.execute(backend.build(&insert)).await?.last_insert_id() as i64
    };
    Ok(format(kind, seq, at_ms))
}

/// Makes the counter of `kind` hand out `last + 1` next: for a bulk load that numbered its
/// own rows 1..=last (`safegrid bench-data`). Not for use while cases are being created.
pub async fn advance_past(
    db: &impl ConnectionTrait,
    kind: CaseKind,
    last: i64,
) -> Result<(), DbErr> {
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
