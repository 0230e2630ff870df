//! One rollup key's raw count, tallied by the database.
//!
//! A refresh recounts a key (area × day × category) from its reports. Sending every row and
//! classifying it here cost a busy key's size twice over: the benchmark's worst case (every
//! submission into one key, 100,000+ reports) took ~0.2 s of PostgreSQL and as much of the
//! server per recount, in one burst on the cores the requests use (`benches/recount.rs`). Instead the database
//! tallies the reports per [`Tally`] group (status and duration buckets; the metrics' rules
//! written here in SQL) and returns a few rows whatever the key holds; and the background
//! upkeep counts in pages of [`PAGE`] reports by submission time with pauses between them
//! (`Pace::Spread`), so a hot key's recount never holds a core for long. Pages need no
//! common snapshot: a report's submission time never changes, and a change committed after
//! the refresh began marks the row stale again (`rollup::refresh_key_then`).
//!
//! [`Tally::of`] stays the rules' reference: a test (three backends) holds this SQL to it,
//! and `rebuild` still counts row by row in Rust, so every "rollups equal a rebuild" test
//! compares the two.

use sea_orm::sea_query::{Alias, Asterisk, Expr, Func, Order, Query, SelectStatement, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult};

use super::histogram::{thresholds_ms, BUCKETS};
use super::metrics::{Counts, SourceCounts, Tally};
use crate::reports::status::ReportStatus;
use entity::enums::Source;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn col(name: &str) -> Expr {
    Expr::col(a(name))
}

/// An integer expression read back as `i64` on every backend (PostgreSQL and MySQL may
/// otherwise type a CASE of parameters as something `i64` does not decode).
pub fn bigint(backend: DatabaseBackend, e: SimpleExpr) -> SimpleExpr {
    match backend {
        DatabaseBackend::Postgres => Func::cast_as(e, a("BIGINT")).into(),
        DatabaseBackend::MySql => Func::cast_as(e, a("SIGNED")).into(),
        DatabaseBackend::Sqlite => e,
    }
}

/// `histogram::bucket` of a duration in milliseconds, as SQL: integer comparisons only, a
/// binary search (six comparisons, not up to 39).
fn bucket_of(duration: &SimpleExpr) -> SimpleExpr {
    fn search(d: &SimpleExpr, edges: &[i64], lo: usize, hi: usize) -> SimpleExpr {
        if lo == hi {
            return Expr::val(lo as i64).into();
        }
        let mid = (lo + hi) / 2;
        Expr::case(
            Expr::expr(d.clone()).lt(edges[mid]),
            search(d, edges, lo, mid),
        )
        .finally(search(d, edges, mid + 1, hi))
        .into()
    }
    search(duration, &thresholds_ms(), 0, BUCKETS - 1)
}

fn flag(condition: SimpleExpr) -> SimpleExpr {
    Expr::case(condition, 1i64).finally(0i64).into()
}

/// Reports per page of a spread recount: a few milliseconds of the database's time, too few
/// for PostgreSQL to take more cores with parallel workers.
pub const PAGE: u64 = 2_000;

/// How a recount uses the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// One statement over the whole key (a reader waits for it).
    AtOnce,
    /// Pages of [`PAGE`] reports, each followed by a pause as long as it took (the background
    /// upkeep: a hot key's recount never holds a core for long, so requests arriving
    /// meanwhile do not queue behind it).
    Spread,
}

/// The reports one rollup row counts: those that fell in one area, of one category,
/// submitted in `[from, to)` (one Asia/Shanghai day: `rollup::Key::cohort`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cohort {
    pub area_code: String,
    pub category: String,
    pub from: i64,
    pub to: i64,
}

/// `SUM` of an integer expression as a 64-bit integer on every backend, 0 over no rows:
/// PostgreSQL sums BIGINT to NUMERIC and MySQL to DECIMAL, neither of which reads back as
/// `i64` (`rollup::int_sum_expr` is this).
pub fn sum(backend: DatabaseBackend, e: SimpleExpr) -> SimpleExpr {
    bigint(
        backend,
        Func::coalesce([Func::sum(e).into(), SimpleExpr::Constant(0i64.into())]).into(),
    )
}

/// The reports of `cohort` submitted in `[from, to)`, cancelled ones left out (they count
/// nowhere).
fn of_cohort(cohort: &Cohort, from: i64, to: i64) -> SimpleExpr {
    col("grid_code")
        .eq(cohort.area_code.as_str())
        .and(col("category").eq(cohort.category.as_str()))
        .and(col("submitted_at").gte(from))
        .and(col("submitted_at").lt(to))
        .and(col("status").ne(ReportStatus::Cancelled.as_str()))
}

