//! Reading the dashboard: scope checks, the period split into whole months (rows of grain
//! `m`) and edge days (grain `d`), the grouped sums, and wishes counted from their table.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, QueryResult, Statement, Value};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::metrics::{Metrics, WishCounts};
use super::rollup::{self, counts_from_values, day_key, int_sum, q, read_values, value_columns};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How the groups of a dashboard are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The areas one level below (streets of a district, …), worst first.
    Child,
    /// Every grid below the area, worst first.
    Grid,
    /// Report categories.
    Category,
    /// Days (Asia/Shanghai), in order.
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DashboardQuery {
    /// Area code; default: the admin's own area. Must be the admin's area or below it.
    pub area: Option<String>,
    /// First day, `YYYY-MM-DD` (Asia/Shanghai); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default: today. At most 366 days after `from`.
    pub to: Option<String>,
    /// `child` (default), `grid`, `category` or `day`.
    pub group_by: Option<GroupBy>,
}

/// The area a dashboard is about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AreaRef {
    pub code: String,
    pub name: String,
    pub level: String,
    #[serde(skip)]
    pub path: String,
}

/// One group of a dashboard.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Group {
    /// Area code, category code or day.
    pub key: String,
    pub name: String,
    pub metrics: Metrics,
}

/// A dashboard: totals and groups for an area and a period (reports by submission day).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub area: AreaRef,
    pub from: String,
    pub to: String,
    pub group_by: GroupBy,
    pub totals: Metrics,
    pub groups: Vec<Group>,
}

/// A checked request: the caller may see this area, the period is valid.
#[derive(Clone, Debug)]
pub struct Scope {
    pub area: AreaRef,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: GroupBy,
}

fn parse_day(field: &str, v: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, "a date YYYY-MM-DD is required"))
}

