//! What a caller sees of wishes: one wish, the wall, their own, the community's queue and
//! the expired wishes that `GET /worker/tasks` carries.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::access::{can_view, decide_for, is_insider, relations};
use super::dto::*;
use super::status::{WishAction, WishStatus};
use crate::auth::Principal;
use crate::cases::dto::{LocationOut, PhotoView, PlaceRef};
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult};
use crate::grids::router::Snapshot;
use crate::paging::parse_cursor;
use crate::timeline;
use crate::util::rfc3339;

use entity::wishes;

pub async fn find(db: &impl ConnectionTrait, id: &str) -> ApiResult<wishes::Model> {
    wishes::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The wish as `who` may see it (404 when they may not).
pub async fn view_by_id(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    with_timeline: bool,
) -> ApiResult<WishView> {
    let w = find(&env.conn, id).await?;
    if !can_view(who, &w) {
        return Err(ApiError::not_found());
    }
    let snap = env.router.snapshot();
    let insider = is_insider(who, &w);
    let mut view = render(env, who, &snap, w).await?;
    if with_timeline && insider {
        view.timeline = Some(timeline::load(&env.conn, "wish", id).await?);
    }
    Ok(view)
}

pub(super) async fn nickname_phone(
    env: &Env<'_>,
    user_id: &str,
) -> ApiResult<Option<entity::users::Model>> {
    Ok(entity::users::Entity::find_by_id(user_id.to_string())
        .one(env.db)
        .await?)
}

/// Renders a wish for `who`: identity and the exact point only for insiders.
pub async fn render(
    env: &Env<'_>,
    who: &Principal,
    snap: &Snapshot,
    w: wishes::Model,
) -> ApiResult<WishView> {
    let mut views = render_many(env, who, snap, vec![w]).await?;
    views.pop().ok_or_else(ApiError::not_found)
}

/// Renders many wishes with two queries in all (the insiders' people, the photos), not up to
/// three per wish.
pub async fn render_many(
    env: &Env<'_>,
    who: &Principal,
    snap: &Snapshot,
    rows: Vec<wishes::Model>,
) -> ApiResult<Vec<WishView>> {
    let wanted: BTreeSet<String> = rows
        .iter()
        .filter(|w| is_insider(who, w))
        .flat_map(|w| std::iter::once(w.wisher_id.clone()).chain(w.claimant_id.clone()))
        .collect();
    let people: HashMap<String, entity::users::Model> = if wanted.is_empty() {
        HashMap::new()
    } else {
        entity::users::Entity::find()
            .filter(entity::users::Column::Id.is_in(wanted))
            .all(&env.conn)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect()
    };
    let ids: Vec<String> = rows.iter().map(|w| w.id.clone()).collect();
    let mut photos = crate::uploads::attached_many(&env.conn, "wish", &ids).await?;
    Ok(rows
        .into_iter()
        .map(|w| {
            let photo_ids = photos.remove(&w.id).unwrap_or_default();
            render_loaded(env, who, snap, w, &people, photo_ids)
        })
        .collect())
}

/// The view of a wish whose people and photo ids are already loaded (no I/O).
fn render_loaded(
    env: &Env<'_>,
    who: &Principal,
    snap: &Snapshot,
    w: wishes::Model,
    people: &HashMap<String, entity::users::Model>,
    photo_ids: Vec<String>,
) -> WishView {
    let insider = is_insider(who, &w);
    let admin = who.administers_path(&w.queue_path);
    let (wisher, location, claimant) = if insider {
        let wisher = people.get(&w.wisher_id).map(|u| WisherContact {
            nickname: u.nickname.clone(),
            phone: env.keys.user_phone(u),
        });
        let claimant = w
            .claimant_id
            .as_ref()
            .and_then(|cid| people.get(cid))
            .map(|u| ClaimantView {
                nickname: u.nickname.clone(),
                unit: w.claimant_unit.clone(),
            });
        let location = LocationOut {
            lat: w.lat,
            lng: w.lng,
            coord: "gcj02",
        };
        (wisher, Some(location), claimant)
    } else {
        (None, None, None)
    };
    let photos = photo_ids
        .into_iter()
        .map(|id| PhotoView {
            url: env.photos.signed(&id),
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
    WishView {
        status: w.status,
        kind: w.kind,
        id: w.id,
        case_no: w.case_no,
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
    }
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
    env: &Env<'_>,
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
    let snap = env.router.snapshot();
    let items = render_many(env, who, &snap, rows).await?;
    Ok(WishPage { items, next_cursor })
}

/// The wish wall: published wishes of an area (all areas without one), newest first.
pub async fn wall(
    env: &Env<'_>,
    who: &Principal,
    area: Option<&str>,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<WishPage> {
    let mut q = wishes::Entity::find()
        .filter(wishes::Column::Status.eq(WishStatus::Approved))
        .order_by_desc(wishes::Column::ApprovedAt)
        .order_by_desc(wishes::Column::Id)
        .limit(limit + 1);
    if let Some(code) = area.map(str::trim).filter(|c| !c.is_empty()) {
        let snap = env.router.snapshot();
        let a = snap
            .areas
            .get(code)
            .ok_or_else(|| ApiError::invalid("area", "no such area"))?;
        q = q.filter(wishes::Column::QueuePath.starts_with(&a.path));
    }
    if let Some(c) = after_cursor(wishes::Column::ApprovedAt, cursor, true)? {
        q = q.filter(c);
    }
    let rows = q.all(env.db).await?;
    page(env, who, rows, limit, |w| w.approved_at.unwrap_or(0)).await
}

/// The caller's wishes: those they posted and those they claimed, newest first.
pub async fn mine(
    env: &Env<'_>,
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
    let rows = q.all(env.db).await?;
    page(env, who, rows, limit, |w| w.submitted_at).await
}

/// The community's wish queue: their grids' wishes awaiting review and those expired into
/// the queue (by default), oldest first. An admin sees their area's.
pub async fn worker_queue(
    env: &Env<'_>,
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
        .filter(wishes::Column::Status.is_in(states))
        .order_by_asc(wishes::Column::SubmittedAt)
        .order_by_asc(wishes::Column::Id)
        .limit(limit + 1);
    if let Some(c) = after_cursor(wishes::Column::SubmittedAt, cursor, false)? {
        q = q.filter(c);
    }
    let rows = q.all(&env.conn).await?;
    page(env, who, rows, limit, |w| w.submitted_at).await
}

/// The expired wishes that sit in the caller's grid queues (at most `limit`), optionally of one
/// grid: the wish half of `GET /worker/tasks`.
pub async fn expired_tasks(
    env: &Env<'_>,
    who: &Principal,
    grid: Option<&str>,
    limit: u64,
) -> ApiResult<Vec<WishView>> {
    let mut items = worker_queue(env, who, vec![WishStatus::Expired], limit, None)
        .await?
        .items;
    if let Some(grid) = grid {
        items.retain(|w| w.grid.code == grid);
    }
    Ok(items)
}
