//! Starting, feeding, ending and reading patrols.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::dto::*;
use crate::auth::Principal;
use crate::cases::dto::LocationOut;
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult};
use crate::grids::area::AreaLevel;
use crate::grids::geo::Coordinate;
use crate::paging::parse_cursor;
use crate::util::{new_id, now_ms, parse_rfc3339, rfc3339};

use entity::{patrol_checkins, patrols};

/// A patrol nobody ended ends itself this long after it began.
pub const MAX_PATROL_MS: i64 = 8 * 3_600_000;
/// The most points in one batch.
pub const MAX_BATCH: usize = 500;
/// How far a point's time may lie outside the patrol (clock drift on phones).
const SKEW_MS: i64 = 5 * 60_000;

/// When a patrol ended: by the worker, or by itself 8 hours after it began (seen at `now`).
pub fn effective_end(p: &patrols::Model, now: i64) -> Option<i64> {
    p.ended_at
        .or_else(|| (now >= p.started_at + MAX_PATROL_MS).then_some(p.started_at + MAX_PATROL_MS))
}

/// The Shanghai days (as day numbers since 1970-01-01) a patrol from `start` to `end` touches.
pub fn shanghai_days(start: i64, end: i64) -> std::ops::RangeInclusive<i64> {
    let day = |ms: i64| (ms + 8 * 3_600_000).div_euclid(86_400_000);
    day(start)..=day(end.max(start))
}

fn view(p: patrols::Model, now: i64, track: Option<Vec<CheckinView>>) -> PatrolView {
    let end = effective_end(&p, now);
    PatrolView {
        auto_ended: p.ended_at.is_none() && end.is_some(),
        ended_at: end.map(rfc3339),
        id: p.id,
        grid_code: p.grid_code,
        worker_id: p.worker_id,
        started_at: rfc3339(p.started_at),
        checkins: p.checkins,
        outside: p.outside,
        track,
    }
}

/// Starts a patrol in a grid the caller works. A worker already walking that grid gets that
/// patrol back (200), so a retried start makes no second one.
pub async fn start(
    env: &Env<'_>,
    who: &Principal,
    grid_code: &str,
) -> ApiResult<(PatrolView, bool)> {
    if !who.works_grid(grid_code) {
        return Err(ApiError::forbidden().field("grid_code", "not a grid you work"));
    }
    let snap = env.router.snapshot();
    let grid = snap
        .areas
        .get(grid_code)
        .filter(|a| a.level == AreaLevel::Grid)
        .ok_or_else(|| ApiError::invalid("grid_code", "no such grid"))?;
    let now = now_ms();
    let open = patrols::Entity::find()
        .filter(patrols::Column::WorkerId.eq(who.id()))
        .filter(patrols::Column::GridCode.eq(grid_code))
        .filter(patrols::Column::EndedAt.is_null())
        .filter(patrols::Column::StartedAt.gt(now - MAX_PATROL_MS))
        .one(env.db)
        .await?;
    if let Some(p) = open {
        return Ok((view(p, now, None), false));
    }
    let p = patrols::ActiveModel {
        id: Set(new_id()),
        worker_id: Set(who.id().into()),
        grid_code: Set(grid.code.clone()),
        grid_path: Set(grid.path.clone()),
        started_at: Set(now),
        ended_at: Set(None),
        checkins: Set(0),
        outside: Set(0),
    }
    .insert(env.db)
    .await?;
    Ok((view(p, now, None), true))
}

async fn own(env: &Env<'_>, who: &Principal, id: &str) -> ApiResult<patrols::Model> {
    patrols::Entity::find_by_id(id.to_owned())
        .one(env.db)
        .await?
        .filter(|p| p.worker_id == who.id())
        .ok_or_else(ApiError::not_found)
}

