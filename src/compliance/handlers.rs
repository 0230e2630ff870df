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

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// RFC 3339: records at or after.
    pub from: Option<String>,
    /// RFC 3339: records before.
    pub to: Option<String>,
    /// A user id.
    pub actor: Option<String>,
    /// An action or its prefix (`report.`, `login.`, `read.`).
    pub action: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// One record of the trail.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub action: String,
    pub object: Option<String>,
    pub result: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    /// Whether the record is sealed into the hash chain yet (a minute after it is written).
    pub sealed: bool,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The audit admin, and only the audit admin (separated duties).
fn audit_admin(who: &Principal) -> crate::error::ApiResult<()> {
    if who.user.duty.as_deref() == Some("audit") {
        Ok(())
    } else {
        Err(crate::error::ApiError::forbidden())
    }
}

fn audit_filter(q: &AuditQuery) -> crate::error::ApiResult<super::audit::AuditFilter> {
    let time = |field: &str, v: &Option<String>| -> crate::error::ApiResult<Option<i64>> {
        match v {
            None => Ok(None),
            Some(t) => crate::util::parse_rfc3339(t).map(Some).ok_or_else(|| {
                crate::error::ApiError::invalid(field, "an RFC 3339 time is required")
            }),
        }
    };
    Ok(super::audit::AuditFilter {
        from: time("from", &q.from)?,
        to: time("to", &q.to)?,
        actor: q.actor.clone(),
        action: q.action.clone(),
    })
}

fn entry(r: entity::audit_log::Model) -> AuditEntry {
    AuditEntry {
        id: r.id,
        at: crate::util::rfc3339(r.at),
        sealed: r.hash.is_some(),
        actor_id: r.actor_id,
        actor_role: r.actor_role,
        action: r.action,
        object: r.object,
        result: r.result,
        ip: r.ip,
        request_id: r.request_id,
        detail: r.detail,
    }
}

/// The audit trail, newest first: the audit admin only. Reading it is itself recorded.
#[utoipa::path(tag = "compliance", params(AuditQuery), security(("bearer" = [])), responses(
    (status = 200, body = AuditPage), (status = 403, body = crate::error::ErrorBody),
    (status = 422, body = crate::error::ErrorBody)))]
#[get("/admin/audit")]
async fn audit_list(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<AuditQuery>,
) -> ApiResult<web::Json<AuditPage>> {
    audit_admin(&who)?;
    let f = audit_filter(&q)?;
    let limit = crate::paging::page_limit(q.limit)?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| crate::error::ApiError::invalid("cursor", "malformed cursor"))?,
        ),
    };
    let mut rows = super::audit::list(&state.db, &f, limit + 1, before).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    super::audit::record(
        &state.db,
        super::audit::Record::ok(who.id(), "audit_admin", "read.audit", None),
    )
    .await;
    Ok(web::Json(AuditPage {
        items: rows.into_iter().map(entry).collect(),
        next_cursor,
    }))
}

/// The audit trail as CSV (UTF-8 with BOM), up to 100,000 records: the audit admin only.
#[utoipa::path(tag = "compliance", params(AuditQuery), security(("bearer" = [])), responses(
    (status = 200, content_type = "text/csv", body = String), (status = 403, body = crate::error::ErrorBody)))]
#[get("/admin/audit.csv")]
async fn audit_csv(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    audit_admin(&who)?;
    let f = audit_filter(&q)?;
    let rows = super::audit::list(&state.db, &f, 100_000, None).await?;
    super::audit::record(
        &state.db,
        super::audit::Record::ok(who.id(), "audit_admin", "export.audit", None),
    )
    .await;
    let cell = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out =
        String::from("\u{feff}编号,时间,操作人,角色,操作,对象,结果,来源IP,请求ID,详情\r\n");
    for r in rows {
        let e = entry(r);
        let fields = [
            e.id.to_string(),
            e.at,
            e.actor_id.unwrap_or_default(),
            e.actor_role,
            e.action,
            e.object.unwrap_or_default(),
            e.result,
            e.ip.unwrap_or_default(),
            e.request_id.unwrap_or_default(),
            e.detail.unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|f| cell(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"audit.csv\""))
        .body(out))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(audit_list)
        .service(audit_csv)
        .service(export)
        .service(patch_me)
        .service(delete_me)
        .service(withdraw_consent);
}
