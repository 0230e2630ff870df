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
use super::views::view_after_action;
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::cases::write;
use crate::compliance::audit;
use crate::error::{ApiError, ApiResult};
use crate::grids::router::Snapshot;
use crate::units::load as unit_load;
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
        let units = unit_load::of_report(env.db, &r).await?;
        if !can_view(who, &r, &units, &snap) {
            return Err(ApiError::not_found());
        }
        // A dispatch reads the category's rules (direct dispatch, sign-for limit, limit).
        let category = if action == ActionKind::Dispatch {
            load_category(env, &r.category).await?
        } else {
            None
        };
        let direct = category.as_ref().is_some_and(|c| c.direct_dispatch);
        let ctx = context(&r, &units, &snap, req.skip_level, direct);
        let (transition, actor) = decide_for(&r, action, &relations(who, &r, &units), &ctx)
            .map_err(|e| match e {
                TransitionError::Forbidden => ApiError::forbidden(),
                TransitionError::InvalidTransition { from, action } => {
                    ApiError::invalid_transition(from.as_str(), action.as_str())
                }
            })?;
        let input = ActionInput::parse(action, req)?;
        if let Some(original) = &input.duplicate_of {
            check_duplicate_of(env, who, &r, &snap, original).await?;
        }
        if let Some(dispatch) = &input.dispatch {
            // The units must serve the place the case fell in (its grid, or the area the
            // location fell in when outside every grid).
            let place = snap
                .areas
                .get(&r.grid_code)
                .map_or(r.queue_path.as_str(), |a| a.path.as_str());
            crate::units::service::check_dispatch(env.db, dispatch, place).await?;
        }
        let now = now_ms();
        let sets_deadline = r.deadline.is_none()
            && matches!(
                transition.effect,
                Effect::SetDeadline | Effect::Dispatch | Effect::Sign
            );
        let category = match category {
            Some(c) => Some(c),
            None if sets_deadline => load_category(env, &r.category).await?,
            None => None,
        };
        let facts = Facts {
            snap: &snap,
            calendar: env.calendar,
            limit: category
                .as_ref()
                .and_then(|c| TimeLimit::parse(&c.limit_unit, c.limit_amount as u32)),
            now,
            user_id: Some(who.id()),
            units: &units,
            sign_hours: category
                .as_ref()
                .and_then(|c| c.sign_limit_hours)
                .and_then(|h| u32::try_from(h).ok()),
            follow_up_after_ms: env.follow_up_after_ms,
        };
        let change = plan::plan(&r, transition, action, actor, input, &facts)?;
        if commit(env, &r, &change, Some(who.id()), now).await? {
            // The actor gets the report as it now stands even when the action ended their
            // part in it (a unit that returned it no longer sees it afterwards).
            return view_after_action(env, who, id).await;
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
    let mut w = change.to_write(r, user_id, now);
    // A staff action is audited in its own transaction (MLPS): it lands with the change, or
    // neither does.
    if let (Some(actor), true) = (user_id, is_staff(change.actor_role)) {
        let record = audit::Record::ok(
            actor,
            change.actor_role,
            &format!("report.{}", change.action.as_str()),
            Some(format!("report:{}", r.id)),
        );
        w.rows.push(audit::insert_statement(&record, now));
    }
    if !write::apply(env.db, w).await? {
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

/// The relations whose actions are staff actions (audited).
fn is_staff(actor_role: &str) -> bool {
    matches!(actor_role, "worker" | "admin" | "lead_unit" | "assist_unit")
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
    let units = match &found {
        Some(o) => unit_load::of_report(env.db, o).await?,
        None => Vec::new(),
    };
    if found.is_some_and(|o| o.id != r.id && can_view(who, &o, &units, snap)) {
        Ok(())
    } else {
        Err(ApiError::invalid("duplicate_of", "no such report"))
    }
}

async fn load_category(env: &Env<'_>, code: &str) -> ApiResult<Option<entity::categories::Model>> {
    Ok(entity::categories::Entity::find_by_id(code.to_string())
        .one(env.db)
        .await?)
}
