//! Retention of closed cases (DOMAIN.md §10, PIPL art. 19: the shortest time needed). A report
//! closed longer than `SAFEGRID_CLOSED_CASE_RETENTION_DAYS` keeps its grid but loses its exact
//! point (moved to the grid's centroid, or rounded to about 1 km where the grid has no shape),
//! its address and its photos (rows deleted, then files), and is marked `retained_at`.
//!
//! The dashboards are unchanged by it: their rollups count reports by grid, category, status
//! and times, none of which move. Run daily by one instance ([`run_daily`], a lease plus the
//! time of the last run in `settings`); each batch is one transaction, the files go after it
//! commits (a crash leaves an orphan file, never a row pointing at a missing one).

use std::collections::HashMap;

use geo::Centroid;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::state::AppState;
use crate::util::now_ms;
use entity::enums::ReportStatus;
use entity::{reports, uploads};

/// What one pass took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    pub cases: u64,
    pub photos: u64,
}

/// The `settings` key holding the time of the last daily run.
const LAST_RUN_KEY: &str = "case_retention_last_run";
const DAY_MS: i64 = 86_400_000;

/// Reduces every report closed before `now - retention_ms` and not yet reduced, `batch` per
/// transaction.
pub async fn apply(
    db: &DatabaseConnection,
    upload_dir: &str,
    retention_ms: i64,
    batch: u64,
) -> Result<Retained, DbErr> {
    let cutoff = now_ms() - retention_ms;
    let mut out = Retained::default();
    let mut centroids: HashMap<String, Option<(f64, f64)>> = HashMap::new();
    loop {
        let rows = reports::Entity::find()
            .filter(reports::Column::Status.eq(ReportStatus::Closed))
            .filter(reports::Column::ClosedAt.lt(cutoff))
            .filter(reports::Column::RetainedAt.is_null())
            .order_by_asc(reports::Column::ClosedAt)
            .limit(batch.max(1))
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(out);
        }
        for r in &rows {
            if !centroids.contains_key(&r.grid_code) {
                let c = grid_centroid(db, &r.grid_code).await?;
                centroids.insert(r.grid_code.clone(), c);
            }
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        // Read before the transaction, whose first statement then writes (SQLite takes its
        // write lock at once instead of failing to upgrade); a closed case gains no photos.
        let photos = uploads::Entity::find()
            .filter(uploads::Column::AttachedId.is_in(ids.iter().cloned()))
            .all(db)
            .await?;
        let txn = db.begin().await?;
        uploads::Entity::delete_many()
            .filter(uploads::Column::AttachedId.is_in(ids.iter().cloned()))
            .exec(&txn)
            .await?;
        let at = now_ms();
        for r in &rows {
            let (lat, lng) =
                centroids[&r.grid_code].unwrap_or_else(|| (round_km(r.lat), round_km(r.lng)));
            out.cases += reports::Entity::update_many()
                .col_expr(reports::Column::Lat, Expr::value(lat))
                .col_expr(reports::Column::Lng, Expr::value(lng))
                .col_expr(
                    reports::Column::Address,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(reports::Column::RetainedAt, Expr::value(at))
                .filter(reports::Column::Id.eq(&r.id))
                .filter(reports::Column::RetainedAt.is_null())
                .exec(&txn)
                .await?
                .rows_affected;
        }
        txn.commit().await?;
        for u in photos {
            let path = std::path::Path::new(upload_dir).join(&u.stored_name);
            if let Err(e) = tokio::fs::remove_file(&path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(error = %e, "retention could not delete a photo file");
                    continue;
                }
            }
            out.photos += 1;
        }
    }
}

/// Two decimals of a degree: about 1 km.
fn round_km(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `(lat, lng)` of the centroid of the grid's shape, if it has one.
async fn grid_centroid(db: &impl ConnectionTrait, code: &str) -> Result<Option<(f64, f64)>, DbErr> {
    Ok(entity::areas::Entity::find_by_id(code.to_owned())
        .one(db)
        .await?
        .and_then(|a| a.geometry)
        .and_then(|g| crate::grids::geojson::multipolygon_from_json(&g))
        .and_then(|mp| mp.centroid())
        .map(|p| (p.y(), p.x())))
}

/// The daily run: at most once a day across all instances (the caller holds the lease),
/// counted in `/metrics`.
pub async fn run_daily(state: &AppState) -> Result<Option<Retained>, DbErr> {
    let now = now_ms();
    let last = entity::settings::Entity::find_by_id(LAST_RUN_KEY.to_owned())
        .one(&state.db)
        .await?
        .and_then(|s| s.value.parse::<i64>().ok());
    if last.is_some_and(|t| now - t < DAY_MS) {
        return Ok(None);
    }
    let done = apply(
        &state.db,
        &state.settings.upload_dir,
        state.settings.closed_case_retention.as_millis() as i64,
        200,
    )
    .await?;
    entity::settings::Entity::insert(entity::settings::ActiveModel {
        key: Set(LAST_RUN_KEY.into()),
        value: Set(now.to_string()),
    })
    .on_conflict(
        OnConflict::column(entity::settings::Column::Key)
            .update_column(entity::settings::Column::Value)
            .to_owned(),
    )
    .exec_without_returning(&state.db)
    .await?;
    state.metrics.retention_cases.inc_by(done.cases);
    state.metrics.retention_photos.inc_by(done.photos);
    Ok(Some(done))
}
