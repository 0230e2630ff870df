//! Volunteer self-registration: a WeChat user applies for a unit and an area, an admin
//! above that area approves.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};

use super::dto::*;
use super::views::nickname_phone;
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::content::text_field;
use crate::error::{ApiError, ApiResult, Code};
use crate::paging::parse_cursor;
use crate::util::{new_id, now_ms, rfc3339};

use entity::volunteer_requests as vr;

async fn request_view(env: &Env<'_>, r: vr::Model) -> ApiResult<VolunteerRequestView> {
    let nickname = nickname_phone(env, &r.user_id)
        .await?
        .map(|u| u.nickname)
        .unwrap_or_default();
    Ok(VolunteerRequestView {
        id: r.id,
        user_id: r.user_id,
        nickname,
        unit: r.unit,
        area_code: r.area_code,
        status: r.status,
        reason: r.decision_reason,
        created_at: rfc3339(r.created_at),
        decided_at: r.decided_at.map(rfc3339),
    })
}

/// A WeChat user asks to become a volunteer for a unit; `Ok((view, created))`. A second
/// application while one is pending updates it instead of adding another.
pub async fn apply_volunteer(
    env: &Env<'_>,
    who: &Principal,
    input: VolunteerApplication,
) -> ApiResult<(VolunteerRequestView, bool)> {
    if !who.is_resident() {
        return Err(ApiError::forbidden());
    }
    if who.is_volunteer() {
        return Err(ApiError::new(
            Code::AlreadyEnrolled,
            "You are already a volunteer.",
            "您已经是志愿者。",
        ));
    }
    let unit = text_field("unit", Some(&input.unit), 200)?;
    let snap = env.router.snapshot();
    let area = snap
        .areas
        .get(input.area_code.trim())
        .ok_or_else(|| ApiError::invalid("area_code", "no such area"))?;
    let now = now_ms();
    let pending = vr::Entity::find()
        .filter(vr::Column::UserId.eq(who.id()))
        .filter(vr::Column::Status.eq("pending"))
        .one(env.db)
        .await?;
    let (row, created) = match pending {
        Some(p) => {
            let mut am: vr::ActiveModel = p.into();
            am.unit = Set(unit);
            am.area_code = Set(area.code.clone());
            am.area_path = Set(area.path.clone());
            (am.update(env.db).await?, false)
        }
        None => (
            vr::ActiveModel {
                id: Set(new_id()),
                user_id: Set(who.id().into()),
                unit: Set(unit),
                area_code: Set(area.code.clone()),
                area_path: Set(area.path.clone()),
                status: Set("pending".into()),
                decided_by: Set(None),
                decided_at: Set(None),
                created_at: Set(now),
                decision_reason: Set(None),
            }
            .insert(env.db)
            .await?,
            true,
        ),
    };
    Ok((request_view(env, row).await?, created))
}

/// Volunteer applications in the admin's area, newest first (`status` default pending).
pub async fn volunteer_requests(
    env: &Env<'_>,
    who: &Principal,
    status: Option<&str>,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<VolunteerRequestPage> {
    let area = who.admin_area.as_ref().ok_or_else(ApiError::forbidden)?;
    let status = status.unwrap_or("pending");
    if !matches!(status, "pending" | "approved" | "rejected") {
        return Err(ApiError::invalid("status", "pending, approved or rejected"));
    }
    let mut q = vr::Entity::find()
        .filter(vr::Column::AreaPath.starts_with(&area.path))
        .filter(vr::Column::Status.eq(status))
        .order_by_desc(vr::Column::CreatedAt)
        .order_by_desc(vr::Column::Id)
        .limit(limit + 1);
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any().add(vr::Column::CreatedAt.lt(k)).add(
                Condition::all()
                    .add(vr::Column::CreatedAt.eq(k))
                    .add(vr::Column::Id.lt(id)),
            ),
        );
    }
    let mut rows = q.all(env.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", r.created_at, r.id))
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(request_view(env, r).await?);
    }
    Ok(VolunteerRequestPage { items, next_cursor })
}

/// An admin above the applicant's area approves: the user becomes a volunteer of that unit.
pub async fn approve_volunteer(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
) -> ApiResult<VolunteerRequestView> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let r = vr::Entity::find_by_id(id.to_string())
        .one(env.db)
        .await?
        .filter(|r| who.administers_path(&r.area_path))
        .ok_or_else(ApiError::not_found)?;
    if r.status != "pending" {
        return Err(ApiError::invalid_transition(&r.status, "approve"));
    }
    let now = now_ms();
    let txn = env.db.begin().await?;
    let won = vr::Entity::update_many()
        .col_expr(vr::Column::Status, Expr::value("approved"))
        .col_expr(vr::Column::DecidedBy, Expr::value(who.id()))
        .col_expr(vr::Column::DecidedAt, Expr::value(now))
        .filter(vr::Column::Id.eq(&r.id))
        .filter(vr::Column::Status.eq("pending"))
        .exec(&txn)
        .await?
        .rows_affected;
    if won == 0 {
        return Err(ApiError::invalid_transition("approved", "approve"));
    }
    entity::users::Entity::update_many()
        .col_expr(entity::users::Column::IsVolunteer, Expr::value(true))
        .col_expr(
            entity::users::Column::VolunteerUnit,
            Expr::value(r.unit.clone()),
        )
        .filter(entity::users::Column::Id.eq(&r.user_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let r = vr::Entity::find_by_id(id.to_string())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    request_view(env, r).await
}

/// An admin above the applicant's area rejects a pending application, with a reason the
/// applicant reads; the user gains nothing.
pub async fn reject_volunteer(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    reason: &str,
) -> ApiResult<VolunteerRequestView> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let reason = text_field("reason", Some(reason), 500)?;
    let r = vr::Entity::find_by_id(id.to_string())
        .one(env.db)
        .await?
        .filter(|r| who.administers_path(&r.area_path))
        .ok_or_else(ApiError::not_found)?;
    let won = vr::Entity::update_many()
        .col_expr(vr::Column::Status, Expr::value("rejected"))
        .col_expr(vr::Column::DecidedBy, Expr::value(who.id()))
        .col_expr(vr::Column::DecidedAt, Expr::value(now_ms()))
        .col_expr(vr::Column::DecisionReason, Expr::value(reason))
        .filter(vr::Column::Id.eq(&r.id))
        .filter(vr::Column::Status.eq("pending"))
        .exec(env.db)
        .await?
        .rows_affected;
    if won == 0 {
        return Err(ApiError::invalid_transition(&r.status, "reject"));
    }
    let r = vr::Entity::find_by_id(id.to_string())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    request_view(env, r).await
}
