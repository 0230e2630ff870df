//! Report categories (DOMAIN.md §2) with their time limits, and the urgency presets.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Set};
use serde::Serialize;
use utoipa::ToSchema;

use super::calendar::{TimeLimit, WorkCalendar};
use entity::enums::UnitKind;

/// Built-in first-level categories: (code, 中文名, English name, unit, amount). Their unit
/// rules (owner kind, direct dispatch, sign-for limit) are in [`unit_rules`].
const DEFAULTS: &[(&str, &str, &str, &str, u32)] = &[
    (
        "fire_hazard",
        "消防安全隐患",
        "Fire hazard (blocked exits, extinguishers)",
        "working_hours",
        4,
    ),
    (
        "gas_hazard",
        "燃气安全隐患",
        "Gas hazard",
        "working_hours",
        4,
    ),
    (
        "building_hazard",
        "房屋建筑安全",
        "Building safety",
        "working_days",
        2,
    ),
    (
        "ebike_charging",
        "电动车违规充电",
        "E-bike charging indoors",
        "working_days",
        1,
    ),
    (
        "public_order",
        "治安问题",
        "Public order",
        "working_days",
        1,
    ),
    (
        "dispute",
        "矛盾纠纷",
        "Dispute between residents",
        "working_days",
        3,
    ),
    (
        "sanitation",
        "环境卫生",
        "Environment and sanitation (exposed rubbish)",
        "working_days",
        1,
    ),
    (
        "public_facility",
        "公共设施损坏",
        "Damaged public facilities",
        "working_days",
        3,
    ),
    (
        "illegal_building",
        "违法建设",
        "Illegal building",
        "working_days",
        15,
    ),
    (
        "vulnerable_care",
        "关爱帮扶",
        "Care for vulnerable people",
        "working_days",
        2,
    ),
    (
        "livelihood",
        "民生服务",
        "Livelihood services",
        "working_days",
        3,
    ),
    ("other", "其他", "Other", "working_days", 5),
];

/// The built-in categories' unit rules (DOMAIN.md §8): gas hazards belong to the gas company
/// serving the place (部件先属主后属地); a grid worker may send a dispute straight to the
/// mediators. An operator changes them with `PATCH /admin/categories/{code}`.
fn unit_rules(code: &str) -> (Option<UnitKind>, bool) {
    match code {
        "gas_hazard" => (Some(UnitKind::Gas), false),
        "dispute" => (None, true),
        _ => (None, false),
    }
}

/// Inserts the built-in categories that are missing (every start; safe on every instance).
pub async fn ensure_defaults(db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    let rows: Vec<entity::categories::ActiveModel> = DEFAULTS
        .iter()
        .enumerate()
        .map(
            |(i, (code, name, name_en, unit, amount))| entity::categories::ActiveModel {
                code: Set((*code).into()),
                parent_code: Set(None),
                name: Set((*name).into()),
                name_en: Set((*name_en).into()),
                limit_unit: Set((*unit).into()),
                limit_amount: Set(*amount as i32),
                sort_order: Set(i as i32),
                owner_unit_kind: Set(unit_rules(code).0),
                direct_dispatch: Set(unit_rules(code).1),
                sign_limit_hours: Set(None),
            },
        )
        .collect();
    entity::categories::Entity::insert_many(rows)
        // A no-op update rather than DO NOTHING, which sea-query renders invalid for MySQL.
        .on_conflict(
            OnConflict::column(entity::categories::Column::Code)
                .update_column(entity::categories::Column::Code)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The category codes this instance has seen in the database, so a submission need not
/// look its category up (one round trip on the hottest path). Categories are only ever added
/// (seeded at start, or by an operator in SQL), so a known code stays valid; an unknown one
/// reloads the list, at most once a second, before it is refused.
#[derive(Default)]
pub struct KnownCategories {
    inner: std::sync::RwLock<(
        std::collections::HashSet<String>,
        Option<std::time::Instant>,
    )>,
}

impl KnownCategories {
    pub async fn contains(
        &self,
        db: &impl ConnectionTrait,
        code: &str,
    ) -> Result<bool, sea_orm::DbErr> {
        {
            let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if guard.0.contains(code) {
                return Ok(true);
            }
            if guard
                .1
                .is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1))
            {
                return Ok(false);
            }
        }
        let codes: std::collections::HashSet<String> = entity::categories::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.code)
            .collect();
        let found = codes.contains(code);
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) =
            (codes, Some(std::time::Instant::now()));
        Ok(found)
    }
}

