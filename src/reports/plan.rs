//! The planning step: from a decided transition (`status::decide`) and the validated request,
//! the whole change to a report — new status, columns and timestamps, queue, timeline entry,
//! event, whom to tell, the dashboard mark — as plain data, without I/O. [`Change::to_write`]
//! turns it into the statements `cases::write::apply` runs; every action and every job of
//! reports goes through here, so none of them decides twice.

use sea_orm::sea_query::{Expr, SimpleExpr, Value};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::calendar::{TimeLimit, WorkCalendar};
use super::categories;
use super::dispatch::{self, DispatchInput, UnitChange};
use super::dto::ActionRequest;
use super::status::{
    ActionKind, Actor, AssignmentStatus, Effect, Rating, ReportStatus, Transition,
};
use crate::cases::write::{Tail, Write};
use crate::content::{optional_text, text_field, MAX_DESCRIPTION};
use crate::error::{ApiError, ApiResult};
use crate::grids::area::AreaLevel;
use crate::grids::router::Snapshot;
use crate::notify::outbox::{self, EventKind};
use crate::util::{parse_rfc3339, rfc3339};

use entity::reports::{self, Column as C};

/// The fields an action carries, validated for that action (400/422 before any I/O).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ActionInput {
    pub note: Option<String>,
    pub photo_ids: Vec<String>,
    pub grid_code: Option<String>,
    pub until: Option<i64>,
    pub rating: Option<Rating>,
    pub duplicate_of: Option<String>,
    pub dispatch: Option<DispatchInput>,
    pub mediation: Option<Mediation>,
    /// `follow_up`: kept, broken or unreachable.
    pub follow_up: Option<&'static str>,
}

/// A mediation as recorded (DOMAIN.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mediation {
    pub tier: &'static str,
    pub outcome: &'static str,
    pub parties: String,
    pub agreement: Option<String>,
}

/// The tiers of mediation, from the grid's door to the street's centre.
pub const TIERS: [&str; 5] = ["grid", "community", "lawyer", "street", "center"];
/// How a mediation ends.
pub const OUTCOMES: [&str; 5] = ["agreed", "partly_agreed", "failed", "court", "petition"];
/// What the follow-up visit found.
pub const FOLLOW_UP_RESULTS: [&str; 3] = ["kept", "broken", "unreachable"];

