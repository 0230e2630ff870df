//! The wish state machine (DOMAIN.md §3): pure, no I/O, the same shape as
//! `reports::status`.
//!
//! The service works out the caller's relations to the wish ([`Actor`]), calls [`decide`]
//! once per relation and uses the first `Ok`; if all fail it reports the most informative
//! error (`InvalidTransition` over `Forbidden`).
//!
//! # Transition table
//!
//! "Community" means [`Actor::GridWorker`] (worker or backup of the wish's grid) or
//! [`Actor::Admin`] (an admin whose area contains the grid).
//!
//! | action | actors | from | guard | to |
//! |---|---|---|---|---|
//! | `approve` | community | submitted | | approved (on the wall) |
//! | `reject` | community | submitted, expired | | rejected |
//! | `claim` | volunteer, community | approved, expired | | claimed |
//! | `release` | claimant | claimed | | approved, or expired if it had expired |
//! | `fulfil` | claimant | claimed | | fulfilled |
//! | `confirm` | wisher, admin | fulfilled | | closed |
//! | `auto_confirm` | system | fulfilled | | closed |
//! | `cancel` | wisher | submitted, approved, expired | | cancelled |
//! | `expire` | system | approved | | expired (a task in the grid's queue) |
//!
//! A wisher is never a volunteer for their own wish (the service leaves that relation out).
//! Errors: an actor in no row for the action gets [`TransitionError::Forbidden`] (403); an
//! actor in some row but in the wrong state gets [`TransitionError::InvalidTransition`] (409).

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use entity::enums::WishStatus;

/// An entry to the state machine (`POST /wishes/{id}/actions {"action": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WishAction {
    Approve,
    Reject,
    Claim,
    Release,
    Fulfil,
    Confirm,
    Cancel,
    /// System only: close a fulfilled wish nobody objected to within the window.
    AutoConfirm,
    /// System only: an approved wish unclaimed past its deadline goes to the grid's queue.
    Expire,
}

impl WishAction {
    pub const ALL: [Self; 9] = [
        Self::Approve,
        Self::Reject,
        Self::Claim,
        Self::Release,
        Self::Fulfil,
        Self::Confirm,
        Self::Cancel,
        Self::AutoConfirm,
        Self::Expire,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Claim => "claim",
            Self::Release => "release",
            Self::Fulfil => "fulfil",
            Self::Confirm => "confirm",
            Self::Cancel => "cancel",
            Self::AutoConfirm => "auto_confirm",
            Self::Expire => "expire",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether a client may send it (the system's own actions are refused).
    pub const fn is_client_action(self) -> bool {
        !matches!(self, Self::AutoConfirm | Self::Expire)
    }
}

impl fmt::Display for WishAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One relation of the caller (or job) to the wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The resident who posted it.
    Wisher,
    /// The user who claimed it.
    Claimant,
    /// A volunteer (anywhere: wishes are public) who is not the wisher.
    Volunteer,
    /// A worker or backup of the wish's grid.
    GridWorker,
    /// An admin whose area contains the wish's grid.
    Admin,
    /// A background job.
    System,
    /// Anyone else.
    Other,
}

impl Actor {
    pub const ALL: [Self; 7] = [
        Self::Wisher,
        Self::Claimant,
        Self::Volunteer,
        Self::GridWorker,
        Self::Admin,
        Self::System,
        Self::Other,
    ];
}

/// An allowed state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    pub from: WishStatus,
    pub to: WishStatus,
}

/// Facts about the wish some rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DecisionContext {
    /// The wish went unclaimed past its deadline once (a release sends it back there).
    pub expired_to_queue: bool,
}

/// Why [`decide`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransitionError {
    #[error("you may not perform this action on this wish")]
    Forbidden,
    #[error("cannot {action} a wish that is {from}")]
    InvalidTransition {
        from: WishStatus,
        action: WishAction,
    },
}