/// Adds a batch of check-ins: one multi-row insert that skips points already received
/// (by `client_id`), then the patrol's counters recounted, in one transaction. Points
/// outside the grid are kept and flagged; points timed outside the patrol are refused.
pub async fn checkins(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    batch: CheckinBatch,
) -> ApiResult<CheckinResult> {
    if batch.items.is_empty() || batch.items.len() > MAX_BATCH {
        return Err(ApiError::invalid("items", "send 1 to 500 points"));
    }
    let p = own(env, who, id).await?;
    let now = now_ms();
    let end = effective_end(&p, now).unwrap_or(now);
    let mut rows = Vec::with_capacity(batch.items.len());
    let mut seen = std::collections::HashSet::new();
    for (i, item) in batch.items.iter().enumerate() {
        let field = |what: &str| format!("items[{i}].{what}");
        if item.client_id.is_empty() || item.client_id.len() > 64 {
            return Err(ApiError::invalid(&field("client_id"), "1 to 64 characters"));
        }
        let at = parse_rfc3339(&item.at)
            .ok_or_else(|| ApiError::invalid(&field("at"), "an RFC 3339 time is required"))?;
        if at < p.started_at - SKEW_MS || at > end + SKEW_MS {
            return Err(ApiError::invalid(
                &field("at"),
                "outside the patrol's time (from its start to its end)",
            ));
        }
        let point = Coordinate::new(item.lat, item.lng, item.coord)
            .map_err(|e| ApiError::invalid(&field("lat"), e.to_string()))?;
        if !seen.insert(item.client_id.as_str()) {
            continue;
        }
        let inside = env
            .router
            .route(&point)
            .and_then(|r| r.grid)
            .is_some_and(|g| g.code == p.grid_code);
        let gcj = point.to_gcj02();
        rows.push(patrol_checkins::ActiveModel {
            patrol_id: Set(p.id.clone()),
            client_id: Set(item.client_id.clone()),
            lat: Set(gcj.lat()),
            lng: Set(gcj.lng()),
            at: Set(at),
            outside: Set(!inside),
            received_at: Set(now),
        });
    }
    let txn = env.db.begin().await?;
    // Write first (SQLite): the insert, then the recount under the same transaction.
    patrol_checkins::Entity::insert_many(rows)
        .on_conflict(
            // A no-op update rather than DO NOTHING, which sea-query renders invalid for MySQL.
            OnConflict::columns([
                patrol_checkins::Column::PatrolId,
                patrol_checkins::Column::ClientId,
            ])
            .update_column(patrol_checkins::Column::PatrolId)
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    #[derive(FromQueryResult)]
    struct Counts {
        total: i64,
        outside: i64,
    }
    let counts = patrol_checkins::Entity::find()
        .select_only()
        .column_as(patrol_checkins::Column::ClientId.count(), "total")
        .column_as(
            // COUNT, not SUM: MySQL's SUM is a DECIMAL.
            Expr::cust("COUNT(CASE WHEN outside THEN 1 END)"),
            "outside",
        )
        .filter(patrol_checkins::Column::PatrolId.eq(&p.id))
        .into_model::<Counts>()
        .one(&txn)
        .await?
        .unwrap_or(Counts {
            total: 0,
            outside: 0,
        });
    let (total, outside) = (counts.total as i32, counts.outside as i32);
    patrols::Entity::update_many()
        .col_expr(patrols::Column::Checkins, Expr::value(total))
        .col_expr(patrols::Column::Outside, Expr::value(outside))
        .filter(patrols::Column::Id.eq(&p.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(CheckinResult {
        added: i64::from(total - p.checkins),
        checkins: total,
        outside,
    })
}

/// Ends the caller's patrol; ending it again answers the same.
pub async fn end(env: &Env<'_>, who: &Principal, id: &str) -> ApiResult<PatrolView> {
    let p = own(env, who, id).await?;
    let now = now_ms();
    if effective_end(&p, now).is_none() {
        patrols::Entity::update_many()
            .col_expr(patrols::Column::EndedAt, Expr::value(now))
            .filter(patrols::Column::Id.eq(&p.id))
            .filter(patrols::Column::EndedAt.is_null())
            .exec(env.db)
            .await?;
    }
    let p = own(env, who, id).await?;
    Ok(view(p, now, None))
}

/// Whether `who` may see the track of `p`: its worker, or an admin of a community or above
/// whose area contains its grid.
fn sees_track(who: &Principal, p: &patrols::Model) -> bool {
    p.worker_id == who.id()
        || who
            .admin_area
            .as_ref()
            .is_some_and(|a| p.grid_path.starts_with(&a.path) && a.path.matches('/').count() <= 4)
}

/// One patrol: its worker, the other workers of its grid (without the track), admins above.
pub async fn get(env: &Env<'_>, who: &Principal, id: &str) -> ApiResult<PatrolView> {
    let p = patrols::Entity::find_by_id(id.to_owned())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let visible = p.worker_id == who.id()
        || who.works_grid(&p.grid_code)
        || who.administers_path(&p.grid_path);
    if !visible {
        return Err(ApiError::not_found());
    }
    let track = if sees_track(who, &p) {
        if p.worker_id != who.id() {
            crate::compliance::audit::record(
                env.db,
                crate::compliance::audit::Record::ok(
                    who.id(),
                    "admin",
                    "read.patrol_track",
                    Some(format!("patrol:{}", p.id)),
                ),
            )
            .await;
        }
        let points = patrol_checkins::Entity::find()
            .filter(patrol_checkins::Column::PatrolId.eq(&p.id))
            .order_by_asc(patrol_checkins::Column::At)
            .order_by_asc(patrol_checkins::Column::ClientId)
            .all(env.db)
            .await?;
        Some(
            points
                .into_iter()
                .map(|c| CheckinView {
                    client_id: c.client_id,
                    location: LocationOut {
                        lat: c.lat,
                        lng: c.lng,
                        coord: "gcj02",
                    },
                    at: rfc3339(c.at),
                    outside: c.outside,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(view(p, now_ms(), track))
}

/// Filters of the patrol list.
pub struct PatrolFilter {
    pub grid: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Patrols, newest first: an admin's subtree, a worker's own grids.
pub async fn list(
    env: &Env<'_>,
    who: &Principal,
    f: PatrolFilter,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<PatrolPage> {
    let mut scope = Condition::any();
    if let Some(area) = &who.admin_area {
        scope = scope.add(patrols::Column::GridPath.starts_with(&area.path));
    }
    let grids: Vec<String> = who.worker_grids().map(str::to_owned).collect();
    if !grids.is_empty() {
        scope = scope.add(patrols::Column::GridCode.is_in(grids));
    }
    if scope.is_empty() {
        return Err(ApiError::forbidden());
    }
    if let Some(g) = &f.grid {
        let snap = env.router.snapshot();
        let allowed = who.works_grid(g)
            || snap
                .areas
                .get(g)
                .is_some_and(|a| who.administers_path(&a.path));
        if !allowed {
            return Err(ApiError::forbidden().field("grid", "not a grid you may read"));
        }
    }
    let mut q = patrols::Entity::find()
        .filter(scope)
        .order_by_desc(patrols::Column::StartedAt)
        .order_by_desc(patrols::Column::Id)
        .limit(limit + 1);
    if let Some(g) = &f.grid {
        q = q.filter(patrols::Column::GridCode.eq(g.as_str()));
    }
    if let Some(from) = f.from {
        q = q.filter(patrols::Column::StartedAt.gte(from));
    }
    if let Some(to) = f.to {
        q = q.filter(patrols::Column::StartedAt.lt(to));
    }
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any().add(patrols::Column::StartedAt.lt(k)).add(
                Condition::all()
                    .add(patrols::Column::StartedAt.eq(k))
                    .add(patrols::Column::Id.lt(id)),
            ),
        );
    }
    let mut rows = q.all(env.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|p| format!("{}_{}", p.started_at, p.id))
    } else {
        None
    };
    let now = now_ms();
    Ok(PatrolPage {
        items: rows.into_iter().map(|p| view(p, now, None)).collect(),
        next_cursor,
    })
}

/// A worker's report may name the patrol it was found on: the worker's own, in the grid the
/// report falls in.
pub async fn check_report_link(
    db: &impl ConnectionTrait,
    who: &Principal,
    patrol_id: &str,
    place_path: &str,
) -> ApiResult<()> {
    let ok = patrols::Entity::find_by_id(patrol_id.to_owned())
        .one(db)
        .await?
        .is_some_and(|p| p.worker_id == who.id() && p.grid_path == place_path);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "patrol_id",
            "not one of your patrols in this grid",
        ))
    }
}

/// Coarsens the tracks older than `retention_ms` to about 100 m (three decimals), once.
pub async fn coarsen_old_tracks(
    db: &impl ConnectionTrait,
    retention_ms: i64,
) -> Result<u64, sea_orm::DbErr> {
    let cutoff = now_ms() - retention_ms;
    let round = |c: &str| Expr::cust(format!("ROUND({c} * 1000) / 1000"));
    Ok(patrol_checkins::Entity::update_many()
        .col_expr(patrol_checkins::Column::Lat, round("lat"))
        .col_expr(patrol_checkins::Column::Lng, round("lng"))
        .col_expr(patrol_checkins::Column::ReceivedAt, Expr::value(0_i64))
        .filter(patrol_checkins::Column::At.lt(cutoff))
        .filter(patrol_checkins::Column::ReceivedAt.ne(0_i64))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patrol(started_at: i64, ended_at: Option<i64>) -> patrols::Model {
        patrols::Model {
            id: "p".into(),
            worker_id: "w".into(),
            grid_code: "G01".into(),
            grid_path: "/D01/S01/C01/G01/".into(),
            started_at,
            ended_at,
            checkins: 0,
            outside: 0,
        }
    }

    #[test]
    fn an_open_patrol_ends_itself_after_eight_hours() {
        let p = patrol(0, None);
        assert_eq!(effective_end(&p, MAX_PATROL_MS - 1), None);
        assert_eq!(effective_end(&p, MAX_PATROL_MS + 5), Some(MAX_PATROL_MS));
        assert_eq!(effective_end(&patrol(0, Some(10)), 99), Some(10));
    }

    #[test]
    fn a_patrol_across_shanghai_midnight_touches_two_days() {
        // 2026-12-04 23:30 → 2026-12-05 00:30 Shanghai (15:30 → 16:30 UTC).
        let start = 1_796_398_200_000;
        let days = shanghai_days(start, start + 3_600_000);
        assert_eq!(days.clone().count(), 2);
        // A patrol within one Shanghai day touches one.
        assert_eq!(
            shanghai_days(start + 3_600_000, start + 7_200_000).count(),
            1
        );
    }
}