#[derive(Serialize, ToSchema, Clone)]
pub struct CategoryView {
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub parent_code: Option<String>,
    pub time_limit: TimeLimit,
    /// The kind of partner unit that owns such cases: they are dispatched to it on
    /// submission (部件先属主后属地).
    pub owner_unit_kind: Option<UnitKind>,
    /// Whether a grid worker may dispatch such a case to a unit without an admin.
    pub direct_dispatch: bool,
    /// Working hours a unit has to sign for such a case (2 when null).
    pub sign_limit_hours: Option<i32>,
}

/// The unit rules of a category, changed by a district admin; absent fields stay.
#[derive(serde::Deserialize, ToSchema, Default)]
pub struct CategoryPatch {
    /// A unit kind, or null to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<UnitKind>)]
    pub owner_unit_kind: Option<Option<UnitKind>>,
    pub direct_dispatch: Option<bool>,
    /// 1–240 working hours, or null for the default of 2.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub sign_limit_hours: Option<Option<i32>>,
}

/// Tells an absent field (`None`) from an explicit null (`Some(None)`).
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Changes a category's unit rules. Categories are shared by the whole installation, so only
/// an admin of a top-level area (a district) may.
pub async fn patch(
    db: &impl ConnectionTrait,
    admin_is_top_level: bool,
    code: &str,
    req: CategoryPatch,
) -> crate::error::ApiResult<CategoryView> {
    use crate::error::ApiError;
    use entity::categories::Column as C;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    if !admin_is_top_level {
        return Err(ApiError::forbidden());
    }
    if let Some(Some(h)) = req.sign_limit_hours {
        if !(1..=240).contains(&h) {
            return Err(ApiError::invalid(
                "sign_limit_hours",
                "1 to 240 working hours",
            ));
        }
    }
    let mut update = entity::categories::Entity::update_many().filter(C::Code.eq(code));
    if let Some(kind) = req.owner_unit_kind {
        update = update.col_expr(C::OwnerUnitKind, Expr::value(kind.map(|k| k.as_str())));
    }
    if let Some(direct) = req.direct_dispatch {
        update = update.col_expr(C::DirectDispatch, Expr::value(direct));
    }
    if let Some(hours) = req.sign_limit_hours {
        update = update.col_expr(C::SignLimitHours, Expr::value(hours));
    }
    let changed = if req.owner_unit_kind.is_none()
        && req.direct_dispatch.is_none()
        && req.sign_limit_hours.is_none()
    {
        1
    } else {
        update.exec(db).await?.rows_affected
    };
    list(db)
        .await?
        .into_iter()
        .find(|c| c.code == code && changed > 0)
        .ok_or_else(ApiError::not_found)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<CategoryView>, sea_orm::DbErr> {
    Ok(entity::categories::Entity::find()
        .order_by_asc(entity::categories::Column::SortOrder)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|c| {
            Some(CategoryView {
                time_limit: TimeLimit::parse(&c.limit_unit, c.limit_amount as u32)?,
                code: c.code,
                name: c.name,
                name_en: c.name_en,
                parent_code: c.parent_code,
                owner_unit_kind: c.owner_unit_kind,
                direct_dispatch: c.direct_dispatch,
                sign_limit_hours: c.sign_limit_hours,
            })
        })
        .collect())
}

pub use entity::enums::Urgency;

/// The deadline of a report accepted at `start_ms`.
pub fn deadline(calendar: &WorkCalendar, limit: TimeLimit, urgency: Urgency, start_ms: i64) -> i64 {
    match urgency {
        Urgency::Normal => calendar.deadline(start_ms, limit),
        Urgency::Urgent => {
            let full = calendar.working_ms_between(start_ms, calendar.deadline(start_ms, limit));
            match limit {
                TimeLimit::NaturalDays(d) => start_ms + i64::from(d) * 43_200_000,
                _ => calendar.add_working_ms(start_ms, (full / 2).max(3_600_000)),
            }
        }
        Urgency::Emergency => start_ms + 2 * 3_600_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgent_halves_and_emergency_is_two_wall_hours() {
        let cal = WorkCalendar::china_default();
        // Monday 2026-11-23 09:00 Asia/Shanghai = 01:00 UTC.
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00")
            .unwrap()
            .timestamp_millis();
        let normal = deadline(&cal, TimeLimit::WorkingHours(4), Urgency::Normal, start);
        let urgent = deadline(&cal, TimeLimit::WorkingHours(4), Urgency::Urgent, start);
        assert_eq!(
            normal - start,
            4 * 3_600_000 + 3_600_000,
            "4 working hours cross the lunch hour"
        );
        assert_eq!(urgent - start, 2 * 3_600_000);
        assert_eq!(
            deadline(&cal, TimeLimit::WorkingDays(15), Urgency::Emergency, start) - start,
            7_200_000
        );
    }
}
