//! Reading the dashboard: scope checks, the period split into whole months (rows of grain
//! `m`) and edge days (grain `d`), the grouped sums (every report counter, sources and
//! disputes included), and the figures read at request time ([`Figures`]): wishes from their
//! table, unit figures from `report_units`, patrols and coverage from `patrols`, each with one
//! query. Only `group_by=source` counts reports at request time (the rollups are not split by
//! source): tallied by the database (`count::count_by`).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use sea_orm::sea_query::{
    Alias, Condition, Expr, Func, JoinType, Order, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, EntityTrait, QueryResult, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::metrics::{
    covered_grid_days, Counts, Coverage, Metrics, PatrolSpan, UnitCounts, WishCounts,
};
use super::rollup::{
    self, counts_from_values, day_key, int_sum, int_sum_expr, read_values, value_columns,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use entity::enums::Source;

/// How the groups of a dashboard are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Every area one level below (streets of a district, …), worst first; one without
    /// reports in the period is a group of zeros.
    Child,
    /// Every grid below the area, worst first, with or without reports.
    Grid,
    /// Report categories.
    Category,
    /// Days (Asia/Shanghai), in order. Unit figures count by dispatch day.
    Day,
    /// Partner units serving a place in the area (at, below or above it), worst first
    /// (lowest on-time handling rate, then lowest sign-for rate); a unit without dispatches
    /// in the period is a group of zeros. A unit group carries the unit figures and the
    /// satisfaction of the reports it resolved as lead; its report counts are 0.
    Unit,
    /// Where reports came from (DOMAIN.md §9): one group per source, all six, keyed by the
    /// source's name, in the order resident, patrol, visit, hotline, device, open311. The
    /// report counts of a source are read from the reports at request time; patrols are 0
    /// and coverage null there.
    Source,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DashboardQuery {
    /// Area code; default: the admin's own area. Must be the admin's area or below it.
    pub area: Option<String>,
    /// First day, `YYYY-MM-DD` (Asia/Shanghai); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default: today. At most 366 days after `from`.
    pub to: Option<String>,
    /// `child` (default), `grid`, `category`, `day`, `unit` or `source`.
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

/// One group of a dashboard: its key and name beside its metrics (flat, as in `totals`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Group {
    /// Area code, category code, day, unit code or source.
    pub key: String,
    /// Area, category, unit or source name; the day again for days.
    pub name: String,
    #[serde(flatten)]
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

fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// How the statements below name the rollup table, the areas and the categories.
const R: &str = "r";
const AREAS: &str = "ar";
const CATS: &str = "cat";

/// A column of the rollup table `r`.
fn r(column: &str) -> Expr {
    Expr::col((a(R), a(column)))
}

/// `(grain m AND day IN months) OR (grain d AND day BETWEEN …)` on the rollup table `r`.
fn period_condition(s: &Scope) -> Condition {
    let (months, runs) = split_period(s.from, s.to);
    let mut any = Condition::any();
    if !months.is_empty() {
        any = any.add(
            r("grain")
                .eq("m")
                .and(r("day").is_in(months.into_iter().map(day_key))),
        );
    }
    for (from, to) in runs {
        any = any.add(
            r("grain")
                .eq("d")
                .and(r("day").gte(day_key(from)))
                .and(r("day").lte(day_key(to))),
        );
    }
    any
}

/// Selects every additive column of `r`, summed, under its own name.
fn select_sums(sel: &mut SelectStatement, backend: DatabaseBackend) {
    for c in value_columns() {
        sel.expr_as(int_sum(backend, (a(R), a(&c))), a(&c));
    }
}

/// The totals of the area over the period.
fn totals_statement(backend: DatabaseBackend, s: &Scope) -> Statement {
    let mut sel = Query::select();
    select_sums(&mut sel, backend);
    sel.from_as(a(rollup::TABLE), a(R)).cond_where(
        Condition::all()
            .add(r("area_code").eq(s.area.code.as_str()))
            .add(period_condition(s)),
    );
    backend.build(&sel)
}

/// One row per group (`gkey`, `gname` and the sums), ordered by key: read whole or
/// streamed. Child areas and grids come from the areas table, joined to their rollups, so
/// an area without a report in the period is a row of zeros. `None` for units and sources,
/// whose groups come from [`unit_groups`] and [`source_groups`].
pub fn groups_statement(backend: DatabaseBackend, s: &Scope) -> Option<Statement> {
    use entity::areas::Column as A;
    let mut sel = Query::select();
    match s.group_by {
        GroupBy::Unit | GroupBy::Source => return None,
        GroupBy::Child | GroupBy::Grid => {
            let area = |c: A| Expr::col((a(AREAS), c));
            sel.expr_as(area(A::Code), a("gkey"))
                .expr_as(area(A::Name), a("gname"));
            select_sums(&mut sel, backend);
            sel.from_as(entity::areas::Entity, a(AREAS)).join_as(
                JoinType::LeftJoin,
                a(rollup::TABLE),
                a(R),
                Condition::all()
                    .add(r("area_code").equals((a(AREAS), A::Code)))
                    .add(period_condition(s)),
            );
            if s.group_by == GroupBy::Child {
                sel.and_where(area(A::ParentCode).eq(s.area.code.as_str()));
            } else {
                sel.and_where(area(A::Level).eq("grid"))
                    .and_where(area(A::Path).like(format!("{}%", s.area.path)));
            }
            sel.group_by_col((a(AREAS), A::Code))
                .group_by_col((a(AREAS), A::Name))
                .order_by((a(AREAS), A::Code), Order::Asc);
        }
        GroupBy::Category | GroupBy::Day => {
            let key = if s.group_by == GroupBy::Day {
                "day"
            } else {
                "category"
            };
            sel.expr_as(r(key), a("gkey"));
            if s.group_by == GroupBy::Day {
                sel.expr_as(r("day"), a("gname"));
            } else {
                use entity::categories::Column as C;
                sel.expr_as(Expr::col((a(CATS), C::Name)), a("gname"))
                    .join_as(
                        JoinType::LeftJoin,
                        entity::categories::Entity,
                        a(CATS),
                        Expr::col((a(CATS), C::Code)).equals((a(R), a("category"))),
                    )
                    .group_by_col((a(CATS), C::Name));
            }
            select_sums(&mut sel, backend);
            sel.from_as(a(rollup::TABLE), a(R))
                .cond_where(
                    Condition::all()
                        .add(r("area_code").eq(s.area.code.as_str()))
                        .add(r("grain").eq("d"))
                        .add(r("day").gte(day_key(s.from)))
                        .add(r("day").lte(day_key(s.to))),
                )
                .group_by_col((a(R), a(key)))
                .order_by((a(R), a(key)), Order::Asc);
        }
    }
    Some(backend.build(&sel))
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
            GroupBy::Category | GroupBy::Unit | GroupBy::Source => None,
        };
        for c in std::iter::once(&mut total).chain(key.map(|k| groups.entry(k).or_default())) {
            c.submitted += 1;
            c.claimed += i64::from(claimed.is_some());
            c.fulfilled += i64::from(fulfilled.is_some());
        }
    }
    Ok((total, groups))
}