fn one_of(field: &str, value: Option<&str>, allowed: &[&'static str]) -> ApiResult<&'static str> {
    let v = value.map(str::trim).unwrap_or("");
    allowed
        .iter()
        .find(|a| **a == v)
        .copied()
        .ok_or_else(|| ApiError::invalid(field, format!("one of {}", allowed.join(", "))))
}

impl ActionInput {
    pub fn parse(action: ActionKind, req: &ActionRequest) -> ApiResult<Self> {
        let mut input = ActionInput::default();
        let reason = || text_field("reason", req.reason.as_deref(), 500);
        match action {
            ActionKind::Reject => {
                input.note = Some(reason()?);
                input.duplicate_of = req.duplicate_of.clone();
            }
            ActionKind::Note => {
                let text = req.text.as_deref().or(req.note.as_deref());
                input.note = Some(text_field("text", text, MAX_DESCRIPTION)?);
                input.photo_ids = req.photo_ids.clone();
            }
            ActionKind::Resolve => {
                let text = req.note.as_deref().or(req.text.as_deref());
                input.note = Some(text_field("note", text, MAX_DESCRIPTION)?);
                input.photo_ids = req.photo_ids.clone();
            }
            ActionKind::Escalate | ActionKind::Suspend | ActionKind::Rework => {
                input.note = Some(reason()?)
            }
            ActionKind::HandDown => {
                input.grid_code = Some(text_field("grid_code", req.grid_code.as_deref(), 64)?);
                input.note = req.reason.clone();
            }
            ActionKind::RequestExtension => {
                input.note = Some(reason()?);
                input.until = Some(
                    req.until
                        .as_deref()
                        .and_then(parse_rfc3339)
                        .ok_or_else(|| {
                            ApiError::invalid("until", "an RFC 3339 time is required")
                        })?,
                );
            }
            ActionKind::Rate => {
                input.rating = Some(
                    req.rating
                        .and_then(|n| u8::try_from(n).ok())
                        .and_then(|n| Rating::try_from(n).ok())
                        .ok_or_else(|| {
                            ApiError::invalid("rating", "must be a whole number from 1 to 5")
                        })?,
                );
                input.note = optional_text("comment", req.comment.as_deref(), 500)?;
            }
            ActionKind::Cancel => input.note = req.reason.clone(),
            ActionKind::Return => input.note = Some(reason()?),
            ActionKind::Mediate => {
                let mediation = Mediation {
                    tier: one_of("tier", req.tier.as_deref(), &TIERS)?,
                    outcome: one_of("outcome", req.outcome.as_deref(), &OUTCOMES)?,
                    parties: text_field("parties", req.parties.as_deref(), 500)?,
                    agreement: optional_text("agreement", req.agreement.as_deref(), 2000)?,
                };
                input.note = mediation.agreement.clone();
                input.mediation = Some(mediation);
            }
            ActionKind::FollowUp => {
                input.follow_up =
                    Some(one_of("result", req.result.as_deref(), &FOLLOW_UP_RESULTS)?);
                input.note = optional_text("note", req.note.as_deref(), 500)?;
            }
            ActionKind::Supervise => {
                let text = req.note.as_deref().or(req.text.as_deref());
                input.note = Some(text_field("note", text, 500)?);
            }
            ActionKind::Dispatch => {
                let lead = text_field("lead_unit", req.lead_unit.as_deref(), 32)?;
                let mut assist: Vec<String> = Vec::new();
                for code in &req.assist_units {
                    let code = text_field("assist_units", Some(code), 32)?;
                    if code != lead && !assist.contains(&code) {
                        assist.push(code);
                    }
                }
                if assist.len() > 10 {
                    return Err(ApiError::invalid(
                        "assist_units",
                        "at most 10 assisting units",
                    ));
                }
                let limit_hours = match req.limit_hours {
                    None => None,
                    Some(h @ 1..=2000) => Some(h as u32),
                    Some(_) => {
                        return Err(ApiError::invalid(
                            "limit_hours",
                            "a whole number of working hours from 1 to 2000",
                        ))
                    }
                };
                let instruction = optional_text("instruction", req.instruction.as_deref(), 2000)?;
                input.note = instruction.clone();
                input.dispatch = Some(DispatchInput {
                    lead_unit: lead,
                    assist_units: assist,
                    instruction,
                    limit_hours,
                });
            }
            ActionKind::Accept
            | ActionKind::Resume
            | ActionKind::ApproveExtension
            | ActionKind::Confirm
            | ActionKind::Sign
            | ActionKind::AutoClose => {}
        }
        Ok(input)
    }
}

/// What planning needs to know from outside the report: the area tree, and for an
/// acceptance the category's limit and the calendar.
pub struct Facts<'a> {
    pub snap: &'a Snapshot,
    pub calendar: &'a WorkCalendar,
    /// The category's time limit; read only when the change sets a deadline.
    pub limit: Option<TimeLimit>,
    pub now: i64,
    /// Who acts (`None` for a job).
    pub user_id: Option<&'a str>,
    /// The report's unit assignments, every state.
    pub units: &'a [entity::report_units::Model],
    /// The category's sign-for limit in working hours; read only by a dispatch.
    pub sign_hours: Option<u32>,
    /// How long after an agreement its follow-up visit falls due.
    pub follow_up_after_ms: i64,
}

/// The whole change one action makes to one report.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: ActionKind,
    pub from: ReportStatus,
    pub to: ReportStatus,
    /// Columns set besides status, version and updated_at.
    pub set: Vec<(C, Value)>,
    /// The queue the report moves to (code, path).
    pub queue: Option<(String, String)>,
    pub actor_role: &'static str,
    pub note: Option<String>,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub photo_ids: Vec<String>,
    /// The outbox event, if the action makes one.
    pub event: Option<EventKind>,
    /// Whether the reporter is told by subscribe message.
    pub notify_reporter: bool,
    /// What the action does to the unit assignments.
    pub units: UnitChange,
    /// The units the event reaches.
    pub units_told: Vec<String>,
}

/// The timeline's name for a relation.
pub fn actor_role(actor: Actor) -> &'static str {
    match actor {
        Actor::Reporter => "reporter",
        Actor::QueueWorker => "worker",
        Actor::QueueAdmin => "admin",
        Actor::System => "system",
        Actor::LeadUnit => "lead_unit",
        Actor::AssistUnit => "assist_unit",
        Actor::Other => "other",
    }
}

