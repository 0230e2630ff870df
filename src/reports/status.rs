//! The report state machine (DOMAIN.md §2): pure, no I/O.
//!
//! [`decide`] answers one question: may this actor, in this relation to the report, perform
//! this action now, and if so, what is the new status and what else must the service do
//! ([`Effect`])? The service loads the report, works out the actor's relations ([`Actor`])
//! and the [`DecisionContext`], calls [`decide`] once per relation and uses the first `Ok`;
//! if all fail it reports the most informative error (prefer `InvalidTransition` over
//! `Forbidden`, so a user with a role hears which state blocks them).
//!
//! # Transition table
//!
//! "Worker" means [`Actor::QueueWorker`] and only counts while the report sits in a grid
//! queue (`ctx.queue_is_grid`); a `QueueWorker` with a non-grid queue is treated like
//! [`Actor::Other`]. "Admin" means [`Actor::QueueAdmin`].
//!
//! | action | actors | from | guard | to | effect |
//! |---|---|---|---|---|---|
//! | `accept` | worker, admin | submitted, escalated | | accepted | [`Effect::SetDeadline`] |
//! | `reject` | worker, admin | submitted, escalated | | rejected | [`Effect::None`] |
//! | `note` | worker, admin | accepted | | in_progress | [`Effect::None`] |
//! | `note` | worker, admin | in_progress, suspended, escalated | | (same) | [`Effect::None`] |
//! | `escalate` | worker, admin | submitted, accepted, in_progress, escalated | | escalated | [`Effect::MoveQueueUp`] `{levels: 1}`, or `2` with `ctx.skip_level` |
//! | `hand_down` | admin | submitted, escalated | `!queue_is_grid` | submitted | [`Effect::MoveQueueTo`] |
//! | `suspend` | admin | accepted, in_progress | | suspended | [`Effect::StopClock`] |
//! | `resume` | admin | suspended | | in_progress | [`Effect::RestartClock`] |
//! | `request_extension` | worker, admin | accepted, in_progress | `!extension_pending` | (same) | [`Effect::ExtensionRequested`] |
//! | `approve_extension` | admin | accepted, in_progress, suspended | `extension_pending` | (same) | [`Effect::DeadlineExtended`] |
//! | `resolve` | worker, admin | accepted, in_progress | | resolved | [`Effect::None`] |
//! | `confirm` | reporter, admin | resolved | | closed | [`Effect::None`] |
//! | `auto_close` | system | resolved | | closed | [`Effect::None`] |
//! | `rework` | reporter, admin | resolved | | in_progress | [`Effect::CountRework`] |
//! | `rate` | reporter | closed | `!already_rated` | closed | [`Effect::RecordRating`] |
//! | `cancel` | reporter | submitted | | cancelled | [`Effect::None`] |
//! | `dispatch` | admin; worker if `direct_dispatch` | submitted, accepted, in_progress, escalated | | in_progress | [`Effect::Dispatch`] |
//! | `sign` | lead unit | submitted, accepted, in_progress | `lead == dispatched` | in_progress | [`Effect::Sign`] |
//! | `return` | lead unit | submitted, accepted, in_progress | `lead == dispatched` | (same), or escalated on the third return | [`Effect::Return`] |
//! | `resolve` | lead unit | in_progress | `lead == signed` | resolved | [`Effect::UnitResolved`] |
//! | `note` | lead unit, assisting unit | submitted, accepted, in_progress, escalated, suspended | | (same) | [`Effect::None`] |
//! | `confirm` | worker (the on-site check) | resolved | `lead == resolved` | closed | [`Effect::None`] |
//! | `supervise` | admin | submitted, accepted, in_progress, escalated, suspended, resolved | | (same) | [`Effect::Supervise`] |
//! | `mediate` | worker, admin | accepted | `is_dispute` | in_progress | [`Effect::Mediate`] |
//! | `mediate` | worker, admin | in_progress, escalated | `is_dispute` | (same) | [`Effect::Mediate`] |
//! | `follow_up` | worker, admin | accepted, in_progress, escalated, suspended, resolved, closed | `follow_up_pending` | (same) | [`Effect::FollowUp`] |
//!
//! Coordinated handling (DOMAIN.md §8) is an assignment beside the status, not a status: a
//! dispatched case stays `in_progress` in its queue (the dispatcher's), and `report_units`
//! holds what each unit owes (`dispatched → signed → resolved`, or `returned`, or `withdrawn`
//! by a new dispatch). `ctx.lead` is the lead assignment's state, so the table still decides
//! everything: while a unit holds the case (`lead` dispatched or signed) the grid and the
//! admin do not `resolve` it themselves, and `rework` of a unit's result returns it to the
//! unit ([`Effect::CountRework`] with the lead signed again).
//!
//! [`Actor::Other`] may do nothing. Errors: an actor that appears in no row for the action
//! gets [`TransitionError::Forbidden`] (HTTP 403); an actor that appears in some row, but
//! whose `from` state or guard does not match, gets [`TransitionError::InvalidTransition`]
//! (HTTP 409).

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use entity::enums::{AssignmentStatus, ReportStatus};

