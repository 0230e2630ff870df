//! Report rules around the pure state machine: submission (validation, routing, one
//! transaction with timeline and outbox rows), actions (decide, apply effects, optimistic
//! concurrency), visibility and the views.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};

use super::categories::{self, Urgency};
use super::dto::*;
use super::status::{
    self, ActionKind, Actor, DecisionContext, Effect, Light, Rating, ReportStatus, TransitionError,
};
use crate::auth::Principal;
use crate::content::{check_content, text_field};
use crate::error::{ApiError, ApiResult};
use crate::grids::geo::{distance_m, CoordSystem, Coordinate};
use crate::grids::router::Snapshot;
use crate::idempotency::{self, Prior};
use crate::notify::outbox;
use crate::state::AppState;
use crate::timeline::{self, Entry};
use crate::util::{new_id, now_ms, parse_cursor, parse_rfc3339, rfc3339};

use entity::reports;

pub const MAX_DESCRIPTION: usize = 2_000;
const DUPLICATE_RADIUS_M: f64 = 50.0;
const DUPLICATE_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// Submits a report; with an idempotency key a retry returns the first report.
pub async fn submit(
    state: &AppState,
    who: &Principal,
    input: NewReport,
    key: Option<&str>,
) -> ApiResult<ReportView> {
    if !who.is_resident() {
        return Err(ApiError::forbidden());
    }
    let request_hash = idempotency::hash_request(&input);
    if let Some(key) = key {
        if let Prior::Created(id) =
            idempotency::lookup(&state.db, who.id(), key, &request_hash).await?
        {
            return view_by_id(state, who, &id, false).await;
        }
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
    if !state
        .categories
        .contains(&state.db, &input.category)
        .await?
    {
        return Err(ApiError::invalid(
            "category",
            "unknown category; see GET /api/v1/categories",
        ));
    }
    let point = Coordinate::new(input.location.lat, input.location.lng, input.location.coord)
        .map_err(|e| ApiError::invalid("location", e.to_string()))?;
    let gcj = point.to_gcj02();
    let route = state
        .router
        .route(&point)
        .ok_or_else(|| ApiError::unavailable("the area tree (no areas imported yet)"))?;
    let flagged = check_content(state, who, &description).await?;

    let id = new_id();
    let now = now_ms();
    let grid_code = route
        .grid
        .as_ref()
        .map(|g| g.code.clone())
        .unwrap_or_else(|| route.queue.code.clone());
    let model = reports::ActiveModel {
        id: Set(id.clone()),
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
        urgency: Set(input.urgency.as_str().into()),
        status: Set(ReportStatus::Submitted.as_str().into()),
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
        data: Some(serde_json::json!({ "queue": route.queue.code })),
        at: now,
    });
    let outbox_row = outbox::insert_statement(&outbox::NewEvent {
        kind: outbox::EventKind::ReportSubmitted,
        queue_code: &route.queue.code,
        queue_path: &route.queue.path,
        subject_id: &id,
        case_no: None,
        status: "submitted",
        notify_user: None,
        at: now,
    });
    let duplicate_query = duplicates_query(&id, &input.category, gcj.lat(), gcj.lng(), now);
    let backend = state.db.get_database_backend();

    // PostgreSQL takes the whole submission as one statement (see `submit_in_one_statement`);
    // photos, and a key whose first claim failed, take the transaction below.
    let mut nearby = None;
    if backend == sea_orm::DbBackend::Postgres && input.photo_ids.is_empty() {
        let claim = key.map(|k| idempotency::claim_statement(who.id(), k, &request_hash, &id));
        let writes =
            claim
                .into_iter()
                .chain([report_row.clone(), timeline_row.clone(), outbox_row.clone()]);
        match submit_in_one_statement(state, writes, duplicate_query.clone()).await {
            Ok(rows) => nearby = Some(rows),
            // Nothing was written (one statement); the transaction sorts out the key.
            Err(e) if key.is_some() => {
                tracing::debug!(error = %e, "one-statement submit failed; taking the transaction")
            }
            Err(e) => return Err(e.into()),
        }
    }
    let nearby = match nearby {
        Some(rows) => rows,
        None => {
            let txn = state.db.begin().await?;
            if let Some(key) = key {
                if let Err(e) = idempotency::claim(&txn, who.id(), key, &request_hash, &id).await {
                    drop(txn);
                    // A concurrent retry won the key: answer with its report.
                    let first = idempotency::winner_after_failed_claim(
                        &state.db,
                        who.id(),
                        key,
                        &request_hash,
                        e,
                    )
                    .await?;
                    return view_by_id(state, who, &first, false).await;
                }
            }
            txn.execute(backend.build(&report_row)).await?;
            crate::uploads::attach(&txn, who.id(), &input.photo_ids, "report", &id).await?;
            txn.execute(backend.build(&timeline_row)).await?;
            txn.execute(backend.build(&outbox_row)).await?;
            txn.commit().await?;
            reports::Entity::find()
                .from_raw_sql(backend.build(&duplicate_query))
                .all(&state.db)
                .await?
        }
    };
    state.outbox_written();
    let snap = state.router.snapshot();
    crate::dashboard::report_changed(&state.db, &inserted, snap.areas.get(&inserted.grid_code))
        .await;

    // The reporter sees their own report: render what was just written instead of reading
    // it back (and the reporter from the principal), which saves three round trips.
    let photos = if input.photo_ids.is_empty() {
        Vec::new()
    } else {
        crate::uploads::attached(&state.db, "report", &id).await?
    };
    let mut view = render_loaded(
        state,
        who,
        &snap,
        inserted,
        Some(reporter_view(&who.user)),
        photos,
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
    state: &AppState,
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
    let statement = state
        .db
        .get_database_backend()
        .build(&duplicates.with(with));
    reports::Entity::find()
        .from_raw_sql(statement)
        .all(&state.db)
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
    let open: Vec<&str> = ReportStatus::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
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
                status: ReportStatus::parse(&r.status).unwrap_or(ReportStatus::Submitted),
                id: r.id,
                distance_m: (d * 10.0).round() / 10.0,
                submitted_at: rfc3339(r.submitted_at),
            })
        })
        .collect()
}

