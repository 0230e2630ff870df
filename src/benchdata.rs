//! Synthetic load-test data (`safegrid bench-data`): a city of N grids with realistic polygons,
//! its residents and workers, and a year of reports and micro-wishes in realistic states,
//! written in bulk (multi-row INSERTs, one transaction per batch) on any backend.
//!
//! It also writes what the load benchmark needs to drive the server: tokens of a resident, of
//! a worker whose queue holds exactly `queue_tasks` open reports, of a partner unit's staff
//! member whose unit queue holds exactly `unit_tasks` open assignments, and of the district
//! admin, plus a report body that routes to a grid other than that worker's.

use crate::cases::number::{self, CaseKind};
use entity::enums::{ReportStatus, WishKind, WishStatus};
use std::path::PathBuf;

use anyhow::Context;
use geo::Centroid;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, QueryTrait, Set, TransactionTrait,
};

use crate::config::Settings;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Grids per community and communities per street (DOMAIN.md §1: a district of ~1,000 grids
/// has 150–300 communities in 10–20 streets).
const GRIDS_PER_COMMUNITY: usize = 5;
const COMMUNITIES_PER_STREET: usize = 15;
/// Report categories the generator draws from (all in `categories::ensure_defaults`).
const CATEGORIES: &[&str] = &[
    "sanitation",
    "sanitation",
    "public_facility",
    "public_facility",
    "ebike_charging",
    "fire_hazard",
    "dispute",
    "public_order",
    "livelihood",
    "other",
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    pub grids: usize,
    pub reports: usize,
    pub wishes: usize,
    /// Open reports in the benchmark worker's queue (grid `G000000`).
    pub queue_tasks: usize,
    /// Open lead assignments in the queue of the benchmark unit (`BU0`, serving the whole
    /// district), on reports in grids other than `G000000`.
    pub unit_tasks: usize,
    /// Rows per INSERT (and per transaction).
    pub batch: usize,
    pub seed: u64,
    /// Where to write tokens and a sample report body (JSON).
    pub tokens: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Summary {
    pub grids: usize,
    pub users: usize,
    pub reports: usize,
    pub open_reports: usize,
    pub closed_on_time: usize,
    pub reworked: usize,
    pub wishes: usize,
    pub unit_tasks: usize,
}

/// The benchmark's partner unit and its staff member's openid.
pub const BENCH_UNIT: &str = "BU0";
const BENCH_UNIT_STAFF: &str = "bench-u0";

/// Progress of one stage: (stage, done, total).
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

/// The area tree as a GeoJSON FeatureCollection: district `BD`, streets `BS###`, communities
/// `BC####`, grids `G######` with polygons from [`crate::grids::synth::synthetic_city`].
pub fn city_geojson(grids: usize, seed: u64) -> serde_json::Value {
    let shapes = crate::grids::synth::synthetic_city(grids, seed);
    let communities = grids.div_ceil(GRIDS_PER_COMMUNITY).max(1);
    let streets = communities.div_ceil(COMMUNITIES_PER_STREET).max(1);
    let feature = |code: String, name: String, level: &str, parent: Option<String>, geometry| {
        serde_json::json!({
            "type": "Feature",
            "properties": { "code": code, "name": name, "level": level, "parent_code": parent },
            "geometry": geometry,
        })
    };
    let mut features = Vec::with_capacity(1 + streets + communities + grids);
    features.push(feature(
        "BD".into(),
        "基准区".into(),
        "district",
        None,
        serde_json::Value::Null,
    ));
    for s in 0..streets {
        features.push(feature(
            format!("BS{s:03}"),
            format!("基准街道{s}"),
            "street",
            Some("BD".into()),
            serde_json::Value::Null,
        ));
    }
    for c in 0..communities {
        features.push(feature(
            format!("BC{c:04}"),
            format!("基准社区{c}"),
            "community",
            Some(format!("BS{:03}", c / COMMUNITIES_PER_STREET)),
            serde_json::Value::Null,
        ));
    }
    for (g, shape) in shapes.iter().enumerate() {
        let coords: serde_json::Value = serde_json::from_str(
            &crate::grids::service::multipolygon_to_json(&shape.geometry),
        )
        .unwrap_or_default();
        features.push(feature(
            shape.code.clone(),
            format!("基准网格{g}"),
            "grid",
            Some(format!("BC{:04}", g / GRIDS_PER_COMMUNITY)),
            serde_json::json!({ "type": "MultiPolygon", "coordinates": coords }),
        ));
    }
    serde_json::json!({ "type": "FeatureCollection", "features": features })
}

/// One grid as the generator needs it: code, path and a point well inside.
struct Grid {
    code: String,
    path: String,
    lat: f64,
    lng: f64,
}

/// Connects, migrates and generates; the body of `safegrid bench-data`.
pub async fn run(
    settings: &Settings,
    opts: &Options,
    progress: Progress<'_>,
) -> anyhow::Result<Summary> {
    let db = crate::infra::db::connect(&settings.database_url)
        .await
        .context("could not connect to SAFEGRID_DATABASE_URL")?;
    <migration::Migrator as migration::MigratorTrait>::up(&db, None)
        .await
        .context("could not run migrations")?;
    let summary = generate(&db, opts, progress).await?;
    if let Some(path) = &opts.tokens {
        write_tokens(settings, &db, path).await?;
    }
    Ok(summary)
}

/// Writes the synthetic city into `db` (which must be migrated and hold no bench data yet).
pub async fn generate(
    db: &DatabaseConnection,
    opts: &Options,
    progress: Progress<'_>,
) -> anyhow::Result<Summary> {
    anyhow::ensure!(opts.grids >= 2, "at least 2 grids");
    anyhow::ensure!(opts.batch >= 1, "batch must be positive");
    let already = entity::areas::Entity::find_by_id("BD".to_string())
        .one(db)
        .await?;
    anyhow::ensure!(
        already.is_none(),
        "this database already holds bench data (area BD); use a fresh database"
    );
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let now = crate::util::now_ms();
    let mut summary = Summary::default();

    crate::reports::categories::ensure_defaults(db).await?;
    let doc = city_geojson(opts.grids, opts.seed);
    let report_import = |done: usize, total: usize| progress("areas", done, total);
    crate::grids::service::import(db, &doc, None, &report_import)
        .await
        .map_err(|e| {
            anyhow::anyhow!("import failed: {}", crate::error::ApiError::from(e).message)
        })?;
    drop(doc);
    let grids: Vec<Grid> = entity::areas::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|a| a.level == "grid" && a.code.starts_with('G'))
        .filter_map(|a| {
            let c = a
                .geometry
                .as_deref()
                .and_then(crate::grids::geojson::multipolygon_from_json)
                .and_then(|mp| mp.centroid())?;
            Some(Grid {
                code: a.code,
                path: a.path,
                lat: c.y(),
                lng: c.x(),
            })
        })
        .collect();
    anyhow::ensure!(grids.len() == opts.grids, "grids missing after import");
    let mut grids = grids;
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    summary.grids = grids.len();

    // Users: one worker per grid, and residents (one per 20 reports, at least 100).
    let residents = (opts.reports / 20).max(100);
    let mut users = Vec::with_capacity(residents + grids.len());
    for i in 0..residents {
        users.push(user(
            format!("bench-r{i}"),
            format!("居民{i}"),
            now - 400 * DAY,
        ));
    }
    for (i, _) in grids.iter().enumerate() {
        users.push(user(
            format!("bench-w{i}"),
            format!("网格员{i}"),
            now - 400 * DAY,
        ));
    }
    // The benchmark unit's staff member, last.
    users.push(user(
        BENCH_UNIT_STAFF.into(),
        "单位人员0".into(),
        now - 400 * DAY,
    ));
    let resident_ids: Vec<String> = users[..residents].iter().map(id_of).collect();
    let worker_ids: Vec<String> = users[residents..residents + grids.len()]
        .iter()
        .map(id_of)
        .collect();
    let staff_id = users.last().map(id_of).unwrap_or_default();
    summary.users = users.len();
    let total = users.len();
    bulk(
        db,
        users,
        opts.batch,
        |n| progress("users", n, total),
        entity::users::Entity::insert_many,
    )
    .await?;
    let members: Vec<entity::grid_members::ActiveModel> = grids
        .iter()
        .zip(&worker_ids)
        .map(|(g, w)| entity::grid_members::ActiveModel {
            user_id: Set(w.clone()),
            grid_code: Set(g.code.clone()),
            role: Set("worker".into()),
            created_at: Set(now - 400 * DAY),
            ..Default::default()
        })
        .collect();
    let total = members.len();
    bulk(
        db,
        members,
        opts.batch,
        |n| progress("members", n, total),
        entity::grid_members::Entity::insert_many,
    )
    .await?;

    // The benchmark unit (DOMAIN.md §8): serves the whole district, one staff member.
    let unit = entity::units::ActiveModel {
        code: Set(BENCH_UNIT.into()),
        name: Set("基准物业公司".into()),
        kind: Set(entity::enums::UnitKind::Property),
        active: Set(true),
        owner_path: Set("/BD/".into()),
        created_at: Set(now - 400 * DAY),
        updated_at: Set(now - 400 * DAY),
    };
    entity::units::Entity::insert(unit).exec(db).await?;
    entity::unit_areas::Entity::insert(entity::unit_areas::ActiveModel {
        unit_code: Set(BENCH_UNIT.into()),
        area_code: Set("BD".into()),
        area_path: Set("/BD/".into()),
    })
    .exec(db)
    .await?;
    entity::unit_members::Entity::insert(entity::unit_members::ActiveModel {
        unit_code: Set(BENCH_UNIT.into()),
        user_id: Set(staff_id),
        role: Set("unit_lead".into()),
        created_at: Set(now - 400 * DAY),
    })
    .exec(db)
    .await?;

    // Reports over the past year. Grid 0 (the benchmark worker's) gets exactly `queue_tasks`
    // open reports and nothing else, so its queue has a known length. Then `unit_tasks` open
    // reports in other grids, dispatched to the benchmark unit (its queue's known length).
    let mut reports = Vec::with_capacity(opts.reports + opts.queue_tasks + opts.unit_tasks);
    let mut timeline = Vec::new();
    let mut assignments = Vec::with_capacity(opts.unit_tasks);
    for i in 0..opts.reports + opts.queue_tasks + opts.unit_tasks {
        let queue_task = (opts.reports..opts.reports + opts.queue_tasks).contains(&i);
        let unit_task = i >= opts.reports + opts.queue_tasks;
        let gi = if queue_task {
            0
        } else {
            rng.gen_range(1..grids.len())
        };
        let (grid, worker) = (&grids[gi], &worker_ids[gi]);
        let reporter = &resident_ids[rng.gen_range(0..resident_ids.len())];
        let mut r = synth_report(
            &mut rng,
            now,
            grid,
            reporter,
            worker,
            queue_task || unit_task,
        );
        if unit_task {
            let a = synth_assignment(&mut rng, now, &mut r);
            assignments.push(a);
        }
        match r.status {
            ReportStatus::Closed => {
                if r.closed_at.zip(r.deadline).is_some_and(|(c, d)| c <= d) {
                    summary.closed_on_time += 1;
                }
            }
            ReportStatus::Rejected => {}
            _ => summary.open_reports += 1,
        }
        if r.rework_count > 0 {
            summary.reworked += 1;
        }
        timeline.extend(timeline_of(&r));
        reports.push(r.into_active(reports.len() as i64 + 1));
    }
    summary.reports = reports.len();
    let total = reports.len();
    number::advance_past(db, CaseKind::Report, total as i64).await?;
    bulk(
        db,
        reports,
        opts.batch,
        |n| progress("reports", n, total),
        entity::reports::Entity::insert_many,
    )
    .await?;
    summary.unit_tasks = assignments.len();
    let total = assignments.len();
    bulk(
        db,
        assignments,
        opts.batch,
        |n| progress("dispatches", n, total),
        entity::report_units::Entity::insert_many,
    )
    .await?;
    let total = timeline.len();
    bulk(
        db,
        timeline,
        opts.batch,
        |n| progress("timeline", n, total),
        entity::timeline_events::Entity::insert_many,
    )
    .await?;

    // Micro-wishes: mostly fulfilled and closed, some on the wall, a few expired.
    let mut wishes = Vec::with_capacity(opts.wishes);
    for _ in 0..opts.wishes {
        let grid = &grids[rng.gen_range(1..grids.len())];
        let wisher = &resident_ids[rng.gen_range(0..resident_ids.len())];
        let seq = wishes.len() as i64 + 1;
        wishes.push(synth_wish(&mut rng, now, grid, wisher, seq));
    }
    summary.wishes = wishes.len();
    let total = wishes.len();
    number::advance_past(db, CaseKind::Wish, total as i64).await?;
    bulk(
        db,
        wishes,
        opts.batch,
        |n| progress("wishes", n, total),
        entity::wishes::Entity::insert_many,
    )
    .await?;
    Ok(summary)
}

fn id_of(u: &entity::users::ActiveModel) -> String {
    match &u.id {
        sea_orm::ActiveValue::Set(id) | sea_orm::ActiveValue::Unchanged(id) => id.clone(),
        sea_orm::ActiveValue::NotSet => String::new(),
    }
}

fn user(openid: String, nickname: String, at: i64) -> entity::users::ActiveModel {
    entity::users::ActiveModel {
        id: Set(crate::util::new_id()),
        appid: Set(Some("wx-bench".into())),
        openid: Set(Some(openid)),
        unionid: Set(None),
        session_key: Set(None),
        username: Set(None),
        password_hash: Set(None),
        nickname: Set(nickname),
        phone: Set(None),
        admin_area_code: Set(None),
        is_volunteer: Set(false),
        volunteer_unit: Set(None),
        duty: Set(None),
        created_at: Set(at),
        ..Default::default()
    }
}

/// Inserts `rows` in chunks of `batch`, one multi-row INSERT and one transaction per chunk.
async fn bulk<A, F>(
    db: &DatabaseConnection,
    rows: Vec<A>,
    batch: usize,
    done: impl Fn(usize),
    insert: F,
) -> anyhow::Result<()>
where
    A: sea_orm::ActiveModelTrait,
    F: Fn(Vec<A>) -> sea_orm::Insert<A>,
{
    let mut written = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(batch).collect();
        let n = chunk.len();
        let txn = db.begin().await?;
        let stmt = insert(chunk).build(txn.get_database_backend());
        txn.execute(stmt).await?;
        txn.commit().await?;
        written += n;
        done(written);
    }
    Ok(())
}

