//! Who stands in what relation to a report, and so what they may see and do: the state
//! machine's [`Actor`]s, and the visibility rules (a stranger gets 404, never a hint).

use super::status::{self, ActionKind, Actor, DecisionContext, TransitionError};
use crate::auth::Principal;
use crate::grids::area::AreaLevel;
use crate::grids::router::Snapshot;
use entity::enums::UnitRole;
use entity::report_units;

use entity::reports;

/// The category whose cases are mediated (矛盾纠纷).
pub const DISPUTE: &str = "dispute";

/// The caller's relations to a report, for the state machine. `units` are the report's
/// assignments (any state; only those that hold the case count).
pub fn relations(who: &Principal, r: &reports::Model, units: &[report_units::Model]) -> Vec<Actor> {
    let mut out = Vec::new();
    for a in units.iter().filter(|a| a.status.holds()) {
        if who.staffs_unit(&a.unit_code) {
            let actor = match a.role {
                UnitRole::Lead => Actor::LeadUnit,
                UnitRole::Assist => Actor::AssistUnit,
            };
            if !out.contains(&actor) {
                out.push(actor);
            }
        }
    }
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

/// Who may see a report: its reporter, the workers of its grid or current queue, admins
/// above either, and the staff of the units holding it (dispatched, signed or resolved: a
/// unit that returned it or was replaced no longer sees it). Everyone else gets 404, as if
/// it did not exist.
pub fn can_view(
    who: &Principal,
    r: &reports::Model,
    units: &[report_units::Model],
    snap: &Snapshot,
) -> bool {
    !relations(who, r, units).is_empty()
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

/// The facts the state machine reads. `direct_dispatch` is the category's rule, needed only
/// to decide a dispatch.
pub fn context(
    r: &reports::Model,
    units: &[report_units::Model],
    snap: &Snapshot,
    skip_level: bool,
    direct_dispatch: bool,
) -> DecisionContext {
    DecisionContext {
        lead: units
            .iter()
            .find(|a| a.role == UnitRole::Lead && a.status.holds())
            .map(|a| a.status),
        direct_dispatch,
        returns: r.return_count,
        is_dispute: r.category == DISPUTE,
        follow_up_pending: r.follow_up_due.is_some() && r.follow_up_at.is_none(),
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
