//! `POST /reports/{id}/actions`: load, decide (`status::decide` through the caller's
//! relations), validate the request for that action, look up what the plan needs, plan, and
//! write with optimistic concurrency — retried on a concurrent change, so of two racing
//! requests exactly one wins and the other gets the answer for the state it finds.

use sea_orm::EntityTrait;

use super::access::{can_view, context, decide_for, relations};
use super::calendar::TimeLimit;
use super::dto::{ActionRequest, ReportView};
use super::plan::{self, ActionInput, Change, Facts};
use super::status::{ActionKind, Effect, TransitionError};
use super::views::view_by_id;
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::cases::write;
use crate::error::{ApiError, ApiResult};
use crate::grids::router::Snapshot;
use crate::util::now_ms;

use entity::reports;

pub async fn act(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    req: &ActionRequest,
) -> ApiResult<ReportView> {
    let action = ActionKind::parse(&req.action)
        .filter(|a| a.is_client_action())
        .ok_or_else(|| ApiError::invalid("action", "unknown action"))?;
    for _ in 0..3 {
        let r = reports::Entity::find_by_id(id.to_string())
            .one(env.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let snap = env.router.snapshot();
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
        let input = ActionInput::parse(action, req)?;
        if let Some(original) = &input.duplicate_of {
            check_duplicate_of(env, who, &r, &snap, original).await?;
        }
        let now = now_ms();
        let limit = if transition.effect == Effect::SetDeadline && r.deadline.is_none() {
            category_limit(env, &r.category).await?
        } else {
            None
        };
        let facts = Facts {
            snap: &snap,
            calendar: env.calendar,
            limit,
            now,
        };
        let change = plan::plan(&r, transition, action, actor, input, &facts)?;
        if commit(env, &r, &change, Some(who.id()), now).await? {
            return view_by_id(env, who, id, true).await;
        }
    }
    Err(ApiError::invalid_transition("changing", &req.action))
}

/// Writes a planned change, then does what follows every committed change of a report:
/// wake the relay and mark the dashboard. `Ok(false)` when someone else changed it first.
pub async fn commit(
    env: &Env<'_>,
    r: &reports::Model,
    change: &Change,
    user_id: Option<&str>,
    now: i64,
) -> ApiResult<bool> {
    if !write::apply(env.db, change.to_write(r, user_id, now)).await? {
        return Ok(false);
    }
    if change.event.is_some() {
        env.outbox.written();
    }
    // The rollup key (grid, day, category) never changes, so the old row names it.
    let snap = env.router.snapshot();
    crate::dashboard::report_changed(env.db, r, snap.areas.get(&r.grid_code)).await;
    Ok(true)
}

/// A rejection as a duplicate must name another report the caller can see.
async fn check_duplicate_of(
    env: &Env<'_>,
    who: &Principal,
    r: &reports::Model,
    snap: &Snapshot,
    original: &str,
) -> ApiResult<()> {
    let found = reports::Entity::find_by_id(original.to_string())
        .one(env.db)
        .await?;
    if found.is_some_and(|o| o.id != r.id && can_view(who, &o, snap)) {
        Ok(())
    } else {
        Err(ApiError::invalid("duplicate_of", "no such report"))
    }
}

async fn category_limit(env: &Env<'_>, code: &str) -> ApiResult<Option<TimeLimit>> {
    Ok(entity::categories::Entity::find_by_id(code.to_string())
        .one(env.db)
        .await?
        .and_then(|c| TimeLimit::parse(&c.limit_unit, c.limit_amount as u32)))
}