/// A report as generated, before it becomes an ActiveModel.
struct SynthReport {
    id: String,
    reporter_id: String,
    worker_id: String,
    category: String,
    lat: f64,
    lng: f64,
    status: ReportStatus,
    grid_code: String,
    queue_path: String,
    submitted_at: i64,
    accepted_at: Option<i64>,
    deadline: Option<i64>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    rework_count: i32,
    rating: Option<i16>,
    lead_unit: Option<String>,
}

/// Dispatches an open report to the benchmark unit as lead, the way `dispatch` leaves it:
/// the case in progress, held by the unit; the assignment dispatched (waiting for its
/// sign-for) or signed, due in the coming days so the queue holds it.
fn synth_assignment(
    rng: &mut StdRng,
    now: i64,
    r: &mut SynthReport,
) -> entity::report_units::ActiveModel {
    // After the submission: the report is from the last 5 days.
    let dispatched = r.submitted_at + rng.gen_range(0..=(now - r.submitted_at) / 2);
    r.status = ReportStatus::InProgress;
    r.accepted_at = Some(r.accepted_at.unwrap_or(dispatched).min(dispatched));
    let deadline = now + rng.gen_range(HOUR..5 * DAY);
    r.deadline = Some(deadline);
    r.resolved_at = None;
    r.closed_at = None;
    r.rating = None;
    r.lead_unit = Some(BENCH_UNIT.into());
    let signed = rng
        .gen_bool(0.5)
        .then(|| dispatched + rng.gen_range(60_000..HOUR));
    entity::report_units::ActiveModel {
        id: Set(crate::util::new_id()),
        report_id: Set(r.id.clone()),
        unit_code: Set(BENCH_UNIT.into()),
        role: Set(entity::enums::UnitRole::Lead),
        status: Set(if signed.is_some() {
            entity::enums::AssignmentStatus::Signed
        } else {
            entity::enums::AssignmentStatus::Dispatched
        }),
        instruction: Set(Some("请尽快到场处置。".into())),
        dispatched_by: Set(None),
        dispatched_at: Set(dispatched),
        sign_deadline: Set(dispatched + 2 * HOUR),
        deadline: Set(deadline),
        signed_at: Set(signed),
        signed_by: Set(None),
        returned_at: Set(None),
        return_reason: Set(None),
        resolved_at: Set(None),
        updated_at: Set(signed.unwrap_or(dispatched)),
    }
}

