//! The rollup table `dashboard_rollups`, kept exact while reports change.
//!
//! Rows: grain `g` holds one area's own reports per (day, category), recomputed from the raw
//! reports; grain `d` (per day and category) and `m` (per month, category '') hold an area's
//! whole subtree and move by the same delta as the `g` row below them, in the same
//! transaction. A refresh counts the raw reports first (`count`) and locks the `g` row
//! (`SELECT … FOR UPDATE`) only to write, so a mark never waits for a count; a change that
//! lands meanwhile leaves the row stale for the next refresh (`refresh_key_then`). Each
//! refresh takes the row's next number when it starts (`refresh_seq`), and the row records
//! whose count it holds (`counted_seq`): a refresh writes only a count newer than the row's
//! (`Held::settle`), so of two refreshes that overlap the older never writes last. Deltas to
//! shared ancestor rows are increments, which commute.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeZone};
use sea_orm::sea_query::{
    Alias, Expr, Func, IntoColumnRef, LockType, OnConflict, Query, SimpleExpr,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, IsolationLevel, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, TransactionTrait,
};

use super::count::{count_key, Cohort, Pace};
use super::histogram::{Histogram, BUCKETS};
use super::metrics::{Counts, Fact, COUNTERS, N_COUNTERS};
use entity::reports;

pub const TABLE: &str = "dashboard_rollups";

fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// Histogram column names: `ta_00…` (time to accept) then `tc_00…` (time to close).
pub fn hist_columns() -> Vec<String> {
    ["ta", "tc"]
        .iter()
        .flat_map(|h| (0..BUCKETS).map(move |i| format!("{h}_{i:02}")))
        .collect()
}

/// Every additive column, counters first.
pub fn value_columns() -> Vec<String> {
    COUNTERS
        .iter()
        .map(|c| c.to_string())
        .chain(hist_columns())
        .collect()
}

pub fn counts_to_values(c: &Counts) -> Vec<i64> {
    c.counters()
        .into_iter()
        .chain(c.to_accept.0)
        .chain(c.to_close.0)
        .collect()
}

pub fn counts_from_values(v: &[i64]) -> Counts {
    const N: usize = N_COUNTERS;
    let mut c = [0; N];
    c.copy_from_slice(&v[..N]);
    let mut ta = Histogram::default();
    let mut tc = Histogram::default();
    ta.0.copy_from_slice(&v[N..N + BUCKETS]);
    tc.0.copy_from_slice(&v[N + BUCKETS..N + 2 * BUCKETS]);
    Counts::from_counters(c, ta, tc)
}

/// `SUM(col)` as a 64-bit integer on every backend, 0 over no rows: PostgreSQL sums BIGINT
/// to NUMERIC and MySQL to DECIMAL, neither of which reads back as `i64`.
pub fn int_sum(backend: DatabaseBackend, col: impl IntoColumnRef) -> SimpleExpr {
    int_sum_expr(backend, Expr::col(col).into())
}

/// [`int_sum`] of any expression (`count` builds its sums the same way).
pub fn int_sum_expr(backend: DatabaseBackend, e: SimpleExpr) -> SimpleExpr {
    super::count::sum(backend, e)
}

/// Reads the additive columns (selected under their own names) from a row.
pub fn read_values(row: &QueryResult) -> Result<Vec<i64>, DbErr> {
    value_columns()
        .iter()
        .map(|c| row.try_get::<i64>("", c))
        .collect()
}

const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// The Asia/Shanghai day of an instant.
pub fn day_of(ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&SHANGHAI)
        .date_naive()
}

/// The instant a Shanghai day starts, in epoch milliseconds.
pub fn day_start_ms(day: NaiveDate) -> i64 {
    SHANGHAI
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

pub fn month_key(day: NaiveDate) -> String {
    day.with_day(1).map(day_key).unwrap_or_default()
}

/// Where a report is counted: the area it fell in, its submission day and its category.
/// None of the three ever changes after submission.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub area_code: String,
    pub day: NaiveDate,
    pub category: String,
}

impl Key {
    /// The reports this key's `g` row counts.
    pub fn cohort(&self) -> Cohort {
        Cohort {
            area_code: self.area_code.clone(),
            category: self.category.clone(),
            from: day_start_ms(self.day),
            to: day_start_ms(self.day.succ_opt().unwrap_or(self.day)),
        }
    }

    pub fn of(r: &reports::Model) -> Key {
        Key {
            area_code: r.grid_code.clone(),
            day: day_of(r.submitted_at),
            category: r.category.clone(),
        }
    }
}

/// An area as the rollup rows describe it.
#[derive(Clone, Debug, Default)]
pub struct AreaInfo {
    pub code: String,
    pub parent_code: String,
    pub level: String,
    pub path: String,
}

/// The area and its ancestors, from the root down (just the area if it is unknown).
async fn lineage(db: &impl ConnectionTrait, code: &str) -> Result<Vec<AreaInfo>, DbErr> {
    let Some(me) = entity::areas::Entity::find_by_id(code.to_string())
        .one(db)
        .await?
    else {
        return Ok(vec![AreaInfo {
            code: code.into(),
            ..Default::default()
        }]);
    };
    let codes: Vec<String> = me
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut found = entity::areas::Entity::find()
        .filter(entity::areas::Column::Code.is_in(codes.clone()))
        .all(db)
        .await?;
    found.sort_by_key(|a| a.path.len());
    Ok(found
        .into_iter()
        .map(|a| AreaInfo {
            code: a.code,
            parent_code: a.parent_code.unwrap_or_default(),
            level: a.level,
            path: a.path,
        })
        .collect())
}

