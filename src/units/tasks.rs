//! The unit staff's queue (`GET /unit/tasks`): the cases their units hold unanswered or in
//! hand, soonest handling deadline first, with a light on each clock. A page is rendered in
//! a fixed number of queries: the assignments, their reports, then the report page's own.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::dto::{UnitTask, UnitTaskPage};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult};
use crate::paging::parse_cursor;
use crate::reports::status::{light, Light};
use crate::reports::views::render_many;
use crate::util::{now_ms, rfc3339};

use entity::enums::AssignmentStatus;
use entity::{report_units, reports};

/// Filters of the unit queue.
#[derive(Default)]
pub struct UnitTaskFilter {
    /// One state; by default those the unit still owes something in (dispatched, signed).
    pub status: Option<AssignmentStatus>,
    /// One of the caller's units; all of them by default.
    pub unit: Option<String>,
}

/// The light of a clock from `start` to `deadline` that stopped at `done` (or still runs).
fn clock(start: i64, deadline: i64, done: Option<i64>, now: i64) -> Light {
    match done {
        Some(at) if at <= deadline => Light::Green,
        Some(_) => Light::Red,
        None => light(start, deadline, now),
    }
}

/// The sign-for light and the handling light of an assignment at `now`.
pub fn lights(a: &report_units::Model, now: i64) -> (Light, Light) {
    let handled = a.resolved_at.or(a.returned_at);
    (
        clock(
            a.dispatched_at,
            a.sign_deadline,
            a.signed_at.or(a.returned_at),
            now,
        ),
        clock(a.dispatched_at, a.deadline, handled, now),
    )
}

pub async fn tasks(
    env: &Env<'_>,
    who: &Principal,
    f: UnitTaskFilter,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<UnitTaskPage> {
    let mut units: Vec<&str> = who.unit_codes().collect();
    if units.is_empty() {
        return Err(ApiError::forbidden());
    }
    if let Some(u) = &f.unit {
        if !who.staffs_unit(u) {
            return Err(ApiError::invalid("unit", "not one of your units"));
        }
        units = vec![u.as_str()];
    }
    let states: Vec<&str> = match f.status {
        Some(s) => vec![s.as_str()],
        None => vec![
            AssignmentStatus::Dispatched.as_str(),
            AssignmentStatus::Signed.as_str(),
        ],
    };
    let mut q = report_units::Entity::find()
        .filter(report_units::Column::UnitCode.is_in(units))
        .filter(report_units::Column::Status.is_in(states))
        .order_by_asc(report_units::Column::Deadline)
        .order_by_asc(report_units::Column::Id)
        .limit(limit + 1);
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any()
                .add(Expr::col(report_units::Column::Deadline).gt(k))
                .add(
                    Condition::all()
                        .add(report_units::Column::Deadline.eq(k))
                        .add(report_units::Column::Id.gt(id)),
                ),
        );
    }
    let mut rows = q.all(&env.conn).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|a| format!("{}_{}", a.deadline, a.id))
    } else {
        None
    };
    let ids: Vec<&str> = rows.iter().map(|a| a.report_id.as_str()).collect();
    let reports = if ids.is_empty() {
        Vec::new()
    } else {
        reports::Entity::find()
            .filter(reports::Column::Id.is_in(ids))
            .all(&env.conn)
            .await?
    };
    let snap = env.router.snapshot();
    let mut views: HashMap<String, crate::reports::dto::ReportView> =
        render_many(env, who, &snap, reports)
            .await?
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
    let now = now_ms();
    let items = rows
        .into_iter()
        .filter_map(|a| {
            let report = views.remove(&a.report_id)?;
            let (sign_light, light) = lights(&a, now);
            Some(UnitTask {
                unit_code: a.unit_code,
                role: a.role,
                status: a.status,
                instruction: a.instruction,
                dispatched_at: rfc3339(a.dispatched_at),
                sign_deadline: rfc3339(a.sign_deadline),
                deadline: rfc3339(a.deadline),
                sign_light,
                light,
                report,
            })
        })
        .collect();
    Ok(UnitTaskPage { items, next_cursor })
}