/// An entry to the state machine (`POST /reports/{id}/actions {"action": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Take the report on (受理).
    Accept,
    /// Decline it with a reason, possibly as a duplicate (不予受理).
    Reject,
    /// Add a note or photos; the first note on an accepted report starts handling.
    Note,
    /// Send it up one level, or two with `skip_level` (上报 / 越级上报).
    Escalate,
    /// Send it from an upper-level queue down to a grid (下派).
    HandDown,
    /// Put it on hold; stops the clock (挂起).
    Suspend,
    /// Take it off hold; restarts the clock.
    Resume,
    /// Ask for a later deadline (申请延期).
    RequestExtension,
    /// Grant the pending extension request.
    ApproveExtension,
    /// Report it handled, with a result note (办结).
    Resolve,
    /// Check a resolved report and close it (reporter or supervisor).
    Confirm,
    /// Send a resolved report back for more work (返工).
    Rework,
    /// Rate a closed report, 1–5 (评价).
    Rate,
    /// Withdraw a report before acceptance.
    Cancel,
    /// Close a resolved report nobody objected to within the window. System only: never
    /// accept it from a client (see [`ActionKind::is_client_action`]).
    AutoClose,
    /// Send the case to a lead unit and any assisting units (派单).
    Dispatch,
    /// The lead unit signs for it (签收).
    Sign,
    /// The lead unit sends it back with a reason (退单).
    Return,
    /// Flag it for supervision with a note (督办).
    Supervise,
    /// Record a mediation of a dispute: tier, outcome, parties (调解).
    Mediate,
    /// Record the follow-up visit after an agreement (调后回访).
    FollowUp,
}

impl ActionKind {
    /// Every action.
    pub const ALL: [Self; 21] = [
        Self::Accept,
        Self::Reject,
        Self::Note,
        Self::Escalate,
        Self::HandDown,
        Self::Suspend,
        Self::Resume,
        Self::RequestExtension,
        Self::ApproveExtension,
        Self::Resolve,
        Self::Confirm,
        Self::Rework,
        Self::Rate,
        Self::Cancel,
        Self::AutoClose,
        Self::Dispatch,
        Self::Sign,
        Self::Return,
        Self::Supervise,
        Self::Mediate,
        Self::FollowUp,
    ];

    /// The snake_case name used in JSON and in the timeline.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Note => "note",
            Self::Escalate => "escalate",
            Self::HandDown => "hand_down",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::RequestExtension => "request_extension",
            Self::ApproveExtension => "approve_extension",
            Self::Resolve => "resolve",
            Self::Confirm => "confirm",
            Self::Rework => "rework",
            Self::Rate => "rate",
            Self::Cancel => "cancel",
            Self::AutoClose => "auto_close",
            Self::Dispatch => "dispatch",
            Self::Sign => "sign",
            Self::Return => "return",
            Self::Supervise => "supervise",
            Self::Mediate => "mediate",
            Self::FollowUp => "follow_up",
        }
    }

    /// The action named by [`as_str`](Self::as_str), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == s)
    }

    /// Whether a client may send this action (all but [`ActionKind::AutoClose`]).
    pub const fn is_client_action(self) -> bool {
        !matches!(self, Self::AutoClose)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One relation of the acting user (or job) to the report. A user may hold several; call
/// [`decide`] once for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The resident who submitted the report.
    Reporter,
    /// A worker (primary or backup) of the grid whose queue currently holds the report.
    QueueWorker,
    /// An admin whose area contains the report's current queue (grid or upper-level area).
    QueueAdmin,
    /// A background job.
    System,
    /// Staff of the unit leading the case (主办) while it holds the case.
    LeadUnit,
    /// Staff of an assisting unit (协办) while it holds the case.
    AssistUnit,
    /// Anyone else who can see the report but has no role on it.
    Other,
}

impl Actor {
    /// Every relation.
    pub const ALL: [Self; 7] = [
        Self::Reporter,
        Self::QueueWorker,
        Self::QueueAdmin,
        Self::System,
        Self::LeadUnit,
        Self::AssistUnit,
        Self::Other,
    ];
}