fn key_cols() -> [Alias; 7] {
    [
        a("area_code"),
        a("grain"),
        a("day"),
        a("category"),
        a("parent_code"),
        a("area_level"),
        a("area_path"),
    ]
}

/// Creates the rows if missing (all zero); existing rows are left as they are.
async fn ensure_rows(
    db: &impl ConnectionTrait,
    rows: &[(AreaInfo, &str, String, String)],
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut ins = Query::insert();
    ins.into_table(a(TABLE)).columns(key_cols());
    for (area, grain, day, category) in rows {
        ins.values_panic([
            area.code.clone().into(),
            (*grain).into(),
            day.clone().into(),
            category.clone().into(),
            area.parent_code.clone().into(),
            area.level.clone().into(),
            area.path.clone().into(),
        ]);
    }
    // A no-op update rather than DO NOTHING, which sea-query renders invalid for MySQL.
    ins.on_conflict(
        OnConflict::columns([a("area_code"), a("grain"), a("day"), a("category")])
            .update_column(a("area_code"))
            .to_owned(),
    );
    db.execute(db.get_database_backend().build(&ins)).await?;
    Ok(())
}

fn key_filter(area: &str, grain: &str, day: &str, category: &str) -> SimpleExpr {
    Expr::col(a("area_code"))
        .eq(area)
        .and(Expr::col(a("grain")).eq(grain))
        .and(Expr::col(a("day")).eq(day))
        .and(Expr::col(a("category")).eq(category))
}

/// `next_deadline` of a row whose refresh is counting: stale to every reader (it is below
/// any clock), distinct from a mark's 0.
const REFRESHING: i64 = -1;

/// Recomputes one key from the raw reports and moves its ancestors by the difference.
pub async fn refresh_key<C>(db: &C, key: &Key) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    refresh_key_paced(db, key, Pace::AtOnce).await
}

/// [`refresh_key`], counting at `pace`.
async fn refresh_key_paced<C>(db: &C, key: &Key, pace: Pace) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let mut last = None;
    // A deadlock between two refreshes sharing ancestor rows (or, on SQLite, a write lock
    // another connection took after this transaction read) is retried, after a pause that
    // grows, so that contenders do not collide again at once.
    for attempt in 0..8u64 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
        }
        match refresh_once(db, key, pace, std::future::ready(())).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| DbErr::Custom("refresh failed".into())))
}

/// [`refresh_key`] once, with `between` run after the count and before the row is locked
/// and written: where a change that lands mid-count falls (its test drives one there).
pub async fn refresh_key_then<C>(
    db: &C,
    key: &Key,
    between: impl std::future::Future<Output = ()>,
) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    refresh_once(db, key, Pace::AtOnce, between).await
}

async fn refresh_once<C>(
    db: &C,
    key: &Key,
    pace: Pace,
    between: impl std::future::Future<Output = ()>,
) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let areas = lineage(db, &key.area_code).await?;
    let own = areas.last().cloned().unwrap_or_default();
    let day = day_key(key.day);
    let month = month_key(key.day);
    ensure_rows(db, &[(own.clone(), "g", day.clone(), key.category.clone())]).await?;
    let own_row = || key_filter(&own.code, "g", &day, &key.category);
    let seq = start_refresh(db, own_row()).await?;
    // Counted before the row is locked: a mark arriving meanwhile writes its 0 at once instead
    // of waiting out the count (a hot key's count takes hundreds of milliseconds, and every
    // submission into the key queued behind the lock). The count's snapshot is taken after
    // the start committed, so it holds every change whose mark the start may have erased.
    let now = crate::util::now_ms();
    let (new, next_deadline) = count_key(db, &key.cohort(), now, pace).await?;
    between.await;
    let txn = begin_read_committed(db).await?;
    let cols = value_columns();
    let mut sel = Query::select();
    sel.from(a(TABLE))
        .columns(cols.iter().map(|c| a(c)))
        .columns([a("next_deadline"), a("refresh_seq"), a("counted_seq")])
        .and_where(own_row())
        .lock(LockType::Update);
    let row = txn
        .query_one(backend.build(&sel))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("rollup row".into()))?;
    let held = Held {
        next_deadline: row.try_get("", "next_deadline")?,
        refresh_seq: row.try_get("", "refresh_seq")?,
        counted_seq: row.try_get("", "counted_seq")?,
    };
    // Refreshes of one key serialize here, in any order. One that started later counted
    // everything this one did: once its count is in the row, this one writes nothing. So the
    // row only ever moves to a newer count, and a reader whose own refresh was overtaken still
    // reads a count that includes everything committed before it began.
    let Some(settled) = held.settle(seq, next_deadline) else {
        return txn.commit().await;
    };
    let old = counts_from_values(&read_values(&row)?);

    let mut upd = Query::update();
    upd.table(a(TABLE));
    for (c, v) in cols.iter().zip(counts_to_values(&new)) {
        upd.value(a(c), v);
    }
    upd.value(a("next_deadline"), settled)
        .value(a("counted_seq"), seq)
        .value(a("refreshed_at"), now)
        .value(a("parent_code"), own.parent_code.clone())
        .value(a("area_level"), own.level.clone())
        .value(a("area_path"), own.path.clone())
        .and_where(own_row());
    txn.execute(backend.build(&upd)).await?;

    // Each write moves the ancestors by its count minus what the row held under the lock, so
    // they stay the rows' sums whatever order the writes come in.
    let delta = new.combine(&old, -1);
    if !delta.is_zero() && !own.path.is_empty() {
        let mut wanted = Vec::new();
        for area in &areas {
            wanted.push((area.clone(), "d", day.clone(), key.category.clone()));
            wanted.push((area.clone(), "m", month.clone(), String::new()));
        }
        ensure_rows(&txn, &wanted).await?;
        let codes: Vec<String> = areas.iter().map(|x| x.code.clone()).collect();
        for (grain, d, category) in [("d", &day, key.category.as_str()), ("m", &month, "")] {
            let mut upd = Query::update();
            upd.table(a(TABLE));
            for (c, v) in cols.iter().zip(counts_to_values(&delta)) {
                if v != 0 {
                    upd.value(a(c), Expr::col(a(c)).add(v));
                }
            }
            upd.and_where(Expr::col(a("area_code")).is_in(codes.clone()))
                .and_where(Expr::col(a("grain")).eq(grain))
                .and_where(Expr::col(a("day")).eq(d.as_str()))
                .and_where(Expr::col(a("category")).eq(category));
            txn.execute(backend.build(&upd)).await?;
        }
    }
    txn.commit().await
}

