//! The security admin's work on accounts (MLPS separated duties, DOMAIN.md §10): lifting a
//! lockout, resetting a password (a temporary one that must be changed first), and granting
//! or withdrawing a separated duty. Only `duty = security` may; nobody acts on their own
//! account (403 `self_grant`). Each change and its audit record share one transaction.

use actix_web::{post, put, web};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::compliance::audit;
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;
use crate::util::{now_ms, random_token};
use entity::{refresh_tokens, users};

/// The duties an account can hold (`users.duty`).
pub const DUTIES: [&str; 3] = ["system", "security", "audit"];

#[derive(Serialize, ToSchema)]
pub struct AccountUnlocked {
    pub id: String,
    pub locked: bool,
}

/// A temporary password, shown once: the account must change it at its next login.
#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    pub id: String,
    pub temporary_password: String,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct DutyGrant {
    /// `system`, `security` or `audit`; null withdraws the account's duty.
    pub duty: Option<String>,
}

/// Only the security admin, never on their own account; the target must exist.
async fn target(state: &AppState, who: &Principal, id: &str) -> ApiResult<users::Model> {
    if who.user.duty.as_deref() != Some("security") {
        return Err(ApiError::forbidden());
    }
    if who.id() == id {
        return Err(ApiError::new(
            Code::SelfGrant,
            "Nobody may grant a role to, unlock or reset their own account.",
            "不得为自己的账号授权、解锁或重置密码。",
        ));
    }
    users::Entity::find_by_id(id.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Writes `update` and its audit record in one transaction.
async fn commit(
    state: &AppState,
    who: &Principal,
    action: &str,
    id: &str,
    detail: Option<String>,
    update: sea_orm::UpdateMany<users::Entity>,
    revoke_tokens: bool,
) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    update.filter(users::Column::Id.eq(id)).exec(&txn).await?;
    if revoke_tokens {
        refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::Revoked, Expr::value(true))
            .filter(refresh_tokens::Column::UserId.eq(id))
            .exec(&txn)
            .await?;
    }
    let mut record = audit::Record::ok(
        who.id(),
        "security_admin",
        action,
        Some(format!("user:{id}")),
    );
    record.detail = detail;
    txn.execute(
        txn.get_database_backend()
            .build(&audit::insert_statement(&record, now_ms())),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Lift an account's lockout and clear its failed-login count (security admin only).
#[utoipa::path(tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "the account")),
    responses((status = 200, body = AccountUnlocked),
        (status = 403, description = "forbidden, or self_grant for one's own account", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
#[post("/admin/accounts/{id}/unlock")]
async fn unlock(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> ApiResult<web::Json<AccountUnlocked>> {
    let user = target(&state, &who, &id).await?;
    let update = users::Entity::update_many()
        .col_expr(users::Column::FailedLogins, Expr::value(0))
        .col_expr(users::Column::LockedUntil, Expr::value(Option::<i64>::None));
    commit(
        &state,
        &who,
        "account.unlock",
        &user.id,
        None,
        update,
        false,
    )
    .await?;
    Ok(web::Json(AccountUnlocked {
        id: user.id,
        locked: false,
    }))
}

/// Reset a password account's password to a temporary one, shown once; it must be changed at
/// the next login, and the account's sessions end (security admin only).
#[utoipa::path(tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "the account")),
    responses((status = 200, body = PasswordReset),
        (status = 403, description = "forbidden, or self_grant for one's own account", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "not a password account", body = crate::error::ErrorBody)))]
#[post("/admin/accounts/{id}/password-reset")]
async fn reset_password(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> ApiResult<web::Json<PasswordReset>> {
    let user = target(&state, &who, &id).await?;
    let Some(username) = user.username.clone() else {
        return Err(ApiError::invalid("id", "not a password account"));
    };
    let password = loop {
        let candidate = random_token(20);
        if crate::auth::password_policy::check(&username, &candidate).is_ok() {
            break candidate;
        }
    };
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || crate::auth::service::hash_password(&password))
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing task: {e}")))??
    };
    let update = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::MustChangePassword, Expr::value(true))
        .col_expr(users::Column::FailedLogins, Expr::value(0))
        .col_expr(users::Column::LockedUntil, Expr::value(Option::<i64>::None));
    commit(
        &state,
        &who,
        "account.password_reset",
        &user.id,
        None,
        update,
        true,
    )
    .await?;
    Ok(web::Json(PasswordReset {
        id: user.id,
        temporary_password: password,
    }))
}

/// Grant a separated duty to an account, or withdraw it (`duty: null`) (security admin
/// only). An area admin cannot also hold a duty (409 `duty_conflict`).
#[utoipa::path(tag = "auth", request_body = DutyGrant, security(("bearer" = [])),
    params(("id" = String, Path, description = "the account")),
    responses((status = 200, body = DutyGrant),
        (status = 403, description = "forbidden, or self_grant for one's own account", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "duty_conflict: the account administers an area", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
#[put("/admin/accounts/{id}/duty")]
async fn grant_duty(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    body: web::Json<DutyGrant>,
) -> ApiResult<web::Json<DutyGrant>> {
    let user = target(&state, &who, &id).await?;
    let duty = body.into_inner().duty;
    if let Some(d) = &duty {
        if !DUTIES.contains(&d.as_str()) {
            return Err(ApiError::invalid("duty", "system, security, audit or null"));
        }
        if user.admin_area_code.is_some() {
            return Err(ApiError::new(
                Code::DutyConflict,
                "An area administrator cannot also hold a separated duty.",
                "区域管理员不能同时担任三员职责。",
            ));
        }
        if user.username.is_none() {
            return Err(ApiError::invalid("id", "not a password account"));
        }
    }
    let update =
        users::Entity::update_many().col_expr(users::Column::Duty, Expr::value(duty.clone()));
    let detail = Some(format!(
        "{} -> {}",
        user.duty.as_deref().unwrap_or("none"),
        duty.as_deref().unwrap_or("none")
    ));
    // A withdrawn or changed duty ends the account's sessions.
    commit(&state, &who, "role.duty", &user.id, detail, update, true).await?;
    Ok(web::Json(DutyGrant { duty }))
}
