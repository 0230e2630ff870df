//! Reading the assignments of reports for views and decisions: a fixed number of queries
//! for a whole page (the assignments, then their units' names), none for the reports no
//! unit ever held.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use entity::{report_units, reports, units};

/// Whether any unit was ever dispatched this report: every dispatch sets `lead_unit`, and
/// only a return clears it, counting in `return_count`.
pub fn ever_dispatched(r: &reports::Model) -> bool {
    r.lead_unit.is_some() || r.return_count > 0
}

/// The assignments of one report, oldest first.
pub async fn of_report(
    db: &impl ConnectionTrait,
    r: &reports::Model,
) -> Result<Vec<report_units::Model>, sea_orm::DbErr> {
    if !ever_dispatched(r) {
        return Ok(Vec::new());
    }
    report_units::Entity::find()
        .filter(report_units::Column::ReportId.eq(&r.id))
        .order_by_asc(report_units::Column::DispatchedAt)
        .order_by_asc(report_units::Column::Id)
        .all(db)
        .await
}

/// The assignments of many reports, by report id, each oldest first.
pub async fn of_reports(
    db: &impl ConnectionTrait,
    rows: &[reports::Model],
) -> Result<HashMap<String, Vec<report_units::Model>>, sea_orm::DbErr> {
    let ids: Vec<&str> = rows
        .iter()
        .filter(|r| ever_dispatched(r))
        .map(|r| r.id.as_str())
        .collect();
    let mut out: HashMap<String, Vec<report_units::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for a in report_units::Entity::find()
        .filter(report_units::Column::ReportId.is_in(ids))
        .order_by_asc(report_units::Column::DispatchedAt)
        .order_by_asc(report_units::Column::Id)
        .all(db)
        .await?
    {
        out.entry(a.report_id.clone()).or_default().push(a);
    }
    Ok(out)
}

/// The names of the units these assignments name.
pub async fn names<'a>(
    db: &impl ConnectionTrait,
    assignments: impl Iterator<Item = &'a report_units::Model>,
) -> Result<HashMap<String, String>, sea_orm::DbErr> {
    let mut codes: Vec<&str> = assignments.map(|a| a.unit_code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(units::Entity::find()
        .filter(units::Column::Code.is_in(codes))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.code, u.name))
        .collect())
}