/// The caller's relations to a report, for the state machine.
pub fn relations(who: &Principal, r: &reports::Model) -> Vec<Actor> {
    let mut out = Vec::new();
    if r.reporter_id == who.id() {
        out.push(Actor::Reporter);
    }
    if who.works_grid(&r.queue_code) {
        out.push(Actor::QueueWorker);
    }
    if who.administers_path(&r.queue_path) {
        out.push(Actor::QueueAdmin);
    }
    out
}

/// Who may see a report: its reporter, the workers of its grid or current queue, and admins
/// above either. Everyone else gets 404, as if it did not exist.
pub fn can_view(who: &Principal, r: &reports::Model, snap: &Snapshot) -> bool {
    !relations(who, r).is_empty()
        || who.works_grid(&r.grid_code)
        || snap
            .areas
            .get(&r.grid_code)
            .is_some_and(|g| who.administers_path(&g.path))
}

fn is_admin_viewer(who: &Principal, r: &reports::Model, snap: &Snapshot) -> bool {
    who.administers_path(&r.queue_path)
        || snap
            .areas
            .get(&r.grid_code)
            .is_some_and(|g| who.administers_path(&g.path))
}

fn context(r: &reports::Model, snap: &Snapshot, skip_level: bool) -> DecisionContext {
    DecisionContext {
        already_rated: r.rating.is_some(),
        extension_pending: r.extension_until.is_some(),
        queue_is_grid: snap
            .areas
            .get(&r.queue_code)
            .is_some_and(|a| a.level == crate::grids::area::AreaLevel::Grid),
        skip_level,
    }
}

/// Tries each relation; the first `Ok` wins, else the most informative error.
fn decide_for(
    r: &reports::Model,
    action: ActionKind,
    relations: &[Actor],
    ctx: &DecisionContext,
) -> Result<(status::Transition, Actor), TransitionError> {
    let from = ReportStatus::parse(&r.status).unwrap_or(ReportStatus::Submitted);
    let mut best = TransitionError::Forbidden;
    for actor in relations {
        match status::decide(from, action, *actor, ctx) {
            Ok(t) => return Ok((t, *actor)),
            Err(e @ TransitionError::InvalidTransition { .. }) => best = e,
            Err(TransitionError::Forbidden) => {}
        }
    }
    Err(best)
}

fn actor_role(actor: Actor) -> &'static str {
    match actor {
        Actor::Reporter => "reporter",
        Actor::QueueWorker => "worker",
        Actor::QueueAdmin => "admin",
        Actor::System => "system",
        Actor::Other => "other",
    }
}