/// What the service must do besides writing the new status and the timeline row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Nothing more.
    None,
    /// Accepted: set the deadline from the category's time limit, only if none is set yet
    /// (a report accepted again after escalation keeps its first deadline).
    SetDeadline,
    /// Suspended: record when the clock stopped.
    StopClock,
    /// Resumed: push the deadline back by the time spent suspended.
    RestartClock,
    /// Escalated: move the report to the queue `levels` (1 or 2) above the current one
    /// (clamped at the top of the area tree; if already at the top, answer 409).
    MoveQueueUp {
        /// How many levels up: 1, or 2 for 越级上报.
        levels: u8,
    },
    /// Handed down: move the report to the grid named in the request, which must lie under
    /// the current queue's area.
    MoveQueueTo,
    /// Record the pending extension request (requested deadline and reason).
    ExtensionRequested,
    /// Apply the pending extension: set the deadline to the requested one and clear it.
    DeadlineExtended,
    /// Count one rework against the grid (返工).
    CountRework,
    /// Store the rating (and comment) from the request.
    RecordRating,
    /// Dispatched: withdraw the units holding it, assign the named ones with their sign-for
    /// and handling deadlines; the first dispatch also accepts the case.
    Dispatch,
    /// The lead unit signed for it.
    Sign,
    /// The lead unit returned it; on the third return (`escalate`) the case also goes one
    /// level up and is flagged supervised (提级督办).
    Return {
        /// This is the third return.
        escalate: bool,
    },
    /// The lead unit resolved it: the case waits for the on-site check.
    UnitResolved,
    /// Flagged for supervision.
    Supervise,
    /// A mediation recorded; an agreement sets the follow-up due date.
    Mediate,
    /// The follow-up visit recorded.
    FollowUp,
}

/// An allowed state change and its side effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The status before the action.
    pub from: ReportStatus,
    /// The status after the action (may equal `from`: a timeline entry only).
    pub to: ReportStatus,
    /// What the service must do besides changing the status.
    pub effect: Effect,
}

impl Transition {
    /// Whether the status changes.
    pub fn changes_status(&self) -> bool {
        self.from != self.to
    }
}

/// Facts about the report and the request that some rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DecisionContext {
    /// The reporter has already rated the report.
    pub already_rated: bool,
    /// An extension request is waiting for approval.
    pub extension_pending: bool,
    /// The report's current queue is a grid (not a community, street or district).
    pub queue_is_grid: bool,
    /// The escalate request asked to skip a level (`skip_level: true`, 越级上报). Ignored
    /// by every other action.
    pub skip_level: bool,
    /// The state of the assignment of the unit leading the case, if a unit holds it
    /// (dispatched, signed or resolved).
    pub lead: Option<AssignmentStatus>,
    /// The category lets a grid worker dispatch without an admin.
    pub direct_dispatch: bool,
    /// How many times units returned the case before.
    pub returns: i32,
    /// The case is a dispute (矛盾纠纷): it may be mediated.
    pub is_dispute: bool,
    /// An agreement's follow-up visit is still to be recorded.
    pub follow_up_pending: bool,
}

/// Why [`decide`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransitionError {
    /// This actor may never perform this action, in any state (HTTP 403 `forbidden`).
    #[error("you may not perform this action on this report")]
    Forbidden,
    /// The actor may perform this action, but not in the report's current state, or a
    /// condition of the rule (pending extension, already rated, grid queue) is not met
    /// (HTTP 409 `invalid_transition`).
    #[error("cannot {action} a report that is {from}")]
    InvalidTransition {
        /// The report's current status.
        from: ReportStatus,
        /// The refused action.
        action: ActionKind,
    },
}

