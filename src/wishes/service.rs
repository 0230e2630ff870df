//! Wish rules around the pure state machine: submission (checks, routing, one transaction
//! with timeline and outbox rows), actions with optimistic concurrency (the claim race has
//! exactly one winner), visibility (the wall shows no identity), the background
//! transitions (expiry into the grid's queue, auto-confirmation) and volunteer
//! self-registration.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};

use super::dto::*;
use super::status::{self, Actor, DecisionContext, TransitionError, WishAction, WishStatus};
use crate::auth::Principal;
use crate::content::{check_content, optional_text, text_field};
use crate::error::{ApiError, ApiResult, Code};
use crate::grids::geo::Coordinate;
use crate::grids::router::Snapshot;
use crate::idempotency::{self, Prior};
use crate::notify::outbox;
use crate::reports::dto::{LocationOut, PhotoView, PlaceRef};
use crate::state::AppState;
use crate::timeline::{self, Entry};
use crate::util::{new_id, now_ms, parse_cursor, parse_rfc3339, rfc3339};

use entity::volunteer_requests as vr;
use entity::wishes;

pub const MAX_TITLE: usize = 100;
pub const MAX_DESCRIPTION: usize = 2_000;
const MAX_DEADLINE_MS: i64 = 365 * 86_400_000;

/// The cap in yuan as people read it: 30000 → "300.00".
fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Checks the estimated value against the configured cap (422 naming the cap).
pub fn check_value(value: Option<i64>, cap_fen: i64) -> ApiResult<()> {
    match value {
        Some(v) if v < 0 => Err(ApiError::invalid(
            "estimated_value_fen",
            "must not be negative",
        )),
        Some(v) if v > cap_fen => {
            let cap = yuan(cap_fen);
            let mut e = ApiError::new(
                Code::WishValueOverCap,
                format!("A wish may be worth at most ¥{cap} ({cap_fen} fen)."),
                format!("微心愿的估计价值不能超过 {cap} 元。"),
            )
            .field(
                "estimated_value_fen",
                format!("at most {cap_fen} fen (¥{cap})"),
            );
            e.details = Some(Box::new(serde_json::json!({ "cap_fen": cap_fen })));
            Err(e)
        }
        _ => Ok(()),
    }
}