/// Commits `next_deadline = -1` and takes the row's next refresh number, which orders this
/// refresh's count among those of the refreshes that overlap it. From here on a mark sees a
/// row that is not stale-and-idle (0) and writes its 0, which the final write keeps. A mark
/// that still saw 0 committed its report before this, so the count includes it.
async fn start_refresh<C>(db: &C, own_row: SimpleExpr) -> Result<i64, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let txn = begin_read_committed(db).await?;
    let mut start = Query::update();
    start
        .table(a(TABLE))
        .value(a("next_deadline"), REFRESHING)
        .value(a("refresh_seq"), Expr::col(a("refresh_seq")).add(1))
        .and_where(own_row.clone());
    txn.execute(backend.build(&start)).await?;
    // Read under the row lock the update took: the number is this refresh's own (MySQL has
    // no `UPDATE … RETURNING`).
    let mut sel = Query::select();
    sel.from(a(TABLE))
        .column(a("refresh_seq"))
        .and_where(own_row);
    let seq = txn
        .query_one(backend.build(&sel))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("rollup row".into()))?
        .try_get("", "refresh_seq")?;
    txn.commit().await?;
    Ok(seq)
}

async fn begin_read_committed<C>(db: &C) -> Result<sea_orm::DatabaseTransaction, DbErr>
where
    C: TransactionTrait + ConnectionTrait,
{
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => db.begin().await,
        _ => {
            db.begin_with_config(Some(IsolationLevel::ReadCommitted), None)
                .await
        }
    }
}

/// What a key's own row held when a refresh locked it to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub next_deadline: Option<i64>,
    /// The number the latest refresh to start took.
    pub refresh_seq: i64,
    /// The number of the refresh whose count the row holds.
    pub counted_seq: i64,
}

impl Held {
    /// The `next_deadline` that refresh number `seq`, whose count found `next_deadline` as the
    /// earliest deadline still ahead, writes with its count; `None` when it must write
    /// nothing because the row already holds the count of a refresh that started later.
    pub fn settle(&self, seq: i64, next_deadline: Option<i64>) -> Option<Option<i64>> {
        if self.counted_seq >= seq {
            return None;
        }
        let newer_counting = self.refresh_seq > seq;
        Some(match self.next_deadline {
            // Nothing marked and no refresh started since this one: the row is now fresh.
            Some(REFRESHING) if !newer_counting => next_deadline,
            // A later refresh is counting: it settles the row.
            Some(REFRESHING) => Some(REFRESHING),
            // A mark came after the latest start: stale (0) for the next refresh. The counts
            // are written all the same, so a row under constant marking still moves forward.
            _ => Some(0),
        })
    }
}

/// Call after a report's change has committed: marks its own rollup row stale with one
/// upsert (`next_deadline = 0`). Every dashboard read first refreshes the stale rows of its
/// area (`refresh_stale`), and the upkeep job refreshes the rest, so the figures stay exact
/// when read while the request path stays short: recomputing here made every submission wait
/// for the row locks of the district's rollup rows (120 submissions/s instead of ~800 in the
/// load benchmark). A mark that arrives while a refresh counts writes its 0 at once, and the
/// refresh then leaves the row stale (`refresh_key_then`); only the refresh's short final
/// write holds the row. So a change is never lost between a count and its write. A failure is
/// logged, never returned: the change itself is saved, and `safegrid dashboard rebuild`
/// repairs the rollups.
pub async fn report_changed<C>(
    db: &C,
    report: &reports::Model,
    known: Option<&crate::grids::router::AreaInfo>,
) where
    C: ConnectionTrait,
{
    if let Err(e) = mark_stale(db, &Key::of(report), known).await {
        tracing::error!(error = %e, report = %report.id, "dashboard rollup mark failed; run `safegrid dashboard rebuild`");
    }
}