/// Draws one report: submitted uniformly over the past year; old ones are almost all closed
/// (most on time, a few reworked or late, a few rejected), some overdue ones stay open, and
/// the last two weeks hold the open work.
fn synth_report(
    rng: &mut StdRng,
    now: i64,
    grid: &Grid,
    reporter: &str,
    worker: &str,
    queue_task: bool,
) -> SynthReport {
    let age = if queue_task {
        rng.gen_range(HOUR..5 * DAY)
    } else {
        rng.gen_range(HOUR..365 * DAY)
    };
    let submitted = now - age;
    let limit = [4 * HOUR, DAY, 3 * DAY, 5 * DAY][rng.gen_range(0..4)];
    let accepted = submitted + rng.gen_range(5 * 60_000..4 * HOUR);
    let deadline = accepted + limit;
    let roll: f64 = rng.gen();
    let open_states = [
        ReportStatus::Submitted,
        ReportStatus::Accepted,
        ReportStatus::InProgress,
        ReportStatus::InProgress,
    ];
    let (status, on_time, rework) = if queue_task {
        (
            open_states[rng.gen_range(0..open_states.len())],
            true,
            false,
        )
    } else if age < 14 * DAY && roll < 0.5 {
        (
            [
                ReportStatus::Submitted,
                ReportStatus::Accepted,
                ReportStatus::InProgress,
                ReportStatus::Resolved,
            ][rng.gen_range(0..4)],
            true,
            false,
        )
    } else if roll < 0.02 {
        (ReportStatus::Rejected, true, false)
    } else if roll < 0.035 {
        (ReportStatus::InProgress, false, false) // overdue and still open
    } else if roll < 0.065 {
        (ReportStatus::Closed, roll < 0.05, true) // reworked once
    } else if roll < 0.10 {
        (ReportStatus::Closed, false, false) // closed late
    } else {
        (ReportStatus::Closed, true, false)
    };
    let accepted_at =
        (status != ReportStatus::Submitted && status != ReportStatus::Rejected).then_some(accepted);
    let handled = if on_time {
        accepted + rng.gen_range(limit / 10..limit * 7 / 10)
    } else {
        deadline + rng.gen_range(HOUR..3 * DAY)
    };
    let resolved_at =
        matches!(status, ReportStatus::Resolved | ReportStatus::Closed).then_some(handled.min(now));
    // Closing (the reporter's confirmation) follows the resolution; on time means by the
    // deadline, late means some hours after it.
    let close_gap = if on_time {
        rng.gen_range(0..=(deadline - handled).max(0))
    } else {
        rng.gen_range(HOUR..DAY)
    };
    let closed_at = (status == ReportStatus::Closed).then(|| (handled + close_gap).min(now));
    let jitter = 0.0008;
    SynthReport {
        id: crate::util::new_id(),
        reporter_id: reporter.into(),
        worker_id: worker.into(),
        category: CATEGORIES[rng.gen_range(0..CATEGORIES.len())].into(),
        lat: grid.lat + rng.gen_range(-jitter..jitter),
        lng: grid.lng + rng.gen_range(-jitter..jitter),
        status,
        grid_code: grid.code.clone(),
        queue_path: grid.path.clone(),
        submitted_at: submitted,
        accepted_at,
        deadline: accepted_at.map(|_| deadline),
        resolved_at,
        closed_at,
        rework_count: i32::from(rework),
        rating: (status == ReportStatus::Closed && rng.gen_bool(0.6)).then(|| {
            if rng.gen_bool(0.92) {
                rng.gen_range(4..=5)
            } else {
                rng.gen_range(1..=3)
            }
        }),
        lead_unit: None,
    }
}

