//! Who stands in what relation to a report, and so what they may see and do: the state
//! machine's [`Actor`]s, and the visibility rules (a stranger gets 404, never a hint).

use super::status::{self, ActionKind, Actor, DecisionContext, TransitionError};
use crate::auth::Principal;
use crate::grids::area::AreaLevel;
use crate::grids::router::Snapshot;

use entity::reports;

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

pub fn is_admin_viewer(who: &Principal, r: &reports::Model, snap: &Snapshot) -> bool {
    who.administers_path(&r.queue_path)
        || snap
            .areas
            .get(&r.grid_code)
            .is_some_and(|g| who.administers_path(&g.path))
}

/// May `who` see the reporter of `r` (the reporter, an admin above it, or not anonymous)?
pub fn shows_reporter(who: &Principal, r: &reports::Model, snap: &Snapshot) -> bool {
    r.reporter_id == who.id() || is_admin_viewer(who, r, snap) || !r.anonymous
}

pub fn context(r: &reports::Model, snap: &Snapshot, skip_level: bool) -> DecisionContext {
    DecisionContext {
        already_rated: r.rating.is_some(),
        extension_pending: r.extension_until.is_some(),
        queue_is_grid: snap
            .areas
            .get(&r.queue_code)
            .is_some_and(|a| a.level == AreaLevel::Grid),
        skip_level,
    }
}

/// Tries each relation; the first `Ok` wins, else the most informative error.
pub fn decide_for(
    r: &reports::Model,
    action: ActionKind,
    relations: &[Actor],
    ctx: &DecisionContext,
) -> Result<(status::Transition, Actor), TransitionError> {
    let from = r.status;
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
