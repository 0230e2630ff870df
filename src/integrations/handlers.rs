//! HTTP handlers of integrations: extract, call the service, answer.

use actix_web::{post, web, HttpRequest, HttpResponse};

use super::service::{self, Alarm, AlarmCase, IntegrationCreated, NewIntegration};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// Register a device platform; its `secret` is shown once, in this answer.
#[utoipa::path(tag = "integrations", request_body = NewIntegration, security(("bearer" = [])), responses(
    (status = 201, body = IntegrationCreated), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[post("/admin/integrations")]
async fn create(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<NewIntegration>,
) -> ApiResult<HttpResponse> {
    let created = service::create(&state.cases(), &who, body.into_inner()).await?;
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "key.integration.create",
            Some(format!("integration:{}", created.id)),
        ),
    )
    .await;
    Ok(HttpResponse::Created().json(created))
}

/// A device alarm, signed: `X-SafeGrid-Integration` (the integration id),
/// `X-SafeGrid-Timestamp` (Unix seconds, within 300 s) and `X-SafeGrid-Signature` (hex
/// HMAC-SHA256 of `timestamp + "." + body` under the secret). The same `alarm_id` again
/// answers 200 with the same case.
#[utoipa::path(tag = "integrations", request_body = Alarm,
    params(
        ("X-SafeGrid-Integration" = String, Header, description = "the integration id"),
        ("X-SafeGrid-Timestamp" = String, Header, description = "Unix seconds"),
        ("X-SafeGrid-Signature" = String, Header, description = "hex HMAC-SHA256 of timestamp.body")),
    responses((status = 201, body = AlarmCase), (status = 200, description = "the alarm was already a case", body = AlarmCase),
        (status = 401, description = "integration_unknown, signature_stale or signature_invalid", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
#[post("/integrations/devices/alarms")]
async fn alarm(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let case = service::receive(
        &state.cases(),
        header("X-SafeGrid-Integration"),
        header("X-SafeGrid-Timestamp"),
        header("X-SafeGrid-Signature"),
        &body,
    )
    .await?;
    Ok(if case.created {
        HttpResponse::Created().json(case)
    } else {
        HttpResponse::Ok().json(case)
    })
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create).service(alarm);
}
