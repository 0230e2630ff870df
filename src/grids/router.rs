//! The in-memory routing index of this instance and the area directory beside it.
//!
//! Every import bumps `settings.grid_version` in the database. Each instance polls that
//! version (every two seconds) and rebuilds its index when it moved, so an import on one
//! instance reaches all of them without a restart and without Redis.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::area::AreaLevel;
use super::geo::Coordinate;
use super::locate::{AreaShape, RoutingIndex};

/// What the router knows of each area.
#[derive(Clone, Debug)]
pub struct AreaInfo {
    pub code: String,
    pub name: String,
    pub level: AreaLevel,
    pub parent_code: Option<String>,
    pub path: String,
}

/// Where a point goes: the grid it fell in (if any) and the queue that takes it.
#[derive(Clone, Debug)]
pub struct Route {
    pub grid: Option<AreaInfo>,
    pub queue: AreaInfo,
}

pub struct Snapshot {
    pub version: i64,
    pub index: RoutingIndex,
    pub areas: HashMap<String, AreaInfo>,
}

pub struct GridRouter {
    current: RwLock<Arc<Snapshot>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            version: -1,
            index: RoutingIndex::build(Vec::new()),
            areas: HashMap::new(),
        }
    }
}

impl Default for GridRouter {
    fn default() -> Self {
        GridRouter {
            current: RwLock::new(Arc::new(Snapshot::default())),
        }
    }
}

pub const VERSION_KEY: &str = "grid_version";

impl GridRouter {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Routes a point; `None` only while no area exists at all.
    pub fn route(&self, point: &Coordinate) -> Option<Route> {
        let snap = self.snapshot();
        let p = point.to_gcj02();
        let (lng, lat) = (p.lng(), p.lat());
        if let Some(code) = snap.index.locate(lng, lat) {
            let info = snap.areas.get(code)?.clone();
            let grid = (info.level == AreaLevel::Grid).then(|| info.clone());
            return Some(Route { grid, queue: info });
        }
        // In no polygon at all: the district of the nearest grid takes it, never a void.
        let nearest = snap.index.nearest_grid(lng, lat)?;
        let root = snap
            .areas
            .get(nearest)?
            .path
            .split('/')
            .find(|s| !s.is_empty())?
            .to_string();
        let queue = snap.areas.get(&root)?.clone();
        Some(Route { grid: None, queue })
    }

    /// Rebuilds from the database if its version moved (or `force`).
    pub async fn refresh(
        &self,
        db: &impl ConnectionTrait,
        force: bool,
    ) -> Result<bool, sea_orm::DbErr> {
        let version = current_version(db).await?;
        if !force && version == self.snapshot().version {
            return Ok(false);
        }
        // A page at a time: the polygons' text (~45 MB at 10,000 grids) never sits in memory
        // whole, so the process does not keep a heap sized for it after the build. Parsing is
        // CPU work: off the async workers.
        let mut parsed = Parsed::default();
        let mut after = String::new();
        loop {
            let rows = entity::areas::Entity::find()
                .filter(entity::areas::Column::Code.gt(after.as_str()))
                .order_by_asc(entity::areas::Column::Code)
                .limit(PAGE)
                .all(db)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.code.clone();
            let full = rows.len() as u64 == PAGE;
            parsed = tokio::task::spawn_blocking(move || {
                parsed.add(rows);
                parsed
            })
            .await
            .map_err(|e| sea_orm::DbErr::Custom(format!("index build panicked: {e}")))?;
            if !full {
                break;
            }
        }
        let snapshot = tokio::task::spawn_blocking(move || parsed.into_snapshot(version))
            .await
            .map_err(|e| sea_orm::DbErr::Custom(format!("index build panicked: {e}")))?;
        tracing::info!(
            version,
            areas = snapshot.areas.len(),
            shapes = snapshot.index.len(),
            "routing index rebuilt"
        );
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(true)
    }
}

/// Areas read per query while the index is rebuilt.
const PAGE: u64 = 1_000;

pub fn build_snapshot(version: i64, rows: Vec<entity::areas::Model>) -> Snapshot {
    let mut parsed = Parsed::default();
    parsed.add(rows);
    parsed.into_snapshot(version)
}

/// Areas parsed so far, page by page.
#[derive(Default)]
struct Parsed {
    shapes: Vec<AreaShape>,
    areas: HashMap<String, AreaInfo>,
}

impl Parsed {
    fn add(&mut self, rows: Vec<entity::areas::Model>) {
        for row in rows {
            let Some(level) = AreaLevel::parse(&row.level) else {
                continue;
            };
            if let Some(geometry) = row
                .geometry
                .as_deref()
                .and_then(super::geojson::multipolygon_from_json)
            {
                self.shapes.push(AreaShape {
                    code: row.code.clone(),
                    level,
                    geometry,
                });
            }
            self.areas.insert(
                row.code.clone(),
                AreaInfo {
                    code: row.code,
                    name: row.name,
                    level,
                    parent_code: row.parent_code,
                    path: row.path,
                },
            );
        }
    }

    fn into_snapshot(self, version: i64) -> Snapshot {
        Snapshot {
            version,
            index: RoutingIndex::build(self.shapes),
            areas: self.areas,
        }
    }
}

pub async fn current_version(db: &impl ConnectionTrait) -> Result<i64, sea_orm::DbErr> {
    Ok(
        entity::settings::Entity::find_by_id(VERSION_KEY.to_string())
            .one(db)
            .await?
            .and_then(|s| s.value.parse().ok())
            .unwrap_or(0),
    )
}
