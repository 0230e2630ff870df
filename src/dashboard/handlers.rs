//! HTTP handlers of the dashboard: JSON and streamed CSV.

use actix_web::{get, web, HttpResponse};
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, StreamTrait};

use super::metrics::Metrics;
use super::service::{self, Dashboard, DashboardQuery, GroupBy};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// Closure metrics of an area and period: totals and groups (every child area or every grid,
/// worst first; categories; days; partner units, worst first; or the six sources), each
/// group's metrics beside its `key` and `name`, with the unit figures (lead dispatches of
/// the group's reports by dispatch day, or the unit's own), the sources, on-site fixes and
/// disputes of its reports, and its patrols and patrol coverage. Rates are null when their
/// denominator is 0; durations are minutes with one decimal.
#[utoipa::path(tag = "dashboard", params(DashboardQuery), security(("bearer" = [])),
    responses((status = 200, body = Dashboard),
        (status = 403, description = "not an admin, or the area is outside the admin's", body = crate::error::ErrorBody),
        (status = 404, description = "no such area", body = crate::error::ErrorBody),
        (status = 422, description = "bad period", body = crate::error::ErrorBody)))]
#[get("/admin/dashboard")]
async fn dashboard(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<DashboardQuery>,
) -> ApiResult<web::Json<Dashboard>> {
    let scope = service::resolve(&state, &who, &q).await?;
    Ok(web::Json(service::dashboard(&state, &scope).await?))
}

/// The CSV columns, as an admin reads them.
pub const CSV_HEADER: [&str; 44] = [
    "编码",
    "名称",
    "上报数",
    "受理数",
    "办结数",
    "应结案数",
    "结案数",
    "按期结案数",
    "未办结数",
    "超期数",
    "返工数",
    "结案率(%)",
    "按期结案率(%)",
    "返工率(%)",
    "满意率(%)",
    "闭环率(%)",
    "受理时长中位数(小时)",
    "受理时长P90(小时)",
    "结案时长中位数(小时)",
    "结案时长P90(小时)",
    "评价数",
    "微心愿提交数",
    "微心愿认领数",
    "微心愿完成数",
    "派单数",
    "按时签收数",
    "退单数",
    "按时签收率(%)",
    "按时办结率(%)",
    "退单率(%)",
    "居民上报数",
    "巡查发现数",
    "入户走访数",
    "热线工单数",
    "设备告警数",
    "Open311上报数",
    "现场处置数",
    "巡查次数",
    "巡查覆盖率(%)",
    "调解数",
    "调解成功数",
    "调解成功率(%)",
    "应回访数",
    "回访按期率(%)",
];

fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn pct(r: Option<f64>) -> String {
    r.map(|v| format!("{:.2}", v * 100.0)).unwrap_or_default()
}

/// Minutes shown in hours, as the column headers say.
fn hours(minutes: Option<f64>) -> String {
    minutes
        .map(|v| format!("{:.2}", v / 60.0))
        .unwrap_or_default()
}