/// Marks the report's own rollup row stale. `known` is the router's record of the area, so
/// the hot path (every submission) need not read the area back from the database.
async fn mark_stale(
    db: &impl ConnectionTrait,
    key: &Key,
    known: Option<&crate::grids::router::AreaInfo>,
) -> Result<(), DbErr> {
    let own = match known.filter(|k| k.code == key.area_code) {
        Some(k) => AreaInfo::from_router(k),
        None => match entity::areas::Entity::find_by_id(key.area_code.clone())
            .one(db)
            .await?
        {
            Some(x) => AreaInfo {
                code: x.code,
                parent_code: x.parent_code.unwrap_or_default(),
                level: x.level,
                path: x.path,
            },
            None => AreaInfo {
                code: key.area_code.clone(),
                ..Default::default()
            },
        },
    };
    let backend = db.get_database_backend();
    let statement = match backend {
        DatabaseBackend::Postgres => mark_statement_pg(key, own),
        DatabaseBackend::MySql => {
            if already_stale(db, key, &own.code).await? {
                return Ok(());
            }
            backend.build(&mark_stale_statement(key, own))
        }
        _ => backend.build(&mark_stale_statement(key, own)),
    };
    db.execute(statement).await?;
    Ok(())
}

/// [`mark_stale_if_fresh`] as sent: every submission sends it, so its text is built once
/// (`infra::shaped`).
fn mark_statement_pg(key: &Key, own: AreaInfo) -> sea_orm::Statement {
    let day = day_key(key.day);
    let values: Vec<sea_orm::Value> = vec![
        own.code.as_str().into(),
        "g".into(),
        day.as_str().into(),
        key.category.as_str().into(),
        own.parent_code.as_str().into(),
        own.level.as_str().into(),
        own.path.as_str().into(),
        0i64.into(),
        0i64.into(),
        own.code.as_str().into(),
        "g".into(),
        day.as_str().into(),
        key.category.as_str().into(),
        0i64.into(),
    ];
    crate::infra::shaped::statement(
        DatabaseBackend::Postgres,
        "dashboard::mark_stale_if_fresh",
        0,
        values,
        || mark_stale_if_fresh(key, own),
    )
}

/// MySQL's way to PostgreSQL's no-lock mark (issue 21): InnoDB locks a row for any `INSERT …
/// ON DUPLICATE KEY UPDATE` or matching `UPDATE`, and an autocommit mark holds that lock
/// through its own redo flush, so a burst into one grid, category and day queued on the one
/// row. A plain SELECT is a consistent read that takes no lock: when it sees the row already
/// stale (0) the mark is skipped; otherwise (missing, fresh, or -1 while a refresh counts) the
/// upsert runs as before. Skipping is safe for the reason given at [`mark_stale_if_fresh`]:
/// the mark's report committed before this read, and a refresh that commits -1 after it
/// counts from after that commit.
async fn already_stale(db: &impl ConnectionTrait, key: &Key, code: &str) -> Result<bool, DbErr> {
    let mut sel = Query::select();
    sel.column(a("next_deadline"))
        .from(a(TABLE))
        .and_where(key_filter(code, "g", &day_key(key.day), &key.category));
    let row = db.query_one(db.get_database_backend().build(&sel)).await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<i64>>("", "next_deadline")? == Some(0),
        None => false,
    })
}

/// The mark on PostgreSQL, which writes only when the row is not already stale: a burst of
/// reports into one grid, category and day (a fire seen by a whole building) would otherwise
/// queue on that one row, each mark holding its lock through its own commit (~1,600 marks/s
/// at most on the benchmark machine, which capped submissions). `INSERT … DO NOTHING` creates
/// a missing row without locking an existing one (an `ON CONFLICT DO UPDATE … WHERE` would
/// lock it even when it changes nothing); the `UPDATE` that follows, only where the row is not
/// already 0, skips a stale row without a lock or a write. Skipping is safe because a refresh first commits
/// `next_deadline = -1` and only then counts (see `refresh_key_then`): a mark that saw 0
/// came before that commit, so its report, committed before the mark, is counted.
fn mark_stale_if_fresh(key: &Key, own: AreaInfo) -> sea_orm::sea_query::WithQuery {
    use sea_orm::sea_query::{CommonTableExpression, WithClause};
    let day = day_key(key.day);
    let code = own.code.clone();
    let mut create = stale_row(key, own);
    create.on_conflict(
        OnConflict::columns([a("area_code"), a("grain"), a("day"), a("category")])
            .do_nothing()
            .to_owned(),
    );
    let mut mark = Query::update();
    mark.table(a(TABLE))
        .value(a("next_deadline"), 0i64)
        .and_where(key_filter(&code, "g", &day, &key.category))
        // NULL (fresh, nothing open) is not stale either.
        .and_where(
            Expr::col(a("next_deadline"))
                .ne(0i64)
                .or(Expr::col(a("next_deadline")).is_null()),
        );
    mark.with(
        WithClause::new()
            .cte(
                CommonTableExpression::new()
                    .query(create)
                    .table_name(a("created"))
                    .to_owned(),
            )
            .to_owned(),
    )
}