impl SynthReport {
    fn into_active(self, seq: i64) -> entity::reports::ActiveModel {
        let updated = self
            .closed_at
            .or(self.resolved_at)
            .or(self.accepted_at)
            .unwrap_or(self.submitted_at);
        entity::reports::ActiveModel {
            case_no: Set(number::format(CaseKind::Report, seq, self.submitted_at)),
            id: Set(self.id),
            reporter_id: Set(self.reporter_id),
            category: Set(self.category),
            description: Set("基准数据：楼道堆放杂物，影响通行，请尽快处理。".into()),
            lat: Set(self.lat),
            lng: Set(self.lng),
            coord_input: Set("gcj02".into()),
            address: Set(None),
            anonymous: Set(false),
            urgency: Set(entity::enums::Urgency::Normal),
            status: Set(self.status),
            grid_code: Set(self.grid_code.clone()),
            queue_code: Set(self.grid_code),
            queue_path: Set(self.queue_path),
            accepted_by: Set(self.accepted_at.map(|_| self.worker_id)),
            submitted_at: Set(self.submitted_at),
            accepted_at: Set(self.accepted_at),
            deadline: Set(self.deadline),
            suspended_at: Set(None),
            resolved_at: Set(self.resolved_at),
            closed_at: Set(self.closed_at),
            rework_count: Set(self.rework_count),
            rating: Set(self.rating),
            rating_comment: Set(None),
            extension_until: Set(None),
            extension_reason: Set(None),
            duplicate_of: Set(None),
            flagged: Set(false),
            lead_unit: Set(self.lead_unit),
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
            overdue_notified: Set(
                self.status != ReportStatus::Closed && self.deadline.is_some_and(|d| d < updated)
            ),
            version: Set(0),
            updated_at: Set(updated),
        }
    }
}