/// Decides whether `actor` may perform `action` on a report in status `from` (see the table
/// in the module documentation).
pub fn decide(
    from: ReportStatus,
    action: ActionKind,
    actor: Actor,
    ctx: &DecisionContext,
) -> Result<Transition, TransitionError> {
    use ActionKind as A;
    use ReportStatus as S;

    // A grid worker has no hold on a report that has left the grid's queue.
    let worker = actor == Actor::QueueWorker && ctx.queue_is_grid;
    let admin = actor == Actor::QueueAdmin;
    let reporter = actor == Actor::Reporter;
    let handler = worker || admin;
    let lead_unit = actor == Actor::LeadUnit;
    let unit = lead_unit || actor == Actor::AssistUnit;
    let unit_handling = ctx.lead.is_some_and(AssignmentStatus::is_active);

    let may = match action {
        A::Accept | A::Reject | A::Escalate | A::RequestExtension | A::Mediate | A::FollowUp => {
            handler
        }
        A::Note => handler || unit,
        A::Resolve => handler || lead_unit,
        A::Sign | A::Return => lead_unit,
        A::HandDown | A::Suspend | A::Resume | A::ApproveExtension | A::Supervise => admin,
        A::Dispatch => handler,
        // The grid checks a unit's result on site (核查).
        A::Confirm => reporter || admin || worker,
        A::Rework => reporter || admin,
        A::Rate | A::Cancel => reporter,
        A::AutoClose => actor == Actor::System,
    };
    if !may {
        return Err(TransitionError::Forbidden);
    }
    // Rows of the table that only some of the actors above may take.
    let refused = match action {
        A::Resolve if lead_unit => ctx.lead != Some(AssignmentStatus::Signed),
        A::Resolve => unit_handling,
        A::Dispatch => worker && !ctx.direct_dispatch,
        A::Confirm => worker && ctx.lead != Some(AssignmentStatus::Resolved),
        A::Note if unit => !matches!(
            from,
            S::Submitted | S::Accepted | S::InProgress | S::Escalated | S::Suspended
        ),
        _ => false,
    };
    if refused {
        return Err(TransitionError::InvalidTransition { from, action });
    }

    let (to, effect) = match (action, from) {
        (A::Note, _) if unit => (from, Effect::None),
        (A::Sign, S::Submitted | S::Accepted | S::InProgress)
            if ctx.lead == Some(AssignmentStatus::Dispatched) =>
        {
            (S::InProgress, Effect::Sign)
        }
        (A::Return, S::Submitted | S::Accepted | S::InProgress)
            if ctx.lead == Some(AssignmentStatus::Dispatched) =>
        {
            if ctx.returns >= 2 {
                (S::Escalated, Effect::Return { escalate: true })
            } else {
                (from, Effect::Return { escalate: false })
            }
        }
        (A::Resolve, S::InProgress) if lead_unit => (S::Resolved, Effect::UnitResolved),
        (A::Dispatch, S::Submitted | S::Accepted | S::InProgress | S::Escalated) => {
            (S::InProgress, Effect::Dispatch)
        }
        (
            A::Supervise,
            S::Submitted | S::Accepted | S::InProgress | S::Escalated | S::Suspended | S::Resolved,
        ) => (from, Effect::Supervise),
        (A::Mediate, S::Accepted) if ctx.is_dispute => (S::InProgress, Effect::Mediate),
        (A::Mediate, S::InProgress | S::Escalated) if ctx.is_dispute => (from, Effect::Mediate),
        (
            A::FollowUp,
            S::Accepted | S::InProgress | S::Escalated | S::Suspended | S::Resolved | S::Closed,
        ) if ctx.follow_up_pending => (from, Effect::FollowUp),
        (A::Accept, S::Submitted | S::Escalated) => (S::Accepted, Effect::SetDeadline),
        (A::Reject, S::Submitted | S::Escalated) => (S::Rejected, Effect::None),
        (A::Note, S::Accepted) => (S::InProgress, Effect::None),
        (A::Note, S::InProgress | S::Suspended | S::Escalated) => (from, Effect::None),
        (A::Escalate, S::Submitted | S::Accepted | S::InProgress | S::Escalated) => {
            let levels = if ctx.skip_level { 2 } else { 1 };
            (S::Escalated, Effect::MoveQueueUp { levels })
        }
        (A::HandDown, S::Submitted | S::Escalated) if !ctx.queue_is_grid => {
            (S::Submitted, Effect::MoveQueueTo)
        }
        (A::Suspend, S::Accepted | S::InProgress) => (S::Suspended, Effect::StopClock),
        (A::Resume, S::Suspended) => (S::InProgress, Effect::RestartClock),
        (A::RequestExtension, S::Accepted | S::InProgress) if !ctx.extension_pending => {
            (from, Effect::ExtensionRequested)
        }
        (A::ApproveExtension, S::Accepted | S::InProgress | S::Suspended)
            if ctx.extension_pending =>
        {
            (from, Effect::DeadlineExtended)
        }
        (A::Resolve, S::Accepted | S::InProgress) if !lead_unit => (S::Resolved, Effect::None),
        (A::Confirm | A::AutoClose, S::Resolved) => (S::Closed, Effect::None),
        (A::Rework, S::Resolved) => (S::InProgress, Effect::CountRework),
        (A::Rate, S::Closed) if !ctx.already_rated => (S::Closed, Effect::RecordRating),
        (A::Cancel, S::Submitted) => (S::Cancelled, Effect::None),
        _ => return Err(TransitionError::InvalidTransition { from, action }),
    };
    Ok(Transition { from, to, effect })
}

