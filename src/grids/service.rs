//! The area tree in the database: all-or-nothing GeoJSON import, paths, lookups.

use std::collections::{BTreeMap, HashMap};

use geo::{LineString, MultiPolygon};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde::Serialize;

use super::area::AreaLevel;
use super::geojson::{parse_feature_collection, AreaFeature, ImportProblem};
use super::router::VERSION_KEY;
use crate::error::{ApiError, Code};
use crate::util::now_ms;

use entity::areas;

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub total: usize,
}

/// Why an import was refused; nothing was written.
#[derive(Debug)]
pub enum ImportError {
    Invalid(Vec<ImportProblem>),
    /// Codes of features outside the importing admin's area.
    OutsideScope(Vec<String>),
    Db(sea_orm::DbErr),
}

impl From<sea_orm::DbErr> for ImportError {
    fn from(e: sea_orm::DbErr) -> Self {
        ImportError::Db(e)
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Invalid(problems) => ApiError::new(
                Code::ImportInvalid,
                format!(
                    "The import was refused with {} problem(s); nothing was changed.",
                    problems.len()
                ),
                format!("导入失败，共 {} 处问题，未做任何更改。", problems.len()),
            )
            .with_details(serde_json::json!({ "problems": problems })),
            ImportError::OutsideScope(codes) => ApiError::forbidden()
                .with_details(serde_json::json!({ "outside_your_area": codes })),
            ImportError::Db(e) => e.into(),
        }
    }
}

/// Imports or updates areas from a FeatureCollection, all or nothing. With `scope_path`, every
/// imported area must lie inside that subtree. `progress` is called with (done, total).
pub async fn import(
    db: &(impl ConnectionTrait + TransactionTrait),
    doc: &serde_json::Value,
    scope_path: Option<&str>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportSummary, ImportError> {
    let existing_rows = areas::Entity::find().all(db).await?;
    let existing: HashMap<String, (AreaLevel, Option<String>)> = existing_rows
        .iter()
        .filter_map(|a| {
            Some((
                a.code.clone(),
                (AreaLevel::parse(&a.level)?, a.parent_code.clone()),
            ))
        })
        .collect();
    let features = parse_feature_collection(doc, &existing).map_err(ImportError::Invalid)?;

    // The tree after the import: existing parents overridden by the file.
    let mut parents: HashMap<String, Option<String>> = existing_rows
        .iter()
        .map(|a| (a.code.clone(), a.parent_code.clone()))
        .collect();
    for f in &features {
        parents.insert(f.code.clone(), f.parent_code.clone());
    }
    let paths = compute_paths(&parents);
    if let Some(scope) = scope_path {
        let outside: Vec<String> = features
            .iter()
            .filter(|f| !paths.get(&f.code).is_some_and(|p| p.starts_with(scope)))
            .map(|f| f.code.clone())
            .collect();
        if !outside.is_empty() {
            return Err(ImportError::OutsideScope(outside));
        }
    }

    let now = now_ms();
    let old_paths: HashMap<&str, &str> = existing_rows
        .iter()
        .map(|a| (a.code.as_str(), a.path.as_str()))
        .collect();
    let total = features.len();
    let txn = db.begin().await?;
    let mut created = 0;
    for (done, chunk) in features.chunks(500).enumerate() {
        let models: Vec<areas::ActiveModel> = chunk
            .iter()
            .map(|f| {
                if !existing.contains_key(&f.code) {
                    created += 1;
                }
                to_active_model(f, paths.get(&f.code).cloned().unwrap_or_default(), now)
            })
            .collect();
        // Codes are stable: an existing code is updated in place.
        areas::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(areas::Column::Code)
                    .update_columns([
                        areas::Column::Name,
                        areas::Column::Level,
                        areas::Column::ParentCode,
                        areas::Column::Path,
                        areas::Column::Geometry,
                        areas::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        progress(((done + 1) * 500).min(total), total);
    }
    // Areas not in the file whose ancestors moved get their new path too, and so do the
    // reports and wishes queued there.
    for (code, path) in &paths {
        if old_paths
            .get(code.as_str())
            .is_some_and(|old| *old != path.as_str())
        {
            areas::Entity::update_many()
                .col_expr(areas::Column::Path, Expr::value(path.clone()))
                .filter(areas::Column::Code.eq(code))
                .exec(&txn)
                .await?;
            entity::reports::Entity::update_many()
                .col_expr(
                    entity::reports::Column::QueuePath,
                    Expr::value(path.clone()),
                )
                .filter(entity::reports::Column::QueueCode.eq(code))
                .exec(&txn)
                .await?;
            entity::wishes::Entity::update_many()
                .col_expr(entity::wishes::Column::QueuePath, Expr::value(path.clone()))
                .filter(entity::wishes::Column::GridCode.eq(code))
                .exec(&txn)
                .await?;
        }
    }
    bump_version(&txn).await?;
    txn.commit().await?;
    Ok(ImportSummary {
        created,
        updated: total - created,
        total,
    })
}

/// Moves the grid version on so every instance rebuilds its index.
pub async fn bump_version(db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    let next = super::router::current_version(db).await? + 1;
    entity::settings::Entity::insert(entity::settings::ActiveModel {
        key: Set(VERSION_KEY.into()),
        value: Set(next.to_string()),
    })
    .on_conflict(
        OnConflict::column(entity::settings::Column::Key)
            .update_column(entity::settings::Column::Value)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

fn to_active_model(f: &AreaFeature, path: String, now: i64) -> areas::ActiveModel {
    areas::ActiveModel {
        code: Set(f.code.clone()),
        name: Set(f.name.clone()),
        level: Set(f.level.as_str().to_string()),
        parent_code: Set(f.parent_code.clone()),
        path: Set(path),
        geometry: Set(f.geometry.as_ref().map(multipolygon_to_json)),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// `/root/…/code/` for every area; the validator has already ruled out cycles.
pub fn compute_paths(parents: &HashMap<String, Option<String>>) -> BTreeMap<String, String> {
    let mut paths = BTreeMap::new();
    for code in parents.keys() {
        let mut chain = vec![code.as_str()];
        let mut cursor = code.as_str();
        while let Some(Some(parent)) = parents.get(cursor) {
            if chain.len() > 16 || chain.contains(&parent.as_str()) {
                break;
            }
            chain.push(parent.as_str());
            cursor = parent.as_str();
        }
        chain.reverse();
        paths.insert(code.clone(), format!("/{}/", chain.join("/")));
    }
    paths
}

/// GeoJSON `coordinates` of a MultiPolygon, as stored in `areas.geometry`.
pub fn multipolygon_to_json(mp: &MultiPolygon<f64>) -> String {
    let ring =
        |ls: &LineString<f64>| -> Vec<[f64; 2]> { ls.coords().map(|c| [c.x, c.y]).collect() };
    let polys: Vec<Vec<Vec<[f64; 2]>>> =
        mp.0.iter()
            .map(|p| {
                std::iter::once(ring(p.exterior()))
                    .chain(p.interiors().iter().map(ring))
                    .collect()
            })
            .collect();
    serde_json::to_string(&polys).unwrap_or_else(|_| "[]".into())
}

/// An area by code.
pub async fn find(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<areas::Model>, sea_orm::DbErr> {
    areas::Entity::find_by_id(code.to_string()).one(db).await
}