/// The timeline rows a report in its state would have (submit, accept, resolve, close).
fn timeline_of(r: &SynthReport) -> Vec<entity::timeline_events::ActiveModel> {
    let row = |actor: &str, role: &str, action: &str, from: &str, to: &str, at: i64| {
        entity::timeline_events::ActiveModel {
            subject_kind: Set("report".into()),
            subject_id: Set(r.id.clone()),
            actor_id: Set(Some(actor.into())),
            actor_role: Set(role.into()),
            action: Set(action.into()),
            from_status: Set(from.into()),
            to_status: Set(to.into()),
            note: Set(None),
            data: Set(None),
            at: Set(at),
            ..Default::default()
        }
    };
    let mut rows = vec![row(
        &r.reporter_id,
        "reporter",
        "submit",
        "",
        "submitted",
        r.submitted_at,
    )];
    if r.status == ReportStatus::Rejected {
        rows.push(row(
            &r.worker_id,
            "worker",
            "reject",
            "submitted",
            "rejected",
            r.submitted_at + HOUR,
        ));
    }
    if let Some(at) = r.accepted_at {
        rows.push(row(
            &r.worker_id,
            "worker",
            "accept",
            "submitted",
            "accepted",
            at,
        ));
    }
    if let Some(at) = r.resolved_at {
        rows.push(row(
            &r.worker_id,
            "worker",
            "resolve",
            "in_progress",
            "resolved",
            at,
        ));
    }
    if let Some(at) = r.closed_at {
        rows.push(row(
            &r.reporter_id,
            "reporter",
            "confirm",
            "resolved",
            "closed",
            at,
        ));
    }
    rows
}