/// Submits a wish; with an idempotency key a retry returns the first wish.
#[tracing::instrument(skip_all, fields(user = %who.id()))]
pub async fn submit(
    state: &AppState,
    who: &Principal,
    input: NewWish,
    key: Option<&str>,
) -> ApiResult<WishView> {
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
    let title = text_field("title", Some(&input.title), MAX_TITLE)?;
    let description = text_field("description", Some(&input.description), MAX_DESCRIPTION)?;
    check_value(input.estimated_value_fen, state.settings.wish_cap_fen)?;
    if input.photo_ids.len() > 9 {
        return Err(ApiError::invalid("photo_ids", "at most 9 photos"));
    }
    let now = now_ms();
    let deadline = match input.deadline.as_deref() {
        None => now + state.settings.wish_claim_window.as_millis() as i64,
        Some(text) => {
            let at = parse_rfc3339(text)
                .ok_or_else(|| ApiError::invalid("deadline", "an RFC 3339 time is required"))?;
            if at <= now || at > now + MAX_DEADLINE_MS {
                return Err(ApiError::invalid(
                    "deadline",
                    "must lie in the future, within a year",
                ));
            }
            at
        }
    };
    let point = Coordinate::new(input.location.lat, input.location.lng, input.location.coord)
        .map_err(|e| ApiError::invalid("location", e.to_string()))?;
    let gcj = point.to_gcj02();
    let route = state
        .router
        .route(&point)
        .ok_or_else(|| ApiError::unavailable("the area tree (no areas imported yet)"))?;
    let flagged = check_content(state, who, &format!("{title}\n{description}")).await?;

    let id = new_id();
    let model = wishes::ActiveModel {
        id: Set(id.clone()),
        wisher_id: Set(who.id().into()),
        title: Set(title),
        description: Set(description),
        kind: Set(input.kind.as_str().into()),
        estimated_value_fen: Set(input.estimated_value_fen),
        lat: Set(gcj.lat()),
        lng: Set(gcj.lng()),
        grid_code: Set(route.queue.code.clone()),
        queue_path: Set(route.queue.path.clone()),
        status: Set(WishStatus::Submitted.as_str().into()),
        deadline: Set(deadline),
        claimant_id: Set(None),
        claimant_unit: Set(None),
        reason: Set(None),
        flagged: Set(flagged),
        expired_to_queue: Set(false),
        submitted_at: Set(now),
        approved_at: Set(None),
        claimed_at: Set(None),
        fulfilled_at: Set(None),
        fulfil_note: Set(None),
        closed_at: Set(None),
        version: Set(0),
        updated_at: Set(now),
    };
    let txn = state.db.begin().await?;
    if let Some(key) = key {
        if let Err(e) = idempotency::claim(&txn, who.id(), key, &request_hash, &id).await {
            drop(txn);
            // A concurrent retry won the key: answer with its wish.
            let first =
                idempotency::winner_after_failed_claim(&state.db, who.id(), key, &request_hash, e)
                    .await?;
            return view_by_id(state, who, &first, false).await;
        }
    }
    model.insert(&txn).await?;
    crate::uploads::attach(&txn, who.id(), &input.photo_ids, "wish", &id).await?;
    timeline::record(
        &txn,
        Entry {
            subject_kind: "wish",
            subject_id: &id,
            actor_id: Some(who.id()),
            actor_role: "wisher",
            action: "submit",
            from: "",
            to: WishStatus::Submitted.as_str(),
            note: None,
            data: Some(serde_json::json!({ "grid": route.queue.code })),
            at: now,
        },
    )
    .await?;
    outbox::enqueue(
        &txn,
        &outbox::NewEvent {
            kind: outbox::EventKind::WishSubmitted,
            queue_code: &route.queue.code,
            queue_path: &route.queue.path,
            subject_id: &id,
            case_no: None,
            status: WishStatus::Submitted.as_str(),
            notify_user: None,
            at: now,
        },
    )
    .await?;
    txn.commit().await?;
    state.outbox_written();
    view_by_id(state, who, &id, false).await
}

/// The caller's relations to a wish, for the state machine.
pub fn relations(who: &Principal, w: &wishes::Model) -> Vec<Actor> {
    let mut out = Vec::new();
    if w.wisher_id == who.id() {
        // Nobody reviews, claims or confirms as anyone but the wisher on their own wish.
        out.push(Actor::Wisher);
        return out;
    }
    if w.claimant_id.as_deref() == Some(who.id()) {
        out.push(Actor::Claimant);
    }
    if who.is_volunteer() {
        out.push(Actor::Volunteer);
    }
    if who.works_grid(&w.grid_code) {
        out.push(Actor::GridWorker);
    }
    if who.administers_path(&w.queue_path) {
        out.push(Actor::Admin);
    }
    out
}

/// Sees everything about the wish, contact details included: the wisher, the claimant
/// (only once they have claimed it) and the community of its grid.
fn is_insider(who: &Principal, w: &wishes::Model) -> bool {
    relations(who, w)
        .iter()
        .any(|r| !matches!(r, Actor::Volunteer | Actor::Other | Actor::System))
}

/// Insiders see a wish in every state; everyone else only while it is on the wall.
pub fn can_view(who: &Principal, w: &wishes::Model) -> bool {
    is_insider(who, w) || status_of(w).is_published()
}

fn status_of(w: &wishes::Model) -> WishStatus {
    WishStatus::parse(&w.status).unwrap_or(WishStatus::Submitted)
}

fn context(w: &wishes::Model) -> DecisionContext {
    DecisionContext {
        expired_to_queue: w.expired_to_queue,
    }
}