/// Admins only; an area outside the admin's subtree is 403, an unknown one 404.
pub async fn resolve(state: &AppState, who: &Principal, qy: &DashboardQuery) -> ApiResult<Scope> {
    let Some(mine) = &who.admin_area else {
        return Err(ApiError::forbidden());
    };
    let code = qy.area.clone().unwrap_or_else(|| mine.code.clone());
    let area = entity::areas::Entity::find_by_id(code)
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !who.administers_path(&area.path) {
        return Err(ApiError::forbidden());
    }
    let today = rollup::day_of(crate::util::now_ms());
    let to = match &qy.to {
        Some(v) => parse_day("to", v)?,
        None => today,
    };
    let from = match &qy.from {
        Some(v) => parse_day("from", v)?,
        None => to - chrono::Days::new(29),
    };
    if from > to {
        return Err(ApiError::invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() > 366 {
        return Err(ApiError::invalid("to", "the period is at most 366 days"));
    }
    Ok(Scope {
        area: AreaRef {
            code: area.code,
            name: area.name,
            level: area.level,
            path: area.path,
        },
        from,
        to,
        group_by: qy.group_by.unwrap_or(GroupBy::Child),
    })
}

/// SQL text with bound values, placeholders written for the backend.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DatabaseBackend) -> Self {
        Sql {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }
    fn p(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".into(),
        }
    }
    fn c(&self, ident: &str) -> String {
        q(self.backend, ident)
    }
    fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// The period as whole months and runs of edge days.
pub fn split_period(
    from: NaiveDate,
    to: NaiveDate,
) -> (Vec<NaiveDate>, Vec<(NaiveDate, NaiveDate)>) {
    let mut months = Vec::new();
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let mut cur = from;
    while cur <= to {
        let next_month = if cur.month() == 12 {
            NaiveDate::from_ymd_opt(cur.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(cur.year(), cur.month() + 1, 1)
        }
        .unwrap_or(to);
        let month_end = next_month.pred_opt().unwrap_or(to);
        if cur.day() == 1 && month_end <= to {
            months.push(cur);
            cur = next_month;
        } else {
            let end = month_end.min(to);
            runs.push((cur, end));
            cur = match end.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
    }
    (months, runs)
}

/// `(grain m AND day IN months) OR (grain d AND day BETWEEN …)`.
fn period_condition(sql: &mut Sql, s: &Scope) -> String {
    let (months, runs) = split_period(s.from, s.to);
    let (grain, day) = (sql.c("grain"), sql.c("day"));
    let mut parts = Vec::new();
    if !months.is_empty() {
        let m = sql.p("m");
        let list: Vec<String> = months.iter().map(|m| sql.p(day_key(*m))).collect();
        parts.push(format!(
            "({grain} = {m} AND {day} IN ({}))",
            list.join(", ")
        ));
    }
    for (a, b) in runs {
        let (d, a, b) = (sql.p("d"), sql.p(day_key(a)), sql.p(day_key(b)));
        parts.push(format!("({grain} = {d} AND {day} >= {a} AND {day} <= {b})"));
    }
    format!("({})", parts.join(" OR "))
}

fn sums(sql: &Sql) -> String {
    value_columns()
        .iter()
        .map(|c| format!("{} AS {}", int_sum(sql.backend, c), sql.c(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The totals of the area over the period.
fn totals_statement(backend: DatabaseBackend, s: &Scope) -> Statement {
    let mut sql = Sql::new(backend);
    // Values bind in text order (`?` placeholders are positional).
    let area = sql.p(s.area.code.clone());
    let cond = period_condition(&mut sql, s);
    sql.text = format!(
        "SELECT {} FROM {} WHERE {} = {area} AND {cond}",
        sums(&sql),
        rollup::TABLE,
        sql.c("area_code"),
    );
    sql.build()
}

/// One row per group (`gkey` and the sums), ordered by key: read whole or streamed.
pub fn groups_statement(backend: DatabaseBackend, s: &Scope) -> Statement {
    let mut sql = Sql::new(backend);
    let (key, filter) = match s.group_by {
        GroupBy::Child => {
            let parent = sql.p(s.area.code.clone());
            let cond = period_condition(&mut sql, s);
            (
                sql.c("area_code"),
                format!("{} = {parent} AND {cond}", sql.c("parent_code")),
            )
        }
        GroupBy::Grid => {
            let level = sql.p("grid");
            let path = sql.p(format!("{}%", s.area.path));
            let cond = period_condition(&mut sql, s);
            (
                sql.c("area_code"),
                format!(
                    "{} = {level} AND {} LIKE {path} AND {cond}",
                    sql.c("area_level"),
                    sql.c("area_path")
                ),
            )
        }
        GroupBy::Category | GroupBy::Day => {
            let (area, d) = (sql.p(s.area.code.clone()), sql.p("d"));
            let (a, b) = (sql.p(day_key(s.from)), sql.p(day_key(s.to)));
            let day = sql.c("day");
            (
                sql.c(if s.group_by == GroupBy::Day {
                    "day"
                } else {
                    "category"
                }),
                format!(
                    "{} = {area} AND {} = {d} AND {day} >= {a} AND {day} <= {b}",
                    sql.c("area_code"),
                    sql.c("grain")
                ),
            )
        }
    };
    sql.text = format!(
        "SELECT {key} AS gkey, {} FROM {} WHERE {filter} GROUP BY {key} ORDER BY {key}",
        sums(&sql),
        rollup::TABLE,
    );
    sql.build()
}

/// queue_path, grid_code, submitted_at, claimed_at, fulfilled_at.
type WishRow = (String, String, i64, Option<i64>, Option<i64>);

/// Wish volumes of the period: totals and per group key.
pub async fn wishes(
    db: &impl ConnectionTrait,
    s: &Scope,
) -> ApiResult<(WishCounts, HashMap<String, WishCounts>)> {
    use entity::wishes as w;
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let start = rollup::day_start_ms(s.from);
    let end = rollup::day_start_ms(s.to.succ_opt().unwrap_or(s.to));
    let rows: Vec<WishRow> = w::Entity::find()
        .select_only()
        .columns([
            w::Column::QueuePath,
            w::Column::GridCode,
            w::Column::SubmittedAt,
        ])
        .columns([w::Column::ClaimedAt, w::Column::FulfilledAt])
        .filter(w::Column::QueuePath.starts_with(&s.area.path))
        .filter(w::Column::SubmittedAt.gte(start))
        .filter(w::Column::SubmittedAt.lt(end))
        .into_tuple()
        .all(db)
        .await?;
    let mut total = WishCounts::default();
    let mut groups: HashMap<String, WishCounts> = HashMap::new();
    for (path, grid, at, claimed, fulfilled) in rows {
        let key = match s.group_by {
            GroupBy::Child => path[s.area.path.len()..]
                .split('/')
                .next()
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            GroupBy::Grid => Some(grid),
            GroupBy::Day => Some(day_key(rollup::day_of(at))),
            GroupBy::Category => None,
        };
        for c in std::iter::once(&mut total).chain(key.map(|k| groups.entry(k).or_default())) {
            c.submitted += 1;
            c.claimed += i64::from(claimed.is_some());
            c.fulfilled += i64::from(fulfilled.is_some());
        }
    }
    Ok((total, groups))
}

/// Display names of group keys (areas from the routing snapshot, categories from the table).
pub async fn names(state: &AppState, s: &Scope) -> ApiResult<HashMap<String, String>> {
    Ok(match s.group_by {
        GroupBy::Category => entity::categories::Entity::find()
            .all(&state.db)
            .await?
            .into_iter()
            .map(|c| (c.code, c.name))
            .collect(),
        GroupBy::Day => HashMap::new(),
        GroupBy::Child | GroupBy::Grid => state
            .router
            .snapshot()
            .areas
            .iter()
            .filter(|(_, a)| a.path.starts_with(&s.area.path))
            .map(|(code, a)| (code.clone(), a.name.clone()))
            .collect(),
    })
}

/// One group row of [`groups_statement`] as metrics.
pub fn group_of(
    row: &QueryResult,
    wishes: &HashMap<String, WishCounts>,
    names: &HashMap<String, String>,
) -> ApiResult<Group> {
    let key: String = row.try_get("", "gkey")?;
    let counts = counts_from_values(&read_values(row)?);
    Ok(Group {
        name: names.get(&key).cloned().unwrap_or_else(|| key.clone()),
        metrics: Metrics::from_counts(&counts, wishes.get(&key).copied().unwrap_or_default()),
        key,
    })
}

/// Brings rows whose overdue figures the clock changed up to date, then reads the totals.
pub async fn totals(state: &AppState, s: &Scope, wishes: WishCounts) -> ApiResult<Metrics> {
    rollup::refresh_stale(&state.db, Some(&s.area.path), 5_000).await?;
    let row = state
        .db
        .query_one(totals_statement(state.db.get_database_backend(), s))
        .await?;
    let counts = match row {
        Some(r) => counts_from_values(&read_values(&r)?),
        None => Default::default(),
    };
    Ok(Metrics::from_counts(&counts, wishes))
}

/// Worst first: lowest on-time rate (no rate last), then lowest closure rate, most overdue.
fn worst_first(a: &Group, b: &Group) -> std::cmp::Ordering {
    let key = |g: &Group| {
        (
            g.metrics.on_time_rate.unwrap_or(f64::INFINITY),
            g.metrics.closure_rate.unwrap_or(f64::INFINITY),
        )
    };
    let (ka, kb) = (key(a), key(b));
    ka.0.total_cmp(&kb.0)
        .then(ka.1.total_cmp(&kb.1))
        .then(b.metrics.overdue.cmp(&a.metrics.overdue))
        .then(a.key.cmp(&b.key))
}

/// The whole dashboard.
pub async fn dashboard(state: &AppState, s: &Scope) -> ApiResult<Dashboard> {
    let (wish_total, wish_groups) = wishes(&state.db, s).await?;
    let totals = totals(state, s, wish_total).await?;
    let names = names(state, s).await?;
    let rows = state
        .db
        .query_all(groups_statement(state.db.get_database_backend(), s))
        .await?;
    let mut groups = rows
        .iter()
        .map(|r| group_of(r, &wish_groups, &names))
        .collect::<ApiResult<Vec<_>>>()?;
    if matches!(s.group_by, GroupBy::Child | GroupBy::Grid) {
        groups.sort_by(worst_first);
    }
    Ok(Dashboard {
        area: s.area.clone(),
        from: day_key(s.from),
        to: day_key(s.to),
        group_by: s.group_by,
        totals,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_period_splits_into_whole_months_and_edge_days() {
        let (m, r) = split_period(d("2026-01-15"), d("2026-04-03"));
        assert_eq!(m, vec![d("2026-02-01"), d("2026-03-01")]);
        assert_eq!(
            r,
            vec![
                (d("2026-01-15"), d("2026-01-31")),
                (d("2026-04-01"), d("2026-04-03"))
            ]
        );
        let (m, r) = split_period(d("2026-01-01"), d("2026-12-31"));
        assert_eq!(m.len(), 12);
        assert!(r.is_empty());
        let (m, r) = split_period(d("2026-02-10"), d("2026-02-10"));
        assert!(m.is_empty());
        assert_eq!(r, vec![(d("2026-02-10"), d("2026-02-10"))]);
    }
}