/// One group row of [`groups_statement`] as metrics, with the group's figures read at
/// request time.
pub fn group_of(row: &QueryResult, figures: &Figures) -> ApiResult<Group> {
    let key: String = row.try_get("", "gkey")?;
    let name: Option<String> = row.try_get("", "gname")?;
    let counts = counts_from_values(&read_values(row)?);
    let metrics = figures.group(&key, &counts);
    Ok(Group {
        name: name.unwrap_or_else(|| key.clone()),
        metrics,
        key,
    })
}

/// The key of a row of an at-read statement (`gkey`) as the key of its group: a day number
/// as its day, a grid path as the child area it lies in (None: the area itself), else as is.
fn fold_key(s: &Scope, row: &QueryResult) -> Result<Option<String>, sea_orm::DbErr> {
    Ok(match s.group_by {
        GroupBy::Day => Some(day_key(day_of_number(row.try_get::<i64>("", "gkey")?))),
        GroupBy::Child => {
            let path: String = row.try_get("", "gkey")?;
            child_of(s, &path)
        }
        _ => Some(row.try_get::<String>("", "gkey")?),
    })
}

/// The child area of the scope a path lies in (None: the area itself, or outside it).
fn child_of(s: &Scope, path: &str) -> Option<String> {
    path.get(s.area.path.len()..)
        .filter(|_| path.starts_with(&s.area.path))
        .and_then(|rest| rest.split('/').next())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// How the unit statement names its tables.
const RU: &str = "ru";
const REP: &str = "rep";
const GRID: &str = "g";
const UNITS: &str = "u";

/// The Shanghai day number (days since 1970-01-01, UTC+8 without daylight saving since
/// 1991) of an epoch-ms column, as a 64-bit integer on every backend.
fn day_number(backend: DatabaseBackend, col: Expr) -> SimpleExpr {
    let shifted = col.add(8 * 3_600_000i64);
    match backend {
        DatabaseBackend::MySql => Func::cast_as(
            Func::cust(a("FLOOR")).arg(shifted.div(86_400_000i64)),
            a("SIGNED"),
        )
        .into(),
        // Integer division of integers on both.
        DatabaseBackend::Postgres | DatabaseBackend::Sqlite => shifted.div(86_400_000i64),
    }
}

/// The day of a [`day_number`].
pub fn day_of_number(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Days::new(n.max(0) as u64)
}

/// The unit figures of the scope: one row per group key (`gkey`, and `gname` for units)
/// with the counters of [`UnitCounts`], summed over the LEAD assignments dispatched in the
/// period of the reports that fell in the area and are not cancelled. The `CASE`s spell out
/// [`UnitCounts::add`] as of `now`. Child areas are grouped by grid path (folded later).
pub fn unit_statement(backend: DatabaseBackend, s: &Scope, now: i64) -> Statement {
    use crate::reports::status::{AssignmentStatus as AS, ReportStatus};
    use entity::enums::UnitRole;
    let ru = |c: &str| Expr::col((a(RU), a(c)));
    let status_is = |st: AS| ru("status").eq(st.as_str());
    let sum_if = |cond: SimpleExpr| {
        int_sum_expr(
            backend,
            Expr::case(cond, Expr::val(1i64))
                .finally(Expr::val(0i64))
                .into(),
        )
    };
    let start = rollup::day_start_ms(s.from);
    let end = rollup::day_start_ms(s.to.succ_opt().unwrap_or(s.to));
    let key: SimpleExpr = match s.group_by {
        GroupBy::Unit => ru("unit_code").into(),
        GroupBy::Grid => Expr::col((a(REP), a("grid_code"))).into(),
        GroupBy::Child => Expr::col((a(GRID), a("path"))).into(),
        GroupBy::Category => Expr::col((a(REP), a("category"))).into(),
        GroupBy::Source => Expr::col((a(REP), a("source"))).into(),
        GroupBy::Day => day_number(backend, ru("dispatched_at")),
    };
    let mut sel = Query::select();
    sel.expr_as(key.clone(), a("gkey"));
    if s.group_by == GroupBy::Unit {
        sel.expr_as(Func::max(Expr::col((a(UNITS), a("name")))), a("gname"));
    }
    // The unit metrics count lead assignments only (DOMAIN.md §8).
    let role = sea_orm::ActiveEnum::to_value(&UnitRole::Lead);
    sel.expr_as(
        int_sum_expr(backend, Expr::val(1i64).into()),
        a("dispatched"),
    )
    .expr_as(
        sum_if(
            ru("signed_at")
                .is_not_null()
                .and(ru("signed_at").lte(ru("sign_deadline"))),
        ),
        a("signed_on_time"),
    )
    .expr_as(sum_if(status_is(AS::Returned)), a("returned"))
    .expr_as(
        sum_if(
            ru("resolved_at").is_not_null().or(ru("resolved_at")
                .is_null()
                .and(ru("status").is_not_in([
                    AS::Resolved.as_str(),
                    AS::Returned.as_str(),
                    AS::Withdrawn.as_str(),
                ]))
                .and(ru("deadline").lt(now))),
        ),
        a("due"),
    )
    .expr_as(
        sum_if(
            ru("resolved_at")
                .is_not_null()
                .and(ru("resolved_at").lte(ru("deadline"))),
        ),
        a("resolved_on_time"),
    )
    .expr_as(
        sum_if(status_is(AS::Resolved).and(Expr::col((a(REP), a("rating"))).is_not_null())),
        a("rated"),
    )
    .expr_as(
        sum_if(status_is(AS::Resolved).and(Expr::col((a(REP), a("rating"))).gte(4))),
        a("satisfied"),
    )
    .from_as(entity::report_units::Entity, a(RU))
    .join_as(
        JoinType::InnerJoin,
        entity::reports::Entity,
        a(REP),
        Expr::col((a(REP), a("id"))).equals((a(RU), a("report_id"))),
    )
    .join_as(
        JoinType::InnerJoin,
        entity::areas::Entity,
        a(GRID),
        Expr::col((a(GRID), a("code"))).equals((a(REP), a("grid_code"))),
    );
    if s.group_by == GroupBy::Unit {
        sel.join_as(
            JoinType::LeftJoin,
            entity::units::Entity,
            a(UNITS),
            Expr::col((a(UNITS), a("code"))).equals((a(RU), a("unit_code"))),
        );
    }
    sel.cond_where(
        Condition::all()
            .add(ru("role").eq(role))
            .add(Expr::col((a(REP), a("status"))).ne(ReportStatus::Cancelled.as_str()))
            .add(Expr::col((a(GRID), a("path"))).like(format!("{}%", s.area.path)))
            .add(ru("dispatched_at").gte(start))
            .add(ru("dispatched_at").lt(end)),
    )
    // By the output name: PostgreSQL does not match a parameterised expression (the day
    // number's `$n`) in GROUP BY with the same expression in SELECT.
    .add_group_by([Expr::col(a("gkey")).into()]);
    backend.build(&sel)
}

/// The unit figures of a scope: totals, per group key, and the names of the units met.
#[derive(Clone, Debug, Default)]
pub struct UnitFigures {
    pub total: UnitCounts,
    pub groups: HashMap<String, UnitCounts>,
    names: HashMap<String, String>,
}

fn unit_counts_of(row: &QueryResult) -> Result<UnitCounts, sea_orm::DbErr> {
    let g = |c: &str| row.try_get::<i64>("", c);
    Ok(UnitCounts {
        dispatched: g("dispatched")?,
        signed_on_time: g("signed_on_time")?,
        returned: g("returned")?,
        due: g("due")?,
        resolved_on_time: g("resolved_on_time")?,
        rated: g("rated")?,
        satisfied: g("satisfied")?,
    })
}

/// Reads [`unit_statement`] (one grouped query) and folds its rows into the groups' keys.
pub async fn unit_figures(
    db: &impl ConnectionTrait,
    s: &Scope,
    now: i64,
) -> ApiResult<UnitFigures> {
    let rows = db
        .query_all(unit_statement(db.get_database_backend(), s, now))
        .await?;
    let mut out = UnitFigures::default();
    for row in &rows {
        let c = unit_counts_of(row)?;
        out.total = out.total.plus(&c);
        if let Some(key) = fold_key(s, row)? {
            if s.group_by == GroupBy::Unit {
                if let Some(name) = row.try_get::<Option<String>>("", "gname")? {
                    out.names.insert(key.clone(), name);
                }
            }
            let g = out.groups.entry(key).or_default();
            *g = g.plus(&c);
        }
    }
    Ok(out)
}

/// The unit groups, by code: every unit serving a place at, below or above the area (like
/// `GET /admin/units?area=`), with or without dispatches, and any other unit holding a
/// lead dispatch of a report of the area.
pub async fn unit_groups(
    db: &impl ConnectionTrait,
    s: &Scope,
    figures: &UnitFigures,
) -> ApiResult<Vec<Group>> {
    use entity::{unit_areas, units};
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let served = Query::select()
        .column(unit_areas::Column::UnitCode)
        .from(unit_areas::Entity)
        .cond_where(
            Condition::any()
                .add(unit_areas::Column::AreaPath.starts_with(&s.area.path))
                .add(
                    unit_areas::Column::AreaPath
                        .is_in(crate::units::service::ancestor_paths(&s.area.path)),
                ),
        )
        .to_owned();
    let serving: Vec<(String, String)> = units::Entity::find()
        .select_only()
        .columns([units::Column::Code, units::Column::Name])
        .filter(units::Column::Code.in_subquery(served))
        .order_by_asc(units::Column::Code)
        .into_tuple()
        .all(db)
        .await?;
    let mut groups: Vec<Group> = serving
        .into_iter()
        .map(|(code, name)| Group {
            metrics: Metrics::of_unit(&figures.groups.get(&code).copied().unwrap_or_default()),
            key: code,
            name,
        })
        .collect();
    let mut others: Vec<Group> = figures
        .groups
        .iter()
        .filter(|(code, _)| !groups.iter().any(|g| &g.key == *code))
        .map(|(code, c)| Group {
            key: code.clone(),
            name: figures
                .names
                .get(code)
                .cloned()
                .unwrap_or_else(|| code.clone()),
            metrics: Metrics::of_unit(c),
        })
        .collect();
    groups.append(&mut others);
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(groups)
}

/// How the patrol statement names its table.
const PAT: &str = "p";

/// `SUM(CASE WHEN cond THEN 1 ELSE 0 END)` as a 64-bit integer.
fn count_if(backend: DatabaseBackend, cond: SimpleExpr) -> SimpleExpr {
    int_sum_expr(
        backend,
        Expr::case(cond, Expr::val(1i64))
            .finally(Expr::val(0i64))
            .into(),
    )
}

/// The patrols touching the period in the area, one row per grid and Shanghai start day:
/// `gkey` (grid code), `gpath`, `first_day` (the start day), `last_day` (the latest day a
/// patrol of that grid and start day reaches, its end being when the worker ended it, or 8
/// hours after its start, or `now` while it lasts: [`crate::patrols::service::effective_end`])
/// and `started` (of them, started in the period). A patrol lasts at most 8 hours, so those
/// touching the period started at most 8 hours before it.
pub fn patrol_statement(backend: DatabaseBackend, s: &Scope, now: i64) -> Statement {
    use crate::patrols::service::MAX_PATROL_MS;
    let p = |c: &str| Expr::col((a(PAT), a(c)));
    let start = rollup::day_start_ms(s.from);
    let end = rollup::day_start_ms(s.to.succ_opt().unwrap_or(s.to));
    let auto_end = p("started_at").add(MAX_PATROL_MS);
    let effective_end: SimpleExpr = Expr::case(p("ended_at").is_not_null(), p("ended_at"))
        .case(Expr::expr(auto_end.clone()).lte(now), auto_end)
        .finally(Expr::val(now))
        .into();
    let mut sel = Query::select();
    sel.expr_as(p("grid_code"), a("gkey"))
        .expr_as(p("grid_path"), a("gpath"))
        .expr_as(day_number(backend, p("started_at")), a("first_day"))
        .expr_as(
            Func::max(day_number(backend, Expr::expr(effective_end))),
            a("last_day"),
        )
        .expr_as(count_if(backend, p("started_at").gte(start)), a("started"))
        .from_as(entity::patrols::Entity, a(PAT))
        .cond_where(
            Condition::all()
                .add(p("grid_path").like(format!("{}%", s.area.path)))
                .add(p("started_at").gte(start - MAX_PATROL_MS))
                .add(p("started_at").lt(end)),
        )
        .add_group_by([
            p("grid_code").into(),
            p("grid_path").into(),
            Expr::col(a("first_day")).into(),
        ]);
    backend.build(&sel)
}

/// Patrols started and coverage, of the totals and per group key.
#[derive(Clone, Debug, Default)]
pub struct PatrolFigures {
    pub total: (i64, Option<Coverage>),
    pub groups: HashMap<String, (i64, Option<Coverage>)>,
    /// The figures of a group key not in `groups` (a day without patrols: nothing covered).
    pub otherwise: (i64, Option<Coverage>),
}

impl PatrolFigures {
    pub fn of(&self, key: &str) -> (i64, Option<Coverage>) {
        self.groups.get(key).copied().unwrap_or(self.otherwise)
    }
}

/// Reads the grids of the area and [`patrol_statement`], and computes patrols and coverage
/// of the totals and of each group: over all the area's grids for the totals and each day,
/// over a child's grids, over one grid; none for categories, units and sources.
pub async fn patrol_figures(
    db: &impl ConnectionTrait,
    s: &Scope,
    now: i64,
) -> ApiResult<PatrolFigures> {
    use entity::areas as ar;
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let grids: Vec<(String, String)> = ar::Entity::find()
        .select_only()
        .columns([ar::Column::Code, ar::Column::Path])
        .filter(ar::Column::Level.eq("grid"))
        .filter(ar::Column::Path.starts_with(&s.area.path))
        .into_tuple()
        .all(db)
        .await?;
    let rows = db
        .query_all(patrol_statement(db.get_database_backend(), s, now))
        .await?;
    let mut spans = Vec::with_capacity(rows.len());
    // Patrols started in the period, by grid code and by start day.
    let mut started: Vec<(String, String, i64, i64)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let grid: String = row.try_get("", "gkey")?;
        let path: String = row.try_get("", "gpath")?;
        let first_day: i64 = row.try_get("", "first_day")?;
        let last_day: i64 = row.try_get("", "last_day")?;
        let n: i64 = row.try_get("", "started")?;
        spans.push(PatrolSpan {
            grid: grid.clone(),
            first_day,
            last_day,
        });
        started.push((grid, path, first_day, n));
    }
    let day_n = |d: NaiveDate| (rollup::day_start_ms(d) + 8 * 3_600_000).div_euclid(86_400_000);
    let (from, to) = (day_n(s.from), day_n(s.to));
    let covered = covered_grid_days(&spans, from, to);
    let all: HashSet<&str> = grids.iter().map(|(c, _)| c.as_str()).collect();
    let mut out = PatrolFigures {
        total: (
            started.iter().map(|x| x.3).sum(),
            Some(Coverage::of(&covered, &all, from..=to)),
        ),
        ..Default::default()
    };
    match s.group_by {
        GroupBy::Grid | GroupBy::Child => {
            let key_of = |code: &str, path: &str| match s.group_by {
                GroupBy::Grid => Some(code.to_owned()),
                _ => child_of(s, path),
            };
            let mut members: HashMap<String, HashSet<&str>> = HashMap::new();
            for (code, path) in &grids {
                if let Some(k) = key_of(code, path) {
                    members.entry(k).or_default().insert(code.as_str());
                }
            }
            let mut counts: HashMap<String, i64> = HashMap::new();
            for (grid, path, _, n) in &started {
                if let Some(k) = key_of(grid, path) {
                    *counts.entry(k).or_default() += n;
                }
            }
            for (k, set) in &members {
                let n = counts.get(k).copied().unwrap_or(0);
                out.groups
                    .insert(k.clone(), (n, Some(Coverage::of(&covered, set, from..=to))));
            }
            for (k, n) in counts {
                out.groups.entry(k).or_insert((n, None));
            }
        }
        GroupBy::Day => {
            let mut days: BTreeSet<i64> = covered.iter().map(|(_, d)| *d).collect();
            let mut counts: HashMap<i64, i64> = HashMap::new();
            for (_, _, day, n) in &started {
                if *n > 0 {
                    days.insert(*day);
                    *counts.entry(*day).or_default() += n;
                }
            }
            for d in days {
                out.groups.insert(
                    day_key(day_of_number(d)),
                    (
                        counts.get(&d).copied().unwrap_or(0),
                        Some(Coverage::of(&covered, &all, d..=d)),
                    ),
                );
            }
            out.otherwise = (
                0,
                Some(Coverage {
                    covered: 0,
                    grid_days: all.len() as i64,
                }),
            );
        }
        GroupBy::Category | GroupBy::Unit | GroupBy::Source => {}
    }
    Ok(out)
}