/// Applies one action; retried on a concurrent change so exactly one of two racing
/// requests wins and the other gets the answer for the state it finds.
pub async fn act(
    state: &AppState,
    who: &Principal,
    id: &str,
    req: &ActionRequest,
) -> ApiResult<ReportView> {
    let action = ActionKind::parse(&req.action)
        .filter(|a| a.is_client_action())
        .ok_or_else(|| ApiError::invalid("action", "unknown action"))?;
    for _ in 0..3 {
        let r = reports::Entity::find_by_id(id.to_string())
            .one(&state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let snap = state.router.snapshot();
        if !can_view(who, &r, &snap) {
            return Err(ApiError::not_found());
        }
        let ctx = context(&r, &snap, req.skip_level);
        let (transition, actor) =
            decide_for(&r, action, &relations(who, &r), &ctx).map_err(|e| match e {
                TransitionError::Forbidden => ApiError::forbidden(),
                TransitionError::InvalidTransition { from, action } => {
                    ApiError::invalid_transition(from.as_str(), action.as_str())
                }
            })?;
        if apply(state, who, &r, &snap, action, actor, transition, req).await? {
            return view_by_id(state, who, id, true).await;
        }
    }
    Err(ApiError::invalid_transition("changing", &req.action))
}

/// Writes the transition; `Ok(false)` when someone else changed the report first.
#[expect(
    clippy::too_many_arguments,
    reason = "the decided transition and its context travel together"
)]
async fn apply(
    state: &AppState,
    who: &Principal,
    r: &reports::Model,
    snap: &Snapshot,
    action: ActionKind,
    actor: Actor,
    t: status::Transition,
    req: &ActionRequest,
) -> ApiResult<bool> {
    let now = now_ms();
    let mut update = reports::Entity::update_many()
        .col_expr(reports::Column::Status, Expr::value(t.to.as_str()))
        .col_expr(reports::Column::Version, Expr::value(r.version + 1))
        .col_expr(reports::Column::UpdatedAt, Expr::value(now));
    let mut note: Option<String> = None;
    let mut data = serde_json::Map::new();
    let mut queue = (r.queue_code.clone(), r.queue_path.clone());
    let mut photos: &[String] = &[];

    match action {
        ActionKind::Accept => {
            if r.accepted_at.is_none() {
                update = update.col_expr(reports::Column::AcceptedAt, Expr::value(now));
            }
            update = update.col_expr(reports::Column::AcceptedBy, Expr::value(who.id()));
            if t.effect == Effect::SetDeadline && r.deadline.is_none() {
                let cat = entity::categories::Entity::find_by_id(r.category.clone())
                    .one(&state.db)
                    .await?;
                let limit = cat
                    .and_then(|c| {
                        super::calendar::TimeLimit::parse(&c.limit_unit, c.limit_amount as u32)
                    })
                    .unwrap_or(super::calendar::TimeLimit::WorkingDays(5));
                let urgency = Urgency::parse(&r.urgency).unwrap_or_default();
                let deadline = categories::deadline(&state.calendar, limit, urgency, now);
                update = update.col_expr(reports::Column::Deadline, Expr::value(deadline));
                data.insert("deadline".into(), rfc3339(deadline).into());
            }
        }
        ActionKind::Reject => {
            note = Some(text_field("reason", req.reason.as_deref(), 500)?);
            if let Some(dup) = &req.duplicate_of {
                let original = reports::Entity::find_by_id(dup.clone())
                    .one(&state.db)
                    .await?;
                if !original
                    .as_ref()
                    .is_some_and(|o| o.id != r.id && can_view(who, o, snap))
                {
                    return Err(ApiError::invalid("duplicate_of", "no such report"));
                }
                update = update.col_expr(reports::Column::DuplicateOf, Expr::value(dup.clone()));
                data.insert("duplicate_of".into(), dup.clone().into());
            }
        }
        ActionKind::Note => {
            note = Some(text_field(
                "text",
                req.text.as_deref().or(req.note.as_deref()),
                MAX_DESCRIPTION,
            )?);
            photos = &req.photo_ids;
        }
        ActionKind::Escalate => {
            note = Some(text_field("reason", req.reason.as_deref(), 500)?);
            let levels = if let Effect::MoveQueueUp { levels } = t.effect {
                levels
            } else {
                1
            };
            let mut target = snap.areas.get(&r.queue_code).cloned();
            for _ in 0..levels {
                target =
                    target.and_then(|a| a.parent_code.and_then(|p| snap.areas.get(&p).cloned()));
            }
            let target =
                target.ok_or_else(|| ApiError::invalid_transition("at_top_level", "escalate"))?;
            data.insert("to_queue".into(), target.code.clone().into());
            queue = (target.code, target.path);
        }
        ActionKind::HandDown => {
            let code = text_field("grid_code", req.grid_code.as_deref(), 64)?;
            let grid = snap
                .areas
                .get(&code)
                .filter(|g| g.level == crate::grids::area::AreaLevel::Grid)
                .ok_or_else(|| ApiError::invalid("grid_code", "no such grid"))?;
            if !grid.path.starts_with(&r.queue_path) {
                return Err(ApiError::invalid(
                    "grid_code",
                    "the grid is not below this queue",
                ));
            }
            data.insert("to_queue".into(), code.clone().into());
            queue = (grid.code.clone(), grid.path.clone());
            note = req.reason.clone();
        }
        ActionKind::Suspend => {
            note = Some(text_field("reason", req.reason.as_deref(), 500)?);
            update = update.col_expr(reports::Column::SuspendedAt, Expr::value(now));
        }
        ActionKind::Resume => {
            // The clock stood still while suspended: the deadline moves by that much.
            if let (Some(deadline), Some(since)) = (r.deadline, r.suspended_at) {
                update = update.col_expr(
                    reports::Column::Deadline,
                    Expr::value(deadline + (now - since)),
                );
            }
            update = update.col_expr(
                reports::Column::SuspendedAt,
                Expr::value(Option::<i64>::None),
            );
        }
        ActionKind::RequestExtension => {
            note = Some(text_field("reason", req.reason.as_deref(), 500)?);
            let until = req
                .until
                .as_deref()
                .and_then(parse_rfc3339)
                .ok_or_else(|| ApiError::invalid("until", "an RFC 3339 time is required"))?;
            if until <= r.deadline.unwrap_or(now).max(now) {
                return Err(ApiError::invalid(
                    "until",
                    "must be later than the current deadline",
                ));
            }
            update = update
                .col_expr(reports::Column::ExtensionUntil, Expr::value(until))
                .col_expr(reports::Column::ExtensionReason, Expr::value(note.clone()));
            data.insert("until".into(), rfc3339(until).into());
        }
        ActionKind::ApproveExtension => {
            if let Some(until) = r.extension_until {
                update = update.col_expr(reports::Column::Deadline, Expr::value(until));
                data.insert("deadline".into(), rfc3339(until).into());
            }
            update = update
                .col_expr(
                    reports::Column::ExtensionUntil,
                    Expr::value(Option::<i64>::None),
                )
                .col_expr(
                    reports::Column::ExtensionReason,
                    Expr::value(Option::<String>::None),
                );
        }
        ActionKind::Resolve => {
            note = Some(text_field(
                "note",
                req.note.as_deref().or(req.text.as_deref()),
                MAX_DESCRIPTION,
            )?);
            photos = &req.photo_ids;
            update = update.col_expr(reports::Column::ResolvedAt, Expr::value(now));
        }
        ActionKind::Confirm | ActionKind::AutoClose => {
            update = update.col_expr(reports::Column::ClosedAt, Expr::value(now));
        }
        ActionKind::Rework => {
            note = Some(text_field("reason", req.reason.as_deref(), 500)?);
            update = update
                .col_expr(
                    reports::Column::ReworkCount,
                    Expr::value(r.rework_count + 1),
                )
                .col_expr(
                    reports::Column::ResolvedAt,
                    Expr::value(Option::<i64>::None),
                );
        }
        ActionKind::Rate => {
            let rating = req
                .rating
                .and_then(|n| u8::try_from(n).ok())
                .and_then(|n| Rating::try_from(n).ok())
                .ok_or_else(|| ApiError::invalid("rating", "must be a whole number from 1 to 5"))?;
            let comment = match req
                .comment
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                Some(c) if c.chars().count() > 500 => {
                    return Err(ApiError::invalid("comment", "at most 500 characters"))
                }
                other => other.map(str::to_owned),
            };
            update = update
                .col_expr(
                    reports::Column::Rating,
                    Expr::value(i16::from(rating.get())),
                )
                .col_expr(reports::Column::RatingComment, Expr::value(comment.clone()));
            data.insert("rating".into(), rating.get().into());
            note = comment;
        }
        ActionKind::Cancel => {
            update = update.col_expr(reports::Column::ClosedAt, Expr::value(Option::<i64>::None));
            note = req.reason.clone();
        }
    }
    if queue.0 != r.queue_code {
        update = update
            .col_expr(reports::Column::QueueCode, Expr::value(queue.0.clone()))
            .col_expr(reports::Column::QueuePath, Expr::value(queue.1.clone()));
    }

    let txn = state.db.begin().await?;
    let changed = update
        .filter(reports::Column::Id.eq(&r.id))
        .filter(reports::Column::Version.eq(r.version))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Ok(false);
    }
    if !photos.is_empty() {
        crate::uploads::attach(&txn, who.id(), photos, "report", &r.id).await?;
        data.insert("photo_ids".into(), serde_json::json!(photos));
    }
    timeline::record(
        &txn,
        Entry {
            subject_kind: "report",
            subject_id: &r.id,
            actor_id: Some(who.id()),
            actor_role: actor_role(actor),
            action: action.as_str(),
            from: t.from.as_str(),
            to: t.to.as_str(),
            note,
            data: (!data.is_empty()).then_some(serde_json::Value::Object(data)),
            at: now,
        },
    )
    .await?;
    if let Some(kind) = event_kind(action) {
        let notify = matches!(
            action,
            ActionKind::Accept | ActionKind::Resolve | ActionKind::Confirm
        )
        .then_some(r.reporter_id.as_str());
        outbox::enqueue(
            &txn,
            &outbox::NewEvent {
                kind,
                queue_code: &queue.0,
                queue_path: &queue.1,
                subject_id: &r.id,
                case_no: None,
                status: t.to.as_str(),
                notify_user: notify,
                at: now,
            },
        )
        .await?;
    }
    txn.commit().await?;
    state.outbox_written();
    // The rollup key (grid, day, category) never changes, so the old row names it.
    let snap = state.router.snapshot();
    crate::dashboard::report_changed(&state.db, r, snap.areas.get(&r.grid_code)).await;
    Ok(true)
}