/// One CSV line (CRLF-terminated).
pub fn csv_line(key: &str, name: &str, m: &Metrics) -> String {
    let fields = [
        cell(key),
        cell(name),
        m.submitted.to_string(),
        m.accepted.to_string(),
        m.handled.to_string(),
        m.due.to_string(),
        m.closed.to_string(),
        m.closed_on_time.to_string(),
        m.open.to_string(),
        m.overdue.to_string(),
        m.reworked.to_string(),
        pct(m.closure_rate),
        pct(m.on_time_rate),
        pct(m.rework_rate),
        pct(m.satisfaction_rate),
        pct(m.loop_closed_rate),
        hours(m.accept_minutes_p50),
        hours(m.accept_minutes_p90),
        hours(m.close_minutes_p50),
        hours(m.close_minutes_p90),
        m.rated.to_string(),
        m.wishes_submitted.to_string(),
        m.wishes_claimed.to_string(),
        m.wishes_fulfilled.to_string(),
        m.dispatched.to_string(),
        m.signed_on_time.to_string(),
        m.returned.to_string(),
        pct(m.sign_on_time_rate),
        pct(m.unit_on_time_rate),
        pct(m.return_rate),
        m.from_resident.to_string(),
        m.from_patrol.to_string(),
        m.from_visit.to_string(),
        m.from_hotline.to_string(),
        m.from_device.to_string(),
        m.from_open311.to_string(),
        m.resolved_on_site.to_string(),
        m.patrols.to_string(),
        pct(m.patrol_coverage_rate),
        m.mediated.to_string(),
        m.mediation_agreed.to_string(),
        pct(m.mediation_success_rate),
        m.follow_ups_due.to_string(),
        pct(m.follow_up_on_time_rate),
    ];
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

/// The same data as CSV (UTF-8 with BOM, Chinese headers): a total line, then one line per
/// group in key order; child areas and grids streamed from the database row by row, the
/// shorter lists (categories, days, units, sources) read whole.
#[utoipa::path(tag = "dashboard", params(DashboardQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, description = "not an admin, or the area is outside the admin's", body = crate::error::ErrorBody),
        (status = 404, description = "no such area", body = crate::error::ErrorBody),
        (status = 422, description = "bad period", body = crate::error::ErrorBody)))]
#[get("/admin/dashboard.csv")]
async fn dashboard_csv(
    state: web::Data<AppState>,
    who: Principal,
    q: web::Query<DashboardQuery>,
) -> ApiResult<HttpResponse> {
    let scope = service::resolve(&state, &who, &q).await?;
    let figures = service::Figures::read(&state.db, &scope, crate::util::now_ms()).await?;
    let totals = service::totals(&state, &scope, &figures).await?;
    let mut head = String::from("\u{feff}");
    head.push_str(&CSV_HEADER.join(","));
    head.push_str("\r\n");
    head.push_str(&csv_line("", "合计", &totals));
    let db = state.db.clone();
    let streamed = matches!(scope.group_by, GroupBy::Child | GroupBy::Grid);
    let stmt = match service::groups_statement(db.get_database_backend(), &scope) {
        Some(stmt) if streamed => stmt,
        _ => {
            for g in service::read_groups(&state.db, &scope, &figures).await? {
                head.push_str(&csv_line(&g.key, &g.name, &g.metrics));
            }
            return Ok(csv_response(&scope, HttpResponse::Ok().body(head)));
        }
    };
    let body = async_stream::stream! {
        yield Ok::<_, actix_web::Error>(web::Bytes::from(head));
        let mut rows = match db.stream(stmt).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "dashboard CSV query failed");
                yield Err(actix_web::error::ErrorInternalServerError("query failed"));
                return;
            }
        };
        while let Some(row) = rows.next().await {
            let line = row
                .map_err(crate::error::ApiError::from)
                .and_then(|r| service::group_of(&r, &figures))
                .map(|g| csv_line(&g.key, &g.name, &g.metrics));
            match line {
                Ok(l) => yield Ok(web::Bytes::from(l)),
                Err(e) => {
                    tracing::error!(error = %e, "dashboard CSV row failed");
                    yield Err(actix_web::error::ErrorInternalServerError("row failed"));
                    return;
                }
            }
        }
    };
    Ok(csv_response(&scope, HttpResponse::Ok().streaming(body)))
}

/// The CSV headers on a response: its type and its file name.
fn csv_response(scope: &service::Scope, mut res: HttpResponse) -> HttpResponse {
    let file = format!(
        "dashboard-{}-{}-{}.csv",
        scope.area.code,
        super::rollup::day_key(scope.from),
        super::rollup::day_key(scope.to)
    );
    let headers = res.headers_mut();
    headers.insert(
        actix_web::http::header::CONTENT_TYPE,
        actix_web::http::header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        file.replace('"', "")
    )) {
        headers.insert(actix_web::http::header::CONTENT_DISPOSITION, v);
    }
    res
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(dashboard).service(dashboard_csv);
}