fn synth_wish(
    rng: &mut StdRng,
    now: i64,
    grid: &Grid,
    wisher: &str,
    seq: i64,
) -> entity::wishes::ActiveModel {
    let submitted = now - rng.gen_range(HOUR..365 * DAY);
    let roll: f64 = rng.gen();
    let status = if now - submitted < 30 * DAY && roll < 0.4 {
        [
            WishStatus::Submitted,
            WishStatus::Approved,
            WishStatus::Claimed,
        ][rng.gen_range(0..3)]
    } else if roll < 0.03 {
        WishStatus::Rejected
    } else if roll < 0.06 {
        WishStatus::Expired
    } else if roll < 0.08 {
        WishStatus::Cancelled
    } else {
        WishStatus::Closed
    };
    let approved = (status != WishStatus::Submitted && status != WishStatus::Rejected)
        .then_some(submitted + DAY);
    let claimed =
        matches!(status, WishStatus::Claimed | WishStatus::Closed).then_some(submitted + 3 * DAY);
    let fulfilled = (status == WishStatus::Closed).then_some(submitted + 7 * DAY);
    let goods = rng.gen_bool(0.6);
    entity::wishes::ActiveModel {
        case_no: Set(number::format(CaseKind::Wish, seq, submitted)),
        id: Set(crate::util::new_id()),
        wisher_id: Set(wisher.into()),
        title: Set(if goods {
            "一台助听器"
        } else {
            "每周帮忙买菜"
        }
        .into()),
        description: Set("基准数据：独居老人的小心愿。".into()),
        kind: Set(if goods {
            WishKind::Goods
        } else {
            WishKind::Service
        }),
        estimated_value_fen: Set(goods.then(|| rng.gen_range(2_000..30_000))),
        lat: Set(grid.lat),
        lng: Set(grid.lng),
        grid_code: Set(grid.code.clone()),
        queue_path: Set(grid.path.clone()),
        status: Set(status),
        deadline: Set(submitted + 30 * DAY),
        claimant_id: Set(None),
        claimant_unit: Set(claimed.map(|_| "志愿服务队".to_string())),
        reason: Set(None),
        flagged: Set(false),
        expired_to_queue: Set(status == WishStatus::Expired),
        submitted_at: Set(submitted),
        approved_at: Set(approved),
        claimed_at: Set(claimed),
        fulfilled_at: Set(fulfilled),
        fulfil_note: Set(fulfilled.map(|_| "已送达".to_string())),
        closed_at: Set(fulfilled.map(|f| f + DAY)),
        version: Set(0),
        updated_at: Set(fulfilled.or(claimed).or(approved).unwrap_or(submitted)),
    }
}

