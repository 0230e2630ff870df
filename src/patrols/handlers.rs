//! HTTP handlers of patrols: extract, call the service, answer.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::*;
use super::service::{self, PatrolFilter};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::paging::page_limit;
use crate::state::AppState;
use crate::util::parse_rfc3339;

/// Start a patrol in a grid the worker works (a worker already walking it gets that one, 200).
#[utoipa::path(tag = "patrols", request_body = NewPatrol, security(("bearer" = [])), responses(
    (status = 201, body = PatrolView), (status = 200, description = "already walking this grid", body = PatrolView),
    (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/patrols")]
async fn start(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewPatrol>,
) -> ApiResult<HttpResponse> {
    let (view, created) = service::start(&state.cases(), &who, &body.grid_code).await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Add a batch of check-ins (1–500; a point already received by `client_id` adds nothing).
#[utoipa::path(tag = "patrols", request_body = CheckinBatch, security(("bearer" = [])),
    params(("id" = String, Path, description = "the patrol")),
    responses((status = 200, body = CheckinResult), (status = 404, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/patrols/{id}/checkins")]
async fn checkins(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<CheckinBatch>,
) -> ApiResult<web::Json<CheckinResult>> {
    Ok(web::Json(
        service::checkins(&state.cases(), &who, &path, body.into_inner()).await?,
    ))
}

/// End the caller's patrol (again: the same answer).
#[utoipa::path(tag = "patrols", security(("bearer" = [])),
    params(("id" = String, Path, description = "the patrol")),
    responses((status = 200, body = PatrolView), (status = 404, body = crate::error::ErrorBody)))]
#[post("/patrols/{id}/end")]
async fn end(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<web::Json<PatrolView>> {
    Ok(web::Json(service::end(&state.cases(), &who, &path).await?))
}

/// One patrol; its track only for its worker and admins of a community or above.
#[utoipa::path(tag = "patrols", security(("bearer" = [])),
    params(("id" = String, Path, description = "the patrol")),
    responses((status = 200, body = PatrolView), (status = 404, body = crate::error::ErrorBody)))]
#[get("/patrols/{id}")]
async fn get_patrol(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<web::Json<PatrolView>> {
    Ok(web::Json(service::get(&state.cases(), &who, &path).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct PatrolsQuery {
    pub grid: Option<String>,
    /// RFC 3339: patrols started at or after.
    pub from: Option<String>,
    /// RFC 3339: patrols started before.
    pub to: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// Patrols of the admin's subtree or the worker's grids, newest first (without tracks).
#[utoipa::path(tag = "patrols", params(PatrolsQuery), security(("bearer" = [])), responses(
    (status = 200, body = PatrolPage), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[get("/patrols")]
async fn list(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<PatrolsQuery>,
) -> ApiResult<web::Json<PatrolPage>> {
    let time = |field: &str, v: &Option<String>| -> ApiResult<Option<i64>> {
        match v {
            None => Ok(None),
            Some(t) => parse_rfc3339(t)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(field, "an RFC 3339 time is required")),
        }
    };
    let filter = PatrolFilter {
        grid: q.grid.clone(),
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
    };
    Ok(web::Json(
        service::list(
            &state.cases(),
            &who,
            filter,
            page_limit(q.limit)?,
            q.cursor.as_deref(),
        )
        .await?,
    ))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(start)
        .service(list)
        .service(checkins)
        .service(end)
        .service(get_patrol);
}
