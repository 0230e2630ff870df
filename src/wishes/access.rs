//! Who stands in what relation to a wish, and what they may see: insiders (the wisher, the
//! claimant, the grid's community) see everything; the wall sees no identity.

use super::status::{self, Actor, DecisionContext, TransitionError, WishAction};
use crate::auth::Principal;

use entity::wishes;

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
pub fn is_insider(who: &Principal, w: &wishes::Model) -> bool {
    relations(who, w)
        .iter()
        .any(|r| !matches!(r, Actor::Volunteer | Actor::Other | Actor::System))
}

/// Insiders see a wish in every state; everyone else only while it is on the wall.
pub fn can_view(who: &Principal, w: &wishes::Model) -> bool {
    is_insider(who, w) || w.status.is_published()
}

pub fn context(w: &wishes::Model) -> DecisionContext {
    DecisionContext {
        expired_to_queue: w.expired_to_queue,
    }
}

pub fn decide_for(
    w: &wishes::Model,
    action: WishAction,
    relations: &[Actor],
) -> Result<(status::Transition, Actor), TransitionError> {
    let mut best = TransitionError::Forbidden;
    for actor in relations {
        match status::decide(w.status, action, *actor, &context(w)) {
            Ok(t) => return Ok((t, *actor)),
            Err(e @ TransitionError::InvalidTransition { .. }) => best = e,
            Err(TransitionError::Forbidden) => {}
        }
    }
    Err(best)
}
