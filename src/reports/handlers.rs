//! HTTP handlers of reports, categories and the worker queue.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::caselist::{self, CaseListPage, CaseListQuery};
use super::categories::{self, CategoryView};
use super::dto::*;
use super::queue::{self, TaskFilter};
use super::status::{Light, ReportStatus};
use super::{actions, submit as submission, views};
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::IdempotencyKey;
use crate::infra::db::WorkerPool;
use crate::paging::page_limit;
use crate::state::AppState;

/// Change a category's partner-unit rules (owner kind, direct dispatch, sign-for limit):
/// district admins only, since categories are shared.
#[utoipa::path(tag = "reports", request_body = categories::CategoryPatch, security(("bearer" = [])),
    params(("code" = String, Path, description = "the category code")),
    responses((status = 200, body = CategoryView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/admin/categories/{code}")]
async fn patch_category(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
    body: web::Json<categories::CategoryPatch>,
) -> ApiResult<web::Json<CategoryView>> {
    let top = who.has_duty("system")
        || who
            .admin_area
            .as_ref()
            .is_some_and(|a| a.path.matches('/').count() == 2);
    Ok(web::Json(
        categories::patch(&state.db, top, &path, body.into_inner()).await?,
    ))
}

/// Report categories with their time limits.
#[utoipa::path(tag = "reports", security(("bearer" = [])), responses((status = 200, body = Vec<CategoryView>)))]
#[get("/categories")]
async fn list_categories(
    state: web::Data<AppState>,
    _who: Principal,
) -> ApiResult<web::Json<Vec<CategoryView>>> {
    Ok(web::Json(categories::list(&state.db).await?))
}

/// Submit a report (the safety key). Routed at once to the grid covering the location.
#[utoipa::path(tag = "reports", request_body = NewReport, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key return the first report")),
    responses((status = 201, body = ReportView),
        (status = 422, description = "validation_failed, content_rejected or idempotency_key_reused", body = crate::error::ErrorBody)))]
