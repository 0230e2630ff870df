//! Submission (the safety key): validate, route by location, then write the report with its
//! idempotency claim, timeline row and outbox row atomically — on PostgreSQL as one statement,
//! elsewhere (or with photos) in one transaction — and answer with possible duplicates nearby.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::dispatch::{self, DispatchInput};
use super::dto::*;
use super::status::ReportStatus;
use super::views::{render_loaded, reporter_view, view_by_id, Loaded};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::cases::number::CaseKind;
use crate::content::{text_field, MAX_DESCRIPTION};
use crate::error::{ApiError, ApiResult};
use crate::grids::geo::{distance_m, CoordSystem, Coordinate};
use crate::idempotency::{self, NextAction};
use crate::notify::outbox;
use crate::timeline::{self, Entry};
use crate::util::{new_id, now_ms, rfc3339};

use entity::reports;

const DUPLICATE_RADIUS_M: f64 = 50.0;
const DUPLICATE_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// Submits a report; with an idempotency key a retry returns the first report.
pub async fn submit(
    env: &Env<'_>,
    who: &Principal,
    input: NewReport,
    key: Option<&str>,
) -> ApiResult<ReportView> {
    if !who.is_resident() {
        return Err(ApiError::forbidden());
    }
    let door = idempotency::Request::for_json(who.id(), key, &input);
    if let Some(id) = door.replay(env.db).await? {
        return view_by_id(env, who, &id, false).await;
    }
    let description = text_field("description", Some(&input.description), MAX_DESCRIPTION)?;
    let address = match input
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(a) if a.chars().count() > 300 => {
            return Err(ApiError::invalid("address", "at most 300 characters"))
        }
        other => other.map(str::to_owned),
    };
    if input.photo_ids.len() > 9 {
        return Err(ApiError::invalid("photo_ids", "at most 9 photos"));
    }
    if !env.categories.contains(env.db, &input.category).await? {
        return Err(ApiError::invalid(
            "category",
            "unknown category; see GET /api/v1/categories",
        ));
    }
    let point = Coordinate::new(input.location.lat, input.location.lng, input.location.coord)
        .map_err(|e| ApiError::invalid("location", e.to_string()))?;
    let gcj = point.to_gcj02();
    let route = env
        .router
        .route(&point)
        .ok_or_else(|| ApiError::unavailable("the area tree (no areas imported yet)"))?;
    let flagged = env.content.check(who, &description).await?;

    let id = new_id();
    let now = now_ms();
    let case_no = env.case_numbers.next(env.db, CaseKind::Report, now).await?;
    let grid_code = route
        .grid
        .as_ref()
        .map(|g| g.code.clone())
        .unwrap_or_else(|| route.queue.code.clone());
    // 部件先属主后属地: a category owned by a kind of unit goes to that unit at once, while
    // the grid still checks on site (the report stays in the grid's queue).
    let place = route.grid.as_ref().map_or(&route.queue.path, |g| &g.path);
    let pre_dispatch =
        match crate::units::service::owner_for(env.db, &input.category, place).await? {
            None => None,
            Some(owner) => {
                let d = dispatch::deadlines(
                    env.calendar,
                    now,
                    owner.sign_hours,
                    None,
                    owner
                        .limit
                        .unwrap_or(super::calendar::TimeLimit::WorkingDays(5)),
                    input.urgency,
                );
                let order = DispatchInput {
                    lead_unit: owner.unit_code,
                    ..DispatchInput::default()
                };
                dispatch::assignments(&id, &order, None, d, now).pop()
            }
        };
    let told: Vec<String> = pre_dispatch.iter().map(|a| a.unit_code.clone()).collect();
    let model = reports::ActiveModel {
        id: Set(id.clone()),
        case_no: Set(case_no.clone()),
        reporter_id: Set(who.id().into()),
        category: Set(input.category.clone()),
        description: Set(description),
        lat: Set(gcj.lat()),
        lng: Set(gcj.lng()),
        coord_input: Set(match input.location.coord {
            CoordSystem::Gcj02 => "gcj02".into(),
            CoordSystem::Wgs84 => "wgs84".into(),
        }),
        address: Set(address),
        anonymous: Set(input.anonymous),
        urgency: Set(input.urgency),
        status: Set(ReportStatus::Submitted),
        grid_code: Set(grid_code),
        queue_code: Set(route.queue.code.clone()),
        queue_path: Set(route.queue.path.clone()),
        accepted_by: Set(None),
        submitted_at: Set(now),
        accepted_at: Set(None),
        deadline: Set(None),
        suspended_at: Set(None),
        resolved_at: Set(None),
        closed_at: Set(None),
        rework_count: Set(0),
        rating: Set(None),
        rating_comment: Set(None),
        extension_until: Set(None),
        extension_reason: Set(None),
        duplicate_of: Set(None),
        flagged: Set(flagged),
        lead_unit: Set(told.first().cloned()),
        supervised: Set(false),
        return_count: Set(0),
        overdue_notified: Set(false),
        version: Set(0),
        updated_at: Set(now),
    };
    let inserted = sea_orm::TryIntoModel::try_into_model(model.clone())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    // The rows a submission writes, built once for either road below.
    let report_row = sea_orm::QueryTrait::into_query(reports::Entity::insert(model));
    let timeline_row = timeline::insert_statement(Entry {
        subject_kind: "report",
        subject_id: &id,
        actor_id: Some(who.id()),
        actor_role: "reporter",
        action: "submit",
        from: "",
        to: ReportStatus::Submitted.as_str(),
        note: None,
        data: Some(match told.first() {
            None => serde_json::json!({ "queue": route.queue.code }),
            Some(unit) => serde_json::json!({ "queue": route.queue.code, "lead_unit": unit }),
        }),
        at: now,
    });
    let outbox_row = outbox::insert_statement(&outbox::NewEvent {
        kind: outbox::EventKind::ReportSubmitted,
        queue_code: &route.queue.code,
        queue_path: &route.queue.path,
        subject_id: &id,
        case_no: Some(&case_no),
        status: ReportStatus::Submitted.as_str(),
        notify_user: None,
        units: &told,
        at: now,
    });
    // The pre-dispatch: its assignment row and the event that tells the unit.
    let unit_rows: Vec<sea_orm::sea_query::InsertStatement> = pre_dispatch
        .iter()
        .flat_map(|a| {
            let row: entity::report_units::ActiveModel = a.clone().into();
            [
                sea_orm::QueryTrait::into_query(entity::report_units::Entity::insert(row)),
                outbox::insert_statement(&outbox::NewEvent {
                    kind: outbox::EventKind::ReportDispatched,
                    queue_code: &route.queue.code,
                    queue_path: &route.queue.path,
                    subject_id: &id,
                    case_no: Some(&case_no),
                    status: ReportStatus::Submitted.as_str(),
                    notify_user: None,
                    units: &told,
                    at: now,
                }),
            ]
        })
        .collect();
    let duplicate_query = duplicates_query(&id, &input.category, gcj.lat(), gcj.lng(), now);
    let backend = env.db.get_database_backend();

    // PostgreSQL takes the whole submission as one statement (see `submit_in_one_statement`);
    // photos, and a key whose first claim failed, take the transaction below.
    let mut nearby = None;
    if backend == sea_orm::DbBackend::Postgres && input.photo_ids.is_empty() {
        let claim = door.claim_statement(&id);
        let writes = claim
            .into_iter()
            .chain([report_row.clone(), timeline_row.clone(), outbox_row.clone()])
            .chain(unit_rows.iter().cloned());
        match submit_in_one_statement(env, writes, duplicate_query.clone()).await {
            Ok(rows) => nearby = Some(rows),
            // Nothing was written (one statement); the transaction sorts out the key.
            Err(e) if door.has_key() => {
                tracing::debug!(error = %e, "one-statement submit failed; taking the transaction")
            }
            Err(e) => return Err(e.into()),
        }
    }
    let nearby = match nearby {
        Some(rows) => rows,
        None => {
            let txn = match door.begin(env.db, &id).await? {
                NextAction::Proceed(txn) => txn,
                // A concurrent retry won the key: answer with its report.
                NextAction::Replay(first) => return view_by_id(env, who, &first, false).await,
            };
            txn.execute(backend.build(&report_row)).await?;
            crate::uploads::attach(&txn, who.id(), &input.photo_ids, "report", &id).await?;
            txn.execute(backend.build(&timeline_row)).await?;
            txn.execute(backend.build(&outbox_row)).await?;
            for row in &unit_rows {
                txn.execute(backend.build(row)).await?;
            }
            txn.commit().await?;
            reports::Entity::find()
                .from_raw_sql(backend.build(&duplicate_query))
                .all(env.db)
                .await?
        }
    };
    env.outbox.written();
    let snap = env.router.snapshot();
    crate::dashboard::report_changed(env.db, &inserted, snap.areas.get(&inserted.grid_code)).await;

    // The reporter sees their own report: render what was just written instead of reading
    // it back (and the reporter from the principal), which saves three round trips.
    let unit_names = crate::units::load::names(env.db, pre_dispatch.iter()).await?;
    let photos = if input.photo_ids.is_empty() {
        Vec::new()
    } else {
        crate::uploads::attached(env.db, "report", &id).await?
    };
    let mut view = render_loaded(
        env,
        who,
        &snap,
        inserted,
        Loaded {
            reporter: Some(reporter_view(&who.user)),
            photo_ids: photos,
            units: pre_dispatch.into_iter().collect(),
            unit_names: &unit_names,
        },
    );
    view.possible_duplicates = Some(duplicate_hints(gcj.lat(), gcj.lng(), nearby));
    Ok(view)
}

