//! The duplicate hint a submission answers with: open reports of the same category within
//! 50 m from the last 7 days. The query rides in the submission's own statement on
//! PostgreSQL (`submit`), so its values are collected by hand for `infra::shaped`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::dto::DuplicateHint;
use super::status::ReportStatus;
use crate::grids::geo::{distance_m, CoordSystem, Coordinate};
use crate::util::rfc3339;

use entity::reports;

const DUPLICATE_RADIUS_M: f64 = 50.0;
const DUPLICATE_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// What the duplicate hint needs of a nearby open report (six columns, not the whole row).
#[derive(Debug, sea_orm::FromQueryResult)]
pub struct NearbyCase {
    pub id: String,
    pub case_no: String,
    pub status: ReportStatus,
    pub lat: f64,
    pub lng: f64,
    pub submitted_at: i64,
}

/// Open reports of the same category within 50 m from the last 7 days, other than `id`.
pub struct Nearby<'a> {
    pub id: &'a str,
    pub category: &'a str,
    pub lat: f64,
    pub lng: f64,
    pub now: i64,
}

impl Nearby<'_> {
    /// The bounding box (≈ 1e-5 degrees per metre); [`duplicate_hints`] keeps the exact circle.
    fn bounds(&self) -> (f64, f64) {
        let dlat = DUPLICATE_RADIUS_M / 111_000.0;
        (dlat, dlat / self.lat.to_radians().cos().max(0.01))
    }

    fn open() -> impl Iterator<Item = ReportStatus> {
        ReportStatus::ALL.into_iter().filter(|s| s.is_open())
    }

    /// The query: a bounding box first, the newest 10 candidates.
    pub fn select(&self) -> sea_orm::sea_query::SelectStatement {
        let (dlat, dlng) = self.bounds();
        use reports::Column as C;
        sea_orm::QueryTrait::into_query(
            reports::Entity::find()
                .select_only()
                .columns([C::Id, C::CaseNo, C::Status, C::Lat, C::Lng, C::SubmittedAt])
                .filter(C::Category.eq(self.category))
                .filter(C::SubmittedAt.gte(self.now - DUPLICATE_WINDOW_MS))
                .filter(C::Lat.between(self.lat - dlat, self.lat + dlat))
                .filter(C::Lng.between(self.lng - dlng, self.lng + dlng))
                .filter(C::Status.is_in(Self::open()))
                .filter(C::Id.ne(self.id))
                .limit(10),
        )
    }

    /// The query's parameters in the order `select` binds them (`infra::shaped` checks it).
    pub fn values(&self) -> Vec<sea_orm::Value> {
        let (dlat, dlng) = self.bounds();
        let mut values: Vec<sea_orm::Value> = vec![
            self.category.into(),
            (self.now - DUPLICATE_WINDOW_MS).into(),
            (self.lat - dlat).into(),
            (self.lat + dlat).into(),
            (self.lng - dlng).into(),
            (self.lng + dlng).into(),
        ];
        values.extend(Self::open().map(Into::into));
        values.push(self.id.into());
        values.push(10u64.into());
        values
    }
}

/// The candidates of [`Nearby`] that are within the radius.
pub fn duplicate_hints(lat: f64, lng: f64, rows: Vec<NearbyCase>) -> Vec<DuplicateHint> {
    let Ok(here) = Coordinate::new(lat, lng, CoordSystem::Gcj02) else {
        return Vec::new();
    };
    rows.into_iter()
        .filter_map(|r| {
            let there = Coordinate::new(r.lat, r.lng, CoordSystem::Gcj02).ok()?;
            let d = distance_m(&here, &there);
            (d <= DUPLICATE_RADIUS_M).then(|| DuplicateHint {
                status: r.status,
                id: r.id,
                case_no: r.case_no,
                distance_m: (d * 10.0).round() / 10.0,
                submitted_at: rfc3339(r.submitted_at),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearby_values_are_those_the_query_binds_in_order() {
        let nearby = Nearby {
            id: "r1",
            category: "fire_hazard",
            lat: 31.2,
            lng: 121.4,
            now: 1_700_000_000_000,
        };
        let built = sea_orm::DbBackend::Postgres.build(&nearby.select());
        assert_eq!(built.values.unwrap().0, nearby.values());
    }
}