/// Everything of a dashboard read at request time beside the rollups, each with one query.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub wishes: WishCounts,
    pub wish_groups: HashMap<String, WishCounts>,
    pub units: UnitFigures,
    pub patrols: PatrolFigures,
}

/// A transaction for statements over an area's raw rows in a period, which PostgreSQL plans
/// for their own values (`plan_cache_mode = force_custom_plan`, for this transaction only).
///
/// Why: sqlx keeps statements prepared, and after five runs PostgreSQL may switch to a
/// generic plan, which guesses that an area's `path LIKE $1` matches a handful of areas.
/// For a district's year that plan walked the report index of 1,266 areas one by one and
/// sorted a million rows on disk: 3.1 s, against 0.46 s planned for the values
/// (`benches/dashboard.rs`). The request path's statements (equalities on keys) keep their
/// cached plans.
pub async fn planned_for_values<C>(db: &C) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
            .await?;
    }
    Ok(txn)
}

impl Figures {
    pub async fn read<C>(db: &C, s: &Scope, now: i64) -> ApiResult<Figures>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let txn = planned_for_values(db).await?;
        let (total, groups) = wishes(&txn, s).await?;
        let figures = Figures {
            wishes: total,
            wish_groups: groups,
            units: unit_figures(&txn, s, now).await?,
            patrols: patrol_figures(&txn, s, now).await?,
        };
        txn.commit().await?;
        Ok(figures)
    }

    /// The totals, given the report counts of the whole scope.
    pub fn totals(&self, counts: &Counts) -> Metrics {
        let (patrols, coverage) = self.patrols.total;
        Metrics::from_counts(counts, self.wishes)
            .with_units(&self.units.total)
            .with_patrols(patrols, coverage)
    }

    /// The metrics of the group `key`, given its report counts.
    pub fn group(&self, key: &str, counts: &Counts) -> Metrics {
        let (patrols, coverage) = self.patrols.of(key);
        Metrics::from_counts(
            counts,
            self.wish_groups.get(key).copied().unwrap_or_default(),
        )
        .with_units(&self.units.groups.get(key).copied().unwrap_or_default())
        .with_patrols(patrols, coverage)
    }
}