fn event_kind(action: ActionKind) -> Option<outbox::EventKind> {
    use outbox::EventKind as K;
    Some(match action {
        ActionKind::Accept => K::ReportAccepted,
        ActionKind::Reject => K::ReportRejected,
        ActionKind::Escalate => K::ReportEscalated,
        ActionKind::HandDown => K::ReportHandedDown,
        ActionKind::Resolve => K::ReportResolved,
        ActionKind::Confirm | ActionKind::AutoClose => K::ReportClosed,
        ActionKind::Rework => K::ReportRework,
        ActionKind::Cancel => K::ReportCancelled,
        ActionKind::Suspend => K::ReportSuspended,
        ActionKind::Resume => K::ReportResumed,
        ActionKind::RequestExtension => K::ReportExtensionRequested,
        ActionKind::Note | ActionKind::ApproveExtension | ActionKind::Rate => return None,
    })
}

/// Closes resolved reports nobody objected to within the confirmation window (a job).
pub async fn auto_close(state: &AppState) -> ApiResult<usize> {
    let cutoff = now_ms() - state.settings.confirm_window.as_millis() as i64;
    let due = reports::Entity::find()
        .filter(reports::Column::Status.eq(ReportStatus::Resolved.as_str()))
        .filter(reports::Column::ResolvedAt.lte(cutoff))
        .limit(500)
        .all(&state.db)
        .await?;
    let mut closed = 0;
    for r in due {
        let now = now_ms();
        let Ok(t) = status::decide(
            ReportStatus::Resolved,
            ActionKind::AutoClose,
            Actor::System,
            &DecisionContext::default(),
        ) else {
            continue;
        };
        let txn = state.db.begin().await?;
        let changed = reports::Entity::update_many()
            .col_expr(reports::Column::Status, Expr::value(t.to.as_str()))
            .col_expr(reports::Column::ClosedAt, Expr::value(now))
            .col_expr(reports::Column::Version, Expr::value(r.version + 1))
            .col_expr(reports::Column::UpdatedAt, Expr::value(now))
            .filter(reports::Column::Id.eq(&r.id))
            .filter(reports::Column::Version.eq(r.version))
            .exec(&txn)
            .await?
            .rows_affected;
        if changed == 1 {
            timeline::record(
                &txn,
                Entry {
                    subject_kind: "report",
                    subject_id: &r.id,
                    actor_id: None,
                    actor_role: "system",
                    action: ActionKind::AutoClose.as_str(),
                    from: t.from.as_str(),
                    to: t.to.as_str(),
                    note: Some("No objection within the confirmation window".into()),
                    data: None,
                    at: now,
                },
            )
            .await?;
            outbox::enqueue(
                &txn,
                &outbox::NewEvent {
                    kind: outbox::EventKind::ReportClosed,
                    queue_code: &r.queue_code,
                    queue_path: &r.queue_path,
                    subject_id: &r.id,
                    case_no: None,
                    status: t.to.as_str(),
                    notify_user: Some(&r.reporter_id),
                    at: now,
                },
            )
            .await?;
            closed += 1;
        }
        txn.commit().await?;
        if changed == 1 {
            let snap = state.router.snapshot();
            crate::dashboard::report_changed(&state.db, &r, snap.areas.get(&r.grid_code)).await;
        }
    }
    Ok(closed)
}

