//! The staff case list (`GET /admin/reports`, `.csv`): every case in the admin's area, open or
//! not, filtered the way a community office asks ("red dispute cases of grid G this month",
//! "case R20261205-00042"), keyset-paged in the chosen order, with the count per traffic
//! light of the whole filtered list (not only the page).
//!
//! The light and overdue filters are SQL mirrors of `views::light_of` and DOMAIN.md §4's
//! "overdue", so the counts, the filter and the light shown on each row agree.

use sea_orm::sea_query::{Alias, Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::ReportView;
use super::status::{Light, ReportStatus};
use super::views::render_many;
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult};
use crate::paging::parse_cursor;
use crate::util::now_ms;

use entity::enums::Source;
use entity::reports;

/// The staff case list's query (API.md "Case numbers"). Every filter is optional.
#[derive(Deserialize, IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct CaseListQuery {
    /// Comma-separated states (`submitted,accepted,…`).
    pub status: Option<String>,
    pub light: Option<Light>,
    pub category: Option<String>,
    /// A grid, or any area inside the admin's: cases whose queue lies in it.
    pub grid: Option<String>,
    /// A partner unit's code: cases dispatched to it (lead or assisting).
    pub unit: Option<String>,
    pub source: Option<Source>,
    /// `true`: open past the deadline, or closed after it (DOMAIN.md §4).
    pub overdue: Option<bool>,
    /// `true`: flagged for supervision (督办).
    pub supervised: Option<bool>,
    /// First day of submission (`YYYY-MM-DD`, Beijing time), inclusive.
    pub from: Option<String>,
    /// Last day of submission, inclusive.
    pub to: Option<String>,
    /// A case number (`R20261205-00042`, or its tail `00042`) or words of the description
    /// or address.
    pub q: Option<String>,
    /// `newest` (default), `oldest` or `deadline` (soonest first; cases without one last).
    pub sort: Option<CaseSort>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum CaseSort {
    #[default]
    Newest,
    Oldest,
    Deadline,
}

/// How many cases of the filtered list show each light.
#[derive(Serialize, ToSchema, Default, Debug, PartialEq, Eq)]
pub struct LightCounts {
    pub red: u64,
    pub yellow: u64,
    pub green: u64,
}

/// One page of the staff case list.
#[derive(Serialize, ToSchema)]
pub struct CaseListPage {
    pub items: Vec<ReportView>,
    pub next_cursor: Option<String>,
    /// The whole filtered list's count (all pages), and per light (the light filter aside).
    pub total: u64,
    pub lights: LightCounts,
}

/// A parsed, checked filter: what the query means, before any SQL.
struct Filter {
    area_path: String,
    states: Vec<ReportStatus>,
    light: Option<Light>,
    category: Option<String>,
    queue_path: Option<String>,
    unit: Option<String>,
    source: Option<Source>,
    overdue: Option<bool>,
    supervised: Option<bool>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    text: Option<String>,
}

/// Sort keys beyond any real deadline, so cases without one sort last.
const NO_DEADLINE: i64 = i64::MAX / 2;

const HANDLED: [&str; 4] = ["resolved", "closed", "rejected", "cancelled"];

/// `views::light_of` in SQL: the light of every row at `now`.
fn light_sql(now: i64) -> SimpleExpr {
    let handled = HANDLED.map(|s| format!("'{s}'")).join(",");
    let at = format!("COALESCE(suspended_at, {now})");
    Expr::cust(format!(
        "CASE \
         WHEN accepted_at IS NULL OR deadline IS NULL THEN 'green' \
         WHEN status IN ({handled}) THEN \
           CASE WHEN COALESCE(resolved_at, closed_at, {now}) <= deadline THEN 'green' ELSE 'red' END \
         WHEN deadline <= accepted_at THEN CASE WHEN {at} >= deadline THEN 'red' ELSE 'green' END \
         WHEN {at} > deadline THEN 'red' \
         WHEN ({at} - accepted_at) * 5 >= (deadline - accepted_at) * 4 THEN 'yellow' \
         ELSE 'green' END"
    ))
}

