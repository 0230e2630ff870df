//! Liveness, readiness and metrics for operators.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    status: &'static str,
    database: &'static str,
    redis: &'static str,
}

/// Readiness: the database answers, and Redis when it is configured. 503 names the failure.
#[utoipa::path(tag = "operations", responses((status = 200, body = Readiness), (status = 503, body = crate::error::ErrorBody)))]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> ApiResult<web::Json<Readiness>> {
    let database_ok = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::infra::db::ping(&state.db),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    let redis = match &state.redis {
        None => "not_configured",
        Some(r) => match tokio::time::timeout(std::time::Duration::from_secs(2), r.ping()).await {
            Ok(Ok(())) => "ok",
            _ => "unreachable",
        },
    };
    let mut failing = Vec::new();
    if !database_ok {
        failing.push("database");
    }
    if redis == "unreachable" {
        failing.push("redis");
    }
    if !failing.is_empty() {
        return Err(ApiError::unavailable(&failing.join(" and "))
            .with_details(serde_json::json!({ "failing": failing })));
    }
    Ok(web::Json(Readiness {
        status: "ready",
        database: "ok",
        redis,
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