/// The Chinese name of a source, as the groups of `group_by=source` show it.
pub fn source_name(source: Source) -> &'static str {
    match source {
        Source::Resident => "居民上报",
        Source::Patrol => "巡查发现",
        Source::Visit => "入户走访",
        Source::Hotline => "12345热线",
        Source::Device => "物联设备",
        Source::Open311 => "Open311",
    }
}

/// The six source groups: each source's report counts (its source and dispute counters
/// included) over the reports of the cohort, tallied by the database per source with the
/// rollups' own rules (`count::count_by`, held to [`Counts::add`] by its tests); with its unit
/// figures.
pub async fn source_groups<C>(
    db: &C,
    s: &Scope,
    figures: &Figures,
    now: i64,
) -> ApiResult<Vec<Group>>
where
    C: ConnectionTrait + TransactionTrait,
{
    use crate::reports::status::ReportStatus;
    use sea_orm::ColumnTrait;
    let start = rollup::day_start_ms(s.from);
    let end = rollup::day_start_ms(s.to.succ_opt().unwrap_or(s.to));
    let in_area = Query::select()
        .column(entity::areas::Column::Code)
        .from(entity::areas::Entity)
        .and_where(entity::areas::Column::Path.starts_with(&s.area.path))
        .to_owned();
    let col = |c: &str| Expr::col(a(c));
    let cohort = col("grid_code")
        .in_subquery(in_area)
        .and(col("submitted_at").gte(start))
        .and(col("submitted_at").lt(end))
        .and(col("status").ne(ReportStatus::Cancelled.as_str()));
    let txn = planned_for_values(db).await?;
    let counts = super::count::count_by(&txn, cohort, "source", now).await?;
    txn.commit().await?;
    Ok(Source::ALL
        .into_iter()
        .map(|source| {
            let key = source.as_str().to_owned();
            Group {
                metrics: figures.group(&key, &counts.get(&key).copied().unwrap_or_default()),
                name: source_name(source).to_owned(),
                key,
            }
        })
        .collect())
}