/// Tokens of a resident, the worker of `G000000`, the benchmark unit's staff member and the
/// district admin (created here), and a report body that routes to the last grid.
async fn write_tokens(
    settings: &Settings,
    db: &DatabaseConnection,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let find = |openid: &'static str| {
        entity::users::Entity::find()
            .filter(entity::users::Column::Openid.eq(openid))
            .one(db)
    };
    let resident = find("bench-r0").await?.context("bench resident missing")?;
    let worker = find("bench-w0").await?.context("bench worker missing")?;
    let unit_staff = find(BENCH_UNIT_STAFF)
        .await?
        .context("bench unit staff missing")?;
    let admin_name = "bench-admin";
    let admin = match entity::users::Entity::find()
        .filter(entity::users::Column::Username.eq(admin_name))
        .one(db)
        .await?
    {
        Some(a) => a,
        None => {
            let password = crate::util::new_id();
            crate::auth::service::create_admin(db, admin_name, &password, "BD").await?;
            entity::users::Entity::find()
                .filter(entity::users::Column::Username.eq(admin_name))
                .one(db)
                .await?
                .context("bench admin missing")?
        }
    };
    let grids = entity::areas::Entity::find()
        .filter(entity::areas::Column::Level.eq("grid"))
        .filter(entity::areas::Column::Code.starts_with("G"))
        .all(db)
        .await?;
    let centre_of = |pick: fn(&str, &str) -> bool| -> anyhow::Result<geo::Point<f64>> {
        let grid = grids
            .iter()
            .reduce(|a, b| if pick(&a.code, &b.code) { a } else { b })
            .context("no grids")?;
        grid.geometry
            .as_deref()
            .and_then(crate::grids::geojson::multipolygon_from_json)
            .and_then(|mp| mp.centroid())
            .context("grid has no shape")
    };
    // The load benchmark submits to the last grid (so the worker's queue keeps its length);
    // the SSE benchmark submits into the worker's own grid, the first.
    let centre = centre_of(|a, b| a > b)?;
    let first = centre_of(|a, b| a < b)?;
    let keys = crate::auth::jwt::JwtKeys::new(settings.jwt_secret_bytes(), 24 * 3_600);
    let token = |id: &str| keys.issue(id).map_err(|e| anyhow::anyhow!("token: {e}"));
    let doc = serde_json::json!({
        "resident": token(&resident.id)?,
        "worker": token(&worker.id)?,
        "admin": token(&admin.id)?,
        "worker_grid": "G000000",
        "unit": token(&unit_staff.id)?,
        "unit_code": BENCH_UNIT,
        "report": {
            "category": "sanitation",
            "description": "楼道堆放杂物，影响消防通道，请尽快清理。",
            "location": { "lat": centre.y(), "lng": centre.x(), "coord": "gcj02" },
            "address": "基准路1号",
        },
        "worker_grid_report": {
            "category": "fire_hazard",
            "description": "楼道内电动车充电，存在火灾隐患。",
            "location": { "lat": first.y(), "lng": first.x(), "coord": "gcj02" },
        },
    });
    let mut doc = doc;
    doc["mix"] = mix_bodies(db, &grids, &token).await?;
    std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