/// Where the page starting at `from` ends: the submission time of the report after the
/// first `page` (`to` if there is none; `from + 1` if more than a page share `from`).
async fn page_end(
    db: &impl ConnectionTrait,
    cohort: &Cohort,
    (from, to): (i64, i64),
    page: u64,
) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let mut sel = Query::select();
    sel.column(a("submitted_at"))
        .from(a("reports"))
        .and_where(of_cohort(cohort, from, to))
        .order_by(a("submitted_at"), Order::Asc)
        .limit(1)
        .offset(page);
    let Some(row) = db.query_one(backend.build(&sel)).await? else {
        return Ok(to);
    };
    let at: i64 = row.try_get("", "submitted_at")?;
    Ok(at.max(from + 1))
}

/// The statement tallying the reports of `cohort` submitted in `[from, to)`.
fn statement(
    backend: DatabaseBackend,
    cohort: &Cohort,
    from: i64,
    to: i64,
    now: i64,
) -> SelectStatement {
    tally_statement(backend, of_cohort(cohort, from, to), None, now)
}

/// The per-report flags of [`SourceCounts::add`] as of `now`, named as the counters are
/// (`metrics::COUNTERS`).
fn source_flags(now: i64) -> Vec<(String, SimpleExpr)> {
    let mut flags: Vec<(String, SimpleExpr)> = Source::ALL
        .iter()
        .map(|s| {
            (
                format!("from_{}", s.as_str()),
                flag(col("source").eq(s.as_str())),
            )
        })
        .collect();
    let mediated = col("mediated_at").is_not_null();
    let due = col("follow_up_due");
    flags.extend([
        (
            "resolved_on_site".to_string(),
            flag(
                col("source")
                    .is_in([Source::Patrol.as_str(), Source::Visit.as_str()])
                    .and(col("resolved_at").equals(a("submitted_at"))),
            ),
        ),
        ("mediated".to_string(), flag(mediated.clone())),
        (
            "mediation_agreed".to_string(),
            flag(mediated.and(col("mediation_outcome").eq("agreed"))),
        ),
        (
            "follow_ups_due".to_string(),
            flag(
                due.clone()
                    .is_not_null()
                    .and(due.clone().lte(now).or(col("follow_up_at").is_not_null())),
            ),
        ),
        (
            "follow_ups_on_time".to_string(),
            flag(
                due.clone()
                    .is_not_null()
                    .and(col("follow_up_at").is_not_null())
                    .and(col("follow_up_at").lte(due)),
            ),
        ),
    ]);
    flags
}

/// The statement tallying the reports that match `filter`: each report reduced to its group
/// and flags (inner), summed per group (outer). With `by`, the groups are split by that
/// column of `reports` too, returned as `by_key`.
fn tally_statement(
    backend: DatabaseBackend,
    filter: SimpleExpr,
    by: Option<&str>,
    now: i64,
) -> SelectStatement {
    let is = |s: ReportStatus| col("status").eq(s.as_str());
    let closed_at: SimpleExpr =
        Func::coalesce([col("closed_at").into(), col("submitted_at").into()]).into();
    let clock: SimpleExpr = Expr::case(
        is(ReportStatus::Suspended),
        Func::coalesce([col("suspended_at").into(), Expr::val(now).into()]),
    )
    .finally(now)
    .into();
    let past = col("deadline").is_not_null().and(col("deadline").lt(clock));
    let groups: [(&str, SimpleExpr); 2] = [
        (
            "ta",
            Expr::case(col("accepted_at").is_null(), -1i64)
                .finally(bucket_of(&col("accepted_at").sub(col("submitted_at"))))
                .into(),
        ),
        (
            "tc",
            Expr::case(
                is(ReportStatus::Closed),
                bucket_of(&Expr::expr(closed_at.clone()).sub(col("submitted_at"))),
            )
            .finally(-1i64)
            .into(),
        ),
    ];
    let flags: Vec<(String, SimpleExpr)> = [
        (
            "closed_late",
            flag(
                col("deadline")
                    .is_not_null()
                    .and(Expr::expr(closed_at).gt(col("deadline"))),
            ),
        ),
        ("past_deadline", flag(past.clone())),
        ("reworked", flag(col("rework_count").gt(0))),
        ("rated", flag(col("rating").is_not_null())),
        ("satisfied", flag(col("rating").gte(4))),
    ]
    .into_iter()
    .map(|(name, e)| (name.to_string(), e))
    .chain(source_flags(now))
    .collect();

    let mut rows = Query::select();
    rows.from(a("reports")).column(a("status"));
    if let Some(by) = by {
        rows.expr_as(col(by), a("by_key"));
    }
    for (name, expr) in &groups {
        rows.expr_as(bigint(backend, expr.clone()), a(name));
    }
    for (name, expr) in &flags {
        rows.expr_as(bigint(backend, expr.clone()), a(name));
    }
    rows.expr_as(
        Expr::case(past, Expr::val(None::<i64>)).finally(col("deadline")),
        a("running_deadline"),
    )
    // `SourceFact::follow_up_pending`.
    .expr_as(
        Expr::case(
            col("follow_up_due")
                .gt(now)
                .and(col("follow_up_at").is_null()),
            col("follow_up_due"),
        )
        .finally(Expr::val(None::<i64>)),
        a("pending_follow_up"),
    )
    .and_where(filter);

    let group_cols: Vec<Alias> = by
        .map(|_| "by_key")
        .into_iter()
        .chain(["status", "ta", "tc"])
        .map(a)
        .collect();
    let mut tallied = Query::select();
    tallied.columns(group_cols.clone()).expr_as(
        bigint(backend, Func::count(Expr::col(Asterisk)).into()),
        a("reports"),
    );
    for (name, _) in &flags {
        tallied.expr_as(sum(backend, col(name).into()), a(name));
    }
    tallied
        .expr_as(Func::min(col("running_deadline")), a("first_deadline"))
        .expr_as(Func::min(col("pending_follow_up")), a("first_follow_up"))
        .from_subquery(rows, a("f"))
        .group_by_columns(group_cols);
    tallied
}