/// A reporter's rating of a closed report, 1 to 5 (满意 = 4 or 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Rating(u8);

// Written by hand because the derive cannot put bounds on a newtype's field.
impl utoipa::PartialSchema for Rating {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(Rating::MIN))
            .maximum(Some(Rating::MAX))
            .description(Some("A rating from 1 to 5; 4 and 5 count as satisfied."))
            .into()
    }
}

impl ToSchema for Rating {}

/// A rating outside 1..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a rating must be between 1 and 5, got {0}")]
pub struct RatingOutOfRange(pub u8);

impl Rating {
    /// The lowest rating.
    pub const MIN: u8 = 1;
    /// The highest rating.
    pub const MAX: u8 = 5;

    /// The rating, 1 to 5.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// 满意: a rating of 4 or 5.
    pub const fn is_satisfied(self) -> bool {
        self.0 >= 4
    }
}

impl TryFrom<u8> for Rating {
    type Error = RatingOutOfRange;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(RatingOutOfRange(value))
        }
    }
}

impl From<Rating> for u8 {
    fn from(rating: Rating) -> Self {
        rating.0
    }
}

/// The traffic light shown on a task: how much of its time limit is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// Under 80% of the limit used.
    Green,
    /// 80% to 100% of the limit used.
    Yellow,
    /// Past the deadline.
    Red,
}