fn decide_for(
    w: &wishes::Model,
    action: WishAction,
    relations: &[Actor],
) -> Result<(status::Transition, Actor), TransitionError> {
    let mut best = TransitionError::Forbidden;
    for actor in relations {
        match status::decide(status_of(w), action, *actor, &context(w)) {
            Ok(t) => return Ok((t, *actor)),
            Err(e @ TransitionError::InvalidTransition { .. }) => best = e,
            Err(TransitionError::Forbidden) => {}
        }
    }
    Err(best)
}

fn actor_role(actor: Actor) -> &'static str {
    match actor {
        Actor::Wisher => "wisher",
        Actor::Claimant | Actor::Volunteer => "claimant",
        Actor::GridWorker => "worker",
        Actor::Admin => "admin",
        Actor::System => "system",
        Actor::Other => "other",
    }
}

/// Applies one action; retried on a concurrent change so that of racing requests exactly
/// one wins and the others get the answer for the state they find (409 for a second claim).
#[tracing::instrument(skip_all, fields(wish = %id, action = %req.action))]
pub async fn act(
    state: &AppState,
    who: &Principal,
    id: &str,
    req: &WishActionRequest,
) -> ApiResult<WishView> {
    let action = WishAction::parse(&req.action)
        .filter(|a| a.is_client_action())
        .ok_or_else(|| ApiError::invalid("action", "unknown action"))?;
    for _ in 0..3 {
        let w = find(state, id).await?;
        if !can_view(who, &w) {
            // A volunteer who saw the wish on the wall and lost the race to claim it hears
            // that it is taken (409), not that it never existed.
            if action == WishAction::Claim && who.is_volunteer() && w.approved_at.is_some() {
                return Err(ApiError::invalid_transition(&w.status, action.as_str()));
            }
            return Err(ApiError::not_found());
        }
        let (t, actor) = decide_for(&w, action, &relations(who, &w)).map_err(|e| match e {
            TransitionError::Forbidden => ApiError::forbidden(),
            TransitionError::InvalidTransition { from, action } => {
                ApiError::invalid_transition(from.as_str(), action.as_str())
            }
        })?;
        let input = ActionInput::parse(action, req, who)?;
        if apply(state, &w, Some(who.id()), actor, action, t, input).await? {
            return view_by_id(state, who, id, true).await;
        }
    }
    Err(ApiError::invalid_transition("changing", &req.action))
}

/// The validated fields an action carries.
#[derive(Default)]
struct ActionInput {
    note: Option<String>,
    unit: Option<String>,
    photos: Vec<String>,
}

impl ActionInput {
    fn parse(action: WishAction, req: &WishActionRequest, who: &Principal) -> ApiResult<Self> {
        let mut input = ActionInput::default();
        match action {
            WishAction::Reject => {
                input.note = Some(text_field("reason", req.reason.as_deref(), 500)?)
            }
            WishAction::Claim => {
                input.unit = optional_text("unit", req.unit.as_deref(), 200)?
                    .or_else(|| who.user.volunteer_unit.clone());
            }
            WishAction::Fulfil => {
                input.note = Some(text_field("note", req.note.as_deref(), MAX_DESCRIPTION)?);
                if req.photo_ids.is_empty() {
                    return Err(ApiError::invalid("photo_ids", "a proof photo is required"));
                }
                input.photos = req.photo_ids.clone();
            }
            WishAction::Release | WishAction::Cancel => {
                input.note = optional_text("reason", req.reason.as_deref(), 500)?;
            }
            _ => {}
        }
        Ok(input)
    }
}