/// Emits one `report_overdue` event per report that passed its deadline (a job).
pub async fn mark_overdue(state: &AppState) -> ApiResult<usize> {
    let now = now_ms();
    let late = reports::Entity::find()
        .filter(reports::Column::Status.is_in(["accepted", "in_progress"]))
        .filter(reports::Column::Deadline.lt(now))
        .filter(reports::Column::OverdueNotified.eq(false))
        .limit(500)
        .all(&state.db)
        .await?;
    let mut marked = 0;
    for r in late {
        let txn = state.db.begin().await?;
        let changed = reports::Entity::update_many()
            .col_expr(reports::Column::OverdueNotified, Expr::value(true))
            .filter(reports::Column::Id.eq(&r.id))
            .filter(reports::Column::OverdueNotified.eq(false))
            .exec(&txn)
            .await?
            .rows_affected;
        if changed == 1 {
            outbox::enqueue(
                &txn,
                &outbox::NewEvent {
                    kind: outbox::EventKind::ReportOverdue,
                    queue_code: &r.queue_code,
                    queue_path: &r.queue_path,
                    subject_id: &r.id,
                    case_no: None,
                    status: &r.status,
                    notify_user: None,
                    at: now,
                },
            )
            .await?;
            marked += 1;
        }
        txn.commit().await?;
    }
    Ok(marked)
}