/// The realistic mix of submissions (issue 21, `benches/load.sh` phase `mix`): 1,000 bodies
/// spread over up to 200 reporters, every category and random grids (never `G000000`, whose
/// worker's queue must stay 40 tasks long), each with its reporter's token.
async fn mix_bodies(
    db: &DatabaseConnection,
    grids: &[entity::areas::Model],
    token: &dyn Fn(&str) -> anyhow::Result<String>,
) -> anyhow::Result<serde_json::Value> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    const BODIES: usize = 1_000;
    const DESCRIPTIONS: &[&str] = &[
        "楼道堆放杂物，影响消防通道，请尽快清理。",
        "小区路灯损坏，夜间出行不便。",
        "电动车在楼道内充电，存在安全隐患。",
        "邻居装修噪音扰民，协商未果。",
        "垃圾分类点满溢，异味明显。",
        "井盖松动，行人经过有危险。",
    ];
    let reporters: Vec<String> = entity::users::Entity::find()
        .filter(entity::users::Column::Openid.starts_with("bench-r"))
        .limit(200)
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let tokens: Vec<String> = reporters
        .iter()
        .map(|id| token(id))
        .collect::<Result<_, _>>()?;
    let places: Vec<&entity::areas::Model> = grids.iter().filter(|g| g.code != "G000000").collect();
    anyhow::ensure!(
        !tokens.is_empty() && !places.is_empty(),
        "no reporters or grids for the mix"
    );
    let mut rng = StdRng::seed_from_u64(21);
    let mut bodies = Vec::with_capacity(BODIES);
    for i in 0..BODIES {
        let grid = places[rng.gen_range(0..places.len())];
        let Some(centre) = grid
            .geometry
            .as_deref()
            .and_then(crate::grids::geojson::multipolygon_from_json)
            .and_then(|mp| mp.centroid())
        else {
            continue;
        };
        let description = DESCRIPTIONS[rng.gen_range(0..DESCRIPTIONS.len())];
        bodies.push(serde_json::json!({
            "token": tokens[rng.gen_range(0..tokens.len())],
            "body": {
                "category": CATEGORIES[rng.gen_range(0..CATEGORIES.len())],
                "description": format!("{description}（{i}）"),
                "location": { "lat": centre.y(), "lng": centre.x(), "coord": "gcj02" },
                "address": format!("混合路{}号", i % 97 + 1),
            },
        }));
    }
    Ok(serde_json::Value::Array(bodies))
}