/// DOMAIN.md §4: open past its deadline, or closed after it.
fn overdue_sql(now: i64) -> SimpleExpr {
    Expr::cust(format!(
        "(deadline IS NOT NULL AND ((status IN ('submitted','accepted','in_progress','escalated','suspended') \
         AND deadline < {now}) OR (status = 'closed' AND closed_at > deadline)))"
    ))
}

fn beijing_day_start(field: &str, day: &str) -> ApiResult<i64> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, "expected a date as YYYY-MM-DD"))?;
    let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
    Ok((midnight - chrono::Duration::hours(8))
        .and_utc()
        .timestamp_millis())
}

impl Filter {
    fn parse(who: &Principal, q: &CaseListQuery, grid_path: Option<String>) -> ApiResult<Filter> {
        let Some(area) = &who.admin_area else {
            return Err(ApiError::forbidden());
        };
        let states = match &q.status {
            None => Vec::new(),
            Some(s) => s
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    ReportStatus::parse(p.trim()).ok_or_else(|| {
                        ApiError::invalid("status", format!("unknown state {:?}", p.trim()))
                    })
                })
                .collect::<ApiResult<_>>()?,
        };
        let from_ms = q
            .from
            .as_deref()
            .map(|d| beijing_day_start("from", d))
            .transpose()?;
        let to_ms =
            q.to.as_deref()
                .map(|d| beijing_day_start("to", d).map(|t| t + 86_400_000))
                .transpose()?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f >= t {
                return Err(ApiError::invalid("from", "must not be after `to`"));
            }
        }
        let text =
            q.q.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
        if text.as_ref().is_some_and(|t| t.chars().count() > 100) {
            return Err(ApiError::invalid("q", "at most 100 characters"));
        }
        Ok(Filter {
            area_path: area.path.clone(),
            states,
            light: q.light,
            category: q.category.clone(),
            queue_path: grid_path,
            unit: q.unit.clone(),
            source: q.source,
            overdue: q.overdue,
            supervised: q.supervised,
            from_ms,
            to_ms,
            text,
        })
    }

    /// Every condition but the light's (the light counts are over this).
    fn condition(&self, now: i64) -> Condition {
        let mut c = Condition::all().add(reports::Column::QueuePath.starts_with(&self.area_path));
        if !self.states.is_empty() {
            c = c.add(reports::Column::Status.is_in(self.states.clone()));
        }
        if let Some(v) = &self.category {
            c = c.add(reports::Column::Category.eq(v.as_str()));
        }
        if let Some(p) = &self.queue_path {
            c = c.add(reports::Column::QueuePath.starts_with(p));
        }
        if let Some(u) = &self.unit {
            c = c.add(
                reports::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(entity::report_units::Column::ReportId)
                        .from(entity::report_units::Entity)
                        .and_where(entity::report_units::Column::UnitCode.eq(u.as_str()))
                        .and_where(
                            entity::report_units::Column::Status
                                .ne(entity::enums::AssignmentStatus::Withdrawn),
                        )
                        .to_owned(),
                ),
            );
        }
        if let Some(s) = self.source {
            c = c.add(reports::Column::Source.eq(s));
        }
        match self.overdue {
            Some(true) => c = c.add(overdue_sql(now)),
            Some(false) => c = c.add(Expr::expr(overdue_sql(now)).not()),
            None => {}
        }
        if let Some(s) = self.supervised {
            c = c.add(reports::Column::Supervised.eq(s));
        }
        if let Some(f) = self.from_ms {
            c = c.add(reports::Column::SubmittedAt.gte(f));
        }
        if let Some(t) = self.to_ms {
            c = c.add(reports::Column::SubmittedAt.lt(t));
        }
        if let Some(t) = &self.text {
            c = c.add(text_condition(t));
        }
        c
    }
}