/// The report as `who` may see it (404 when they may not).
pub async fn view_by_id(
    state: &AppState,
    who: &Principal,
    id: &str,
    with_timeline: bool,
) -> ApiResult<ReportView> {
    let r = reports::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let snap = state.router.snapshot();
    if !can_view(who, &r, &snap) {
        return Err(ApiError::not_found());
    }
    let mut view = render(state, who, &snap, r).await?;
    if with_timeline {
        view.timeline = Some(timeline::load(&state.db, "report", id).await?);
    }
    Ok(view)
}

pub fn light_of(r: &reports::Model, now: i64) -> Light {
    match (r.accepted_at, r.deadline) {
        (Some(start), Some(deadline)) => {
            let status = ReportStatus::parse(&r.status).unwrap_or(ReportStatus::Submitted);
            if !status.is_open() || status == ReportStatus::Resolved {
                // Handled: the light shows whether it was handled in time.
                let done = r.resolved_at.or(r.closed_at).unwrap_or(now);
                return if done <= deadline {
                    Light::Green
                } else {
                    Light::Red
                };
            }
            status::light(start, deadline, r.suspended_at.unwrap_or(now))
        }
        _ => Light::Green,
    }
}

/// May `who` see the reporter of `r` (the reporter, an admin above it, or not anonymous)?
fn shows_reporter(who: &Principal, r: &reports::Model, snap: &Snapshot) -> bool {
    r.reporter_id == who.id() || is_admin_viewer(who, r, snap) || !r.anonymous
}

fn reporter_view(u: &entity::users::Model) -> ReporterView {
    ReporterView {
        nickname: u.nickname.clone(),
        phone_masked: u.phone.as_deref().map(crate::util::mask_phone),
    }
}

