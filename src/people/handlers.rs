//! HTTP handlers of the people screens.

use actix_web::{get, post, web};

use super::service::{self, InviteQuery, InviteView, TeamView};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// A grid's team (workers, backups, volunteers) and its recent invites: admins above it.
#[utoipa::path(tag = "people", security(("bearer" = [])),
    params(("code" = String, Path, description = "the grid's code")),
    responses((status = 200, body = TeamView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
#[get("/admin/grids/{code}/team")]
async fn team(
    state: web::Data<AppState>,
    who: Principal,
    code: web::Path<String>,
) -> ApiResult<web::Json<TeamView>> {
    Ok(web::Json(service::team(&state, &who, &code).await?))
}

/// A grid's or a partner unit's invites, newest first, each with its status.
#[utoipa::path(tag = "people", params(InviteQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<InviteView>), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[get("/admin/invites")]
async fn invites(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<InviteQuery>,
) -> ApiResult<web::Json<Vec<InviteView>>> {
    Ok(web::Json(service::list_invites(&state, &who, &q).await?))
}

/// Revoke an unused invite: the code is refused from now on (410 `invite_revoked`).
#[utoipa::path(tag = "people", security(("bearer" = [])),
    params(("code" = String, Path, description = "the invite code")),
    responses((status = 200, body = InviteView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "invalid_transition: already used", body = crate::error::ErrorBody)))]
#[post("/admin/invites/{code}/revoke")]
async fn revoke(
    state: web::Data<AppState>,
    who: Principal,
    code: web::Path<String>,
) -> ApiResult<web::Json<InviteView>> {
    Ok(web::Json(
        service::revoke_invite(&state, &who, &code).await?,
    ))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(team).service(invites).service(revoke);
}