/// The mark of [`report_changed`] as one statement, for a caller that sends it together with
/// the change itself (the submission on PostgreSQL). The mark then commits with the report:
/// a refresh holding the row makes the whole submission wait for it, and the row is stale
/// after both, as with the separate mark.
pub fn mark_stale_with(
    report: &reports::Model,
    area: &crate::grids::router::AreaInfo,
) -> sea_orm::sea_query::InsertStatement {
    mark_stale_statement(&Key::of(report), AreaInfo::from_router(area))
}

impl AreaInfo {
    fn from_router(k: &crate::grids::router::AreaInfo) -> AreaInfo {
        AreaInfo {
            code: k.code.clone(),
            parent_code: k.parent_code.clone().unwrap_or_default(),
            level: k.level.as_str().to_owned(),
            path: k.path.clone(),
        }
    }
}

fn mark_stale_statement(key: &Key, own: AreaInfo) -> sea_orm::sea_query::InsertStatement {
    let mut ins = stale_row(key, own);
    ins.on_conflict(
        OnConflict::columns([a("area_code"), a("grain"), a("day"), a("category")])
            .update_column(a("next_deadline"))
            .to_owned(),
    );
    ins
}

/// The INSERT of a key's own row, stale (`next_deadline = 0`); callers choose the conflict.
fn stale_row(key: &Key, own: AreaInfo) -> sea_orm::sea_query::InsertStatement {
    let mut ins = Query::insert();
    ins.into_table(a(TABLE))
        .columns(key_cols().into_iter().chain([a("next_deadline")]))
        .values_panic([
            own.code.into(),
            "g".into(),
            day_key(key.day).into(),
            key.category.clone().into(),
            own.parent_code.into(),
            own.level.into(),
            own.path.into(),
            0i64.into(),
        ]);
    ins
}

/// Brings every stale rollup row up to date (tests and the rebuild check use it; readers
/// refresh their own area).
pub async fn refresh_all_stale<C>(db: &C) -> Result<usize, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let mut total = 0;
    loop {
        let n = refresh_stale(db, None, 10_000).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// The background upkeep's pace: a key whose recount took long waits [`UpkeepPace::FACTOR`]
/// times as long before the upkeep recounts it again.
///
/// Why: a recount reads every report of its key, and a key under a stream of submissions is
/// stale again at every pass. For a district's keys (tens of reports) that costs nothing, but
/// a key with 100,000 reports in one day (the load benchmark's worst case, every submission
/// into one grid and category) took ~0.3 s of PostgreSQL and as much of the server every
/// 5 s, growing with the key. Only the upkeep is paced: a dashboard read refreshes the stale
/// rows it shows first (`service.rs`), so figures stay exact whatever the pace. Kept in the
/// upkeep's process only as a hint: when the lease moves, the new holder recounts sooner.
#[derive(Default)]
pub struct UpkeepPace {
    not_before: std::sync::Mutex<std::collections::HashMap<Key, std::time::Instant>>,
}

impl UpkeepPace {
    /// A recount may use at most 1 / FACTOR of the upkeep's time on its key.
    pub const FACTOR: u32 = 30;
    /// Recounts quicker than this are never paced.
    pub const QUICK: std::time::Duration = std::time::Duration::from_millis(100);

    /// Whether the upkeep may recount `key` at `now`.
    pub fn is_due(&self, key: &Key, now: std::time::Instant) -> bool {
        let not_before = self.not_before.lock().expect("pace lock");
        not_before.get(key).is_none_or(|t| *t <= now)
    }

    /// Records that recounting `key` took `took`, finishing at `now`.
    pub fn recounted(&self, key: &Key, took: std::time::Duration, now: std::time::Instant) {
        let mut not_before = self.not_before.lock().expect("pace lock");
        // Entries already due are dropped: the map holds only keys waiting now.
        not_before.retain(|_, t| *t > now);
        if took >= Self::QUICK {
            not_before.insert(key.clone(), now + took * Self::FACTOR);
        } else {
            not_before.remove(key);
        }
    }
}

/// The background upkeep: [`refresh_stale`] over every area, skipping the keys `pace` holds
/// back; returns how many rows it refreshed.
pub async fn upkeep<C>(db: &C, limit: u64, pace: &UpkeepPace) -> Result<usize, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    refresh_stale_paced(db, None, limit, Some(pace)).await
}

/// Refreshes the stale rows: marked by a change, or whose figures the clock has changed since
/// they were computed (an open report passed its deadline, a follow-up turned due), within
/// `path` if given; returns how many.
pub async fn refresh_stale<C>(db: &C, path: Option<&str>, limit: u64) -> Result<usize, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    refresh_stale_paced(db, path, limit, None).await
}

