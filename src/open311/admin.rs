//! `POST /api/v1/admin/open311-clients`: keys for partner systems, shown once; and revoking
//! them.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewOpen311Client {
    pub name: String,
}

/// The new client; `api_key` is shown once, here (only its hash is stored).
#[derive(Serialize, ToSchema)]
pub struct Open311ClientCreated {
    pub id: String,
    pub name: String,
    pub api_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct Open311ClientRevoked {
    pub id: String,
    pub active: bool,
}

/// Issue an Open311 api_key for a partner system filing cases inside the admin's area.
#[utoipa::path(tag = "open311", request_body = NewOpen311Client, security(("bearer" = [])), responses(
    (status = 201, body = Open311ClientCreated), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/admin/open311-clients")]
async fn create(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewOpen311Client>,
) -> ApiResult<HttpResponse> {
    let (id, api_key) = service::create_client(&state.cases(), &who, &body.name).await?;
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "key.open311.create",
            Some(format!("open311_client:{id}")),
        ),
    )
    .await;
    Ok(HttpResponse::Created().json(Open311ClientCreated {
        id,
        name: body.name.trim().to_owned(),
        api_key,
    }))
}

/// Revoke a client's key: its requests are refused with 403 from now on.
#[utoipa::path(tag = "open311", security(("bearer" = [])),
    params(("id" = String, Path, description = "the client")),
    responses((status = 200, body = Open311ClientRevoked), (status = 403, body = crate::error::ErrorBody),
    (status = 404, body = crate::error::ErrorBody)))]
#[post("/admin/open311-clients/{id}/revoke")]
async fn revoke(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> ApiResult<web::Json<Open311ClientRevoked>> {
    service::revoke_client(&state.cases(), &who, &path).await?;
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "key.open311.revoke",
            Some(format!("open311_client:{}", path.as_str())),
        ),
    )
    .await;
    Ok(web::Json(Open311ClientRevoked {
        id: path.into_inner(),
        active: false,
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create).service(revoke);
}
