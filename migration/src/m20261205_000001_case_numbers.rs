//! Case numbers (API.md, "Case numbers"): every report and wish carries `case_no`, e.g.
//! `R20261205-00042` — the kind, the Asia/Shanghai day it was created, and a counter that
//! only grows. The counter is an auto-increment table per kind (`report_numbers`,
//! `wish_numbers`; a sequence on PostgreSQL) whose values stand for blocks of numbers that
//! instances hand out (`safegrid::cases::number`): no lock is held to the end of a transaction
//! and instances creating at once never share a number. Existing rows are numbered here in
//! creation order, and the counters are moved past them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{pk_auto, string_len_null};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// (subject table, its creation column, the counter table, the prefix)
const KINDS: [(&str, &str, &str, &str); 2] = [
    ("reports", "submitted_at", "report_numbers", "R"),
    ("wishes", "submitted_at", "wish_numbers", "W"),
];

/// The same text `safegrid::cases::number::format` writes.
fn format(prefix: &str, seq: i64, at_ms: i64) -> String {
    // Asia/Shanghai has kept UTC+8 without daylight saving since 1991.
    let days = (at_ms + 8 * 3_600_000).div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{prefix}{y:04}{m:02}{d:02}-{seq:05}")
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, created, counter, prefix) in KINDS {
            m.create_table(
                Table::create()
                    .table(t(counter))
                    .col(pk_auto(t("id")))
                    .to_owned(),
            )
            .await?;
            m.alter_table(
                Table::alter()
                    .table(t(table))
                    .add_column(string_len_null(t("case_no"), 32))
                    .to_owned(),
            )
            .await?;
            let numbered = backfill(m, table, created, prefix).await?;
            if numbered > 0 {
                advance_counter(m, counter, numbered).await?;
            }
            m.create_index(
                Index::create()
                    .name(format!("idx_{table}_case_no"))
                    .table(t(table))
                    .col(t("case_no"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, _, counter, _) in KINDS {
            m.drop_index(
                Index::drop()
                    .name(format!("idx_{table}_case_no"))
                    .table(t(table))
                    .to_owned(),
            )
            .await?;
            m.alter_table(
                Table::alter()
                    .table(t(table))
                    .drop_column(t("case_no"))
                    .to_owned(),
            )
            .await?;
            m.drop_table(Table::drop().table(t(counter)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Numbers every row of `table` 1, 2, 3… in creation order; returns how many.
async fn backfill(
    m: &SchemaManager<'_>,
    table: &str,
    created: &str,
    prefix: &str,
) -> Result<i64, DbErr> {
    let db = m.get_connection();
    let backend = m.get_database_backend();
    let select = Query::select()
        .columns([t("id"), t(created)])
        .from(t(table))
        .order_by(t(created), Order::Asc)
        .order_by(t("id"), Order::Asc)
        .to_owned();
    let rows = db.query_all(backend.build(&select)).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let txn = db.begin().await?;
    let mut seq = 0;
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let at: i64 = row.try_get("", created)?;
        seq += 1;
        let update = Query::update()
            .table(t(table))
            .value(t("case_no"), format(prefix, seq, at))
            .and_where(Expr::col(t("id")).eq(id))
            .to_owned();
        txn.execute(backend.build(&update)).await?;
    }
    txn.commit().await?;
    Ok(seq)
}

/// The numbers a counter value stands for: value `k` is the block `(k-1)·BLOCK+1 ..= k·BLOCK`
/// (`safegrid::cases::number::BLOCK`; an instance takes a block at a time).
const BLOCK: i64 = 20;

/// Moves the counter past the block that holds `last`.
async fn advance_counter(m: &SchemaManager<'_>, counter: &str, last: i64) -> Result<(), DbErr> {
    let last = (last + BLOCK - 1) / BLOCK;
    let db = m.get_connection();
    let backend = m.get_database_backend();
    let insert = Query::insert()
        .into_table(t(counter))
        .columns([t("id")])
        .values_panic([last.into()])
        .to_owned();
    db.execute(backend.build(&insert)).await?;
    if backend == DbBackend::Postgres {
        db.execute(Statement::from_string(
            backend,
            format!("SELECT setval(pg_get_serial_sequence('{counter}', 'id'), {last})"),
        ))
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_carry_the_shanghai_day() {
        // 2026-12-04T16:30:00Z is already 2026-12-05 in Shanghai.
        let at = 1_796_401_800_000;
        assert_eq!(format("R", 42, at), "R20261205-00042");
        assert_eq!(format("W", 123_456, at), "W20261205-123456");
        assert_eq!(format("R", 1, 0), "R19700101-00001");
    }
}