/// A case number matches exactly (any case), a bare tail (`00042`, `42`) matches the end of
/// a number; anything else searches the description and address.
fn text_condition(t: &str) -> Condition {
    let upper = t.to_uppercase();
    let mut any = Condition::any();
    if upper.starts_with('R') && upper.contains('-') {
        any = any.add(reports::Column::CaseNo.eq(upper.as_str()));
    } else if t.chars().all(|c| c.is_ascii_digit()) && t.len() <= 5 {
        any = any.add(reports::Column::CaseNo.ends_with(format!("{t:0>5}")));
    }
    let like = t.replace(['%', '_'], " ");
    any.add(reports::Column::Description.contains(&like))
        .add(reports::Column::Address.contains(&like))
}

fn sort_key(sort: CaseSort) -> SimpleExpr {
    match sort {
        CaseSort::Newest | CaseSort::Oldest => Expr::col(reports::Column::SubmittedAt).into(),
        CaseSort::Deadline => sea_orm::sea_query::Func::coalesce([
            Expr::col(reports::Column::Deadline).into(),
            Expr::val(NO_DEADLINE).into(),
        ])
        .into(),
    }
}

fn key_of(sort: CaseSort, r: &reports::Model) -> i64 {
    match sort {
        CaseSort::Newest | CaseSort::Oldest => r.submitted_at,
        CaseSort::Deadline => r.deadline.unwrap_or(NO_DEADLINE),
    }
}

/// Resolves `grid=` to the area's path, checking it lies inside the admin's area.
async fn grid_path(
    env: &Env<'_>,
    who: &Principal,
    grid: Option<&str>,
) -> ApiResult<Option<String>> {
    let Some(code) = grid else { return Ok(None) };
    let snap = env.router.snapshot();
    let path = match snap.areas.get(code) {
        Some(a) => a.path.clone(),
        None => match entity::areas::Entity::find_by_id(code.to_owned())
            .one(env.db)
            .await?
        {
            Some(a) => a.path,
            None => return Err(ApiError::invalid("grid", format!("no area {code:?}"))),
        },
    };
    if !who.administers_path(&path) {
        return Err(ApiError::forbidden());
    }
    Ok(Some(path))
}

/// One page of the list and the light counts of the whole filtered list.
pub async fn list(
    env: &Env<'_>,
    who: &Principal,
    q: &CaseListQuery,
    limit: u64,
) -> ApiResult<CaseListPage> {
    list_counting(env, who, q, limit, true).await
}

/// One page; the light counts only when `count` (an export pages through the whole list
/// and needs them never, not once per page).
async fn list_counting(
    env: &Env<'_>,
    who: &Principal,
    q: &CaseListQuery,
    limit: u64,
    count: bool,
) -> ApiResult<CaseListPage> {
    let path = grid_path(env, who, q.grid.as_deref()).await?;
    let f = Filter::parse(who, q, path)?;
    let now = now_ms();
    let sort = q.sort.unwrap_or_default();
    let base = f.condition(now);
    let lights = if count {
        count_lights(env, base.clone(), now).await?
    } else {
        LightCounts::default()
    };
    let mut cond = base;
    if let Some(l) = f.light {
        cond = cond.add(Expr::expr(light_sql(now)).eq(light_name(l)));
    }
    let total = match f.light {
        None => lights.red + lights.yellow + lights.green,
        Some(Light::Red) => lights.red,
        Some(Light::Yellow) => lights.yellow,
        Some(Light::Green) => lights.green,
    };
    let key = sort_key(sort);
    let mut query = reports::Entity::find().filter(cond).limit(limit + 1);
    query = if sort == CaseSort::Newest {
        query
            .order_by_desc(key.clone())
            .order_by_desc(reports::Column::Id)
    } else {
        query
            .order_by_asc(key.clone())
            .order_by_asc(reports::Column::Id)
    };
    if let Some(c) = &q.cursor {
        let (k, id) = parse_cursor(c)?;
        let (past_key, past_id) = if sort == CaseSort::Newest {
            (Expr::expr(key.clone()).lt(k), reports::Column::Id.lt(id))
        } else {
            (Expr::expr(key.clone()).gt(k), reports::Column::Id.gt(id))
        };
        query = query.filter(
            Condition::any().add(past_key).add(
                Condition::all()
                    .add(Expr::expr(key.clone()).eq(k))
                    .add(past_id),
            ),
        );
    }
    let mut rows = query.all(env.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", key_of(sort, r), r.id))
    } else {
        None
    };
    let snap = env.router.snapshot();
    let items = render_many(env, who, &snap, rows).await?;
    Ok(CaseListPage {
        items,
        next_cursor,
        total,
        lights,
    })
}

