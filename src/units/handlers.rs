//! HTTP handlers of partner units: extract, call the service, answer.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::*;
use super::service;
use super::tasks::{self, UnitTaskFilter};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::paging::page_limit;
use crate::state::AppState;
use entity::enums::AssignmentStatus;

/// Create a partner unit serving areas inside the admin's area.
#[utoipa::path(tag = "units", request_body = NewUnit, security(("bearer" = [])), responses(
    (status = 201, body = UnitView),
    (status = 403, body = crate::error::ErrorBody),
    (status = 409, description = "unit_code_taken", body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/admin/units")]
async fn create(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewUnit>,
) -> ApiResult<HttpResponse> {
    let unit = service::create(&state.cases(), &who, body.into_inner()).await?;
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "unit.create",
            Some(format!("unit:{}", unit.code)),
        ),
    )
    .await;
    Ok(HttpResponse::Created().json(unit))
}

#[derive(Deserialize, IntoParams)]
pub struct UnitsQuery {
    /// An area inside the admin's: units serving a place at, above or below it.
    pub area: Option<String>,
}

/// The units serving the admin's area (or `area`), active or not.
#[utoipa::path(tag = "units", params(UnitsQuery), security(("bearer" = [])), responses(
    (status = 200, body = UnitList), (status = 403, body = crate::error::ErrorBody)))]
#[get("/admin/units")]
async fn list(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<UnitsQuery>,
) -> ApiResult<web::Json<UnitList>> {
    let items = service::list(&state.cases(), &who, q.area.as_deref()).await?;
    Ok(web::Json(UnitList { items }))
}

/// Change a unit's name, kind, areas, or deactivate it (units are never deleted).
#[utoipa::path(tag = "units", request_body = UnitPatch, security(("bearer" = [])),
    params(("code" = String, Path, description = "the unit's code")),
    responses((status = 200, body = UnitView),
    (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[patch("/admin/units/{code}")]
async fn update(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<UnitPatch>,
) -> ApiResult<web::Json<UnitView>> {
    let unit = service::patch(&state.cases(), &who, &path, body.into_inner()).await?;
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "unit.update",
            Some(format!("unit:{}", unit.code)),
        ),
    )
    .await;
    Ok(web::Json(unit))
}

#[derive(Deserialize, IntoParams)]
pub struct UnitTasksQuery {
    /// `dispatched`, `signed`, `resolved` or `returned`; by default dispatched and signed.
    pub status: Option<String>,
    /// One of the caller's units.
    pub unit: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The caller's units' cases, soonest handling deadline first, with sign-for and handling
/// lights.
#[utoipa::path(tag = "units", params(UnitTasksQuery), security(("bearer" = [])), responses(
    (status = 200, body = UnitTaskPage), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[get("/unit/tasks")]
async fn unit_tasks(
    state: web::Data<AppState>,
    pool: web::Data<crate::infra::db::WorkerPool>,
    caller: crate::auth::principal::Bearer,
    q: web::Query<UnitTasksQuery>,
) -> ApiResult<web::Json<UnitTaskPage>> {
    // The caller and the page's reads (assignments, reports, reporters, photos, units) on one
    // connection (`Bearer`, `infra::db::Session`).
    let session = pool.session();
    let who = caller.principal(&state, &session).await?;
    let status = match q.status.as_deref() {
        None => None,
        Some("dispatched") => Some(AssignmentStatus::Dispatched),
        Some("signed") => Some(AssignmentStatus::Signed),
        Some("resolved") => Some(AssignmentStatus::Resolved),
        Some("returned") => Some(AssignmentStatus::Returned),
        Some(_) => {
            return Err(ApiError::invalid(
                "status",
                "dispatched, signed, resolved or returned",
            ))
        }
    };
    let filter = UnitTaskFilter {
        status,
        unit: q.unit.clone(),
    };
    Ok(web::Json(
        tasks::tasks(
            &state.cases().on(&session),
            &who,
            filter,
            page_limit(q.limit)?,
            q.cursor.as_deref(),
        )
        .await?,
    ))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(update)
        .service(unit_tasks);
}
