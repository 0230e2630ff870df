//! Coordinated handling (DOMAIN.md §8), the pure part: what a dispatch, a sign-for, a return,
//! a unit's resolution or a rework does to the report's unit assignments (`report_units`),
//! and the deadlines a dispatch sets. `plan::plan` calls these; `to_statements` turns the
//! result into the statements the one writer runs in the report's transaction.
//!
//! The assignment is a parallel record beside the report's status, not a status of its own:
//! the report stays in its queue (the dispatcher's) and in the state machine clients know,
//! while each row says what one unit owes: `dispatched → signed → resolved`, or `returned`
//! (by the unit) or `withdrawn` (by a new dispatch). Rows are never deleted; the unit
//! metrics count them.

use sea_orm::sea_query::{Expr, InsertStatement, UpdateStatement};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::calendar::{TimeLimit, WorkCalendar};
use super::categories::{self, Urgency};
use entity::enums::{AssignmentStatus, UnitRole};
use entity::report_units::{self, Column as U};

/// The sign-for limit when the category names none: 2 working hours (DOMAIN.md §8).
pub const DEFAULT_SIGN_HOURS: u32 = 2;

/// A unit chosen by a dispatch, already checked to exist, be active and serve the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub code: String,
    pub role: UnitRole,
}

/// What a dispatch request asks, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DispatchInput {
    pub lead_unit: String,
    /// Without the lead, without repeats.
    pub assist_units: Vec<String>,
    pub instruction: Option<String>,
    /// The handling limit in working hours; the category's limit when absent.
    pub limit_hours: Option<u32>,
}

impl DispatchInput {
    /// The units in dispatch order: the lead first.
    pub fn chosen(&self) -> Vec<Chosen> {
        std::iter::once(Chosen {
            code: self.lead_unit.clone(),
            role: UnitRole::Lead,
        })
        .chain(self.assist_units.iter().map(|code| Chosen {
            code: code.clone(),
            role: UnitRole::Assist,
        }))
        .collect()
    }
}

/// The two clocks of a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Sign for it by then.
    pub sign: i64,
    /// Resolve it by then.
    pub handle: i64,
}

/// The deadlines of a dispatch at `now`: the sign-for limit (`sign_hours` working hours, 2
/// by default) and the handling limit (`limit_hours` working hours if the dispatcher named
/// one, else the category's limit at the report's urgency), both on the working calendar.
pub fn deadlines(
    calendar: &WorkCalendar,
    now: i64,
    sign_hours: Option<u32>,
    limit_hours: Option<u32>,
    category_limit: TimeLimit,
    urgency: Urgency,
) -> Deadlines {
    let sign_hours = sign_hours.unwrap_or(DEFAULT_SIGN_HOURS);
    Deadlines {
        sign: calendar.deadline(now, TimeLimit::WorkingHours(sign_hours)),
        handle: match limit_hours {
            Some(h) => calendar.deadline(now, TimeLimit::WorkingHours(h)),
            None => categories::deadline(calendar, category_limit, urgency, now),
        },
    }
}

/// What one action does to the report's assignments.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitChange {
    /// Nothing.
    None,
    /// Withdraw what units hold unanswered or in hand, then assign `rows`.
    Dispatch { rows: Vec<report_units::Model> },
    /// The lead assignment `id` is signed for by `by`.
    Sign { id: String, by: String },
    /// The lead assignment `id` goes back with `reason`; the assisting ones are withdrawn.
    Return { id: String, reason: String },
    /// The lead unit resolved: every signed assignment is resolved.
    Resolved,
    /// A rework of a unit's result: every resolved assignment is signed again.
    Reopened,
}

/// The assignments of a dispatch: one row per chosen unit. Assisting units are not asked to
/// sign for their part: they are `signed` from the dispatch on and only add notes.
pub fn assignments(
    report_id: &str,
    input: &DispatchInput,
    dispatched_by: Option<&str>,
    d: Deadlines,
    now: i64,
) -> Vec<report_units::Model> {
    input
        .chosen()
        .into_iter()
        .map(|unit| {
            let lead = unit.role == UnitRole::Lead;
            report_units::Model {
                id: crate::util::new_id(),
                report_id: report_id.to_owned(),
                unit_code: unit.code,
                role: unit.role,
                status: if lead {
                    AssignmentStatus::Dispatched
                } else {
                    AssignmentStatus::Signed
                },
                instruction: input.instruction.clone(),
                dispatched_by: dispatched_by.map(str::to_owned),
                dispatched_at: now,
                sign_deadline: d.sign,
                deadline: d.handle,
                signed_at: (!lead).then_some(now),
                signed_by: None,
                returned_at: None,
                return_reason: None,
                resolved_at: None,
                updated_at: now,
            }
        })
        .collect()
}

/// The lead assignment that holds the case (dispatched, signed or resolved), if any.
pub fn holding_lead(rows: &[report_units::Model]) -> Option<&report_units::Model> {
    rows.iter()
        .find(|a| a.role == UnitRole::Lead && a.status.holds())
}

/// The units an event about the case reaches: those holding it, and those the change
/// touches (a new dispatch's units, a withdrawn or returning unit).
pub fn units_told(rows: &[report_units::Model], change: &UnitChange) -> Vec<String> {
    let mut codes: Vec<String> = rows
        .iter()
        .filter(|a| a.status.holds())
        .map(|a| a.unit_code.clone())
        .collect();
    if let UnitChange::Dispatch { rows } = change {
        codes.extend(rows.iter().map(|a| a.unit_code.clone()));
    }
    codes.sort();
    codes.dedup();
    codes
}

