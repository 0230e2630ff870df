//! Dashboard benchmark on PostgreSQL: 1,000 grids, 1,000,000 reports over 2025.
//!
//! Measures, in one run: the district dashboard (child areas, worst first) for a month and
//! for the year from the rollups, against the naive GROUP BY over the raw reports; and the
//! year's CSV streamed over HTTP while the process's RSS is sampled; and the six source
//! groups (`group_by=source`, which rollups do not hold) tallied by the database, against the
//! former path that read every report of the period into the server.
//!
//!   SAFEGRID_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench --bench dashboard
//!
//! It creates (and drops first) its own database `safegrid_bench_dashboard`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safegrid::dashboard::service::{self, AreaRef, GroupBy, Scope};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

const STREETS: usize = 15;
const COMMUNITIES: usize = 250;
const GRIDS_PER_COMMUNITY: usize = 4;
const REPORTS: usize = 1_000_000;
const BATCH: usize = 2_000;
const DB_NAME: &str = "safegrid_bench_dashboard";
const CATEGORIES: [&str; 8] = [
    "gas_hazard",
    "building_hazard",
    "ebike_charging",
    "public_order",
    "dispute",
    "sanitation",
    "public_facility",
    "illegal_building",
];

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
        .await
        .expect("drop the old bench database");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {DB_NAME}"))
        .await
        .expect("create the bench database");
    admin.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("URL ends with /dbname");
    format!("{base}/{DB_NAME}")
}

/// The area tree: D01 → 15 streets → 250 communities → 1,000 grids. Returns grid (code, path).
async fn load_areas(db: &DatabaseConnection) -> Vec<(String, String)> {
    let mut rows = vec![(
        "D01".to_string(),
        "district",
        None::<String>,
        "/D01/".to_string(),
    )];
    let mut grids = Vec::new();
    for s in 0..STREETS {
        let street = format!("S{s:02}");
        rows.push((
            street.clone(),
            "street",
            Some("D01".into()),
            format!("/D01/{street}/"),
        ));
    }
    for c in 0..COMMUNITIES {
        let street = format!("S{:02}", c % STREETS);
        let community = format!("C{c:03}");
        let cpath = format!("/D01/{street}/{community}/");
        rows.push((community.clone(), "community", Some(street), cpath.clone()));
        for g in 0..GRIDS_PER_COMMUNITY {
            let grid = format!("G{c:03}{g}");
            let path = format!("{cpath}{grid}/");
            rows.push((grid.clone(), "grid", Some(community.clone()), path.clone()));
            grids.push((grid, path));
        }
    }
    for chunk in rows.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(code, level, parent, path)| {
                format!(
                    "('{code}', '{code}', '{level}', {}, '{path}', NULL, 0, 0)",
                    parent.as_ref().map_or("NULL".into(), |p| format!("'{p}'"))
                )
            })
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO areas (code, name, level, parent_code, path, geometry, created_at, updated_at) VALUES {}",
            values.join(", ")
        ))
        .await
        .expect("insert areas");
    }
    grids
}

/// A year of reports in realistic states, bulk-inserted with multi-row INSERTs.
async fn load_reports(db: &DatabaseConnection, grids: &[(String, String)], year_start: i64) {
    const H: i64 = 3_600_000;
    let mut rng = StdRng::seed_from_u64(2025);
    let year_ms = 365 * 24 * H;
    let now = safegrid::util::now_ms();
    let mut values = Vec::with_capacity(BATCH);
    for i in 0..REPORTS {
        let (grid, path) = &grids[rng.gen_range(0..grids.len())];
        let category = CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
        let submitted = year_start + rng.gen_range(0..year_ms);
        let roll = rng.gen_range(0..100);
        let status = match roll {
            0..=79 => "closed",
            80..=84 => "resolved",
            85..=89 => "in_progress",
            90..=92 => "submitted",
            93..=94 => "rejected",
            95..=96 => "suspended",
            97..=98 => "accepted",
            _ => "cancelled",
        };
        let accepted = (!matches!(status, "submitted" | "rejected" | "cancelled"))
            .then(|| submitted + rng.gen_range(5 * 60_000..48 * H));
        let deadline = accepted.map(|a| a + rng.gen_range(4 * H..10 * 24 * H));
        let resolved = matches!(status, "resolved" | "closed")
            .then(|| accepted.unwrap_or(submitted) + rng.gen_range(H..12 * 24 * H));
        let closed =
            (status == "closed").then(|| resolved.unwrap_or(submitted) + rng.gen_range(0..72 * H));
        let suspended = (status == "suspended").then(|| accepted.unwrap_or(submitted) + H);
        let rework = i32::from(rng.gen_range(0..100) < 2);
        let rating = (status == "closed" && rng.gen_range(0..10) < 6).then(|| rng.gen_range(1..=5));
        let source = match rng.gen_range(0..100) {
            0..=59 => "resident",
            60..=79 => "patrol",
            80..=89 => "hotline",
            90..=94 => "visit",
            95..=97 => "device",
            _ => "open311",
        };
        let opt = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
        values.push(format!(
            "('r{i:07}', 'u1', '{category}', '', 31.2, 121.4, 'gcj02', FALSE, 'normal', '{status}', '{grid}', '{grid}', '{path}', {}, {}, {}, {}, {}, {}, {rework}, {}, FALSE, FALSE, 0, {now}, '{source}', 'R-BENCH-{i:07}')",
            submitted,
            opt(accepted),
            opt(deadline),
            opt(suspended),
            opt(resolved),
            opt(closed),
            rating.map_or("NULL".to_string(), |r: i32| r.to_string()),
        ));
        if values.len() == BATCH || i + 1 == REPORTS {
            db.execute_unprepared(&format!(
                "INSERT INTO reports (id, reporter_id, category, description, lat, lng, coord_input, anonymous, urgency, status, grid_code, queue_code, queue_path, submitted_at, accepted_at, deadline, suspended_at, resolved_at, closed_at, rework_count, rating, flagged, overdue_notified, version, updated_at, source, case_no) VALUES {}",
                values.join(", ")
            ))
            .await
            .expect("insert reports");
            values.clear();
        }
    }
}

