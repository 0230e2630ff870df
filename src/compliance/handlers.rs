//! HTTP handlers of the residents' rights: extract, call the service, answer.

use actix_web::{delete, get, patch, web, HttpResponse};

use super::rights::{self, Export, MePatch};
use crate::auth::{dto::Me, Principal};
use crate::error::ApiResult;
use crate::state::AppState;

/// Everything SafeGrid holds about the caller (PIPL: the right to a copy).
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 200, body = Export)))]
#[get("/me/export")]
async fn export(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    let data = rights::export(&state.cases(), &who).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "content-disposition",
            "attachment; filename=\"safegrid-my-data.json\"",
        ))
        .json(data))
}

/// Correct the caller's nickname.
#[utoipa::path(tag = "auth", request_body = MePatch, security(("bearer" = [])), responses(
    (status = 200, body = Me), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/me")]
async fn patch_me(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<MePatch>,
) -> ApiResult<web::Json<Me>> {
    rights::patch(&state.cases(), &who, &body).await?;
    let who = crate::auth::principal::load(&state, who.id())
        .await?
        .ok_or_else(crate::error::ApiError::not_found)?;
    Ok(web::Json(crate::auth::service::me(&state, &who).await?))
}

/// Delete the caller's account: identity erased, records kept for the statistics with no link
/// back, photos of finished cases removed, tokens revoked. 409 `open_tasks` while they hold
/// open tasks.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "deleted"), (status = 409, description = "open_tasks", body = crate::error::ErrorBody)))]
#[delete("/me")]
async fn delete_me(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    rights::delete(&state.cases(), &state.settings.upload_dir, &who).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Withdraw every subscribe-message consent.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 204, description = "withdrawn")))]
#[delete("/me/subscriptions")]
async fn withdraw_consent(state: web::Data<AppState>, who: Principal) -> ApiResult<HttpResponse> {
    rights::withdraw_consent(&state.cases(), &who).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export)
        .service(patch_me)
        .service(delete_me)
        .service(withdraw_consent);
}
