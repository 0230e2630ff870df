//! Recounting one hot rollup key (one grid × day × category), the dashboard upkeep's costliest
//! step in the load benchmark's worst case.
//!
//! Side by side in one run, at 1,000, 10,000 and 100,000 reports in the key: the baseline
//! (the former count: the fact columns of every report sent to the server and classified
//! there with `Counts::add`) and `dashboard::count::count_key` (the database tallies the
//! reports per group, a page of 10,000 at a time, and sends a few rows). Prints the median
//! wall time and this process's CPU per recount (a current-thread runtime, so the thread's
//! CPU clock is the server side's whole cost), and checks that both give the same counts.
//!
//!   SAFEGRID_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench recount
//!   SAFEGRID_BENCH_DATABASE_URL=mysql://root@127.0.0.1:3306/test cargo bench --bench recount
//!   cargo bench --bench recount            # SQLite, a temporary file
//!
//! On PostgreSQL and MySQL it creates (and drops first) its own database
//! `safegrid_bench_recount`.

use std::time::{Duration, Instant};

use migration::MigratorTrait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safegrid::dashboard::count;
use safegrid::dashboard::metrics::{Counts, Fact};
use safegrid::dashboard::rollup::{day_start_ms, Key};
use safegrid::reports::status::ReportStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};

const DB_NAME: &str = "safegrid_bench_recount";
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const RUNS: usize = 7;

/// CPU time of the calling thread (all of this process's work, on a current-thread runtime).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn fresh_database(admin_url: &str) -> String {
    let admin = Database::connect(admin_url)
        .await
        .expect("bench database server");
    let force = if admin_url.starts_with("postgres") {
        " WITH (FORCE)"
    } else {
        ""
    };
    for sql in [
        format!("DROP DATABASE IF EXISTS {DB_NAME}{force}"),
        format!("CREATE DATABASE {DB_NAME}"),
    ] {
        admin.execute_unprepared(&sql).await.expect(&sql);
    }
    admin.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("URL ends with /dbname");
    format!("{base}/{DB_NAME}")
}

/// A report of the hot key: most of them waiting (the load benchmark's submissions), the
/// rest spread over the lifecycle so every rule of the count is at work.
fn report(i: usize, day_start: i64, rng: &mut StdRng) -> entity::reports::ActiveModel {
    let submitted_at = day_start + rng.gen_range(0..20 * 3_600_000);
    let status = if rng.gen_bool(0.7) {
        ReportStatus::Submitted
    } else {
        ReportStatus::ALL[rng.gen_range(0..ReportStatus::ALL.len())]
    };
    let accepted = status != ReportStatus::Submitted;
    let accepted_at = accepted.then(|| submitted_at + rng.gen_range(0..7_200_000));
    let closed_at = (status == ReportStatus::Closed)
        .then(|| submitted_at + rng.gen_range(3_600_000..5 * 86_400_000));
    entity::reports::ActiveModel {
        id: Set(format!("bench-{i:07}")),
        case_no: Set(format!("R-BENCH-{i:07}")),
        reporter_id: Set("bench-reporter".into()),
        category: Set("sanitation".into()),
        description: Set("基准数据：楼道堆放杂物，影响通行，请尽快处理。".into()),
        lat: Set(31.2),
        lng: Set(121.4),
        coord_input: Set("gcj02".into()),
        address: Set(None),
        anonymous: Set(false),
        urgency: Set(entity::enums::Urgency::Normal),
        status: Set(status),
        grid_code: Set("G-HOT".into()),
        queue_code: Set("G-HOT".into()),
        queue_path: Set("/D01/G-HOT/".into()),
        accepted_by: Set(accepted.then(|| "bench-worker".into())),
        submitted_at: Set(submitted_at),
        accepted_at: Set(accepted_at),
        deadline: Set(accepted_at.map(|at| at + 3 * 86_400_000)),
        suspended_at: Set((status == ReportStatus::Suspended).then_some(submitted_at + 1)),
        resolved_at: Set(None),
        closed_at: Set(closed_at),
        rework_count: Set(i32::from(rng.gen_bool(0.05))),
        rating: Set(closed_at.and_then(|_| rng.gen_bool(0.6).then(|| rng.gen_range(1..=5)))),
        rating_comment: Set(None),
        extension_until: Set(None),
        extension_reason: Set(None),
        duplicate_of: Set(None),
        flagged: Set(false),
        overdue_notified: Set(false),
        lead_unit: Set(None),
        supervised: Set(false),
        return_count: Set(0),
        source: Set(entity::enums::Source::Resident),
        external_ref: Set(None),
        patrol_id: Set(None),
        caller_phone: Set(None),
        caller_phone_hash: Set(None),
        retained_at: Set(None),
        mediation_tier: Set(None),
        mediation_outcome: Set(None),
        mediated_at: Set(None),
        follow_up_due: Set(None),
        follow_up_result: Set(None),
        follow_up_at: Set(None),
        media_url: Set(None),
        version: Set(0),
        updated_at: Set(submitted_at),
    }
}

