//! HTTP handlers of wishes and volunteers: extract, call the service, answer.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::*;
use super::status::WishStatus;
use super::{actions, submit as submission, views, volunteers};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::IdempotencyKey;
use crate::paging::page_limit;
use crate::state::AppState;

/// Post a micro-wish. Routed at once to the grid covering the location, for review.
#[utoipa::path(tag = "wishes", request_body = NewWish, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key return the first wish")),
    responses((status = 201, body = WishView),
        (status = 403, description = "not a WeChat resident", body = crate::error::ErrorBody),
        (status = 422, description = "validation_failed, wish_value_over_cap, content_rejected or idempotency_key_reused", body = crate::error::ErrorBody)))]
#[post("/wishes")]
async fn submit(
    state: web::Data<AppState>,
    who: Principal,
    key: IdempotencyKey,
    body: web::Json<NewWish>,
) -> ApiResult<HttpResponse> {
    let view =
        submission::submit(&state.cases(), &who, body.into_inner(), key.0.as_deref()).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Deserialize, IntoParams)]
pub struct WallQuery {
    /// An area code (district, street, community or grid); all areas when absent.
    pub area: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The wish wall: published wishes of an area, newest first, without the wisher's identity
/// or exact location.
#[utoipa::path(tag = "wishes", params(WallQuery), security(("bearer" = [])),
    responses((status = 200, body = WishPage), (status = 422, body = crate::error::ErrorBody)))]
#[get("/wishes")]
async fn wall(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<WallQuery>,
) -> ApiResult<web::Json<WishPage>> {
    Ok(web::Json(
        views::wall(
            &state.cases(),
            &who,
            q.area.as_deref(),
            page_limit(q.limit)?,
            q.cursor.as_deref(),
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The caller's wishes: posted or claimed, newest first.
#[utoipa::path(tag = "wishes", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = WishPage)))]
#[get("/me/wishes")]
async fn my_wishes(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<PageQuery>,
) -> ApiResult<web::Json<WishPage>> {
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

/// One wish; its timeline and the wisher's contact details for the wisher, the claimant
/// and the community only.
#[utoipa::path(tag = "wishes", security(("bearer" = [])),
    responses((status = 200, body = WishView), (status = 404, body = crate::error::ErrorBody)))]
#[get("/wishes/{id}")]
async fn get_wish(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> ApiResult<web::Json<WishView>> {
    Ok(web::Json(
        views::view_by_id(&state.cases(), &who, &id, true).await?,
    ))
}

/// One step of the wish state machine: approve, reject, claim, release, fulfil, confirm,
/// cancel. A claim that loses a race is 409 `invalid_transition`.
#[utoipa::path(tag = "wishes", request_body = WishActionRequest, security(("bearer" = [])), responses(
    (status = 200, body = WishView),
    (status = 403, body = crate::error::ErrorBody),
    (status = 404, body = crate::error::ErrorBody),
    (status = 409, description = "invalid_transition", body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/wishes/{id}/actions")]
async fn act(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    body: web::Json<WishActionRequest>,
) -> ApiResult<web::Json<WishView>> {
    Ok(web::Json(
        actions::act(&state.cases(), &who, &id, &body).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct WorkerWishQuery {
    /// Comma-separated states (default: submitted, expired).
    pub state: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The community's wishes: awaiting review, and unclaimed past their deadline (grid tasks).
#[utoipa::path(tag = "wishes", params(WorkerWishQuery), security(("bearer" = [])),
    responses((status = 200, body = WishPage), (status = 403, body = crate::error::ErrorBody)))]
#[get("/worker/wishes")]
async fn worker_wishes(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<WorkerWishQuery>,
) -> ApiResult<web::Json<WishPage>> {
    let states = match &q.state {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|p| {
                WishStatus::parse(p.trim())
                    .ok_or_else(|| ApiError::invalid("state", format!("unknown state {p:?}")))
            })
            .collect::<ApiResult<Vec<_>>>()?,
    };
    Ok(web::Json(
        views::worker_queue(
            &state.cases(),
            &who,
            states,
            page_limit(q.limit)?,
            q.cursor.as_deref(),
        )
        .await?,
    ))
}

/// Apply to become a volunteer (self-registration); an admin of the area approves.
#[utoipa::path(tag = "wishes", request_body = VolunteerApplication, security(("bearer" = [])), responses(
    (status = 201, description = "a new application", body = VolunteerRequestView),
    (status = 200, description = "the pending application, updated", body = VolunteerRequestView),
    (status = 403, body = crate::error::ErrorBody),
    (status = 409, description = "already_enrolled", body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/me/volunteer")]
async fn apply_volunteer(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<VolunteerApplication>,
) -> ApiResult<HttpResponse> {
    let (view, created) =
        volunteers::apply_volunteer(&state.cases(), &who, body.into_inner()).await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[derive(Deserialize, IntoParams)]
pub struct VolunteerQuery {
    /// pending (default) or approved.
    pub status: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// Volunteer applications in the admin's area, newest first.
#[utoipa::path(tag = "wishes", params(VolunteerQuery), security(("bearer" = [])),
    responses((status = 200, body = VolunteerRequestPage), (status = 403, body = crate::error::ErrorBody)))]
#[get("/admin/volunteers")]
async fn list_volunteers(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<VolunteerQuery>,
) -> ApiResult<web::Json<VolunteerRequestPage>> {
    Ok(web::Json(
        volunteers::volunteer_requests(
            &state.cases(),
            &who,
            q.status.as_deref(),
            page_limit(q.limit)?,
            q.cursor.as_deref(),
        )
        .await?,
    ))
}

/// Approve a volunteer application: the user becomes a volunteer of the stated unit.
#[utoipa::path(tag = "wishes", security(("bearer" = [])), responses(
    (status = 200, body = VolunteerRequestView),
    (status = 403, body = crate::error::ErrorBody),
    (status = 404, body = crate::error::ErrorBody),
    (status = 409, description = "invalid_transition: already approved", body = crate::error::ErrorBody)))]
#[post("/admin/volunteers/{id}/approve")]
async fn approve_volunteer(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> ApiResult<web::Json<VolunteerRequestView>> {
    Ok(web::Json(
        volunteers::approve_volunteer(&state.cases(), &who, &id).await?,
    ))
}

/// Reject a pending volunteer application with a reason.
#[utoipa::path(tag = "wishes", request_body = VolunteerRejection, security(("bearer" = [])), responses(
    (status = 200, body = VolunteerRequestView),
    (status = 403, body = crate::error::ErrorBody),
    (status = 404, body = crate::error::ErrorBody),
    (status = 409, description = "invalid_transition: already decided", body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/admin/volunteers/{id}/reject")]
async fn reject_volunteer(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    body: web::Json<VolunteerRejection>,
) -> ApiResult<web::Json<VolunteerRequestView>> {
    Ok(web::Json(
        volunteers::reject_volunteer(&state.cases(), &who, &id, &body.reason).await?,
    ))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(submit)
        .service(wall)
        .service(my_wishes)
        .service(get_wish)
        .service(act)
        .service(worker_wishes)
        .service(apply_volunteer)
        .service(list_volunteers)
        .service(approve_volunteer)
        .service(reject_volunteer);
}