pub async fn render(
    state: &AppState,
    who: &Principal,
    snap: &Snapshot,
    r: reports::Model,
) -> ApiResult<ReportView> {
    let reporter = if !shows_reporter(who, &r, snap) {
        None
    } else if r.reporter_id == who.id() {
        Some(reporter_view(&who.user))
    } else {
        entity::users::Entity::find_by_id(r.reporter_id.clone())
            .one(&state.db)
            .await?
            .as_ref()
            .map(reporter_view)
    };
    let photos = crate::uploads::attached(&state.db, "report", &r.id).await?;
    Ok(render_loaded(state, who, snap, r, reporter, photos))
}

/// Renders many reports with two queries in all (reporters, photos) instead of two each.
pub async fn render_many(
    state: &AppState,
    who: &Principal,
    snap: &Snapshot,
    rows: Vec<reports::Model>,
) -> ApiResult<Vec<ReportView>> {
    use std::collections::HashMap;
    let wanted: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| shows_reporter(who, r, snap) && r.reporter_id != who.id())
        .map(|r| r.reporter_id.clone())
        .collect();
    let mut reporters: HashMap<String, ReporterView> = HashMap::new();
    if !wanted.is_empty() {
        for u in entity::users::Entity::find()
            .filter(entity::users::Column::Id.is_in(wanted))
            .all(&state.db)
            .await?
        {
            reporters.insert(u.id.clone(), reporter_view(&u));
        }
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut photos = crate::uploads::attached_many(&state.db, "report", &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let reporter = if !shows_reporter(who, &r, snap) {
                None
            } else if r.reporter_id == who.id() {
                Some(reporter_view(&who.user))
            } else {
                reporters.get(&r.reporter_id).cloned()
            };
            let p = photos.remove(&r.id).unwrap_or_default();
            render_loaded(state, who, snap, r, reporter, p)
        })
        .collect())
}

/// The view of a report whose reporter and photo ids are already loaded (no I/O).
pub fn render_loaded(
    state: &AppState,
    who: &Principal,
    snap: &Snapshot,
    r: reports::Model,
    reporter: Option<ReporterView>,
    photo_ids: Vec<String>,
) -> ReportView {
    let place = |code: &str| {
        snap.areas.get(code).map(|a| PlaceRef {
            code: a.code.clone(),
            name: a.name.clone(),
            level: a.level.as_str().into(),
        })
    };
    let admin = is_admin_viewer(who, &r, snap);
    let photos = photo_ids
        .into_iter()
        .map(|id| PhotoView {
            url: crate::uploads::signed_url(state, &id),
            id,
        })
        .collect();
    let rels = relations(who, &r);
    let available_actions = ActionKind::ALL
        .iter()
        .filter(|a| a.is_client_action())
        .filter(|a| decide_for(&r, **a, &rels, &context(&r, snap, false)).is_ok())
        .map(|a| a.as_str().to_string())
        .collect();
    let grid_place = place(&r.grid_code).filter(|p| p.level == "grid");
    ReportView {
        light: light_of(&r, now_ms()),
        id: r.id.clone(),
        category: r.category,
        description: r.description,
        location: LocationOut {
            lat: r.lat,
            lng: r.lng,
            coord: "gcj02",
        },
        address: r.address,
        anonymous: r.anonymous,
        urgency: Urgency::parse(&r.urgency).unwrap_or_default(),
        status: ReportStatus::parse(&r.status).unwrap_or(ReportStatus::Submitted),
        grid: grid_place,
        queue: place(&r.queue_code).unwrap_or(PlaceRef {
            code: r.queue_code.clone(),
            name: String::new(),
            level: String::new(),
        }),
        submitted_at: rfc3339(r.submitted_at),
        accepted_at: r.accepted_at.map(rfc3339),
        deadline: r.deadline.map(rfc3339),
        resolved_at: r.resolved_at.map(rfc3339),
        closed_at: r.closed_at.map(rfc3339),
        rework_count: r.rework_count,
        rating: r.rating,
        rating_comment: r.rating_comment,
        extension_request: r.extension_until.map(|u| ExtensionView {
            until: rfc3339(u),
            reason: r.extension_reason.clone(),
        }),
        duplicate_of: r.duplicate_of,
        flagged: admin.then_some(r.flagged),
        reporter,
        photos,
        available_actions,
        timeline: None,
        possible_duplicates: None,
    }
}

