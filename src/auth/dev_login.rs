//! Development login (`SAFEGRID_DEV_LOGIN`, on by default outside production): a newcomer
//! tries the demo's resident, worker, volunteer and unit staff without a WeChat account. The
//! routes answer 404 when it is off, and production refuses to start with it on.

use actix_web::{get, post, web, HttpRequest};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TokenResponse;
use super::service;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct DevLogin {
    /// The openid to sign in as, e.g. `demo-worker`; a new one becomes a new resident.
    pub openid: String,
}

#[derive(Serialize, ToSchema)]
pub struct DevIdentity {
    pub openid: String,
    pub nickname: String,
}

#[derive(Serialize, ToSchema)]
pub struct DevIdentities {
    /// The demo's people (`safegrid demo` creates them), signed in with `POST` here.
    pub users: Vec<DevIdentity>,
}

/// The demo identities one may sign in as (development only; 404 otherwise).
#[utoipa::path(tag = "auth", responses((status = 200, body = DevIdentities),
    (status = 404, description = "development login is off (always in production)", body = crate::error::ErrorBody)))]
#[get("/auth/dev-login")]
async fn identities(state: web::Data<AppState>) -> ApiResult<web::Json<DevIdentities>> {
    if !state.settings.dev_login {
        return Err(ApiError::not_found());
    }
    let users = entity::users::Entity::find()
        .filter(entity::users::Column::Openid.starts_with("demo-"))
        .order_by_asc(entity::users::Column::Openid)
        .limit(20)
        .all(&state.db)
        .await?
        .into_iter()
        .filter_map(|u| {
            Some(DevIdentity {
                openid: u.openid?,
                nickname: u.nickname,
            })
        })
        .collect();
    Ok(web::Json(DevIdentities { users }))
}

/// Sign in as an openid without WeChat (development only; 404 otherwise).
#[utoipa::path(tag = "auth", request_body = DevLogin, responses((status = 200, body = TokenResponse),
    (status = 404, description = "development login is off (always in production)", body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/auth/dev-login")]
async fn dev_login(
    state: web::Data<AppState>,
    _req: HttpRequest,
    body: web::Json<DevLogin>,
) -> ApiResult<web::Json<TokenResponse>> {
    let result = service::dev_login(&state, &body.openid).await;
    if state.settings.dev_login {
        crate::compliance::audit::record(
            &state.db,
            crate::compliance::audit::Record {
                actor_id: result.as_ref().ok().map(|t| t.user.id.clone()),
                actor_role: "wechat_user".into(),
                action: "login.dev".into(),
                object: Some(body.openid.clone()),
                result: if result.is_ok() { "ok" } else { "failed" },
                detail: result.as_ref().err().map(|e| e.code.as_str()),
            },
        )
        .await;
    }
    Ok(web::Json(result?))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(identities).service(dev_login);
}