/// The event an action emits (none for notes, extension approvals and ratings).
pub fn event_kind(action: ActionKind) -> Option<EventKind> {
    Some(match action {
        ActionKind::Accept => EventKind::ReportAccepted,
        ActionKind::Reject => EventKind::ReportRejected,
        ActionKind::Escalate => EventKind::ReportEscalated,
        ActionKind::HandDown => EventKind::ReportHandedDown,
        ActionKind::Resolve => EventKind::ReportResolved,
        ActionKind::Confirm | ActionKind::AutoClose => EventKind::ReportClosed,
        ActionKind::Rework => EventKind::ReportRework,
        ActionKind::Cancel => EventKind::ReportCancelled,
        ActionKind::Suspend => EventKind::ReportSuspended,
        ActionKind::Resume => EventKind::ReportResumed,
        ActionKind::RequestExtension => EventKind::ReportExtensionRequested,
        ActionKind::Dispatch => EventKind::ReportDispatched,
        ActionKind::Sign => EventKind::ReportSigned,
        ActionKind::Return => EventKind::ReportReturned,
        ActionKind::Supervise => EventKind::ReportSupervised,
        ActionKind::Note
        | ActionKind::ApproveExtension
        | ActionKind::Rate
        | ActionKind::Mediate
        | ActionKind::FollowUp => return None,
    })
}

