//! The area tree in the database: all-or-nothing GeoJSON import, paths, lookups.

use std::collections::{BTreeMap, HashMap, HashSet};

use geo::{LineString, MultiPolygon};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;

use super::area::AreaLevel;
use super::geojson::{
    stream_feature_collection, AreaFeature, ImportProblem, StreamError, TreeCheck,
};
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
    /// The body or file is not JSON (or ends early): the parser's message.
    NotJson(String),
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
            ImportError::NotJson(message) => ApiError::new(
                Code::InvalidJson,
                format!("The body is not valid JSON: {message}"),
                "请求内容不是有效的 JSON。",
            ),
            ImportError::OutsideScope(codes) => ApiError::forbidden()
                .with_details(serde_json::json!({ "outside_your_area": codes })),
            ImportError::Db(e) => e.into(),
        }
    }
}

/// Imports or updates areas from a FeatureCollection held in memory, all or nothing (the demo,
/// the bench data and tests); see [`import_reader`].
pub async fn import(
    db: &(impl ConnectionTrait + TransactionTrait),
    doc: &serde_json::Value,
    scope_path: Option<&str>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportSummary, ImportError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| ImportError::NotJson(e.to_string()))?;
    import_reader(db, std::io::Cursor::new(bytes), scope_path, progress).await
}

/// Imports or updates areas from a FeatureCollection read from `reader`, all or nothing. With
/// `scope_path`, every imported area must lie inside that subtree. `progress` is called with
/// (areas staged, 0): the total is not known until the file ends.
///
/// The file is streamed (issue 21: 50,271 areas peaked at ~660 MB parsed whole): a blocking
/// thread reads one feature at a time and validates it alone; each valid feature is written
/// at once, 500 rows a statement, inside the one transaction of the import, with its path when
/// its ancestors are already known. Only the tree facts (code, level, parent, path) stay in
/// memory. When the file ends the tree is checked; any problem — or a feature outside the
/// scope — rolls the transaction back, so nothing is changed and every bad feature is named.
pub async fn import_reader<R: std::io::Read + Send + 'static>(
    db: &(impl ConnectionTrait + TransactionTrait),
    reader: R,
    scope_path: Option<&str>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportSummary, ImportError> {
    // The tree as stored, without geometries (a re-import must not load them all).
    let existing_rows: Vec<(String, String, Option<String>, String)> = areas::Entity::find()
        .select_only()
        .columns([
            areas::Column::Code,
            areas::Column::Level,
            areas::Column::ParentCode,
            areas::Column::Path,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let existing: HashMap<String, (AreaLevel, Option<String>)> = existing_rows
        .iter()
        .filter_map(|(code, level, parent, _)| {
            Some((code.clone(), (AreaLevel::parse(level)?, parent.clone())))
        })
        .collect();
    let mut parents: HashMap<String, Option<String>> = existing_rows
        .iter()
        .map(|(code, _, parent, _)| (code.clone(), parent.clone()))
        .collect();
    let old_paths: HashMap<String, String> = existing_rows
        .into_iter()
        .map(|(code, _, _, path)| (code, path))
        .collect();

    // The reader: `None` for a feature with a problem of its own.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<AreaFeature>>(256);
    let reading = tokio::task::spawn_blocking(move || {
        let mut check = TreeCheck::default();
        let read = stream_feature_collection(reader, |index, feature| {
            tx.blocking_send(check.add(index, &feature)).is_ok()
        });
        (check, read)
    });

    let now = now_ms();
    let txn = db.begin().await?;
    // Codes of the file in order, the path each was written with, and whether everything so
    // far is valid (after the first problem nothing more is written, only checked).
    let mut in_file: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut staged: HashMap<String, String> = HashMap::new();
    let mut writing = true;
    let mut batch: Vec<areas::ActiveModel> = Vec::with_capacity(STAGE_ROWS);
    let mut created = 0;
    while let Some(feature) = rx.recv().await {
        let Some(f) = feature else {
            writing = false;
            continue;
        };
        if !seen.insert(f.code.clone()) {
            // A duplicate code: the tree check names it.
            writing = false;
            continue;
        }
        parents.insert(f.code.clone(), f.parent_code.clone());
        in_file.push(f.code.clone());
        if !writing {
            continue;
        }
        let path = known_path(&parents, &f.code).unwrap_or_default();
        if !existing.contains_key(&f.code) {
            created += 1;
        }
        batch.push(to_active_model(&f, path.clone(), now));
        staged.insert(f.code, path);
        if batch.len() == STAGE_ROWS {
            stage(&txn, std::mem::take(&mut batch)).await?;
            progress(staged.len(), 0);
        }
    }
    let (check, read) = reading
        .await
        .map_err(|e| ImportError::Db(sea_orm::DbErr::Custom(format!("import reader: {e}"))))?;
    let mut check = check;
    match read {
        Ok(()) => {}
        Err(StreamError::Syntax(message)) => return Err(ImportError::NotJson(message)),
        Err(StreamError::NotCollection) => check.document_problem(),
        Err(StreamError::Stopped) => {
            return Err(ImportError::Db(sea_orm::DbErr::Custom(
                "import reader stopped".into(),
            )))
        }
    }
    check.finish(&existing).map_err(ImportError::Invalid)?;
    if !batch.is_empty() {
        stage(&txn, batch).await?;
    }

    // The tree after the import: existing parents overridden by the file.
    let paths = compute_paths(&parents);
    if let Some(scope) = scope_path {
        let outside: Vec<String> = in_file
            .iter()
            .filter(|code| !paths.get(*code).is_some_and(|p| p.starts_with(scope)))
            .cloned()
            .collect();
        if !outside.is_empty() {
            return Err(ImportError::OutsideScope(outside));
        }
    }
    for (code, path) in &paths {
        // A feature written before its ancestors were known, or one whose ancestors the file
        // moved afterwards, gets its final path.
        let stale_stage = staged.get(code).is_some_and(|p| p != path);
        // Areas whose path moved, in the file or not, and the reports and wishes queued there.
        let moved = old_paths.get(code).is_some_and(|old| old != path);
        if stale_stage || moved {
            areas::Entity::update_many()
                .col_expr(areas::Column::Path, Expr::value(path.clone()))
                .filter(areas::Column::Code.eq(code))
                .exec(&txn)
                .await?;
        }
        if moved {
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
    let total = in_file.len();
    progress(total, total);
    Ok(ImportSummary {
        created,
        updated: total - created,
        total,
    })
}

/// Rows per staging statement.
const STAGE_ROWS: usize = 500;

/// Writes validated areas inside the import's transaction; codes are stable, so an existing
/// code is updated in place.
async fn stage(
    txn: &impl ConnectionTrait,
    models: Vec<areas::ActiveModel>,
) -> Result<(), sea_orm::DbErr> {
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
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// `/root/…/code/` when every ancestor of `code` is already known; `None` otherwise (the path
/// is then set when the file ends).
fn known_path(parents: &HashMap<String, Option<String>>, code: &str) -> Option<String> {
    let mut chain = vec![code];
    let mut cursor = code;
    loop {
        match parents.get(cursor)? {
            None => break,
            Some(parent) => {
                if chain.len() > 16 || chain.contains(&parent.as_str()) {
                    return None;
                }
                chain.push(parent.as_str());
                cursor = parent.as_str();
            }
        }
    }
    chain.reverse();
    Some(format!("/{}/", chain.join("/")))
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
