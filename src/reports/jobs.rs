//! The report jobs: closing resolved reports nobody objected to, and telling the queue
//! about reports past their deadline. Both plan and write like any action.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

use super::actions::commit;
use super::plan::{self, ActionInput, Facts};
use super::status::{self, ActionKind, Actor, DecisionContext, ReportStatus};
use crate::cases::env::Env;
use crate::cases::write::{self, Write};
use crate::error::ApiResult;
use crate::notify::outbox;
use crate::util::now_ms;

use entity::reports;

/// Closes resolved reports nobody objected to within the confirmation window.
pub async fn auto_close(env: &Env<'_>) -> ApiResult<usize> {
    let cutoff = now_ms() - env.confirm_window_ms;
    let due = reports::Entity::find()
        .filter(reports::Column::Status.eq(ReportStatus::Resolved))
        .filter(reports::Column::ResolvedAt.lte(cutoff))
        .limit(500)
        .all(env.db)
        .await?;
    let snap = env.router.snapshot();
    let mut closed = 0;
    for r in due {
        let action = ActionKind::AutoClose;
        let ctx = DecisionContext::default();
        let Ok(t) = status::decide(r.status, action, Actor::System, &ctx) else {
            continue;
        };
        let now = now_ms();
        let facts = Facts {
            snap: &snap,
            calendar: env.calendar,
            limit: None,
            now,
            user_id: None,
            // The lead unit (if any) hears of the closing through `lead_unit`.
            units: &[],
            sign_hours: None,
            follow_up_after_ms: env.follow_up_after_ms,
        };
        let change = plan::plan(&r, t, action, Actor::System, ActionInput::default(), &facts)?;
        // Someone acting at the same moment wins; the job finds the report again next pass.
        if commit(env, &r, &change, None, now).await? {
            closed += 1;
        }
    }
    Ok(closed)
}

/// Emits one `report_overdue` event per report that passed its deadline. Not a transition:
/// the status stays, the report is only flagged as told (which is the write's guard).
pub async fn mark_overdue(env: &Env<'_>) -> ApiResult<usize> {
    let now = now_ms();
    let running: Vec<ReportStatus> = ReportStatus::ALL
        .into_iter()
        .filter(|s| s.clock_running())
        .collect();
    let late = reports::Entity::find()
        .filter(reports::Column::Status.is_in(running))
        .filter(reports::Column::Deadline.lt(now))
        .filter(reports::Column::OverdueNotified.eq(false))
        .limit(500)
        .all(env.db)
        .await?;
    let mut marked = 0;
    for r in late {
        let update = reports::Entity::update_many()
            .col_expr(reports::Column::OverdueNotified, Expr::value(true))
            .filter(reports::Column::Id.eq(&r.id))
            .filter(reports::Column::OverdueNotified.eq(false))
            .into_query();
        let told: Vec<String> = r.lead_unit.iter().cloned().collect();
        let event = outbox::insert_statement(&outbox::NewEvent {
            kind: outbox::EventKind::ReportOverdue,
            queue_code: &r.queue_code,
            queue_path: &r.queue_path,
            subject_id: &r.id,
            case_no: Some(&r.case_no),
            status: r.status.as_str(),
            notify_user: None,
            units: &told,
            at: now,
        });
        let w = Write {
            update,
            attach: None,
            updates: Vec::new(),
            rows: vec![event],
        };
        if write::apply(env.db, w).await? {
            marked += 1;
        }
    }
    if marked > 0 {
        env.outbox.written();
    }
    Ok(marked)
}