async fn refresh_stale_paced<C>(
    db: &C,
    path: Option<&str>,
    limit: u64,
    pace: Option<&UpkeepPace>,
) -> Result<usize, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let now = crate::util::now_ms();
    let mut sel = Query::select();
    sel.from(a(TABLE))
        .columns([a("area_code"), a("day"), a("category")])
        .and_where(Expr::col(a("grain")).eq("g"))
        .and_where(Expr::col(a("next_deadline")).lt(now))
        .limit(limit);
    if let Some(p) = path {
        sel.and_where(Expr::col(a("area_path")).like(format!("{p}%")));
    }
    let rows = db.query_all(db.get_database_backend().build(&sel)).await?;
    let mut n = 0;
    for row in rows {
        let day: String = row.try_get("", "day")?;
        let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
            continue;
        };
        let key = Key {
            area_code: row.try_get("", "area_code")?,
            day,
            category: row.try_get("", "category")?,
        };
        let started = std::time::Instant::now();
        if pace.is_some_and(|p| !p.is_due(&key, started)) {
            continue;
        }
        match pace {
            Some(_) => refresh_key_paced(db, &key, Pace::Spread).await?,
            None => refresh_key(db, &key).await?,
        }
        if let Some(pace) = pace {
            let took = started.elapsed();
            if took >= UpkeepPace::QUICK {
                tracing::debug!(
                    area = %key.area_code, day = %key.day, category = %key.category,
                    took_ms = took.as_millis() as u64,
                    "slow rollup recount: the upkeep holds this key back {}x as long",
                    UpkeepPace::FACTOR
                );
            }
            pace.recounted(&key, took, std::time::Instant::now());
        }
        n += 1;
    }
    Ok(n)
}

/// Recomputes every rollup from the raw reports (the `safegrid dashboard rebuild` command).
/// Own rows are computed one area at a time; subtree rows are summed from them in SQL.
pub async fn rebuild<C>(db: &C) -> Result<RebuildSummary, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    // The rebuilt rows hold counts newer than any refresh that started before: their number
    // is above every number taken so far, so such a refresh, still counting, writes nothing.
    let mut latest = Query::select();
    latest
        .expr_as(Func::max(Expr::col(a("refresh_seq"))), a("latest"))
        .from(a(TABLE));
    let seq = match txn.query_one(backend.build(&latest)).await? {
        Some(row) => row.try_get::<Option<i64>>("", "latest")?.unwrap_or(0) + 1,
        None => 1,
    };
    txn.execute(backend.build(Query::delete().from_table(a(TABLE))))
        .await?;
    let now = crate::util::now_ms();
    let areas: BTreeMap<String, entity::areas::Model> = entity::areas::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|x| (x.code.clone(), x))
        .collect();
    let info = |code: &str| -> AreaInfo {
        areas
            .get(code)
            .map(|x| AreaInfo {
                code: x.code.clone(),
                parent_code: x.parent_code.clone().unwrap_or_default(),
                level: x.level.clone(),
                path: x.path.clone(),
            })
            .unwrap_or_else(|| AreaInfo {
                code: code.into(),
                ..Default::default()
            })
    };
    // Own rows: the reports that fell in each area, area by area.
    let codes: Vec<String> = reports::Entity::find()
        .select_only()
        .column(reports::Column::GridCode)
        .distinct()
        .into_tuple::<String>()
        .all(&txn)
        .await?;
    let mut own_rows = 0;
    for code in &codes {
        let mut keyed: BTreeMap<(NaiveDate, String), (Counts, Option<i64>)> = BTreeMap::new();
        let rows = reports::Entity::find()
            .filter(reports::Column::GridCode.eq(code.as_str()))
            .order_by_asc(reports::Column::SubmittedAt)
            .all(&txn)
            .await?;
        for r in &rows {
            let e = keyed
                .entry((day_of(r.submitted_at), r.category.clone()))
                .or_default();
            if let Some(d) = e.0.add(&Fact::from(r), now) {
                e.1 = Some(e.1.map_or(d, |n: i64| n.min(d)));
            }
        }
        let area = info(code);
        let rows: Vec<RowOut> = keyed
            .into_iter()
            .map(|((day, category), (counts, next))| RowOut {
                area: area.clone(),
                grain: "g",
                day: day_key(day),
                category,
                counts,
                next_deadline: next,
            })
            .collect();
        own_rows += rows.len();
        insert_rows(&txn, &rows, now, seq).await?;
    }
    // Subtree rows, deepest areas first: an area's own rows plus its children's subtree
    // rows (each row is read once, by its parent), by day and category, then by month.
    let mut subtree_rows = 0;
    let value_cols = value_columns();
    let mut order: Vec<&entity::areas::Model> = areas.values().collect();
    order.sort_by_key(|x| std::cmp::Reverse(x.path.matches('/').count()));
    for area in order {
        let mut sel = Query::select();
        sel.columns([a("day"), a("category")]);
        for c in &value_cols {
            sel.expr_as(int_sum(backend, a(c)), a(c));
        }
        sel.from(a(TABLE))
            .cond_where(
                Expr::col(a("grain"))
                    .eq("d")
                    .and(Expr::col(a("parent_code")).eq(area.code.as_str()))
                    .or(Expr::col(a("grain"))
                        .eq("g")
                        .and(Expr::col(a("area_code")).eq(area.code.as_str()))),
            )
            .group_by_columns([a("day"), a("category")]);
        let found = txn.query_all(backend.build(&sel)).await?;
        let me = info(&area.code);
        let mut months: BTreeMap<String, Counts> = BTreeMap::new();
        let mut rows = Vec::with_capacity(found.len());
        for row in &found {
            let day: String = row.try_get("", "day")?;
            let counts = counts_from_values(&read_values(row)?);
            let month = format!("{}-01", &day[..7.min(day.len())]);
            let m = months.entry(month).or_default();
            *m = m.combine(&counts, 1);
            rows.push(RowOut {
                area: me.clone(),
                grain: "d",
                day,
                category: row.try_get("", "category")?,
                counts,
                next_deadline: None,
            });
        }
        rows.extend(months.into_iter().map(|(day, counts)| RowOut {
            area: me.clone(),
            grain: "m",
            day,
            category: String::new(),
            counts,
            next_deadline: None,
        }));
        subtree_rows += rows.len();
        insert_rows(&txn, &rows, now, seq).await?;
    }
    txn.commit().await?;
    Ok(RebuildSummary {
        own_rows,
        subtree_rows,
    })
}

