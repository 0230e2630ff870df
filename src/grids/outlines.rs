//! Grid outlines for the console's drawings (a case on its grid, the on-time choropleth):
//! the stored polygons, simplified to about a metre and rounded, so a street's grids fit in
//! a small answer and the page draws them as SVG with no map tiles and no key.

use actix_web::{get, web};
use geo::Simplify;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::geojson::multipolygon_from_json;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// At most this many grids per answer: a district of 10,000 grids is drawn street by street.
pub const MAX_OUTLINES: u64 = 3_000;

#[derive(Serialize, ToSchema, Debug, PartialEq)]
pub struct Outline {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    /// Exterior rings as `[lng, lat]` (WGS-84), one per polygon part.
    pub rings: Vec<Vec<[f64; 2]>>,
}

#[derive(Serialize, ToSchema)]
pub struct OutlinePage {
    pub items: Vec<Outline>,
    /// More grids lie inside than one answer carries (ask for a smaller area).
    pub truncated: bool,
}

/// The exterior rings of a stored MultiPolygon, simplified (~1 m) and rounded to 6 decimals.
pub fn rings_of(geometry: &str) -> Vec<Vec<[f64; 2]>> {
    let Some(mp) = multipolygon_from_json(geometry) else {
        return Vec::new();
    };
    mp.0.iter()
        .map(|p| {
            p.exterior()
                .simplify(0.00001)
                .0
                .iter()
                .map(|c| [round6(c.x), round6(c.y)])
                .collect()
        })
        .collect()
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// The grids inside an area (or the grid itself), with their outlines: admins above it.
#[utoipa::path(tag = "areas", security(("bearer" = [])),
    params(("code" = String, Path, description = "an area or grid code")),
    responses((status = 200, body = OutlinePage), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
#[get("/admin/areas/{code}/outlines")]
async fn outlines(
    state: web::Data<AppState>,
    who: Principal,
    code: web::Path<String>,
) -> ApiResult<web::Json<OutlinePage>> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let area = entity::areas::Entity::find_by_id(code.into_inner())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !who.administers_path(&area.path) {
        return Err(ApiError::forbidden());
    }
    use entity::areas::Column;
    let mut rows = entity::areas::Entity::find()
        .filter(Column::Path.starts_with(&area.path))
        .filter(Column::Level.eq("grid"))
        .order_by_asc(Column::Code)
        .limit(MAX_OUTLINES + 1)
        .all(&state.db)
        .await?;
    let truncated = rows.len() as u64 > MAX_OUTLINES;
    rows.truncate(MAX_OUTLINES as usize);
    Ok(web::Json(OutlinePage {
        items: rows
            .into_iter()
            .map(|a| Outline {
                rings: a.geometry.as_deref().map(rings_of).unwrap_or_default(),
                code: a.code,
                name: a.name,
                parent_code: a.parent_code,
            })
            .collect(),
        truncated,
    }))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(outlines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_keeps_its_corners_and_loses_a_collinear_point() {
        let square = "[[[[121.0,31.0],[121.0005,31.0],[121.001,31.0],[121.001,31.001],[121.0,31.001],[121.0,31.0]]]]";
        let rings = rings_of(square);
        assert_eq!(rings.len(), 1);
        assert_eq!(
            rings[0],
            vec![
                [121.0, 31.0],
                [121.001, 31.0],
                [121.001, 31.001],
                [121.0, 31.001],
                [121.0, 31.0]
            ]
        );
        assert!(rings_of("not json").is_empty());
    }
}