/// The most rows one export carries; a month of a whole district fits.
const CSV_MAX: u64 = 20_000;

/// The filtered list as CSV: what the page's table shows, with Chinese names.
pub async fn csv(env: &Env<'_>, who: &Principal, q: &CaseListQuery) -> ApiResult<String> {
    use crate::cases::labels;
    let categories: std::collections::HashMap<String, String> = super::categories::list(env.db)
        .await?
        .into_iter()
        .map(|c| (c.code, c.name))
        .collect();
    let mut out = String::from(
        "\u{feff}案件编号,状态,类别,来源,所属网格,当前承办,红黄绿灯,上报时间,办理期限,结案时间,协同单位,督办,地址,描述\r\n",
    );
    let mut q = q.clone();
    q.cursor = None;
    let mut written = 0;
    loop {
        let page = list_counting(env, who, &q, 100, false).await?;
        for r in &page.items {
            let units: Vec<&str> = r.units.iter().map(|u| u.name.as_str()).collect();
            let fields = [
                r.case_no.clone(),
                labels::report_status(r.status).to_owned(),
                categories
                    .get(&r.category)
                    .cloned()
                    .unwrap_or_else(|| r.category.clone()),
                labels::source(r.source).to_owned(),
                r.grid.as_ref().map(|g| g.name.clone()).unwrap_or_default(),
                r.queue.name.clone(),
                labels::light(r.light).to_owned(),
                r.submitted_at.clone(),
                r.deadline.clone().unwrap_or_default(),
                r.closed_at.clone().unwrap_or_default(),
                units.join("、"),
                if r.supervised { "是" } else { "" }.to_owned(),
                r.address.clone().unwrap_or_default(),
                r.description.clone(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_cell(f)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        written += page.items.len() as u64;
        match page.next_cursor {
            Some(c) if written < CSV_MAX => q.cursor = Some(c),
            _ => break,
        }
    }
    Ok(out)
}

/// Quotes a cell when needed, and defuses a leading `=`, `+`, `-`, `@` so a spreadsheet
/// never runs a resident's text as a formula.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn light_name(l: Light) -> &'static str {
    match l {
        Light::Red => "red",
        Light::Yellow => "yellow",
        Light::Green => "green",
    }
}

#[derive(FromQueryResult)]
struct LightRow {
    light: String,
    n: i64,
}

async fn count_lights(env: &Env<'_>, cond: Condition, now: i64) -> ApiResult<LightCounts> {
    let rows = reports::Entity::find()
        .select_only()
        .column_as(light_sql(now), "light")
        .column_as(Expr::col(reports::Column::Id).count(), "n")
        .filter(cond)
        .group_by(Expr::col(Alias::new("light")))
        .into_model::<LightRow>()
        .all(env.db)
        .await?;
    let mut out = LightCounts::default();
    for r in rows {
        let n = r.n.max(0) as u64;
        match r.light.as_str() {
            "red" => out.red += n,
            "yellow" => out.yellow += n,
            _ => out.green += n,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("楼道堆物"), "楼道堆物");
    }

    #[test]
    fn beijing_days_start_at_16_utc_the_day_before() {
        let t = beijing_day_start("from", "2026-12-05").unwrap();
        assert_eq!(
            chrono::DateTime::from_timestamp_millis(t)
                .unwrap()
                .to_rfc3339(),
            "2026-12-04T16:00:00+00:00"
        );
        assert!(beijing_day_start("from", "2026-13-01").is_err());
    }
}