/// Brings rows whose overdue figures the clock changed up to date, then reads the totals.
pub async fn totals(state: &AppState, s: &Scope, figures: &Figures) -> ApiResult<Metrics> {
    rollup::refresh_stale(&state.db, Some(&s.area.path), 5_000).await?;
    let row = state
        .db
        .query_one(totals_statement(state.db.get_database_backend(), s))
        .await?;
    let counts = match row {
        Some(r) => counts_from_values(&read_values(&r)?),
        None => Default::default(),
    };
    Ok(figures.totals(&counts))
}

/// Every group in key order (sources in their own order), read whole. Days and categories
/// come from the rollups, which hold the days and categories reports were submitted in; a
/// day or category that only has dispatches in the period (of reports submitted earlier),
/// or a day that only has patrols, is added as a group with those figures and zero report
/// counts.
pub async fn read_groups<C>(db: &C, s: &Scope, figures: &Figures) -> ApiResult<Vec<Group>>
where
    C: ConnectionTrait + TransactionTrait,
{
    let units = &figures.units;
    let Some(st) = groups_statement(db.get_database_backend(), s) else {
        return match s.group_by {
            GroupBy::Source => source_groups(db, s, figures, crate::util::now_ms()).await,
            _ => unit_groups(db, s, units).await,
        };
    };
    let mut groups = db
        .query_all(st)
        .await?
        .iter()
        .map(|r| group_of(r, figures))
        .collect::<ApiResult<Vec<_>>>()?;
    if matches!(s.group_by, GroupBy::Day | GroupBy::Category) {
        let mut missing: Vec<&String> = units
            .groups
            .keys()
            .chain(
                (s.group_by == GroupBy::Day)
                    .then(|| figures.patrols.groups.keys())
                    .into_iter()
                    .flatten(),
            )
            .filter(|k| !groups.iter().any(|g| &g.key == *k))
            .collect();
        missing.sort();
        missing.dedup();
        let names: HashMap<String, String> =
            if s.group_by == GroupBy::Category && !missing.is_empty() {
                use entity::categories as c;
                use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
                c::Entity::find()
                    .select_only()
                    .columns([c::Column::Code, c::Column::Name])
                    .filter(c::Column::Code.is_in(missing.iter().map(|k| k.as_str())))
                    .into_tuple()
                    .all(db)
                    .await?
                    .into_iter()
                    .collect()
            } else {
                HashMap::new()
            };
        for key in missing {
            groups.push(Group {
                key: key.clone(),
                name: names.get(key).cloned().unwrap_or_else(|| key.clone()),
                metrics: figures.group(key, &Counts::default()),
            });
        }
        groups.sort_by(|a, b| a.key.cmp(&b.key));
    }
    Ok(groups)
}