/// Plans `t` (already allowed by `status::decide`) on `r`. Fails only on what the request
/// names that the tree refuses (no level above, a grid outside the queue, an extension not
/// later than the deadline).
pub fn plan(
    r: &reports::Model,
    t: Transition,
    action: ActionKind,
    actor: Actor,
    input: ActionInput,
    facts: &Facts<'_>,
) -> ApiResult<Change> {
    let now = facts.now;
    let mut set: Vec<(C, Value)> = Vec::new();
    let mut data = serde_json::Map::new();
    let mut queue = None;
    let mut units = UnitChange::None;
    let none_i64 = || Value::BigInt(None);
    let category_limit = facts.limit.unwrap_or(TimeLimit::WorkingDays(5));
    // The first dispatch or sign-for of a case nobody accepted also accepts it.
    let accept_if_new = |set: &mut Vec<(C, Value)>, data: &mut serde_json::Map<_, _>| {
        if r.accepted_at.is_none() {
            set.push((C::AcceptedAt, now.into()));
        }
        if r.deadline.is_none() {
            let deadline = categories::deadline(facts.calendar, category_limit, r.urgency, now);
            set.push((C::Deadline, deadline.into()));
            data.insert("deadline".into(), rfc3339(deadline).into());
        }
    };
    let lead = dispatch::holding_lead(facts.units);
    match t.effect {
        Effect::None | Effect::RecordRating => {}
        Effect::CountRework => {
            if lead.is_some_and(|a| a.status == AssignmentStatus::Resolved) {
                units = UnitChange::Reopened;
            }
        }
        Effect::SetDeadline => {
            if r.deadline.is_none() {
                let deadline = categories::deadline(facts.calendar, category_limit, r.urgency, now);
                set.push((C::Deadline, deadline.into()));
                data.insert("deadline".into(), rfc3339(deadline).into());
            }
        }
        Effect::Dispatch => {
            let input = input
                .dispatch
                .clone()
                .ok_or_else(|| ApiError::invalid("lead_unit", "a lead unit is required"))?;
            let d = dispatch::deadlines(
                facts.calendar,
                now,
                facts.sign_hours,
                input.limit_hours,
                category_limit,
                r.urgency,
            );
            accept_if_new(&mut set, &mut data);
            set.push((C::LeadUnit, input.lead_unit.clone().into()));
            data.insert("lead_unit".into(), input.lead_unit.clone().into());
            data.insert("assist_units".into(), input.assist_units.clone().into());
            data.insert("sign_deadline".into(), rfc3339(d.sign).into());
            data.insert("unit_deadline".into(), rfc3339(d.handle).into());
            let rows = dispatch::assignments(&r.id, &input, facts.user_id, d, now);
            units = UnitChange::Dispatch { rows };
        }
        Effect::Sign => {
            let lead =
                lead.ok_or_else(|| ApiError::invalid_transition("not_dispatched", "sign"))?;
            accept_if_new(&mut set, &mut data);
            data.insert("unit".into(), lead.unit_code.clone().into());
            units = UnitChange::Sign {
                id: lead.id.clone(),
                by: facts.user_id.unwrap_or_default().to_owned(),
            };
        }
        Effect::Return { escalate } => {
            let lead =
                lead.ok_or_else(|| ApiError::invalid_transition("not_dispatched", "return"))?;
            set.push((C::LeadUnit, Value::String(None)));
            set.push((C::ReturnCount, (r.return_count + 1).into()));
            data.insert("unit".into(), lead.unit_code.clone().into());
            if escalate {
                // 提级督办: one level up where there is one, supervised either way.
                set.push((C::Supervised, true.into()));
                if let Ok(above) = queue_above(facts.snap, &r.queue_code, 1) {
                    data.insert("to_queue".into(), above.0.clone().into());
                    queue = Some(above);
                }
            }
            units = UnitChange::Return {
                id: lead.id.clone(),
                reason: input.note.clone().unwrap_or_default(),
            };
        }
        Effect::UnitResolved => units = UnitChange::Resolved,
        Effect::Supervise => set.push((C::Supervised, true.into())),
        Effect::Mediate => {
            let m = input
                .mediation
                .clone()
                .ok_or_else(|| ApiError::invalid("outcome", "required"))?;
            set.push((C::MediationTier, m.tier.into()));
            set.push((C::MediationOutcome, m.outcome.into()));
            set.push((C::MediatedAt, now.into()));
            // An agreement is visited again a week later; another mediation resets it.
            let due = matches!(m.outcome, "agreed" | "partly_agreed")
                .then_some(now + facts.follow_up_after_ms);
            set.push((C::FollowUpDue, due.into()));
            set.push((C::FollowUpResult, Value::String(None)));
            set.push((C::FollowUpAt, none_i64()));
            data.insert("tier".into(), m.tier.into());
            data.insert("outcome".into(), m.outcome.into());
            data.insert("parties".into(), m.parties.into());
            if let Some(due) = due {
                data.insert("follow_up_due".into(), rfc3339(due).into());
            }
        }
        Effect::FollowUp => {
            let result = input
                .follow_up
                .ok_or_else(|| ApiError::invalid("result", "required"))?;
            set.push((C::FollowUpResult, result.into()));
            set.push((C::FollowUpAt, now.into()));
            data.insert("result".into(), result.into());
        }
        Effect::StopClock => set.push((C::SuspendedAt, now.into())),
        Effect::RestartClock => {
            // The clock stood still while suspended: the deadline moves by that much.
            if let (Some(deadline), Some(since)) = (r.deadline, r.suspended_at) {
                set.push((C::Deadline, (deadline + (now - since)).into()));
            }
            set.push((C::SuspendedAt, none_i64()));
        }
        Effect::MoveQueueUp { levels } => {
            let target = queue_above(facts.snap, &r.queue_code, levels)?;
            data.insert("to_queue".into(), target.0.clone().into());
            queue = Some(target);
        }
        Effect::MoveQueueTo => {
            let code = input.grid_code.clone().unwrap_or_default();
            let grid = facts
                .snap
                .areas
                .get(&code)
                .filter(|g| g.level == AreaLevel::Grid)
                .ok_or_else(|| ApiError::invalid("grid_code", "no such grid"))?;
            if !grid.path.starts_with(&r.queue_path) {
                return Err(ApiError::invalid(
                    "grid_code",
                    "the grid is not below this queue",
                ));
            }
            data.insert("to_queue".into(), code.into());
            queue = Some((grid.code.clone(), grid.path.clone()));
        }
        Effect::ExtensionRequested => {
            let until = input.until.unwrap_or(0);
            if until <= r.deadline.unwrap_or(now).max(now) {
                return Err(ApiError::invalid(
                    "until",
                    "must be later than the current deadline",
                ));
            }
            set.push((C::ExtensionUntil, until.into()));
            set.push((C::ExtensionReason, input.note.clone().into()));
            data.insert("until".into(), rfc3339(until).into());
        }
        Effect::DeadlineExtended => {
            if let Some(until) = r.extension_until {
                set.push((C::Deadline, until.into()));
                data.insert("deadline".into(), rfc3339(until).into());
            }
            set.push((C::ExtensionUntil, none_i64()));
            set.push((C::ExtensionReason, Value::String(None)));
        }
    }
    match action {
        ActionKind::Accept if r.accepted_at.is_none() => set.push((C::AcceptedAt, now.into())),
        ActionKind::Reject => {
            if let Some(dup) = &input.duplicate_of {
                set.push((C::DuplicateOf, dup.clone().into()));
                data.insert("duplicate_of".into(), dup.clone().into());
            }
        }
        ActionKind::Resolve => set.push((C::ResolvedAt, now.into())),
        ActionKind::Confirm | ActionKind::AutoClose => set.push((C::ClosedAt, now.into())),
        ActionKind::Rework => {
            set.push((C::ReworkCount, (r.rework_count + 1).into()));
            set.push((C::ResolvedAt, none_i64()));
        }
        ActionKind::Rate => {
            if let Some(rating) = input.rating {
                set.push((C::Rating, i16::from(rating.get()).into()));
                data.insert("rating".into(), rating.get().into());
            }
            set.push((C::RatingComment, input.note.clone().into()));
        }
        _ => {}
    }
    let note = match action {
        ActionKind::AutoClose => Some("No objection within the confirmation window".into()),
        _ => input.note,
    };
    let mut units_told = dispatch::units_told(facts.units, &units);
    if let Some(code) = r.lead_unit.as_ref().filter(|c| !units_told.contains(c)) {
        units_told.push(code.clone());
    }
    Ok(Change {
        units,
        units_told,
        action,
        from: t.from,
        to: t.to,
        set,
        queue,
        actor_role: actor_role(actor),
        note,
        data,
        photo_ids: input.photo_ids,
        event: event_kind(action),
        notify_reporter: matches!(
            action,
            ActionKind::Accept | ActionKind::Resolve | ActionKind::Confirm | ActionKind::AutoClose
        ),
    })
}

