//! HTTP handlers of the area tree and routing.

use actix_web::{get, post, web, HttpResponse};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::geo::{CoordSystem, Coordinate};
use super::router::AreaInfo;
use super::service;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Serialize, ToSchema, Clone)]
pub struct AreaView {
    pub code: String,
    pub name: String,
    /// `district`, `street`, `community` or `grid`.
    pub level: String,
    pub parent_code: Option<String>,
}

impl From<entity::areas::Model> for AreaView {
    fn from(a: entity::areas::Model) -> Self {
        AreaView {
            code: a.code,
            name: a.name,
            level: a.level,
            parent_code: a.parent_code,
        }
    }
}

impl From<&AreaInfo> for AreaView {
    fn from(a: &AreaInfo) -> Self {
        AreaView {
            code: a.code.clone(),
            name: a.name.clone(),
            level: a.level.as_str().into(),
            parent_code: a.parent_code.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AreaPage {
    pub items: Vec<AreaView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// One area of the tree.
#[utoipa::path(tag = "areas", security(("bearer" = [])), responses((status = 200, body = AreaView), (status = 404, body = crate::error::ErrorBody)))]
#[get("/areas/{code}")]
async fn get_area(
    state: web::Data<AppState>,
    _who: Principal,
    code: web::Path<String>,
) -> ApiResult<web::Json<AreaView>> {
    let area = service::find(&state.db, &code)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(web::Json(area.into()))
}

/// The children of an area, by code.
#[utoipa::path(tag = "areas", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = AreaPage)))]
#[get("/areas/{code}/children")]
async fn children(
    state: web::Data<AppState>,
    _who: Principal,
    code: web::Path<String>,
    page: web::Query<PageQuery>,
) -> ApiResult<web::Json<AreaPage>> {
    service::find(&state.db, &code)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let limit = crate::paging::page_limit(page.limit)?;
    let mut query = entity::areas::Entity::find()
        .filter(entity::areas::Column::ParentCode.eq(code.as_str()))
        .order_by_asc(entity::areas::Column::Code)
        .limit(limit + 1);
    if let Some(cursor) = &page.cursor {
        query = query.filter(entity::areas::Column::Code.gt(cursor.as_str()));
    }
    let mut rows = query.all(&state.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|a| a.code.clone())
    } else {
        None
    };
    Ok(web::Json(AreaPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct LocateQuery {
    pub lat: f64,
    pub lng: f64,
    /// `gcj02` (default, what Chinese maps use) or `wgs84` (wx.getLocation's default).
    pub coord: Option<CoordSystem>,
}

#[derive(Serialize, ToSchema)]
pub struct Located {
    /// The grid covering the point; null when it lies in no grid.
    pub grid: Option<AreaView>,
    /// The queue a report from here would land in (the grid, or the smallest enclosing area).
    pub queue: AreaView,
    /// From the district down to the queue.
    pub path: Vec<AreaView>,
}

/// The grid (and its ancestors) for a point.
#[utoipa::path(tag = "areas", params(LocateQuery), security(("bearer" = [])), responses((status = 200, body = Located), (status = 404, body = crate::error::ErrorBody)))]
#[get("/grids/locate")]
async fn locate(
    state: web::Data<AppState>,
    _who: Principal,
    q: web::Query<LocateQuery>,
) -> ApiResult<web::Json<Located>> {
    let point = Coordinate::new(q.lat, q.lng, q.coord.unwrap_or_default())
        .map_err(|e| ApiError::invalid("lat", e.to_string()))?;
    let route = state.router.route(&point).ok_or_else(ApiError::not_found)?;
    let snap = state.router.snapshot();
    let path = route
        .queue
        .path
        .split('/')
        .filter(|c| !c.is_empty())
        .filter_map(|c| snap.areas.get(c).map(AreaView::from))
        .collect();
    Ok(web::Json(Located {
        grid: route.grid.as_ref().map(Into::into),
        queue: (&route.queue).into(),
        path,
    }))
}

/// Import or update areas and grids from a GeoJSON FeatureCollection; all or nothing.
#[utoipa::path(tag = "areas", request_body(content = serde_json::Value, description = "GeoJSON FeatureCollection; properties code, name, level, parent_code"),
    security(("bearer" = [])), responses(
    (status = 200, body = service::ImportSummary),
    (status = 422, description = "import_invalid, with details.problems", body = crate::error::ErrorBody),
    (status = 403, body = crate::error::ErrorBody)))]
#[post("/admin/areas/import")]
async fn import(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    // An area admin imports inside their area; the system admin anywhere.
    let Some(scope) = who.structure_path().map(str::to_owned) else {
        return Err(ApiError::forbidden());
    };
    let scope = (scope != "/").then_some(scope);
    // Read feature by feature from the body (never parsed whole into a JSON tree).
    let summary = service::import_reader(
        &state.db,
        std::io::Cursor::new(body),
        scope.as_deref(),
        &|_, _| {},
    )
    .await?;
    state.router.refresh(&state.db, true).await?;
    Ok(HttpResponse::Ok().json(summary))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_area)
        .service(children)
        .service(locate)
        .service(import);
}