/// Units worst first: lowest on-time handling rate (no rate last), then lowest sign-for
/// rate, then highest return rate, then code.
fn worst_unit_first(a: &Group, b: &Group) -> std::cmp::Ordering {
    let key = |g: &Group| {
        (
            g.metrics.unit_on_time_rate.unwrap_or(f64::INFINITY),
            g.metrics.sign_on_time_rate.unwrap_or(f64::INFINITY),
            g.metrics.return_rate.unwrap_or(f64::NEG_INFINITY),
        )
    };
    let (ka, kb) = (key(a), key(b));
    ka.0.total_cmp(&kb.0)
        .then(ka.1.total_cmp(&kb.1))
        .then(kb.2.total_cmp(&ka.2))
        .then(a.key.cmp(&b.key))
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
    let figures = Figures::read(&state.db, s, crate::util::now_ms()).await?;
    let totals = totals(state, s, &figures).await?;
    let mut groups = read_groups(&state.db, s, &figures).await?;
    match s.group_by {
        GroupBy::Child | GroupBy::Grid => groups.sort_by(worst_first),
        GroupBy::Unit => groups.sort_by(worst_unit_first),
        GroupBy::Category | GroupBy::Day | GroupBy::Source => {}
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

    fn scope(group_by: GroupBy) -> Scope {
        Scope {
            area: AreaRef {
                code: "C01".into(),
                name: "幸福社区".into(),
                level: "community".into(),
                path: "/D01/S01/C01/".into(),
            },
            from: d("2026-01-15"),
            to: d("2026-03-03"),
            group_by,
        }
    }

    #[test]
    fn child_and_grid_groups_start_from_the_areas_so_an_area_without_rollups_is_a_row() {
        for backend in [
            DatabaseBackend::Sqlite,
            DatabaseBackend::Postgres,
            DatabaseBackend::MySql,
        ] {
            for group_by in [GroupBy::Child, GroupBy::Grid] {
                let sql = groups_statement(backend, &scope(group_by))
                    .unwrap()
                    .sql
                    .replace('`', "\"");
                assert!(
                    sql.contains(r#"FROM "areas" AS "ar" LEFT JOIN "dashboard_rollups" AS "r" ON "r"."area_code" = "ar"."code" AND ("#),
                    "{backend:?} {group_by:?}: {sql}"
                );
                assert!(
                    sql.ends_with(r#"GROUP BY "ar"."code", "ar"."name" ORDER BY "ar"."code" ASC"#),
                    "{sql}"
                );
            }
        }
    }

    #[test]
    fn the_unit_statement_is_one_grouped_query_over_lead_assignments_of_the_scope() {
        for backend in [
            DatabaseBackend::Sqlite,
            DatabaseBackend::Postgres,
            DatabaseBackend::MySql,
        ] {
            for group_by in [
                GroupBy::Child,
                GroupBy::Grid,
                GroupBy::Category,
                GroupBy::Day,
                GroupBy::Unit,
            ] {
                let st = unit_statement(backend, &scope(group_by), 0);
                let sql = st.sql.replace('`', "\"");
                assert!(
                    sql.contains(r#"FROM "report_units" AS "ru" INNER JOIN "reports" AS "rep" ON "rep"."id" = "ru"."report_id" INNER JOIN "areas" AS "g" ON "g"."code" = "rep"."grid_code""#),
                    "{backend:?} {group_by:?}: {sql}"
                );
                assert!(sql.contains(r#"GROUP BY "#), "{sql}");
                assert_eq!(
                    sql.contains(r#"LEFT JOIN "units""#),
                    group_by == GroupBy::Unit,
                    "{sql}"
                );
                let values: Vec<String> = st
                    .values
                    .unwrap()
                    .0
                    .into_iter()
                    .map(|v| format!("{v:?}"))
                    .collect();
                for needle in ["\"lead\"", "\"cancelled\"", "\"/D01/S01/C01/%\""] {
                    assert!(
                        values.iter().any(|v| v.contains(needle)),
                        "{needle} in {values:?}"
                    );
                }
            }
        }
        let sql = unit_statement(DatabaseBackend::MySql, &scope(GroupBy::Day), 0).sql;
        assert!(sql.contains("CAST(FLOOR("), "{sql}");
    }

    #[test]
    fn the_sql_day_number_is_the_shanghai_day() {
        for day in ["2026-01-01", "2026-02-28", "2026-12-31"] {
            let start = rollup::day_start_ms(d(day));
            for ms in [start, start + 1, start + 86_399_999] {
                // What `day_number` computes in SQL: (ms + 8 h) / 1 day, integer division.
                let n = (ms + 8 * 3_600_000) / 86_400_000;
                assert_eq!(day_of_number(n), rollup::day_of(ms), "{ms}");
                assert_eq!(day_of_number(n), d(day));
            }
            assert_ne!(
                day_of_number((start - 1 + 8 * 3_600_000) / 86_400_000),
                d(day)
            );
        }
    }

    #[test]
    fn the_period_binds_months_and_edge_days_in_order() {
        let st = totals_statement(DatabaseBackend::Postgres, &scope(GroupBy::Child));
        assert!(st.sql.ends_with(
            r#"WHERE "r"."area_code" = $1 AND (("r"."grain" = $2 AND "r"."day" IN ($3)) OR ("r"."grain" = $4 AND "r"."day" >= $5 AND "r"."day" <= $6) OR ("r"."grain" = $7 AND "r"."day" >= $8 AND "r"."day" <= $9))"#
        ), "{}", st.sql);
        let values: Vec<String> = st
            .values
            .unwrap()
            .0
            .into_iter()
            .map(|v| match v {
                sea_orm::Value::String(Some(s)) => *s,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            values,
            [
                "C01",
                "m",
                "2026-02-01",
                "d",
                "2026-01-15",
                "2026-01-31",
                "d",
                "2026-03-01",
                "2026-03-03"
            ]
        );
    }
}