/// CPU time of this whole process (user + system, every thread), from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> u64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    // utime and stime: fields 14 and 15 of the line, 11 and 12 counted from the state.
    let per_second = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / per_second)
}

/// The former `group_by=source` path, kept as the baseline: every report of the period read
/// into the server and counted there with `Counts::add` (the fact columns then; every column
/// since the source and dispute counters joined them).
async fn former_source_groups(
    db: &DatabaseConnection,
    s: &Scope,
    figures: &service::Figures,
    now: i64,
) -> HashMap<String, safegrid::dashboard::metrics::Metrics> {
    use entity::enums::Source;
    use entity::reports::Column as C;
    use safegrid::dashboard::metrics::{Counts, Fact};
    use safegrid::reports::status::ReportStatus;
    use sea_orm::sea_query::Query;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let start = safegrid::dashboard::rollup::day_start_ms(s.from);
    let end = safegrid::dashboard::rollup::day_start_ms(s.to.succ_opt().unwrap());
    let in_area = Query::select()
        .column(entity::areas::Column::Code)
        .from(entity::areas::Entity)
        .and_where(entity::areas::Column::Path.starts_with(&s.area.path))
        .to_owned();
    // Planned for its values, as the tallied path is (the same area filter).
    let txn = service::planned_for_values(db).await.expect("txn");
    let rows = entity::reports::Entity::find()
        .filter(C::GridCode.in_subquery(in_area))
        .filter(C::SubmittedAt.gte(start))
        .filter(C::SubmittedAt.lt(end))
        .filter(C::Status.ne(ReportStatus::Cancelled))
        .all(&txn)
        .await
        .expect("former source rows");
    txn.commit().await.expect("commit");
    let mut counts: HashMap<Source, Counts> = HashMap::new();
    for row in &rows {
        counts
            .entry(row.source)
            .or_default()
            .add(&Fact::from(row), now);
    }
    Source::ALL
        .into_iter()
        .map(|source| {
            let key = source.as_str().to_owned();
            let c = counts.get(&source).copied().unwrap_or_default();
            (key.clone(), figures.group(&key, &c))
        })
        .collect()
}

/// The naive way: one GROUP BY over the raw reports, joined to the area tree, with exact
/// percentiles, per street and in total.
fn naive_statement(from_ms: i64, to_ms: i64) -> Statement {
    Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        r#"SELECT split_part(a.path, '/', 3) AS street,
            COUNT(*) AS submitted,
            COUNT(r.accepted_at) AS accepted,
            SUM(CASE WHEN r.status IN ('resolved', 'closed') THEN 1 ELSE 0 END) AS handled,
            SUM(CASE WHEN r.status = 'closed' THEN 1 ELSE 0 END) AS closed,
            SUM(CASE WHEN r.status = 'closed' AND (r.deadline IS NULL OR r.closed_at <= r.deadline) THEN 1 ELSE 0 END) AS on_time,
            SUM(CASE WHEN r.status IN ('submitted','accepted','in_progress','escalated','suspended')
                      AND r.deadline < (CASE WHEN r.status = 'suspended' THEN COALESCE(r.suspended_at, $3) ELSE $3 END)
                 THEN 1 ELSE 0 END) AS open_overdue,
            SUM(CASE WHEN r.rework_count > 0 THEN 1 ELSE 0 END) AS reworked,
            COUNT(r.rating) AS rated,
            SUM(CASE WHEN r.rating >= 4 THEN 1 ELSE 0 END) AS satisfied,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY r.accepted_at - r.submitted_at) AS accept_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY r.accepted_at - r.submitted_at) AS accept_p90,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY r.closed_at - r.submitted_at) AS close_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY r.closed_at - r.submitted_at) AS close_p90
          FROM reports r JOIN areas a ON a.code = r.grid_code
          WHERE a.path LIKE '/D01/%' AND r.submitted_at >= $1 AND r.submitted_at < $2
            AND r.status <> 'cancelled'
          GROUP BY ROLLUP (split_part(a.path, '/', 3))"#,
        [
            from_ms.into(),
            to_ms.into(),
            safegrid::util::now_ms().into(),
        ],
    )
}