/// Decides whether `actor` may perform `action` on a wish in status `from`.
pub fn decide(
    from: WishStatus,
    action: WishAction,
    actor: Actor,
    ctx: &DecisionContext,
) -> Result<Transition, TransitionError> {
    use WishAction as A;
    use WishStatus as S;

    let community = matches!(actor, Actor::GridWorker | Actor::Admin);
    let may = match action {
        A::Approve | A::Reject => community,
        A::Claim => community || actor == Actor::Volunteer,
        A::Release | A::Fulfil => actor == Actor::Claimant,
        A::Confirm => matches!(actor, Actor::Wisher | Actor::Admin),
        A::Cancel => actor == Actor::Wisher,
        A::AutoConfirm | A::Expire => actor == Actor::System,
    };
    if !may {
        return Err(TransitionError::Forbidden);
    }
    let to = match (action, from) {
        (A::Approve, S::Submitted) => S::Approved,
        (A::Reject, S::Submitted | S::Expired) => S::Rejected,
        (A::Claim, S::Approved | S::Expired) => S::Claimed,
        (A::Release, S::Claimed) if ctx.expired_to_queue => S::Expired,
        (A::Release, S::Claimed) => S::Approved,
        (A::Fulfil, S::Claimed) => S::Fulfilled,
        (A::Confirm | A::AutoConfirm, S::Fulfilled) => S::Closed,
        (A::Cancel, S::Submitted | S::Approved | S::Expired) => S::Cancelled,
        (A::Expire, S::Approved) => S::Expired,
        _ => return Err(TransitionError::InvalidTransition { from, action }),
    };
    Ok(Transition { from, to })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Actor as R;
    use WishAction as A;
    use WishStatus as S;

    /// The module table, written out independently: (action, actors, from states, to).
    fn table(ctx: &DecisionContext) -> Vec<(A, Vec<R>, Vec<S>, S)> {
        let community = vec![R::GridWorker, R::Admin];
        vec![
            (
                A::Approve,
                community.clone(),
                vec![S::Submitted],
                S::Approved,
            ),
            (
                A::Reject,
                community.clone(),
                vec![S::Submitted, S::Expired],
                S::Rejected,
            ),
            (
                A::Claim,
                vec![R::Volunteer, R::GridWorker, R::Admin],
                vec![S::Approved, S::Expired],
                S::Claimed,
            ),
            (
                A::Release,
                vec![R::Claimant],
                vec![S::Claimed],
                if ctx.expired_to_queue {
                    S::Expired
                } else {
                    S::Approved
                },
            ),
            (A::Fulfil, vec![R::Claimant], vec![S::Claimed], S::Fulfilled),
            (
                A::Confirm,
                vec![R::Wisher, R::Admin],
                vec![S::Fulfilled],
                S::Closed,
            ),
            (
                A::AutoConfirm,
                vec![R::System],
                vec![S::Fulfilled],
                S::Closed,
            ),
            (
                A::Cancel,
                vec![R::Wisher],
                vec![S::Submitted, S::Approved, S::Expired],
                S::Cancelled,
            ),
            (A::Expire, vec![R::System], vec![S::Approved], S::Expired),
        ]
    }

    #[test]
    fn decide_matches_the_table_for_every_combination() {
        for expired_to_queue in [false, true] {
            let ctx = DecisionContext { expired_to_queue };
            let rows = table(&ctx);
            for action in A::ALL {
                let (_, actors, froms, to) = rows
                    .iter()
                    .find(|r| r.0 == action)
                    .expect("every action has a row");
                for actor in R::ALL {
                    for from in S::ALL {
                        let got = decide(from, action, actor, &ctx);
                        let want = if !actors.contains(&actor) {
                            Err(TransitionError::Forbidden)
                        } else if froms.contains(&from) {
                            Ok(Transition { from, to: *to })
                        } else {
                            Err(TransitionError::InvalidTransition { from, action })
                        };
                        assert_eq!(got, want, "{action} by {actor:?} from {from}, {ctx:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_claimed_wish_cannot_be_claimed_again_or_cancelled() {
        let ctx = DecisionContext::default();
        assert_eq!(
            decide(S::Claimed, A::Claim, R::Volunteer, &ctx),
            Err(TransitionError::InvalidTransition {
                from: S::Claimed,
                action: A::Claim
            })
        );
        assert!(matches!(
            decide(S::Claimed, A::Cancel, R::Wisher, &ctx),
            Err(TransitionError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn a_resident_without_a_role_may_do_nothing() {
        for action in A::ALL {
            for from in S::ALL {
                assert_eq!(
                    decide(from, action, R::Other, &DecisionContext::default()),
                    Err(TransitionError::Forbidden)
                );
            }
        }
    }

    #[test]
    fn only_the_system_expires_and_auto_confirms() {
        for action in A::ALL {
            assert_eq!(
                action.is_client_action(),
                !matches!(action, A::AutoConfirm | A::Expire)
            );
        }
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for a in A::ALL {
            assert_eq!(A::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        assert_eq!(S::parse("nope"), None);
    }
}