/// Writes a decided transition with its timeline and outbox rows in one transaction, by an
/// `UPDATE … WHERE version = ?`; `Ok(false)` when someone else changed the wish first.
async fn apply(
    state: &AppState,
    w: &wishes::Model,
    actor_id: Option<&str>,
    actor: Actor,
    action: WishAction,
    t: status::Transition,
    input: ActionInput,
) -> ApiResult<bool> {
    use wishes::Column as C;
    let now = now_ms();
    let mut update = wishes::Entity::update_many()
        .col_expr(C::Status, Expr::value(t.to.as_str()))
        .col_expr(C::Version, Expr::value(w.version + 1))
        .col_expr(C::UpdatedAt, Expr::value(now));
    let mut data = serde_json::Map::new();
    match action {
        WishAction::Approve => update = update.col_expr(C::ApprovedAt, Expr::value(now)),
        WishAction::Reject => update = update.col_expr(C::Reason, Expr::value(input.note.clone())),
        WishAction::Claim => {
            update = update
                .col_expr(C::ClaimantId, Expr::value(actor_id.map(str::to_owned)))
                .col_expr(C::ClaimantUnit, Expr::value(input.unit.clone()))
                .col_expr(C::ClaimedAt, Expr::value(now));
            if let Some(unit) = &input.unit {
                data.insert("unit".into(), unit.clone().into());
            }
        }
        WishAction::Release => {
            update = update
                .col_expr(C::ClaimantId, Expr::value(Option::<String>::None))
                .col_expr(C::ClaimantUnit, Expr::value(Option::<String>::None))
                .col_expr(C::ClaimedAt, Expr::value(Option::<i64>::None));
        }
        WishAction::Fulfil => {
            update = update
                .col_expr(C::FulfilNote, Expr::value(input.note.clone()))
                .col_expr(C::FulfilledAt, Expr::value(now));
        }
        WishAction::Confirm | WishAction::AutoConfirm | WishAction::Cancel => {
            update = update.col_expr(C::ClosedAt, Expr::value(now));
        }
        WishAction::Expire => update = update.col_expr(C::ExpiredToQueue, Expr::value(true)),
    }
    let txn = state.db.begin().await?;
    let changed = update
        .filter(C::Id.eq(&w.id))
        .filter(C::Version.eq(w.version))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Ok(false);
    }
    if let (false, Some(owner)) = (input.photos.is_empty(), actor_id) {
        crate::uploads::attach(&txn, owner, &input.photos, "wish", &w.id).await?;
        data.insert("photo_ids".into(), serde_json::json!(input.photos));
    }
    let note = match action {
        WishAction::AutoConfirm => Some("No objection within the confirmation window".into()),
        WishAction::Expire => Some("Unclaimed past its deadline: now a grid task".into()),
        _ => input.note,
    };
    timeline::record(
        &txn,
        Entry {
            subject_kind: "wish",
            subject_id: &w.id,
            actor_id,
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
    let (kind, tell_wisher) = event_kind(action);
    outbox::enqueue(
        &txn,
        &outbox::NewEvent {
            kind,
            queue_code: &w.grid_code,
            queue_path: &w.queue_path,
            subject_id: &w.id,
            case_no: None,
            status: t.to.as_str(),
            notify_user: tell_wisher.then_some(w.wisher_id.as_str()),
            at: now,
        },
    )
    .await?;
    txn.commit().await?;
    state.outbox_written();
    Ok(true)
}

/// The outbox event of an action, and whether the wisher is told by subscribe message.
fn event_kind(action: WishAction) -> (outbox::EventKind, bool) {
    use outbox::EventKind as K;
    match action {
        WishAction::Approve => (K::WishPublished, true),
        WishAction::Reject => (K::WishRejected, true),
        WishAction::Claim => (K::WishClaimed, true),
        WishAction::Release => (K::WishReleased, false),
        WishAction::Fulfil => (K::WishFulfilled, true),
        WishAction::Confirm | WishAction::AutoConfirm => (K::WishClosed, false),
        WishAction::Cancel => (K::WishCancelled, false),
        WishAction::Expire => (K::WishExpired, false),
    }
}

/// Runs a system action on every wish `select` finds (at most 500 a pass).
async fn system_pass(state: &AppState, action: WishAction, select: Condition) -> ApiResult<usize> {
    let due = wishes::Entity::find()
        .filter(select)
        .limit(500)
        .all(&state.db)
        .await?;
    let mut done = 0;
    for w in due {
        let Ok(t) = status::decide(status_of(&w), action, Actor::System, &context(&w)) else {
            continue;
        };
        // Someone acting at the same moment wins; the job finds the wish again next pass.
        if apply(
            state,
            &w,
            None,
            Actor::System,
            action,
            t,
            ActionInput::default(),
        )
        .await?
        {
            done += 1;
        }
    }
    Ok(done)
}

/// Approved wishes unclaimed past their deadline become tasks in the grid's queue (a job;
/// `now` is a parameter so tests can drive the clock).
pub async fn expire_unclaimed(state: &AppState, now: i64) -> ApiResult<usize> {
    system_pass(
        state,
        WishAction::Expire,
        Condition::all()
            .add(wishes::Column::Status.eq(WishStatus::Approved.as_str()))
            .add(wishes::Column::Deadline.lt(now)),
    )
    .await
}

/// Fulfilled wishes the wisher did not confirm within the confirmation window close by
/// themselves (a job).
pub async fn auto_confirm(state: &AppState, now: i64) -> ApiResult<usize> {
    let cutoff = now - state.settings.confirm_window.as_millis() as i64;
    system_pass(
        state,
        WishAction::AutoConfirm,
        Condition::all()
            .add(wishes::Column::Status.eq(WishStatus::Fulfilled.as_str()))
            .add(wishes::Column::FulfilledAt.lte(cutoff)),
    )
    .await
}

async fn find(state: &AppState, id: &str) -> ApiResult<wishes::Model> {
    wishes::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The wish as `who` may see it (404 when they may not).
pub async fn view_by_id(
    state: &AppState,
    who: &Principal,
    id: &str,
    with_timeline: bool,
) -> ApiResult<WishView> {
    let w = find(state, id).await?;
    if !can_view(who, &w) {
        return Err(ApiError::not_found());
    }
    let snap = state.router.snapshot();
    let insider = is_insider(who, &w);
    let mut view = render(state, who, &snap, w).await?;
    if with_timeline && insider {
        view.timeline = Some(timeline::load(&state.db, "wish", id).await?);
    }
    Ok(view)
}

async fn nickname_phone(
    state: &AppState,
    user_id: &str,
) -> ApiResult<Option<entity::users::Model>> {
    Ok(entity::users::Entity::find_by_id(user_id.to_string())
        .one(&state.db)
        .await?)
}

/// Renders a wish for `who`: identity and the exact point only for insiders.
pub async fn render(
    state: &AppState,
    who: &Principal,
    snap: &Snapshot,
    w: wishes::Model,
) -> ApiResult<WishView> {
    let insider = is_insider(who, &w);
    let admin = who.administers_path(&w.queue_path);
    let (wisher, location, claimant) = if insider {
        let wisher = nickname_phone(state, &w.wisher_id)
            .await?
            .map(|u| WisherContact {
                nickname: u.nickname,
                phone: u.phone,
            });
        let claimant = match &w.claimant_id {
            None => None,
            Some(cid) => nickname_phone(state, cid).await?.map(|u| ClaimantView {
                nickname: u.nickname,
                unit: w.claimant_unit.clone(),
            }),
        };
        let location = LocationOut {
            lat: w.lat,
            lng: w.lng,
            coord: "gcj02",
        };
        (wisher, Some(location), claimant)
    } else {
        (None, None, None)
    };
    let photos = crate::uploads::attached(&state.db, "wish", &w.id)
        .await?
        .into_iter()
        .map(|id| PhotoView {
            url: crate::uploads::signed_url(state, &id),
            id,
        })
        .collect();
    let rels = relations(who, &w);
    let available_actions = WishAction::ALL
        .iter()
        .filter(|a| a.is_client_action())
        .filter(|a| decide_for(&w, **a, &rels).is_ok())
        .map(|a| a.as_str().to_string())
        .collect();
    let grid = snap
        .areas
        .get(&w.grid_code)
        .map(|a| PlaceRef {
            code: a.code.clone(),
            name: a.name.clone(),
            level: a.level.as_str().into(),
        })
        .unwrap_or(PlaceRef {
            code: w.grid_code.clone(),
            name: String::new(),
            level: String::new(),
        });
    Ok(WishView {
        status: status_of(&w),
        kind: WishKind::parse(&w.kind).unwrap_or(WishKind::Goods),
        id: w.id,
        title: w.title,
        description: w.description,
        estimated_value_fen: w.estimated_value_fen,
        grid,
        deadline: rfc3339(w.deadline),
        submitted_at: rfc3339(w.submitted_at),
        approved_at: w.approved_at.map(rfc3339),
        claimed_at: w.claimed_at.map(rfc3339),
        fulfilled_at: w.fulfilled_at.map(rfc3339),
        closed_at: w.closed_at.map(rfc3339),
        expired_to_queue: w.expired_to_queue,
        reason: w.reason,
        fulfil_note: w.fulfil_note,
        photos,
        version: w.version,
        claimant,
        wisher,
        location,
        flagged: admin.then_some(w.flagged),
        available_actions,
        timeline: None,
    })
}

/// Keyset pagination over `(key desc|asc, id)`.
fn after_cursor(
    col: wishes::Column,
    cursor: Option<&str>,
    descending: bool,
) -> ApiResult<Option<Condition>> {
    let Some(c) = cursor else { return Ok(None) };
    let (k, id) = parse_cursor(c)?;
    Ok(Some(if descending {
        Condition::any().add(col.lt(k)).add(
            Condition::all()
                .add(col.eq(k))
                .add(wishes::Column::Id.lt(id)),
        )
    } else {
        Condition::any().add(col.gt(k)).add(
            Condition::all()
                .add(col.eq(k))
                .add(wishes::Column::Id.gt(id)),
        )
    }))
}

async fn page(
    state: &AppState,
    who: &Principal,
    mut rows: Vec<wishes::Model>,
    limit: u64,
    key: impl Fn(&wishes::Model) -> i64,
) -> ApiResult<WishPage> {
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|w| format!("{}_{}", key(w), w.id))
    } else {
        None
    };
    let snap = state.router.snapshot();
    let mut items = Vec::with_capacity(rows.len());
    for w in rows {
        items.push(render(state, who, &snap, w).await?);
    }
    Ok(WishPage { items, next_cursor })
}