fn main() {
    let Ok(admin_url) = std::env::var("SAFEGRID_BENCH_DATABASE_URL") else {
        eprintln!("dashboard bench: set SAFEGRID_BENCH_DATABASE_URL=postgres://… to run it");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(&admin_url));
}

async fn run(admin_url: &str) {
    let url = fresh_database(admin_url).await;
    let vars: HashMap<String, String> = HashMap::from([
        ("SAFEGRID_DATABASE_URL".into(), url.clone()),
        ("SAFEGRID_BIND".into(), "127.0.0.1:0".into()),
        ("SAFEGRID_JOBS".into(), "false".into()),
        ("SAFEGRID_LOG".into(), "warn".into()),
        (
            "SAFEGRID_JWT_SECRET".into(),
            "bench-secret-bench-secret-bench-secret".into(),
        ),
    ]);
    let settings = safegrid::config::Settings::from_map(&vars).expect("settings");
    // Migrate (and seed categories) through the application itself.
    let db = safegrid::infra::db::connect(&url).await.expect("connect");
    <migration::Migrator as migration::MigratorTrait>::up(&db, None)
        .await
        .expect("migrate");

    let t = Instant::now();
    let grids = load_areas(&db).await;
    let year_start = safegrid::dashboard::rollup::day_start_ms(
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
    );
    load_reports(&db, &grids, year_start).await;
    db.execute_unprepared("ANALYZE").await.ok();
    println!(
        "loaded {} grids and {REPORTS} reports in {:.1} s",
        grids.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let summary = safegrid::dashboard::rebuild(&db).await.expect("rebuild");
    db.execute_unprepared("ANALYZE").await.ok();
    println!(
        "rebuild: {} own rows + {} subtree rows in {:.1} s",
        summary.own_rows,
        summary.subtree_rows,
        t.elapsed().as_secs_f64()
    );

    let app = safegrid::startup::Application::build(settings)
        .await
        .expect("app");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());

    let day = |m: u32, d: u32| chrono::NaiveDate::from_ymd_opt(2025, m, d).unwrap();
    let area = AreaRef {
        code: "D01".into(),
        name: "D01".into(),
        level: "district".into(),
        path: "/D01/".into(),
    };
    let periods = [
        ("month (2025-06)", day(6, 1), day(6, 30)),
        ("year (2025)", day(1, 1), day(12, 31)),
    ];
    let mut report = Vec::new();
    for (label, from, to) in periods {
        let scope = Scope {
            area: area.clone(),
            from,
            to,
            group_by: GroupBy::Child,
        };
        let from_ms = safegrid::dashboard::rollup::day_start_ms(from);
        let to_ms = safegrid::dashboard::rollup::day_start_ms(to.succ_opt().unwrap());
        // Warm both paths, and check they agree on the counts.
        let d = service::dashboard(&state, &scope).await.expect("dashboard");
        let naive_rows = state
            .db
            .query_all(naive_statement(from_ms, to_ms))
            .await
            .expect("naive");
        let total = naive_rows
            .iter()
            .find(|r| {
                r.try_get::<Option<String>>("", "street")
                    .ok()
                    .flatten()
                    .is_none()
            })
            .expect("the ROLLUP total row");
        let naive_submitted: i64 = total.try_get("", "submitted").unwrap();
        let naive_closed: i64 = total.try_get("", "closed").unwrap();
        assert_eq!(d.totals.submitted, naive_submitted, "{label}: submitted");
        assert_eq!(d.totals.closed, naive_closed, "{label}: closed");
        assert_eq!(d.groups.len(), STREETS, "{label}: streets");

        let runs = 21;
        let mut fast = Vec::new();
        let mut slow = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            std::hint::black_box(service::dashboard(&state, &scope).await.expect("dashboard"));
            fast.push(t.elapsed());
            let t = Instant::now();
            std::hint::black_box(
                state
                    .db
                    .query_all(naive_statement(from_ms, to_ms))
                    .await
                    .expect("naive"),
            );
            slow.push(t.elapsed());
        }
        let (f, s) = (median(fast), median(slow));
        println!(
            "{label}: dashboard median {:.2} ms, naive GROUP BY median {:.1} ms, {:.1}x ({} reports)",
            ms(f),
            ms(s),
            s.as_secs_f64() / f.as_secs_f64(),
            d.totals.submitted
        );
        report.push((label, f, s));
        // Where a dashboard read's time goes: the figures read from raw tables at request
        // time (wishes, units, patrols) against the whole read.
        let now = safegrid::util::now_ms();
        let mut all = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            std::hint::black_box(
                service::Figures::read(&state.db, &scope, now)
                    .await
                    .expect("figures"),
            );
            all.push(t.elapsed());
        }
        println!(
            "{label}: of which figures from raw tables (wishes, units, patrols) median {:.1} ms",
            ms(median(all))
        );
    }

    // The six source groups (`group_by=source`), which rollups do not hold: the database's
    // tally per source against the former path (every report of the period sent to the
    // server and counted there), for the same month and year; both must agree.
    let mut sources_report = Vec::new();
    for (label, from, to) in periods {
        let scope = Scope {
            area: area.clone(),
            from,
            to,
            group_by: GroupBy::Source,
        };
        let now = safegrid::util::now_ms();
        let figures = service::Figures::read(&state.db, &scope, now)
            .await
            .expect("figures");
        let tallied = service::source_groups(&state.db, &scope, &figures, now)
            .await
            .expect("source groups");
        let former = former_source_groups(&state.db, &scope, &figures, now).await;
        for group in &tallied {
            assert_eq!(
                Some(&group.metrics),
                former.get(&group.key),
                "{label}: source {}",
                group.key
            );
        }
        let runs = 7;
        let (mut fast, mut slow, mut fast_cpu, mut slow_cpu) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            let (t, c) = (Instant::now(), process_cpu());
            std::hint::black_box(
                service::source_groups(&state.db, &scope, &figures, now)
                    .await
                    .expect("source groups"),
            );
            fast.push(t.elapsed());
            fast_cpu.push(process_cpu() - c);
            let (t, c) = (Instant::now(), process_cpu());
            std::hint::black_box(former_source_groups(&state.db, &scope, &figures, now).await);
            slow.push(t.elapsed());
            slow_cpu.push(process_cpu() - c);
        }
        let (f, sl) = (median(fast), median(slow));
        println!(
            "{label} by source: tallied median {:.1} ms ({:.0} ms CPU here), former {:.1} ms ({:.0} ms CPU here), {:.1}x",
            ms(f),
            ms(median(fast_cpu)),
            ms(sl),
            ms(median(slow_cpu)),
            sl.as_secs_f64() / f.as_secs_f64()
        );
        sources_report.push((label, f, sl));
    }

    // The year's CSV by day and by grid, streamed over HTTP, sampling this process's RSS.
    safegrid::auth::service::create_admin(&db, "bench", "Dashboard-Load-2026", "D01")
        .await
        .expect("admin");
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!(
            "http://127.0.0.1:{port}/api/v1/auth/password-login"
        ))
        .json(&serde_json::json!({ "username": "bench", "password": "Dashboard-Load-2026" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    for group_by in ["day", "grid"] {
        let before = rss_kib();
        let t = Instant::now();
        let res = http
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/admin/dashboard.csv?area=D01&from=2025-01-01&to=2025-12-31&group_by={group_by}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("csv");
        assert_eq!(res.status(), 200);
        let mut body = res.bytes_stream();
        let (mut bytes, mut lines, mut peak) = (0usize, 0usize, before);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.expect("chunk");
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
            peak = peak.max(rss_kib());
        }
        println!(
            "year CSV by {group_by}: {lines} lines, {bytes} bytes in {:.1} ms; RSS {} KiB before, peak {} KiB (+{} KiB)",
            ms(t.elapsed()),
            before,
            peak,
            peak.saturating_sub(before)
        );
    }
    for (label, f, s) in &report {
        let ok = ms(*f) < 50.0 && s.as_secs_f64() / f.as_secs_f64() >= 10.0;
        println!(
            "target {label}: < 50 ms and >= 10x naive: {}",
            if ok { "met" } else { "NOT met" }
        );
    }
    for (label, f, s) in &sources_report {
        println!(
            "{label} by source: tallied {:.1} ms against the former {:.1} ms",
            ms(*f),
            ms(*s)
        );
    }
}