/// The queue `levels` above `queue_code` (code, path); 409 at the top of the tree.
fn queue_above(snap: &Snapshot, queue_code: &str, levels: u8) -> ApiResult<(String, String)> {
    let mut target = snap.areas.get(queue_code);
    for _ in 0..levels {
        target = target
            .and_then(|a| a.parent_code.as_ref())
            .and_then(|p| snap.areas.get(p));
    }
    let target = target.ok_or_else(|| ApiError::invalid_transition("at_top_level", "escalate"))?;
    Ok((target.code.clone(), target.path.clone()))
}

impl Change {
    /// The statements of this change to `r` by `user_id` at `now`: an UPDATE guarded by the
    /// version `r` was read at, the timeline row, the outbox row, the photos to attach.
    pub fn to_write(&self, r: &reports::Model, user_id: Option<&str>, now: i64) -> Write {
        let mut update = reports::Entity::update_many()
            .col_expr(C::Status, Expr::value(self.to))
            .col_expr(C::Version, Expr::value(r.version + 1))
            .col_expr(C::UpdatedAt, Expr::value(now));
        let accepts = self.set.iter().any(|(c, _)| matches!(c, C::AcceptedAt));
        if self.action == ActionKind::Accept || accepts {
            update = update.col_expr(C::AcceptedBy, Expr::value(user_id.map(str::to_owned)));
        }
        for (column, value) in &self.set {
            update = update.col_expr(*column, SimpleExpr::Value(value.clone()));
        }
        let (queue_code, queue_path) = match &self.queue {
            Some((code, path)) => {
                update = update
                    .col_expr(C::QueueCode, Expr::value(code.clone()))
                    .col_expr(C::QueuePath, Expr::value(path.clone()));
                (code.as_str(), path.as_str())
            }
            None => (r.queue_code.as_str(), r.queue_path.as_str()),
        };
        let update = update
            .filter(C::Id.eq(&r.id))
            .filter(C::Version.eq(r.version))
            .into_query();
        let event = self.event.map(|kind| outbox::NewEvent {
            kind,
            queue_code,
            queue_path,
            subject_id: &r.id,
            case_no: Some(&r.case_no),
            status: self.to.as_str(),
            notify_user: self.notify_reporter.then_some(r.reporter_id.as_str()),
            units: &self.units_told,
            at: now,
        });
        let (unit_updates, unit_rows) = dispatch::to_statements(&self.units, &r.id, now);
        let mut write = Write::new(
            update,
            Tail {
                subject_kind: "report",
                subject_id: &r.id,
                actor_id: user_id,
                actor_role: self.actor_role,
                action: self.action.as_str(),
                from: self.from.as_str(),
                to: self.to.as_str(),
                note: self.note.clone(),
                data: self.data.clone(),
                photo_ids: &self.photo_ids,
                event,
                at: now,
            },
        );
        write.updates.extend(unit_updates);
        write.rows.extend(unit_rows);
        write
    }
}
