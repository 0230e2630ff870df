//! The worker's queue (`GET /worker/tasks`): their grids' open reports and the disputes whose
//! follow-up visit is due — an admin's: their area's — soonest deadline first, filtered by
//! state, light, grid and category, keyset-paged.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::dto::ReportPage;
use super::status::{Light, ReportStatus};
use super::views::page;
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult};
use crate::paging::parse_cursor;
use crate::util::now_ms;

use entity::reports;

/// Filters of the worker queue.
#[derive(Default)]
pub struct TaskFilter {
    pub states: Vec<ReportStatus>,
    pub light: Option<Light>,
    pub grid: Option<String>,
    pub category: Option<String>,
}

/// The queue's sort key: the deadline, or the submission time while unaccepted.
fn sort_key() -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Func::coalesce([
        Expr::col(reports::Column::Deadline).into(),
        Expr::col(reports::Column::SubmittedAt).into(),
    ])
    .into()
}

/// 80 % of the limit used: accepted + 0.8 × (deadline − accepted) ≤ now, in integers.
fn yellow_or_worse(now: i64) -> sea_orm::sea_query::SimpleExpr {
    Expr::expr(
        Expr::col(reports::Column::AcceptedAt).add(Expr::col(reports::Column::Deadline).mul(4)),
    )
    .lte(5 * now)
}

/// The worker's queue: their grids' open reports (an admin's: their area's), soonest first.
pub async fn tasks(
    env: &Env<'_>,
    who: &Principal,
    f: TaskFilter,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<ReportPage> {
    let grids: Vec<String> = who.worker_grids().map(str::to_owned).collect();
    let mut scope = Condition::any();
    if !grids.is_empty() {
        scope = scope.add(reports::Column::QueueCode.is_in(grids));
    }
    if let Some(area) = &who.admin_area {
        scope = scope.add(reports::Column::QueuePath.starts_with(&area.path));
    }
    if scope.is_empty() {
        return Err(ApiError::forbidden());
    }
    let default_states = f.states.is_empty();
    let states = if default_states {
        vec![
            ReportStatus::Submitted,
            ReportStatus::Accepted,
            ReportStatus::InProgress,
            ReportStatus::Escalated,
            ReportStatus::Suspended,
        ]
    } else {
        f.states
    };
    let now = now_ms();
    let mut q = reports::Entity::find()
        .filter(scope)
        .filter(if default_states {
            // Open cases, and agreements whose follow-up visit is still to be made.
            Condition::any()
                .add(reports::Column::Status.is_in(states))
                .add(
                    Condition::all()
                        .add(reports::Column::FollowUpDue.is_not_null())
                        .add(reports::Column::FollowUpAt.is_null()),
                )
        } else {
            Condition::all().add(reports::Column::Status.is_in(states))
        })
        .order_by_asc(sort_key())
        .order_by_asc(reports::Column::Id)
        .limit(limit + 1);
    if let Some(g) = &f.grid {
        q = q.filter(reports::Column::QueueCode.eq(g.as_str()));
    }
    if let Some(c) = &f.category {
        q = q.filter(reports::Column::Category.eq(c.as_str()));
    }
    q = match f.light {
        None => q,
        Some(Light::Red) => q.filter(reports::Column::Deadline.lt(now)),
        Some(Light::Yellow) => q
            .filter(reports::Column::Deadline.gte(now))
            .filter(yellow_or_worse(now)),
        Some(Light::Green) => q.filter(
            Condition::any()
                .add(reports::Column::Deadline.is_null())
                .add(yellow_or_worse(now).not()),
        ),
    };
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any().add(Expr::expr(sort_key()).gt(k)).add(
                Condition::all()
                    .add(Expr::expr(sort_key()).eq(k))
                    .add(reports::Column::Id.gt(id)),
            ),
        );
    }
    let rows = q.all(&env.conn).await?;
    page(env, who, rows, limit, |r| {
        r.deadline.unwrap_or(r.submitted_at)
    })
    .await
}