fn in_states(q: UpdateStatement, states: &[AssignmentStatus]) -> UpdateStatement {
    let mut q = q;
    q.and_where(Expr::col(U::Status).is_in(states.iter().map(|s| s.as_str())));
    q
}

/// The statements of `change` on the assignments of `report_id` at `now`: updates first
/// (withdraw, return), then the new rows.
pub fn to_statements(
    change: &UnitChange,
    report_id: &str,
    now: i64,
) -> (Vec<UpdateStatement>, Vec<InsertStatement>) {
    use AssignmentStatus as A;
    let of_report = || {
        report_units::Entity::update_many()
            .col_expr(U::UpdatedAt, Expr::value(now))
            .filter(U::ReportId.eq(report_id))
    };
    let withdraw = || {
        in_states(
            of_report()
                .col_expr(U::Status, Expr::value(A::Withdrawn.as_str()))
                .into_query(),
            &[A::Dispatched, A::Signed],
        )
    };
    match change {
        UnitChange::None => (Vec::new(), Vec::new()),
        UnitChange::Dispatch { rows } => {
            let inserts = rows
                .iter()
                .map(|row| {
                    let am: report_units::ActiveModel = row.clone().into();
                    report_units::Entity::insert(am).into_query()
                })
                .collect();
            (vec![withdraw()], inserts)
        }
        UnitChange::Sign { id, by } => (
            vec![in_states(
                of_report()
                    .col_expr(U::Status, Expr::value(A::Signed.as_str()))
                    .col_expr(U::SignedAt, Expr::value(now))
                    .col_expr(U::SignedBy, Expr::value(by.clone()))
                    .filter(U::Id.eq(id.as_str()))
                    .into_query(),
                &[A::Dispatched],
            )],
            Vec::new(),
        ),
        UnitChange::Return { id, reason } => (
            vec![
                in_states(
                    of_report()
                        .col_expr(U::Status, Expr::value(A::Returned.as_str()))
                        .col_expr(U::ReturnedAt, Expr::value(now))
                        .col_expr(U::ReturnReason, Expr::value(reason.clone()))
                        .filter(U::Id.eq(id.as_str()))
                        .into_query(),
                    &[A::Dispatched],
                ),
                withdraw(),
            ],
            Vec::new(),
        ),
        UnitChange::Resolved => (
            vec![in_states(
                of_report()
                    .col_expr(U::Status, Expr::value(A::Resolved.as_str()))
                    .col_expr(U::ResolvedAt, Expr::value(now))
                    .into_query(),
                &[A::Signed],
            )],
            Vec::new(),
        ),
        UnitChange::Reopened => (
            vec![in_states(
                of_report()
                    .col_expr(U::Status, Expr::value(A::Signed.as_str()))
                    .col_expr(U::ResolvedAt, Expr::value(Option::<i64>::None))
                    .into_query(),
                &[A::Resolved],
            )],
            Vec::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_sign_for_limit_skips_the_weekend() {
        let cal = WorkCalendar::china_default();
        // Friday 2026-11-27 17:00 Shanghai: one working hour left that day, one on Monday.
        let d = deadlines(
            &cal,
            at("2026-11-27T17:00:00+08:00"),
            None,
            None,
            TimeLimit::WorkingDays(1),
            Urgency::Normal,
        );
        assert_eq!(d.sign, at("2026-11-30T10:00:00+08:00"));
    }

    #[test]
    fn the_sign_for_limit_skips_a_public_holiday() {
        let cal = WorkCalendar::china_default();
        // Wednesday 2026-09-30 17:30 Shanghai: National Day (1–7 October) follows; the next
        // working day is Thursday 8 October.
        let d = deadlines(
            &cal,
            at("2026-09-30T17:30:00+08:00"),
            Some(1),
            Some(3),
            TimeLimit::WorkingDays(1),
            Urgency::Normal,
        );
        assert_eq!(d.sign, at("2026-10-08T09:30:00+08:00"));
        assert_eq!(d.handle, at("2026-10-08T11:30:00+08:00"));
    }

    #[test]
    fn the_lead_must_sign_and_assistants_are_in_hand_from_the_start() {
        let input = DispatchInput {
            lead_unit: "GAS1".into(),
            assist_units: vec!["POL1".into()],
            instruction: Some("check the riser".into()),
            limit_hours: None,
        };
        let d = Deadlines {
            sign: 10,
            handle: 20,
        };
        let rows = assignments("r1", &input, Some("admin"), d, 5);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].role, rows[0].status, rows[0].signed_at),
            (UnitRole::Lead, AssignmentStatus::Dispatched, None)
        );
        assert_eq!(
            (rows[1].role, rows[1].status, rows[1].signed_at),
            (UnitRole::Assist, AssignmentStatus::Signed, Some(5))
        );
        assert!(rows
            .iter()
            .all(|r| r.sign_deadline == 10 && r.deadline == 20));
        assert_eq!(
            units_told(&[], &UnitChange::Dispatch { rows }),
            ["GAS1", "POL1"]
        );
    }
}