/// The light for a clock started at `started_ms` with deadline `deadline_ms`, seen at
/// `now_ms` (Unix epoch milliseconds). Green under 80% of the span used, yellow from 80% up
/// to and including the deadline, red after it. A span of zero or less is red from the
/// deadline on and green before it.
pub fn light(started_ms: i64, deadline_ms: i64, now_ms: i64) -> Light {
    if deadline_ms <= started_ms {
        return if now_ms >= deadline_ms {
            Light::Red
        } else {
            Light::Green
        };
    }
    if now_ms > deadline_ms {
        return Light::Red;
    }
    // i128: no overflow whatever the inputs.
    let span = i128::from(deadline_ms) - i128::from(started_ms);
    let used = i128::from(now_ms) - i128::from(started_ms);
    if used * 5 >= span * 4 {
        Light::Yellow
    } else {
        Light::Green
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionKind as A;
    use Actor as R;
    use ReportStatus as S;

    /// A rule of the expected table, written out independently of `decide`.
    struct Row {
        action: ActionKind,
        actors: &'static [Actor],
        from: &'static [ReportStatus],
        /// `None`: the status does not change.
        to: Option<ReportStatus>,
        effect: Effect,
        guard: fn(&DecisionContext) -> bool,
    }

    const WA: &[Actor] = &[R::QueueWorker, R::QueueAdmin];
    const AD: &[Actor] = &[R::QueueAdmin];
    const RA: &[Actor] = &[R::Reporter, R::QueueAdmin];
    const RE: &[Actor] = &[R::Reporter];
    const LU: &[Actor] = &[R::LeadUnit];
    const UN: &[Actor] = &[R::LeadUnit, R::AssistUnit];
    const WO: &[Actor] = &[R::QueueWorker];

    fn always(_: &DecisionContext) -> bool {
        true
    }

    // One row per line so the table reads as a table.
    #[rustfmt::skip]
    fn table() -> Vec<Row> {
        let row = |action, actors, from, to, effect, guard| Row { action, actors, from, to, effect, guard };
        const ESCALABLE: &[ReportStatus] = &[S::Submitted, S::Accepted, S::InProgress, S::Escalated];
        vec![
            row(A::Accept, WA, &[S::Submitted, S::Escalated], Some(S::Accepted), Effect::SetDeadline, always),
            row(A::Reject, WA, &[S::Submitted, S::Escalated], Some(S::Rejected), Effect::None, always),
            row(A::Note, WA, &[S::Accepted], Some(S::InProgress), Effect::None, always),
            row(A::Note, WA, &[S::InProgress, S::Suspended, S::Escalated], None, Effect::None, always),
            row(A::Escalate, WA, ESCALABLE, Some(S::Escalated), Effect::MoveQueueUp { levels: 1 }, |c| !c.skip_level),
            row(A::Escalate, WA, ESCALABLE, Some(S::Escalated), Effect::MoveQueueUp { levels: 2 }, |c| c.skip_level),
            row(A::HandDown, AD, &[S::Escalated, S::Submitted], Some(S::Submitted), Effect::MoveQueueTo, |c| !c.queue_is_grid),
            row(A::Suspend, AD, &[S::Accepted, S::InProgress], Some(S::Suspended), Effect::StopClock, always),
            row(A::Resume, AD, &[S::Suspended], Some(S::InProgress), Effect::RestartClock, always),
            row(A::RequestExtension, WA, &[S::Accepted, S::InProgress], None, Effect::ExtensionRequested, |c| !c.extension_pending),
            row(A::ApproveExtension, AD, &[S::Accepted, S::InProgress, S::Suspended], None, Effect::DeadlineExtended, |c| c.extension_pending),
            row(A::Resolve, WA, &[S::Accepted, S::InProgress], Some(S::Resolved), Effect::None, |c| !c.lead.is_some_and(AssignmentStatus::is_active)),
            row(A::Resolve, LU, &[S::InProgress], Some(S::Resolved), Effect::UnitResolved, |c| c.lead == Some(AssignmentStatus::Signed)),
            row(A::Note, UN, &[S::Submitted, S::Accepted, S::InProgress, S::Escalated, S::Suspended], None, Effect::None, always),
            row(A::Sign, LU, &[S::Submitted, S::Accepted, S::InProgress], Some(S::InProgress), Effect::Sign, |c| c.lead == Some(AssignmentStatus::Dispatched)),
            row(A::Return, LU, &[S::Submitted, S::Accepted, S::InProgress], None, Effect::Return { escalate: false }, |c| c.lead == Some(AssignmentStatus::Dispatched) && c.returns < 2),
            row(A::Return, LU, &[S::Submitted, S::Accepted, S::InProgress], Some(S::Escalated), Effect::Return { escalate: true }, |c| c.lead == Some(AssignmentStatus::Dispatched) && c.returns >= 2),
            row(A::Dispatch, AD, ESCALABLE, Some(S::InProgress), Effect::Dispatch, always),
            row(A::Dispatch, WO, ESCALABLE, Some(S::InProgress), Effect::Dispatch, |c| c.direct_dispatch),
            row(A::Supervise, AD, &[S::Submitted, S::Accepted, S::InProgress, S::Escalated, S::Suspended, S::Resolved], None, Effect::Supervise, always),
            row(A::Confirm, RA, &[S::Resolved], Some(S::Closed), Effect::None, always),
            row(A::Confirm, WO, &[S::Resolved], Some(S::Closed), Effect::None, |c| c.lead == Some(AssignmentStatus::Resolved)),
            row(A::Mediate, WA, &[S::Accepted], Some(S::InProgress), Effect::Mediate, |c| c.is_dispute),
            row(A::Mediate, WA, &[S::InProgress, S::Escalated], None, Effect::Mediate, |c| c.is_dispute),
            row(A::FollowUp, WA, &[S::Accepted, S::InProgress, S::Escalated, S::Suspended, S::Resolved, S::Closed], None, Effect::FollowUp, |c| c.follow_up_pending),
            row(A::AutoClose, &[R::System], &[S::Resolved], Some(S::Closed), Effect::None, always),
            row(A::Rework, RA, &[S::Resolved], Some(S::InProgress), Effect::CountRework, always),
            row(A::Rate, RE, &[S::Closed], Some(S::Closed), Effect::RecordRating, |c| !c.already_rated),
            row(A::Cancel, RE, &[S::Submitted], Some(S::Cancelled), Effect::None, always),
        ]
    }

    fn contexts() -> Vec<DecisionContext> {
        let mut all = Vec::new();
        let leads = [
            None,
            Some(AssignmentStatus::Dispatched),
            Some(AssignmentStatus::Signed),
            Some(AssignmentStatus::Resolved),
        ];
        for bits in 0..=255u8 {
            for lead in leads {
                all.push(DecisionContext {
                    already_rated: bits & 1 != 0,
                    extension_pending: bits & 2 != 0,
                    queue_is_grid: bits & 4 != 0,
                    skip_level: bits & 8 != 0,
                    direct_dispatch: bits & 16 != 0,
                    returns: if bits & 32 != 0 { 2 } else { 0 },
                    is_dispute: bits & 64 != 0,
                    follow_up_pending: bits & 128 != 0,
                    lead,
                });
            }
        }
        all
    }

    fn expected(
        table: &[Row],
        from: ReportStatus,
        action: ActionKind,
        actor: Actor,
        ctx: &DecisionContext,
    ) -> Result<Transition, TransitionError> {
        // A worker counts only while the report is in a grid queue.
        let actor = if actor == R::QueueWorker && !ctx.queue_is_grid {
            R::Other
        } else {
            actor
        };
        let rows: Vec<&Row> = table
            .iter()
            .filter(|r| r.action == action && r.actors.contains(&actor))
            .collect();
        if rows.is_empty() {
            return Err(TransitionError::Forbidden);
        }
        let hits: Vec<&&Row> = rows
            .iter()
            .filter(|r| r.from.contains(&from) && (r.guard)(ctx))
            .collect();
        assert!(
            hits.len() <= 1,
            "table is ambiguous for {from} {action} {actor:?}"
        );
        match hits.first() {
            Some(r) => Ok(Transition {
                from,
                to: r.to.unwrap_or(from),
                effect: r.effect,
            }),
            None => Err(TransitionError::InvalidTransition { from, action }),
        }
    }

    #[test]
    fn decide_matches_the_expected_table_for_every_combination() {
        let table = table();
        let mut checked = 0;
        let mut allowed = 0;
        for from in S::ALL {
            for action in A::ALL {
                for actor in R::ALL {
                    for ctx in contexts() {
                        let want = expected(&table, from, action, actor, &ctx);
                        let got = decide(from, action, actor, &ctx);
                        assert_eq!(got, want, "{from} {action} {actor:?} {ctx:?}");
                        checked += 1;
                        allowed += usize::from(got.is_ok());
                    }
                }
            }
        }
        assert_eq!(checked, 9 * 21 * 7 * 1024);
        assert!(allowed > 0);
    }

    #[test]
    fn every_action_is_allowed_somewhere_and_every_open_state_can_move() {
        let table = table();
        for action in A::ALL {
            assert!(table.iter().any(|r| r.action == action), "{action}");
        }
        for from in S::ALL.into_iter().filter(|s| s.is_open()) {
            let moves = contexts().into_iter().any(|ctx| {
                A::ALL.into_iter().any(|action| {
                    R::ALL.into_iter().any(|actor| {
                        decide(from, action, actor, &ctx).is_ok_and(|t| t.changes_status())
                    })
                })
            });
            assert!(moves, "{from} is a dead end");
        }
    }

    #[test]
    fn others_may_do_nothing() {
        for ctx in contexts() {
            for from in S::ALL {
                for action in A::ALL {
                    assert_eq!(
                        decide(from, action, R::Other, &ctx),
                        Err(TransitionError::Forbidden)
                    );
                }
            }
        }
    }

    #[test]
    fn cancelling_an_accepted_report_is_an_invalid_transition() {
        let err = decide(
            S::Accepted,
            A::Cancel,
            R::Reporter,
            &DecisionContext::default(),
        );
        assert_eq!(
            err,
            Err(TransitionError::InvalidTransition {
                from: S::Accepted,
                action: A::Cancel
            })
        );
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("cannot cancel a report that is accepted".to_owned())
        );
    }

    #[test]
    fn a_worker_may_not_suspend_or_hand_down() {
        let ctx = DecisionContext {
            queue_is_grid: true,
            ..DecisionContext::default()
        };
        for action in [
            A::Suspend,
            A::Resume,
            A::HandDown,
            A::ApproveExtension,
            A::Supervise,
            A::Sign,
            A::Return,
        ] {
            assert_eq!(
                decide(S::InProgress, action, R::QueueWorker, &ctx),
                Err(TransitionError::Forbidden),
                "{action}"
            );
        }
    }

    #[test]
    fn a_worker_of_a_grid_no_longer_holding_the_report_is_forbidden() {
        let ctx = DecisionContext::default();
        assert_eq!(
            decide(S::Escalated, A::Accept, R::QueueWorker, &ctx),
            Err(TransitionError::Forbidden)
        );
    }

    #[test]
    fn handing_down_from_a_grid_queue_is_an_invalid_transition() {
        let ctx = DecisionContext {
            queue_is_grid: true,
            ..DecisionContext::default()
        };
        assert_eq!(
            decide(S::Submitted, A::HandDown, R::QueueAdmin, &ctx),
            Err(TransitionError::InvalidTransition {
                from: S::Submitted,
                action: A::HandDown
            })
        );
        let upper = DecisionContext::default();
        assert_eq!(
            decide(S::Escalated, A::HandDown, R::QueueAdmin, &upper).map(|t| (t.to, t.effect)),
            Ok((S::Submitted, Effect::MoveQueueTo))
        );
    }

    #[test]
    fn escalating_with_skip_level_moves_two_levels() {
        let ctx = DecisionContext {
            queue_is_grid: true,
            skip_level: true,
            ..DecisionContext::default()
        };
        assert_eq!(
            decide(S::InProgress, A::Escalate, R::QueueWorker, &ctx).map(|t| t.effect),
            Ok(Effect::MoveQueueUp { levels: 2 })
        );
    }

    #[test]
    fn a_second_extension_request_or_rating_is_an_invalid_transition() {
        let ctx = DecisionContext {
            queue_is_grid: true,
            extension_pending: true,
            already_rated: true,
            ..DecisionContext::default()
        };
        assert!(matches!(
            decide(S::InProgress, A::RequestExtension, R::QueueWorker, &ctx),
            Err(TransitionError::InvalidTransition { .. })
        ));
        assert!(matches!(
            decide(S::Closed, A::Rate, R::Reporter, &ctx),
            Err(TransitionError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn only_the_system_auto_closes() {
        let ctx = DecisionContext::default();
        assert!(decide(S::Resolved, A::AutoClose, R::System, &ctx).is_ok());
        for actor in [R::Reporter, R::QueueWorker, R::QueueAdmin, R::Other] {
            assert_eq!(
                decide(S::Resolved, A::AutoClose, actor, &ctx),
                Err(TransitionError::Forbidden)
            );
        }
        assert!(!A::AutoClose.is_client_action());
        assert!(A::ALL.iter().filter(|a| !a.is_client_action()).count() == 1);
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(
                serde_json::from_str::<S>(&json).expect("deserialize"),
                status
            );
        }
        for action in A::ALL {
            assert_eq!(A::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).expect("serialize");
            assert_eq!(json, format!("\"{}\"", action.as_str()));
        }
        assert_eq!(S::parse("In_Progress"), None);
        assert_eq!(A::parse(""), None);
    }

    #[test]
    fn status_predicates() {
        let open: Vec<S> = S::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            [
                S::Submitted,
                S::Accepted,
                S::InProgress,
                S::Escalated,
                S::Suspended,
                S::Resolved
            ]
        );
        let running: Vec<S> = S::ALL.into_iter().filter(|s| s.clock_running()).collect();
        assert_eq!(running, [S::Accepted, S::InProgress]);
        let handled: Vec<S> = S::ALL.into_iter().filter(|s| s.is_handled()).collect();
        assert_eq!(handled, [S::Resolved, S::Closed]);
    }

    #[test]
    fn ratings_are_one_to_five() {
        for value in 0..=u8::MAX {
            let rating = Rating::try_from(value);
            if (1..=5).contains(&value) {
                let rating = rating.expect("in range");
                assert_eq!(rating.get(), value);
                assert_eq!(rating.is_satisfied(), value >= 4);
            } else {
                assert_eq!(rating, Err(RatingOutOfRange(value)));
            }
        }
        assert_eq!(
            RatingOutOfRange(6).to_string(),
            "a rating must be between 1 and 5, got 6"
        );
        assert_eq!(serde_json::to_string(&Rating(4)).expect("serialize"), "4");
        assert_eq!(
            serde_json::from_str::<Rating>("5").expect("deserialize"),
            Rating(5)
        );
        assert!(serde_json::from_str::<Rating>("0").is_err());
        assert!(serde_json::from_str::<Rating>("6").is_err());
    }

    #[test]
    fn light_thresholds() {
        // A 100-second limit starting at 1,000 s.
        let (start, deadline) = (1_000_000, 1_100_000);
        assert_eq!(light(start, deadline, start - 5), Light::Green);
        assert_eq!(light(start, deadline, start), Light::Green);
        assert_eq!(light(start, deadline, 1_079_999), Light::Green);
        assert_eq!(light(start, deadline, 1_080_000), Light::Yellow);
        assert_eq!(light(start, deadline, deadline), Light::Yellow);
        assert_eq!(light(start, deadline, deadline + 1), Light::Red);
        // Degenerate spans.
        assert_eq!(light(start, start, start - 1), Light::Green);
        assert_eq!(light(start, start, start), Light::Red);
        assert_eq!(light(start, start - 10, start - 10), Light::Red);
        assert_eq!(light(start, start - 10, start - 11), Light::Green);
        // Extremes do not overflow.
        assert_eq!(light(i64::MIN, i64::MAX, 0), Light::Green);
        assert_eq!(light(i64::MIN, i64::MAX, i64::MAX), Light::Yellow);
        assert_eq!(
            serde_json::to_string(&Light::Yellow).expect("serialize"),
            "\"yellow\""
        );
    }
}
