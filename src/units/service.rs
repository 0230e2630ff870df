//! Managing partner units, and checking the units a dispatch names.
//!
//! An admin manages the units created at or below their area (`owner_path`), sees every
//! unit serving a place at, above or below it, and may dispatch a case only to units that
//! are active and serve the place the case fell in.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::dto::{NewUnit, UnitPatch, UnitView};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::content::text_field;
use crate::error::{ApiError, ApiResult, Code};
use crate::grids::router::Snapshot;
use crate::reports::dispatch::DispatchInput;
use crate::util::{now_ms, rfc3339};

use entity::{unit_areas, units};

/// A unit code: 1–32 letters, digits, `-` or `_`.
pub fn valid_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether a unit serving `served` (area paths) serves the place at `place_path`: one of
/// its areas is the place or contains it.
pub fn serves<'a>(mut served: impl Iterator<Item = &'a str>, place_path: &str) -> bool {
    served.any(|area| place_path.starts_with(area))
}

/// The area admin's area, or the whole tree for the system admin.
fn admin_path(who: &Principal) -> ApiResult<&str> {
    who.structure_path().ok_or_else(ApiError::forbidden)
}

/// The served areas named in a request: each must exist and lie inside the admin's area.
fn served_areas(
    snap: &Snapshot,
    admin: &str,
    codes: &[String],
) -> ApiResult<Vec<(String, String)>> {
    if codes.is_empty() || codes.len() > 200 {
        return Err(ApiError::invalid("area_codes", "name 1 to 200 areas"));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for code in codes {
        let area = snap
            .areas
            .get(code)
            .ok_or_else(|| ApiError::invalid("area_codes", format!("no such area: {code}")))?;
        if !area.path.starts_with(admin) {
            return Err(ApiError::invalid(
                "area_codes",
                format!("{code} is outside your area"),
            ));
        }
        if !out.iter().any(|(c, _)| c == code) {
            out.push((area.code.clone(), area.path.clone()));
        }
    }
    Ok(out)
}

async fn write_areas(
    db: &impl ConnectionTrait,
    unit: &str,
    areas: &[(String, String)],
) -> Result<(), sea_orm::DbErr> {
    unit_areas::Entity::delete_many()
        .filter(unit_areas::Column::UnitCode.eq(unit))
        .exec(db)
        .await?;
    let rows = areas.iter().map(|(code, path)| unit_areas::ActiveModel {
        unit_code: Set(unit.to_owned()),
        area_code: Set(code.clone()),
        area_path: Set(path.clone()),
    });
    unit_areas::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn create(env: &Env<'_>, who: &Principal, req: NewUnit) -> ApiResult<UnitView> {
    let admin = admin_path(who)?.to_owned();
    if !valid_code(&req.code) {
        return Err(ApiError::invalid(
            "code",
            "1–32 letters, digits, '-' or '_'",
        ));
    }
    let name = text_field("name", Some(&req.name), 100)?;
    let snap = env.router.snapshot();
    let areas = served_areas(&snap, &admin, &req.area_codes)?;
    let now = now_ms();
    let txn = env.db.begin().await?;
    // The unit row first: on SQLite a transaction that will write should write first.
    let inserted = units::ActiveModel {
        code: Set(req.code.clone()),
        name: Set(name),
        kind: Set(req.kind),
        active: Set(true),
        owner_path: Set(admin.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await;
    let unit = match inserted {
        Ok(u) => u,
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::new(
                Code::UnitCodeTaken,
                format!("A unit with code {} already exists.", req.code),
                format!("单位编码 {} 已存在。", req.code),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    write_areas(&txn, &unit.code, &areas).await?;
    txn.commit().await?;
    Ok(view(
        unit,
        areas.into_iter().map(|(c, _)| c).collect(),
        Some(&admin),
    ))
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

fn view(u: units::Model, area_codes: Vec<String>, admin: Option<&str>) -> UnitView {
    UnitView {
        manageable: admin.is_some_and(|a| u.owner_path.starts_with(a)),
        code: u.code,
        name: u.name,
        kind: u.kind,
        active: u.active,
        area_codes,
        created_at: rfc3339(u.created_at),
    }
}

/// The units serving a place at, above or below `area` (the admin's own area by default),
/// by code.
pub async fn list(env: &Env<'_>, who: &Principal, area: Option<&str>) -> ApiResult<Vec<UnitView>> {
    let admin = admin_path(who)?.to_owned();
    let snap = env.router.snapshot();
    let path = match area {
        None => admin.clone(),
        Some(code) => {
            let a = snap
                .areas
                .get(code)
                .filter(|a| a.path.starts_with(&admin))
                .ok_or_else(|| ApiError::invalid("area", "no such area inside yours"))?;
            a.path.clone()
        }
    };
    let ancestors = ancestor_paths(&path);
    let served = unit_areas::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(unit_areas::Column::AreaPath.starts_with(&path))
                .add(unit_areas::Column::AreaPath.is_in(ancestors)),
        )
        .all(env.db)
        .await?;
    let mut codes: Vec<String> = served.iter().map(|s| s.unit_code.clone()).collect();
    codes.sort();
    codes.dedup();
    let rows = units::Entity::find()
        .filter(units::Column::Code.is_in(codes.clone()))
        .order_by_asc(units::Column::Code)
        .all(env.db)
        .await?;
    let mut areas = all_areas(env.db, &codes).await?;
    Ok(rows
        .into_iter()
        .map(|u| {
            let a = areas.remove(&u.code).unwrap_or_default();
            view(u, a, Some(&admin))
        })
        .collect())
}

async fn all_areas(
    db: &impl ConnectionTrait,
    codes: &[String],
) -> Result<HashMap<String, Vec<String>>, sea_orm::DbErr> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if codes.is_empty() {
        return Ok(out);
    }
    for a in unit_areas::Entity::find()
        .filter(unit_areas::Column::UnitCode.is_in(codes.iter().map(String::as_str)))
        .order_by_asc(unit_areas::Column::AreaCode)
        .all(db)
        .await?
    {
        out.entry(a.unit_code).or_default().push(a.area_code);
    }
    Ok(out)
}

/// `/D/S/C/G/` → `/D/`, `/D/S/`, `/D/S/C/`, `/D/S/C/G/`.
pub fn ancestor_paths(path: &str) -> Vec<String> {
    path.match_indices('/')
        .skip(1)
        .map(|(i, _)| path[..=i].to_owned())
        .collect()
}

pub async fn patch(
    env: &Env<'_>,
    who: &Principal,
    code: &str,
    req: UnitPatch,
) -> ApiResult<UnitView> {
    let admin = admin_path(who)?.to_owned();
    let unit = units::Entity::find_by_id(code.to_owned())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !unit.owner_path.starts_with(&admin) {
        // Another area's unit: an admin who can see it (it serves their area) hears 403,
        // anyone else 404.
        let visible = list(env, who, None).await?.iter().any(|u| u.code == code);
        return Err(if visible {
            ApiError::forbidden()
        } else {
            ApiError::not_found()
        });
    }
    let snap = env.router.snapshot();
    let areas = match &req.area_codes {
        Some(codes) => Some(served_areas(&snap, &admin, codes)?),
        None => None,
    };
    let name = match &req.name {
        Some(n) => Some(text_field("name", Some(n), 100)?),
        None => None,
    };
    let now = now_ms();
    let txn = env.db.begin().await?;
    let mut update = units::Entity::update_many()
        .col_expr(units::Column::UpdatedAt, Expr::value(now))
        .filter(units::Column::Code.eq(code));
    if let Some(name) = name {
        update = update.col_expr(units::Column::Name, Expr::value(name));
    }
    if let Some(kind) = req.kind {
        update = update.col_expr(units::Column::Kind, Expr::value(kind.as_str()));
    }
    if let Some(active) = req.active {
        update = update.col_expr(units::Column::Active, Expr::value(active));
    }
    update.exec(&txn).await?;
    if let Some(areas) = &areas {
        write_areas(&txn, code, areas).await?;
    }
    txn.commit().await?;
    let unit = units::Entity::find_by_id(code.to_owned())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut all = all_areas(env.db, &[code.to_owned()]).await?;
    Ok(view(
        unit,
        all.remove(code).unwrap_or_default(),
        Some(&admin),
    ))
}

/// Checks the units a dispatch names for a case that fell at `place_path`: each exists (422
/// `validation_failed` naming the field), is active (409 `unit_inactive`) and serves the
/// place (422 `unit_out_of_area`), all named in the message.
pub async fn check_dispatch(
    db: &impl ConnectionTrait,
    input: &DispatchInput,
    place_path: &str,
) -> ApiResult<()> {
    let chosen = input.chosen();
    let codes: Vec<&str> = chosen.iter().map(|c| c.code.as_str()).collect();
    let found: HashMap<String, units::Model> = units::Entity::find()
        .filter(units::Column::Code.is_in(codes.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.code.clone(), u))
        .collect();
    let served = unit_areas::Entity::find()
        .filter(unit_areas::Column::UnitCode.is_in(codes))
        .all(db)
        .await?;
    for (i, unit) in chosen.iter().enumerate() {
        let field = if i == 0 { "lead_unit" } else { "assist_units" };
        let Some(u) = found.get(&unit.code) else {
            return Err(ApiError::invalid(
                field,
                format!("no such unit: {}", unit.code),
            ));
        };
        if !u.active {
            return Err(ApiError::new(
                Code::UnitInactive,
                format!(
                    "Unit {} ({}) is inactive and takes no cases.",
                    u.code, u.name
                ),
                format!("单位 {}（{}）已停用，不能派单。", u.code, u.name),
            )
            .with_details(serde_json::json!({ "unit": u.code })));
        }
        let areas = served
            .iter()
            .filter(|s| s.unit_code == u.code)
            .map(|s| s.area_path.as_str());
        if !serves(areas, place_path) {
            return Err(ApiError::new(
                Code::UnitOutOfArea,
                format!(
                    "Unit {} ({}) does not serve the place of this case.",
                    u.code, u.name
                ),
                format!("单位 {}（{}）不负责该案件所在区域。", u.code, u.name),
            )
            .field(field, format!("{} does not serve this place", u.code)));
        }
    }
    Ok(())
}

/// The ownership rule's match for a new case: the active unit of the kind its category
/// names, serving the place most closely (the deepest served area, then the lowest code),
/// with the category's clocks. One query; `None` when the category names no owner kind or
/// no such unit serves the place.
pub struct OwnerMatch {
    pub unit_code: String,
    pub sign_hours: Option<u32>,
    pub limit: Option<crate::reports::calendar::TimeLimit>,
}

pub async fn owner_for(
    db: &impl ConnectionTrait,
    category: &str,
    place_path: &str,
) -> Result<Option<OwnerMatch>, sea_orm::DbErr> {
    let statement = owner_statement(db.get_database_backend(), category, place_path);
    let Some(row) = db.query_one(statement).await? else {
        return Ok(None);
    };
    let unit_code: String = row.try_get("", "unit_code")?;
    let sign_hours: Option<i32> = row.try_get("", "sign_hours")?;
    let limit_unit: String = row.try_get("", "limit_unit")?;
    let limit_amount: i32 = row.try_get("", "limit_amount")?;
    Ok(Some(OwnerMatch {
        unit_code,
        sign_hours: sign_hours.and_then(|h| u32::try_from(h).ok()),
        limit: crate::reports::calendar::TimeLimit::parse(&limit_unit, limit_amount as u32),
    }))
}

/// [`owner_query`] as sent: every submission asks, so its text is built once per depth of
/// the place (`infra::shaped`).
fn owner_statement(
    backend: sea_orm::DbBackend,
    category: &str,
    place_path: &str,
) -> sea_orm::Statement {
    let paths = ancestor_paths(place_path);
    let mut values: Vec<sea_orm::Value> = vec![category.into(), true.into()];
    values.extend(paths.iter().map(|p| p.as_str().into()));
    values.push(1u64.into());
    crate::infra::shaped::statement(
        backend,
        "units::owner_for",
        paths.len() as u64,
        values,
        || owner_query(category, &paths),
    )
}

/// The ownership rule's query: the unit of the category's owning kind that serves the
/// nearest of `paths` (a place's ancestors), active units only.
fn owner_query(category: &str, paths: &[String]) -> sea_orm::sea_query::SelectStatement {
    use entity::categories as cat;
    use sea_orm::sea_query::{Alias, JoinType, Order, Query};
    let (ua, u, c) = (Alias::new("ua"), Alias::new("u"), Alias::new("c"));
    let mut q = Query::select();
    q.expr_as(
        Expr::col((ua.clone(), unit_areas::Column::UnitCode)),
        Alias::new("unit_code"),
    )
    .expr_as(
        Expr::col((c.clone(), cat::Column::SignLimitHours)),
        Alias::new("sign_hours"),
    )
    .expr_as(
        Expr::col((c.clone(), cat::Column::LimitUnit)),
        Alias::new("limit_unit"),
    )
    .expr_as(
        Expr::col((c.clone(), cat::Column::LimitAmount)),
        Alias::new("limit_amount"),
    )
    .from_as(unit_areas::Entity, ua.clone())
    .join_as(
        JoinType::InnerJoin,
        units::Entity,
        u.clone(),
        Expr::col((u.clone(), units::Column::Code))
            .equals((ua.clone(), unit_areas::Column::UnitCode)),
    )
    .join_as(
        JoinType::InnerJoin,
        cat::Entity,
        c.clone(),
        Expr::col((c.clone(), cat::Column::OwnerUnitKind)).equals((u.clone(), units::Column::Kind)),
    )
    .and_where(Expr::col((c.clone(), cat::Column::Code)).eq(category))
    .and_where(Expr::col((u.clone(), units::Column::Active)).eq(true))
    .and_where(
        Expr::col((ua.clone(), unit_areas::Column::AreaPath))
            .is_in(paths.iter().map(String::as_str)),
    )
    .order_by_expr(
        sea_orm::sea_query::Func::char_length(Expr::col((
            ua.clone(),
            unit_areas::Column::AreaPath,
        )))
        .into(),
        Order::Desc,
    )
    .order_by((ua.clone(), unit_areas::Column::UnitCode), Order::Asc)
    .limit(1);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_query_text_is_built_once_per_depth() {
        use sea_orm::DatabaseBackend::Postgres;
        let direct = |category, path| {
            let built = Postgres.build(&owner_query(category, &ancestor_paths(path)));
            (built.sql, built.values)
        };
        let first = owner_statement(Postgres, "gas_leak", "/D01/S01/C01/G01/");
        assert!(!crate::infra::shaped::last_was_cached());
        let again = owner_statement(Postgres, "fire", "/D01/S02/C03/G07/");
        assert!(crate::infra::shaped::last_was_cached());
        assert_eq!(
            (again.sql, again.values),
            direct("fire", "/D01/S02/C03/G07/")
        );
        let shallower = owner_statement(Postgres, "fire", "/D01/S02/");
        assert!(!crate::infra::shaped::last_was_cached());
        assert_eq!(
            (shallower.sql, shallower.values),
            direct("fire", "/D01/S02/")
        );
        drop(first);
    }

    #[test]
    fn a_unit_serves_its_areas_and_everything_inside_them() {
        let served = ["/D01/S01/"];
        assert!(serves(served.into_iter(), "/D01/S01/C01/G01/"));
        assert!(serves(served.into_iter(), "/D01/S01/"));
        assert!(!serves(served.into_iter(), "/D01/S02/C03/G01/"));
        assert!(!serves(served.into_iter(), "/D01/"));
    }

    #[test]
    fn ancestors_run_from_the_top_down_to_the_place() {
        assert_eq!(
            ancestor_paths("/D01/S01/C01/"),
            ["/D01/", "/D01/S01/", "/D01/S01/C01/"]
        );
    }

    #[test]
    fn codes_are_short_and_plain() {
        assert!(valid_code("GAS-S01_1"));
        assert!(!valid_code(""));
        assert!(!valid_code("有中文"));
        assert!(!valid_code(&"x".repeat(33)));
    }
}