/// The wish wall: published wishes of an area (all areas without one), newest first.
pub async fn wall(
    state: &AppState,
    who: &Principal,
    area: Option<&str>,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<WishPage> {
    let mut q = wishes::Entity::find()
        .filter(wishes::Column::Status.eq(WishStatus::Approved.as_str()))
        .order_by_desc(wishes::Column::ApprovedAt)
        .order_by_desc(wishes::Column::Id)
        .limit(limit + 1);
    if let Some(code) = area.map(str::trim).filter(|c| !c.is_empty()) {
        let snap = state.router.snapshot();
        let a = snap
            .areas
            .get(code)
            .ok_or_else(|| ApiError::invalid("area", "no such area"))?;
        q = q.filter(wishes::Column::QueuePath.starts_with(&a.path));
    }
    if let Some(c) = after_cursor(wishes::Column::ApprovedAt, cursor, true)? {
        q = q.filter(c);
    }
    let rows = q.all(&state.db).await?;
    page(state, who, rows, limit, |w| w.approved_at.unwrap_or(0)).await
}

/// The caller's wishes: those they posted and those they claimed, newest first.
pub async fn mine(
    state: &AppState,
    who: &Principal,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<WishPage> {
    let mut q = wishes::Entity::find()
        .filter(
            Condition::any()
                .add(wishes::Column::WisherId.eq(who.id()))
                .add(wishes::Column::ClaimantId.eq(who.id())),
        )
        .order_by_desc(wishes::Column::SubmittedAt)
        .order_by_desc(wishes::Column::Id)
        .limit(limit + 1);
    if let Some(c) = after_cursor(wishes::Column::SubmittedAt, cursor, true)? {
        q = q.filter(c);
    }
    let rows = q.all(&state.db).await?;
    page(state, who, rows, limit, |w| w.submitted_at).await
}

/// The community's wish queue: their grids' wishes awaiting review and those expired into
/// the queue (by default), oldest first. An admin sees their area's.
pub async fn worker_queue(
    state: &AppState,
    who: &Principal,
    states: Vec<WishStatus>,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<WishPage> {
    let grids: Vec<String> = who.worker_grids().map(str::to_owned).collect();
    let mut scope = Condition::any();
    if !grids.is_empty() {
        scope = scope.add(wishes::Column::GridCode.is_in(grids));
    }
    if let Some(area) = &who.admin_area {
        scope = scope.add(wishes::Column::QueuePath.starts_with(&area.path));
    }
    if scope.is_empty() {
        return Err(ApiError::forbidden());
    }
    let states = if states.is_empty() {
        vec![WishStatus::Submitted, WishStatus::Expired]
    } else {
        states
    };
    let mut q = wishes::Entity::find()
        .filter(scope)
        .filter(wishes::Column::Status.is_in(states.iter().map(|s| s.as_str())))
        .order_by_asc(wishes::Column::SubmittedAt)
        .order_by_asc(wishes::Column::Id)
        .limit(limit + 1);
    if let Some(c) = after_cursor(wishes::Column::SubmittedAt, cursor, false)? {
        q = q.filter(c);
    }
    let rows = q.all(&state.db).await?;
    page(state, who, rows, limit, |w| w.submitted_at).await
}

/// The expired wishes that sit in the caller's grid queues (at most `limit`), optionally of one
/// grid: the wish half of `GET /worker/tasks`.
pub async fn expired_tasks(
    state: &AppState,
    who: &Principal,
    grid: Option<&str>,
    limit: u64,
) -> ApiResult<Vec<WishView>> {
    let mut items = worker_queue(state, who, vec![WishStatus::Expired], limit, None)
        .await?
        .items;
    if let Some(grid) = grid {
        items.retain(|w| w.grid.code == grid);
    }
    Ok(items)
}

// --- Volunteers -------------------------------------------------------------------------

async fn request_view(state: &AppState, r: vr::Model) -> ApiResult<VolunteerRequestView> {
    let nickname = nickname_phone(state, &r.user_id)
        .await?
        .map(|u| u.nickname)
        .unwrap_or_default();
    Ok(VolunteerRequestView {
        id: r.id,
        user_id: r.user_id,
        nickname,
        unit: r.unit,
        area_code: r.area_code,
        status: r.status,
        created_at: rfc3339(r.created_at),
        decided_at: r.decided_at.map(rfc3339),
    })
}

/// A WeChat user asks to become a volunteer for a unit; `Ok((view, created))`. A second
/// application while one is pending updates it instead of adding another.
pub async fn apply_volunteer(
    state: &AppState,
    who: &Principal,
    input: VolunteerApplication,
) -> ApiResult<(VolunteerRequestView, bool)> {
    if !who.is_resident() {
        return Err(ApiError::forbidden());
    }
    if who.is_volunteer() {
        return Err(ApiError::new(
            Code::AlreadyEnrolled,
            "You are already a volunteer.",
            "您已经是志愿者。",
        ));
    }
    let unit = text_field("unit", Some(&input.unit), 200)?;
    let snap = state.router.snapshot();
    let area = snap
        .areas
        .get(input.area_code.trim())
        .ok_or_else(|| ApiError::invalid("area_code", "no such area"))?;
    let now = now_ms();
    let pending = vr::Entity::find()
        .filter(vr::Column::UserId.eq(who.id()))
        .filter(vr::Column::Status.eq("pending"))
        .one(&state.db)
        .await?;
    let (row, created) = match pending {
        Some(p) => {
            let mut am: vr::ActiveModel = p.into();
            am.unit = Set(unit);
            am.area_code = Set(area.code.clone());
            am.area_path = Set(area.path.clone());
            (am.update(&state.db).await?, false)
        }
        None => (
            vr::ActiveModel {
                id: Set(new_id()),
                user_id: Set(who.id().into()),
                unit: Set(unit),
                area_code: Set(area.code.clone()),
                area_path: Set(area.path.clone()),
                status: Set("pending".into()),
                decided_by: Set(None),
                decided_at: Set(None),
                created_at: Set(now),
            }
            .insert(&state.db)
            .await?,
            true,
        ),
    };
    Ok((request_view(state, row).await?, created))
}

/// Volunteer applications in the admin's area, newest first (`status` default pending).
pub async fn volunteer_requests(
    state: &AppState,
    who: &Principal,
    status: Option<&str>,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<VolunteerRequestPage> {
    let area = who.admin_area.as_ref().ok_or_else(ApiError::forbidden)?;
    let status = status.unwrap_or("pending");
    if !matches!(status, "pending" | "approved") {
        return Err(ApiError::invalid("status", "pending or approved"));
    }
    let mut q = vr::Entity::find()
        .filter(vr::Column::AreaPath.starts_with(&area.path))
        .filter(vr::Column::Status.eq(status))
        .order_by_desc(vr::Column::CreatedAt)
        .order_by_desc(vr::Column::Id)
        .limit(limit + 1);
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any().add(vr::Column::CreatedAt.lt(k)).add(
                Condition::all()
                    .add(vr::Column::CreatedAt.eq(k))
                    .add(vr::Column::Id.lt(id)),
            ),
        );
    }
    let mut rows = q.all(&state.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", r.created_at, r.id))
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(request_view(state, r).await?);
    }
    Ok(VolunteerRequestPage { items, next_cursor })
}

/// An admin above the applicant's area approves: the user becomes a volunteer of that unit.
pub async fn approve_volunteer(
    state: &AppState,
    who: &Principal,
    id: &str,
) -> ApiResult<VolunteerRequestView> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let r = vr::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .filter(|r| who.administers_path(&r.area_path))
        .ok_or_else(ApiError::not_found)?;
    if r.status != "pending" {
        return Err(ApiError::invalid_transition(&r.status, "approve"));
    }
    let now = now_ms();
    let txn = state.db.begin().await?;
    let won = vr::Entity::update_many()
        .col_expr(vr::Column::Status, Expr::value("approved"))
        .col_expr(vr::Column::DecidedBy, Expr::value(who.id()))
        .col_expr(vr::Column::DecidedAt, Expr::value(now))
        .filter(vr::Column::Id.eq(&r.id))
        .filter(vr::Column::Status.eq("pending"))
        .exec(&txn)
        .await?
        .rows_affected;
    if won == 0 {
        return Err(ApiError::invalid_transition("approved", "approve"));
    }
    entity::users::Entity::update_many()
        .col_expr(entity::users::Column::IsVolunteer, Expr::value(true))
        .col_expr(
            entity::users::Column::VolunteerUnit,
            Expr::value(r.unit.clone()),
        )
        .filter(entity::users::Column::Id.eq(&r.user_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let r = vr::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    request_view(state, r).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_inclusive_and_named_in_the_error() {
        assert!(check_value(None, 30_000).is_ok());
        assert!(check_value(Some(30_000), 30_000).is_ok());
        let e = check_value(Some(30_001), 30_000).unwrap_err();
        assert_eq!(e.code, Code::WishValueOverCap);
        assert!(e.message.contains("300.00"), "{}", e.message);
        assert!(e.message_zh.contains("300.00"), "{}", e.message_zh);
        assert_eq!(
            check_value(Some(-1), 30_000).unwrap_err().code,
            Code::ValidationFailed
        );
        assert_eq!(yuan(12_345), "123.45");
    }
}