/// The former count, kept here as the baseline: every report of the key to the server (the
/// fact columns then; every column since the source and dispute counters joined them).
async fn count_by_rows(db: &DatabaseConnection, key: &Key, now: i64) -> (Counts, Option<i64>) {
    use entity::reports::Column as C;
    let rows = entity::reports::Entity::find()
        .filter(C::GridCode.eq(&key.area_code))
        .filter(C::SubmittedAt.gte(day_start_ms(key.day)))
        .filter(C::SubmittedAt.lt(day_start_ms(key.day.succ_opt().expect("a next day"))))
        .filter(C::Category.eq(&key.category))
        .all(db)
        .await
        .expect("rows");
    let mut counts = Counts::default();
    let mut next = None::<i64>;
    for row in &rows {
        if let Some(d) = counts.add(&Fact::from(row), now) {
            next = Some(next.map_or(d, |n: i64| n.min(d)));
        }
    }
    (counts, next)
}

/// CPU time (user + system) of a process, from /proc (clock ticks of 10 ms).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| -> u64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0) };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

struct Figures {
    wall: Duration,
    cpu: Duration,
    /// The database server's CPU per call (PostgreSQL: the one backend's; None elsewhere).
    db_cpu: Option<Duration>,
}

/// Median wall time and CPU of this process per call, and the database backend's CPU per call
/// (the mean over the runs: /proc counts in 10-ms ticks).
async fn measure<F, Fut>(backend_pid: Option<u32>, mut f: F) -> (Figures, (Counts, Option<i64>))
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (Counts, Option<i64>)>,
{
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut last = f().await; // warm-up: caches and the statement's plan
    let db_before = backend_pid.map(process_cpu);
    for _ in 0..RUNS {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        last = f().await;
        walls.push(wall.elapsed());
        cpus.push(thread_cpu().saturating_sub(cpu));
    }
    let db_cpu = backend_pid
        .zip(db_before)
        .map(|(pid, before)| process_cpu(pid).saturating_sub(before) / RUNS as u32);
    let figures = Figures {
        wall: median(walls),
        cpu: median(cpus),
        db_cpu,
    };
    (figures, last)
}

fn show(f: &Figures) -> String {
    let db = f.db_cpu.map_or("-".into(), |d| format!("{:.0}", ms(d)));
    format!("{:>7.1} / {:>6.1} / {:>5}", ms(f.wall), ms(f.cpu), db)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let temp = tempfile::tempdir().expect("temp dir");
    let url = match std::env::var("SAFEGRID_BENCH_DATABASE_URL") {
        Ok(admin) => fresh_database(&admin).await,
        Err(_) => format!(
            "sqlite://{}?mode=rwc",
            temp.path().join("recount.db").display()
        ),
    };
    // One connection, so on PostgreSQL one backend process does all the database's work.
    let mut options = sea_orm::ConnectOptions::new(url.clone());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("connect");
    migration::Migrator::up(&db, None).await.expect("migrate");
    let backend = format!("{:?}", db.get_database_backend());
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).expect("a day");
    let key = Key {
        area_code: "G-HOT".into(),
        day,
        category: "sanitation".into(),
    };
    let now = day_start_ms(day) + 23 * 3_600_000;
    let backend_pid = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => db
            .query_one(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT pg_backend_pid() AS pid",
            ))
            .await
            .expect("pid")
            .and_then(|row| row.try_get::<i32>("", "pid").ok())
            .map(|pid| pid as u32),
        _ => None,
    };
    let mut rng = StdRng::seed_from_u64(21);
    let mut inserted = 0;
    println!(
        "recount of one key on {backend}: wall / this process's CPU / the database's CPU, ms \
         per recount (medians of {RUNS} runs after a warm-up; the database's is their mean)"
    );
    println!(
        "{:>8}  {:>26}  {:>26}  {:>26}",
        "reports", "baseline: rows to server", "tallied at once", "tallied, spread (upkeep)"
    );
    for size in SIZES {
        while inserted < size {
            let batch: Vec<_> = (inserted..size.min(inserted + 1_000))
                .map(|i| report(i, day_start_ms(day), &mut rng))
                .collect();
            inserted += batch.len();
            entity::reports::Entity::insert_many(batch)
                .exec(&db)
                .await
                .expect("insert");
        }
        // Statistics, as a production database keeps them.
        match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => db.execute_unprepared("ANALYZE reports").await,
            sea_orm::DatabaseBackend::MySql => db.execute_unprepared("ANALYZE TABLE reports").await,
            sea_orm::DatabaseBackend::Sqlite => db.execute_unprepared("ANALYZE").await,
        }
        .expect("analyze");
        let (rows, by_rows) = measure(backend_pid, || count_by_rows(&db, &key, now)).await;
        let mut tallied = Vec::new();
        for pace in [count::Pace::AtOnce, count::Pace::Spread] {
            let (figures, counted) = measure(backend_pid, || async {
                count::count_key(&db, &key.cohort(), now, pace)
                    .await
                    .expect("count")
            })
            .await;
            assert_eq!(
                by_rows, counted,
                "{pace:?} disagrees with the baseline at {size}"
            );
            tallied.push(figures);
        }
        assert_eq!(
            by_rows.0.submitted as usize,
            size - count_cancelled(&db).await
        );
        println!(
            "{size:>8}  {:>26}  {:>26}  {:>26}",
            show(&rows),
            show(&tallied[0]),
            show(&tallied[1])
        );
    }
}

async fn count_cancelled(db: &DatabaseConnection) -> usize {
    entity::reports::Entity::find()
        .filter(entity::reports::Column::Status.eq(ReportStatus::Cancelled))
        .count(db)
        .await
        .expect("count") as usize
}