#[post("/reports")]
async fn submit(
    state: web::Data<AppState>,
    pool: web::Data<WorkerPool>,
    caller: Bearer,
    key: IdempotencyKey,
    body: web::Json<NewReport>,
) -> ApiResult<HttpResponse> {
    // The caller and the submission's statements on one connection, taken once the body is
    // read (`Bearer`, `infra::db::Session`).
    let session = pool.session();
    let who = caller.principal(&state, &session).await?;
    let env = state.cases().on(&session);
    let done = submission::submit(&env, &who, body.into_inner(), key.0.as_deref()).await?;
    Ok(if done.created {
        HttpResponse::Created().json(done.view)
    } else {
        HttpResponse::Ok().json(done.view)
    })
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The caller's own reports, newest first.
#[utoipa::path(tag = "reports", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = ReportPage)))]
#[get("/me/reports")]
async fn my_reports(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<ReportPage>> {
    Ok(web::Json(
        views::mine(
            &state.cases(),
            &who,
            page_limit(q.limit)?,
            q.cursor.as_deref(),
        )
        .await?,
    ))
}

/// One report with its timeline.
#[utoipa::path(tag = "reports", security(("bearer" = [])), responses((status = 200, body = ReportView), (status = 404, body = crate::error::ErrorBody)))]
#[get("/reports/{id}")]
async fn get_report(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> ApiResult<web::Json<ReportView>> {
    Ok(web::Json(
        views::view_by_id(&state.cases(), &who, &id, true).await?,
    ))
}

/// A hotline caller's full phone number, on an admin's explicit request (every view shows it
/// masked): admins above the case only; 404 when the case has none.
#[utoipa::path(tag = "reports", security(("bearer" = [])), responses((status = 200, body = CallerPhone),
    (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[get("/admin/reports/{id}/caller-phone")]
async fn caller_phone(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> ApiResult<web::Json<CallerPhone>> {
    Ok(web::Json(
        views::caller_phone(&state.cases(), &who, &id).await?,
    ))
}

/// The hotline cases of one caller under the admin's area (newest first, at most 50), found
/// by the keyed hash of the number: the number is in the body, never in the URL.
#[utoipa::path(tag = "reports", request_body = CallerLookup, security(("bearer" = [])), responses((status = 200, body = CallerCases),
    (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/admin/reports/caller-lookup")]
async fn caller_lookup(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<CallerLookup>,
) -> ApiResult<web::Json<CallerCases>> {
    Ok(web::Json(
        views::caller_lookup(&state.cases(), &who, &body.caller_phone).await?,
    ))
}

/// One step of the state machine; 409 `invalid_transition` names the current state.
#[utoipa::path(tag = "reports", request_body = ActionRequest, security(("bearer" = [])), responses(
    (status = 200, body = ReportView),
    (status = 403, body = crate::error::ErrorBody),
    (status = 404, body = crate::error::ErrorBody),
    (status = 409, description = "invalid_transition", body = crate::error::ErrorBody)))]
#[post("/reports/{id}/actions")]
async fn act(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    body: web::Json<ActionRequest>,
) -> ApiResult<web::Json<ReportView>> {
    Ok(web::Json(
        actions::act(&state.cases(), &who, &id, &body).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct TaskQuery {
    /// Comma-separated states (default: submitted, accepted, in_progress, escalated, suspended).
    pub state: Option<String>,
    pub light: Option<Light>,
    pub grid: Option<String>,
    pub category: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The worker's queue: their grids' open reports, soonest deadline first, with traffic lights;
/// the first page also carries the grids' expired wishes (red by nature).
#[utoipa::path(tag = "reports", params(TaskQuery), security(("bearer" = [])), responses((status = 200, body = TaskPage), (status = 403, body = crate::error::ErrorBody)))]
#[get("/worker/tasks")]
async fn tasks(
    state: web::Data<AppState>,
    pool: web::Data<WorkerPool>,
    caller: Bearer,
    q: web::Query<TaskQuery>,
) -> ApiResult<web::Json<TaskPage>> {
    // The caller and the page's reads (tasks, reporters, photos, units, expired wishes) on one
    // connection (`Bearer`, `infra::db::Session`).
    let session = pool.session();
    let who = caller.principal(&state, &session).await?;
    let states = match &q.state {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|p| {
                ReportStatus::parse(p.trim())
                    .ok_or_else(|| ApiError::invalid("state", format!("unknown state {p:?}")))
            })
            .collect::<ApiResult<Vec<_>>>()?,
    };
    let filter = TaskFilter {
        states,
        light: q.light,
        grid: q.grid.clone(),
        category: q.category.clone(),
    };
    let limit = page_limit(q.limit)?;
    let env = state.cases().on(&session);
    let reports = queue::tasks(&env, &who, filter, limit, q.cursor.as_deref()).await?;
    let wishes_belong = q.cursor.is_none()
        && q.state.is_none()
        && q.category.is_none()
        && matches!(q.light, None | Some(Light::Red));
    let expired_wishes = if wishes_belong {
        crate::wishes::views::expired_tasks(&env, &who, q.grid.as_deref(), limit).await?
    } else {
        Vec::new()
    };
    Ok(web::Json(TaskPage {
        items: reports.items,
        next_cursor: reports.next_cursor,
        expired_wishes,
    }))
}

/// The staff case list: every case in the admin's area, filtered, sorted and keyset-paged,
/// with the count per traffic light of the whole filtered list.
#[utoipa::path(tag = "reports", params(CaseListQuery), security(("bearer" = [])), responses(
    (status = 200, body = CaseListPage), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[get("/admin/reports")]
async fn case_list(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<CaseListQuery>,
) -> ApiResult<web::Json<CaseListPage>> {
    let limit = page_limit(q.limit)?;
    Ok(web::Json(
        caselist::list(&state.cases(), &who, &q, limit).await?,
    ))
}

/// The filtered case list as CSV (UTF-8 with BOM, Chinese headers and names), up to 20,000
/// cases in the chosen order; `limit` and `cursor` are ignored.
#[utoipa::path(tag = "reports", params(CaseListQuery), security(("bearer" = [])), responses(
    (status = 200, content_type = "text/csv", body = String), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[get("/admin/reports.csv")]
async fn case_list_csv(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<CaseListQuery>,
) -> ApiResult<HttpResponse> {
    let body = caselist::csv(&state.cases(), &who, &q).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            "attachment; filename=\"safegrid-cases.csv\"",
        ))
        .body(body))
}

/// The Chinese names of states, actions, sources, lights and unit kinds (one table for every
/// page and export).
#[utoipa::path(tag = "reports", responses((status = 200, body = crate::cases::labels::Labels)))]
#[get("/labels")]
async fn labels() -> web::Json<crate::cases::labels::Labels> {
    web::Json(crate::cases::labels::all())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_categories)
        .service(labels)
        .service(case_list)
        .service(case_list_csv)
        .service(patch_category)
        .service(submit)
        .service(my_reports)
        .service(get_report)
        .service(caller_phone)
        .service(caller_lookup)
        .service(act)
        .service(tasks);
}