/// Counts a cohort's reports as of `now`; also returns the last moment the counts hold by the
/// clock alone (the rollup row's `next_deadline`: `Tally::next_change`), if they will change.
/// At once: one statement over the whole day. Spread: pages of [`PAGE`] reports, each
/// followed by a pause as long as it took.
pub async fn count_key(
    db: &impl ConnectionTrait,
    cohort: &Cohort,
    now: i64,
    pace: Pace,
) -> Result<(Counts, Option<i64>), DbErr> {
    match pace {
        Pace::AtOnce => count_key_in_pages(db, cohort, now, pace, None).await,
        Pace::Spread => count_key_in_pages(db, cohort, now, pace, Some(PAGE)).await,
    }
}

/// [`count_key`] in pages of `page` reports, or all at once (tests use small pages).
pub async fn count_key_in_pages(
    db: &impl ConnectionTrait,
    cohort: &Cohort,
    now: i64,
    pace: Pace,
    page: Option<u64>,
) -> Result<(Counts, Option<i64>), DbErr> {
    let backend = db.get_database_backend();
    let day_end = cohort.to;
    let mut from = cohort.from;
    let mut counts = Counts::default();
    let mut next = None::<i64>;
    while from < day_end {
        let started = std::time::Instant::now();
        let to = match page {
            Some(page) => page_end(db, cohort, (from, day_end), page).await?,
            None => day_end,
        };
        let found = db
            .query_all(backend.build(&statement(backend, cohort, from, to, now)))
            .await?;
        for row in &found {
            let tally = read_tally(row)?;
            counts.add_tally(&tally);
            if let Some(d) = tally.next_change() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        from = to;
        if pace == Pace::Spread && from < day_end {
            tokio::time::sleep(started.elapsed()).await;
        }
    }
    Ok((counts, next))
}

/// Counts the reports matching `filter` (a condition on `reports`) per value of its column
/// `by`, as of `now`: a dashboard's groups that rollups do not hold (by source), tallied by
/// the database like a key, so an area's whole period is never sent row by row. The caller
/// leaves cancelled reports out in `filter` if they should count nowhere.
pub async fn count_by(
    db: &impl ConnectionTrait,
    filter: SimpleExpr,
    by: &str,
    now: i64,
) -> Result<std::collections::HashMap<String, Counts>, DbErr> {
    let backend = db.get_database_backend();
    let found = db
        .query_all(backend.build(&tally_statement(backend, filter, Some(by), now)))
        .await?;
    let mut counts = std::collections::HashMap::<String, Counts>::new();
    for row in &found {
        let key: String = row.try_get("", "by_key")?;
        counts.entry(key).or_default().add_tally(&read_tally(row)?);
    }
    Ok(counts)
}

fn read_tally(row: &QueryResult) -> Result<Tally, DbErr> {
    let status: String = row.try_get("", "status")?;
    let Some(status) = ReportStatus::parse(&status) else {
        return Err(DbErr::Type(format!("unknown report status {status:?}")));
    };
    let bucket = |name: &str| -> Result<Option<usize>, DbErr> {
        Ok(usize::try_from(row.try_get::<i64>("", name)?).ok())
    };
    let n = |name: &str| row.try_get::<i64>("", name);
    Ok(Tally {
        status,
        to_accept: bucket("ta")?,
        to_close: bucket("tc")?,
        reports: n("reports")?,
        closed_late: n("closed_late")?,
        past_deadline: n("past_deadline")?,
        reworked: n("reworked")?,
        rated: n("rated")?,
        satisfied: n("satisfied")?,
        first_deadline: row.try_get("", "first_deadline")?,
        sources: SourceCounts {
            by_source: {
                let mut by_source = [0; 6];
                for (count, source) in by_source.iter_mut().zip(Source::ALL) {
                    *count = n(&format!("from_{}", source.as_str()))?;
                }
                by_source
            },
            resolved_on_site: n("resolved_on_site")?,
            mediated: n("mediated")?,
            mediation_agreed: n("mediation_agreed")?,
            follow_ups_due: n("follow_ups_due")?,
            follow_ups_on_time: n("follow_ups_on_time")?,
        },
        first_follow_up: row.try_get("", "first_follow_up")?,
    })
}