/// The submission as one PostgreSQL statement in autocommit: its writes (the idempotency
/// claim if a key was sent, the report, its timeline row, its outbox row) as data-modifying
/// CTEs, and the duplicate-nearby SELECT as the statement's result. One round trip and one commit instead
/// of seven; atomic like the transaction, since a statement commits or fails whole. The
/// SELECT reads the snapshot taken before the inserts, so it never finds the new report.
async fn submit_in_one_statement(
    env: &Env<'_>,
    writes: impl IntoIterator<Item = sea_orm::sea_query::InsertStatement>,
    duplicates: sea_orm::sea_query::SelectStatement,
) -> Result<Vec<reports::Model>, sea_orm::DbErr> {
    use sea_orm::sea_query::{Alias, CommonTableExpression, WithClause};
    let mut with = WithClause::new();
    for (i, write) in writes.into_iter().enumerate() {
        with.cte(
            CommonTableExpression::new()
                .query(write)
                .table_name(Alias::new(format!("w{i}")))
                .to_owned(),
        );
    }
    let statement = env.db.get_database_backend().build(&duplicates.with(with));
    reports::Entity::find()
        .from_raw_sql(statement)
        .all(env.db)
        .await
}

/// Open reports of the same category within 50 m from the last 7 days, as a query: a
/// bounding box first (≈ 1e-5 degrees per metre); [`duplicate_hints`] keeps the exact circle.
fn duplicates_query(
    id: &str,
    category: &str,
    lat: f64,
    lng: f64,
    now: i64,
) -> sea_orm::sea_query::SelectStatement {
    let dlat = DUPLICATE_RADIUS_M / 111_000.0;
    let dlng = dlat / lat.to_radians().cos().max(0.01);
    let open: Vec<ReportStatus> = ReportStatus::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .collect();
    sea_orm::QueryTrait::into_query(
        reports::Entity::find()
            .filter(reports::Column::Category.eq(category))
            .filter(reports::Column::SubmittedAt.gte(now - DUPLICATE_WINDOW_MS))
            .filter(reports::Column::Lat.between(lat - dlat, lat + dlat))
            .filter(reports::Column::Lng.between(lng - dlng, lng + dlng))
            .filter(reports::Column::Status.is_in(open))
            .filter(reports::Column::Id.ne(id))
            .limit(10),
    )
}

/// The candidates of [`duplicates_query`] that are within the radius.
fn duplicate_hints(lat: f64, lng: f64, rows: Vec<reports::Model>) -> Vec<DuplicateHint> {
    let Ok(here) = Coordinate::new(lat, lng, CoordSystem::Gcj02) else {
        return Vec::new();
    };
    rows.into_iter()
        .filter_map(|r| {
            let there = Coordinate::new(r.lat, r.lng, CoordSystem::Gcj02).ok()?;
            let d = distance_m(&here, &there);
            (d <= DUPLICATE_RADIUS_M).then(|| DuplicateHint {
                status: r.status,
                id: r.id,
                case_no: r.case_no,
                distance_m: (d * 10.0).round() / 10.0,
                submitted_at: rfc3339(r.submitted_at),
            })
        })
        .collect()
}