/// What a rebuild wrote.
#[derive(Debug, Clone, Copy)]
pub struct RebuildSummary {
    pub own_rows: usize,
    pub subtree_rows: usize,
}

struct RowOut {
    area: AreaInfo,
    grain: &'static str,
    day: String,
    category: String,
    counts: Counts,
    next_deadline: Option<i64>,
}

async fn insert_rows(
    db: &impl ConnectionTrait,
    rows: &[RowOut],
    now: i64,
    seq: i64,
) -> Result<(), DbErr> {
    let cols = value_columns();
    // Stay well under every backend's limit of bound parameters per statement.
    for chunk in rows.chunks(100) {
        let mut ins = Query::insert();
        ins.into_table(a(TABLE)).columns(
            key_cols()
                .into_iter()
                .chain([
                    a("next_deadline"),
                    a("refreshed_at"),
                    a("refresh_seq"),
                    a("counted_seq"),
                ])
                .chain(cols.iter().map(|c| a(c))),
        );
        for r in chunk {
            let mut values: Vec<SimpleExpr> = vec![
                r.area.code.clone().into(),
                r.grain.into(),
                r.day.clone().into(),
                r.category.clone().into(),
                r.area.parent_code.clone().into(),
                r.area.level.clone().into(),
                r.area.path.clone().into(),
                r.next_deadline.into(),
                now.into(),
                seq.into(),
                seq.into(),
            ];
            values.extend(
                counts_to_values(&r.counts)
                    .into_iter()
                    .map(SimpleExpr::from),
            );
            ins.values_panic(values);
        }
        db.execute(db.get_database_backend().build(&ins)).await?;
    }
    Ok(())
}

