//! `POST /wishes/{id}/actions` and the wish jobs: decide through the caller's relations,
//! validate, plan, write with optimistic concurrency. Of racing claims exactly one wins; the
//! others get the answer for the state they find (409).

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use super::access::{can_view, context, decide_for, relations};
use super::dto::*;
use super::plan::{self, ActionInput, Change};
use super::status::{self, Actor, TransitionError, WishAction, WishStatus};
use super::views::{find, view_by_id};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::cases::write;
use crate::error::{ApiError, ApiResult};
use crate::util::now_ms;

use entity::wishes;

/// Applies one action; retried on a concurrent change so that of racing requests exactly
/// one wins and the others get the answer for the state they find (409 for a second claim).
#[tracing::instrument(skip_all, fields(wish = %id, action = %req.action))]
pub async fn act(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    req: &WishActionRequest,
) -> ApiResult<WishView> {
    let action = WishAction::parse(&req.action)
        .filter(|a| a.is_client_action())
        .ok_or_else(|| ApiError::invalid("action", "unknown action"))?;
    for _ in 0..3 {
        let w = find(env.db, id).await?;
        if !can_view(who, &w) {
            // A volunteer who saw the wish on the wall and lost the race to claim it hears
            // that it is taken (409), not that it never existed.
            if action == WishAction::Claim && who.is_volunteer() && w.approved_at.is_some() {
                return Err(ApiError::invalid_transition(
                    w.status.as_str(),
                    action.as_str(),
                ));
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
        let now = now_ms();
        let change = plan::plan(t, action, actor, Some(who.id()), input, now);
        if commit(env, &w, &change, Some(who.id()), now).await? {
            return view_by_id(env, who, id, true).await;
        }
    }
    Err(ApiError::invalid_transition("changing", &req.action))
}

/// Writes a planned change and wakes the relay; `Ok(false)` when someone else changed the
/// wish first.
async fn commit(
    env: &Env<'_>,
    w: &wishes::Model,
    change: &Change,
    actor_id: Option<&str>,
    now: i64,
) -> ApiResult<bool> {
    let mut write = change.to_write(w, actor_id, now);
    // Staff decisions on a wish are audited with the change (MLPS).
    if let (Some(actor), true) = (actor_id, matches!(change.actor_role, "admin" | "worker")) {
        let record = crate::compliance::audit::Record::ok(
            actor,
            change.actor_role,
            &format!("wish.{}", change.action.as_str()),
            Some(format!("wish:{}", w.id)),
        );
        write
            .rows
            .push(crate::compliance::audit::insert_statement(&record, now));
    }
    if !write::apply(env.db, write).await? {
        return Ok(false);
    }
    env.outbox.written();
    Ok(true)
}

/// Runs a system action on every wish `select` finds (at most 500 a pass).
async fn system_pass(env: &Env<'_>, action: WishAction, select: Condition) -> ApiResult<usize> {
    let due = wishes::Entity::find()
        .filter(select)
        .limit(500)
        .all(env.db)
        .await?;
    let mut done = 0;
    for w in due {
        let Ok(t) = status::decide(w.status, action, Actor::System, &context(&w)) else {
            continue;
        };
        let now = now_ms();
        let change = plan::plan(t, action, Actor::System, None, ActionInput::default(), now);
        // Someone acting at the same moment wins; the job finds the wish again next pass.
        if commit(env, &w, &change, None, now).await? {
            done += 1;
        }
    }
    Ok(done)
}

/// Approved wishes unclaimed past their deadline become tasks in the grid's queue (a job;
/// `now` is a parameter so tests can drive the clock).
pub async fn expire_unclaimed(env: &Env<'_>, now: i64) -> ApiResult<usize> {
    system_pass(
        env,
        WishAction::Expire,
        Condition::all()
            .add(wishes::Column::Status.eq(WishStatus::Approved))
            .add(wishes::Column::Deadline.lt(now)),
    )
    .await
}

/// Fulfilled wishes the wisher did not confirm within the confirmation window close by
/// themselves (a job).
pub async fn auto_confirm(env: &Env<'_>, now: i64) -> ApiResult<usize> {
    let cutoff = now - env.confirm_window_ms;
    system_pass(
        env,
        WishAction::AutoConfirm,
        Condition::all()
            .add(wishes::Column::Status.eq(WishStatus::Fulfilled))
            .add(wishes::Column::FulfilledAt.lte(cutoff)),
    )
    .await
}