/// The caller's own reports, newest first.
pub async fn mine(
    state: &AppState,
    who: &Principal,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<ReportPage> {
    let mut q = reports::Entity::find()
        .filter(reports::Column::ReporterId.eq(who.id()))
        .order_by_desc(reports::Column::SubmittedAt)
        .order_by_desc(reports::Column::Id)
        .limit(limit + 1);
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any()
                .add(reports::Column::SubmittedAt.lt(k))
                .add(
                    Condition::all()
                        .add(reports::Column::SubmittedAt.eq(k))
                        .add(reports::Column::Id.lt(id)),
                ),
        );
    }
    let rows = q.all(&state.db).await?;
    page(state, who, rows, limit, |r| r.submitted_at).await
}

async fn page(
    state: &AppState,
    who: &Principal,
    mut rows: Vec<reports::Model>,
    limit: u64,
    key: impl Fn(&reports::Model) -> i64,
) -> ApiResult<ReportPage> {
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", key(r), r.id))
    } else {
        None
    };
    let snap = state.router.snapshot();
    let items = render_many(state, who, &snap, rows).await?;
    Ok(ReportPage { items, next_cursor })
}

/// Filters of the worker queue.
#[derive(Default)]
pub struct TaskFilter {
    pub states: Vec<ReportStatus>,
    pub light: Option<Light>,
    pub grid: Option<String>,
    pub category: Option<String>,
}

/// The queue's sort key: the deadline, or the submission time while unaccepted.
fn sort_key() -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Func::coalesce([
        Expr::col(reports::Column::Deadline).into(),
        Expr::col(reports::Column::SubmittedAt).into(),
    ])
    .into()
}

/// 80 % of the limit used: accepted + 0.8 × (deadline − accepted) ≤ now, in integers.
fn yellow_or_worse(now: i64) -> sea_orm::sea_query::SimpleExpr {
    Expr::expr(
        Expr::col(reports::Column::AcceptedAt).add(Expr::col(reports::Column::Deadline).mul(4)),
    )
    .lte(5 * now)
}

/// The worker's queue: their grids' open reports (an admin's: their area's), soonest first.
pub async fn tasks(
    state: &AppState,
    who: &Principal,
    f: TaskFilter,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<ReportPage> {
    let grids: Vec<String> = who.worker_grids().map(str::to_owned).collect();
    let mut scope = Condition::any();
    if !grids.is_empty() {
        scope = scope.add(reports::Column::QueueCode.is_in(grids));
    }
    if let Some(area) = &who.admin_area {
        scope = scope.add(reports::Column::QueuePath.starts_with(&area.path));
    }
    if scope.is_empty() {
        return Err(ApiError::forbidden());
    }
    let states = if f.states.is_empty() {
        vec![
            ReportStatus::Submitted,
            ReportStatus::Accepted,
            ReportStatus::InProgress,
            ReportStatus::Escalated,
            ReportStatus::Suspended,
        ]
    } else {
        f.states
    };
    let now = now_ms();
    let mut q = reports::Entity::find()
        .filter(scope)
        .filter(reports::Column::Status.is_in(states.iter().map(|s| s.as_str())))
        .order_by_asc(sort_key())
        .order_by_asc(reports::Column::Id)
        .limit(limit + 1);
    if let Some(g) = &f.grid {
        q = q.filter(reports::Column::QueueCode.eq(g.as_str()));
    }
    if let Some(c) = &f.category {
        q = q.filter(reports::Column::Category.eq(c.as_str()));
    }
    q = match f.light {
        None => q,
        Some(Light::Red) => q.filter(reports::Column::Deadline.lt(now)),
        Some(Light::Yellow) => q
            .filter(reports::Column::Deadline.gte(now))
            .filter(yellow_or_worse(now)),
        Some(Light::Green) => q.filter(
            Condition::any()
                .add(reports::Column::Deadline.is_null())
                .add(yellow_or_worse(now).not()),
        ),
    };
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any().add(Expr::expr(sort_key()).gt(k)).add(
                Condition::all()
                    .add(Expr::expr(sort_key()).eq(k))
                    .add(reports::Column::Id.gt(id)),
            ),
        );
    }
    let rows = q.all(&state.db).await?;
    page(state, who, rows, limit, |r| {
        r.deadline.unwrap_or(r.submitted_at)
    })
    .await
}