/// Every rollup row as (key, values), sorted: for comparing two states of the table.
pub async fn snapshot(
    db: &impl ConnectionTrait,
) -> Result<Vec<((String, String, String, String), Vec<i64>)>, DbErr> {
    let cols = value_columns();
    let mut sel = Query::select();
    sel.from(a(TABLE))
        .columns([a("area_code"), a("grain"), a("day"), a("category")])
        .columns(cols.iter().map(|c| a(c)));
    let rows = db.query_all(db.get_database_backend().build(&sel)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let values = read_values(&row)?;
        // All-zero rows are only placeholders: a rebuild does not write them.
        if values.iter().all(|v| *v == 0) {
            continue;
        }
        out.push((
            (
                row.try_get("", "area_code")?,
                row.try_get("", "grain")?,
                row.try_get("", "day")?,
                row.try_get("", "category")?,
            ),
            values,
        ));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::status::ReportStatus;
    use sea_orm::{IdenStatic, Iterable};

    fn key(area: &str) -> Key {
        Key {
            area_code: area.into(),
            day: NaiveDate::from_ymd_opt(2026, 12, 5).unwrap(),
            category: "fire".into(),
        }
    }

    #[test]
    fn the_mark_text_is_built_once_and_binds_each_report_s_own_values() {
        let area = |code: &str| AreaInfo {
            code: code.into(),
            parent_code: "C01".into(),
            level: "grid".into(),
            path: format!("/D01/S01/C01/{code}/"),
        };
        mark_statement_pg(&key("G1"), area("G1"));
        assert!(!crate::infra::shaped::last_was_cached());
        let again = mark_statement_pg(&key("G2"), area("G2"));
        assert!(crate::infra::shaped::last_was_cached());
        let direct = DatabaseBackend::Postgres.build(&mark_stale_if_fresh(&key("G2"), area("G2")));
        assert_eq!((again.sql, again.values), (direct.sql, direct.values));
    }

    #[test]
    fn the_upkeep_paces_a_slow_recount_by_its_cost_and_never_a_quick_one() {
        use std::time::{Duration, Instant};
        let pace = UpkeepPace::default();
        let (hot, quiet) = (key("G1"), key("G2"));
        let t0 = Instant::now();
        assert!(pace.is_due(&hot, t0), "a key never recounted is due");

        // 300 ms of recount: not again for 30 × 300 ms = 9 s.
        pace.recounted(&hot, Duration::from_millis(300), t0);
        assert!(!pace.is_due(&hot, t0 + Duration::from_secs(5)));
        assert!(pace.is_due(&hot, t0 + Duration::from_secs(9)));
        // Another key is not held back by it.
        assert!(pace.is_due(&quiet, t0));

        // A quick recount (a district's key) is never paced, and clears an earlier hold.
        pace.recounted(&quiet, Duration::from_millis(20), t0);
        assert!(pace.is_due(&quiet, t0));
        pace.recounted(&hot, Duration::from_millis(20), t0 + Duration::from_secs(1));
        assert!(pace.is_due(&hot, t0 + Duration::from_secs(1)));

        // Holds that have run out are dropped as others are recorded: the map stays small.
        pace.recounted(&hot, Duration::from_millis(200), t0);
        pace.recounted(
            &quiet,
            Duration::from_millis(200),
            t0 + Duration::from_secs(60),
        );
        assert_eq!(pace.not_before.lock().unwrap().len(), 1);
    }

    /// A row as refresh number 2 finds it when it locks the row to write.
    fn held(next_deadline: Option<i64>, refresh_seq: i64, counted_seq: i64) -> Held {
        Held {
            next_deadline,
            refresh_seq,
            counted_seq,
        }
    }

    #[test]
    fn a_refresh_nothing_overtook_leaves_the_row_fresh() {
        assert_eq!(held(Some(-1), 2, 1).settle(2, Some(99)), Some(Some(99)));
        assert_eq!(held(Some(-1), 2, 1).settle(2, None), Some(None));
    }

    #[test]
    fn a_refresh_overtaken_by_a_newer_count_writes_nothing() {
        // Refresh 3 started after 2, counted, and wrote: fresh, or marked since.
        assert_eq!(held(Some(99), 3, 3).settle(2, Some(50)), None);
        assert_eq!(held(Some(0), 3, 3).settle(2, Some(50)), None);
        // The row holds 2's own count already (a retried write).
        assert_eq!(held(Some(50), 2, 2).settle(2, Some(50)), None);
        // A rebuild's rows are numbered above every refresh that started before it.
        assert_eq!(held(None, 7, 7).settle(2, None), None);
    }

    #[test]
    fn a_refresh_writes_its_count_but_leaves_the_row_stale_when_anything_came_after_it() {
        // A mark after the latest start: stale, whichever refresh was latest.
        assert_eq!(held(Some(0), 2, 1).settle(2, Some(99)), Some(Some(0)));
        assert_eq!(held(Some(0), 3, 1).settle(2, Some(99)), Some(Some(0)));
        // Refresh 3 is still counting: the row stays its to settle, not fresh on 2's count.
        assert_eq!(held(Some(-1), 3, 1).settle(2, Some(99)), Some(Some(-1)));
    }

    #[test]
    fn the_entity_maps_every_rollup_column() {
        let names: Vec<String> = entity::dashboard_rollups::Column::iter()
            .map(|c| c.as_str().to_string())
            .collect();
        for c in value_columns() {
            assert!(names.contains(&c), "{c}");
        }
        assert_eq!(names.len(), value_columns().len() + 11);
    }

    #[test]
    fn days_are_shanghai_days() {
        // 2025-12-31T16:00:00Z is midnight of New Year's Day in Shanghai.
        let midnight = 1_767_196_800_000;
        assert_eq!(day_key(day_of(midnight)), "2026-01-01");
        assert_eq!(day_key(day_of(midnight - 1)), "2025-12-31");
        assert_eq!(day_start_ms(day_of(midnight)), midnight);
        assert_eq!(month_key(day_of(midnight - 1)), "2025-12-01");
    }

    #[test]
    fn values_round_trip_through_columns() {
        let mut c = Counts::default();
        c.add(
            &Fact {
                status: ReportStatus::Closed,
                submitted_at: 0,
                accepted_at: Some(90_000),
                deadline: Some(1_000_000),
                suspended_at: None,
                closed_at: Some(500_000),
                rework_count: 1,
                rating: Some(4),
                origin: super::super::metrics::SourceFact {
                    source: entity::enums::Source::Visit,
                    submitted_at: 0,
                    resolved_at: Some(0),
                    mediated_at: Some(1),
                    mediation_outcome: Some("agreed".into()),
                    follow_up_due: Some(2),
                    follow_up_at: Some(2),
                },
            },
            0,
        );
        assert_eq!(
            (c.sources.resolved_on_site, c.sources.follow_ups_on_time),
            (1, 1)
        );
        let v = counts_to_values(&c);
        assert_eq!(v.len(), value_columns().len());
        assert_eq!(counts_from_values(&v), c);
    }

    #[test]
    fn sums_are_64_bit_integers_on_every_backend() {
        let sql = |backend: DatabaseBackend| {
            let mut sel = Query::select();
            sel.expr_as(int_sum(backend, a("open")), a("open"))
                .from(a(TABLE));
            backend.build(&sel).sql
        };
        assert_eq!(
            sql(DatabaseBackend::Postgres),
            r#"SELECT CAST(COALESCE(SUM("open"), 0) AS BIGINT) AS "open" FROM "dashboard_rollups""#
        );
        assert_eq!(
            sql(DatabaseBackend::MySql),
            "SELECT CAST(COALESCE(SUM(`open`), 0) AS SIGNED) AS `open` FROM `dashboard_rollups`"
        );
        assert_eq!(
            sql(DatabaseBackend::Sqlite),
            r#"SELECT COALESCE(SUM("open"), 0) AS "open" FROM "dashboard_rollups""#
        );
    }
}
