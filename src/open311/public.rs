//! What the public Open311 feed may show of a report: its status as open/closed, the notes
//! of results (never a worker's working notes), who is responsible, the deadline, and a
//! WGS-84 point rounded to about 100 m — or the grid's centre when the reporter asked to stay
//! anonymous. Never the reporter's identity.

use crate::grids::geo::gcj02_to_wgs84;
use entity::enums::ReportStatus;

/// `open` or `closed` (GeoReport v2 knows only these).
pub fn status(s: ReportStatus) -> &'static str {
    match s {
        ReportStatus::Closed | ReportStatus::Rejected | ReportStatus::Cancelled => "closed",
        _ => "open",
    }
}

/// Timeline actions whose note is a public result (the rest are working notes).
pub const PUBLIC_NOTE_ACTIONS: [&str; 4] = ["resolve", "reject", "confirm", "open311_update"];

/// Three decimals of a degree: about 100 m.
pub fn round_100m(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The public point of a case stored at GCJ-02 `(lat, lng)`: WGS-84, rounded.
pub fn public_point(lat: f64, lng: f64) -> (f64, f64) {
    let (w_lat, w_lng) = gcj02_to_wgs84(lat, lng);
    (round_100m(w_lat), round_100m(w_lng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_cases_are_closed() {
        assert_eq!(status(ReportStatus::Resolved), "open");
        assert_eq!(status(ReportStatus::Rejected), "closed");
    }

    #[test]
    fn the_public_point_is_wgs84_within_about_100_m() {
        let (g_lat, g_lng) = crate::grids::geo::wgs84_to_gcj02(31.23456, 121.47654);
        let (lat, lng) = public_point(g_lat, g_lng);
        assert!(
            (lat - 31.23456).abs() <= 0.0005 + 1e-9 && (lng - 121.47654).abs() <= 0.0005 + 1e-9
        );
        assert!((lat * 1000.0 - (lat * 1000.0).round()).abs() < 1e-6);
    }
}
