//! Coordinates, the WGS-84 → GCJ-02 transform and distances.
//!
//! Grid polygons are drawn on Chinese web maps and so are in GCJ-02; a phone's
//! `wx.getLocation` gives WGS-84 unless asked for GCJ-02. Points are converted to
//! GCJ-02 before routing or measuring.

use std::f64::consts::PI;

use geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};

/// Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 transform.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid: the published
/// 0.00669342162296594323, written to the precision an f64 holds (same value).
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

/// The coordinate system a point is expressed in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CoordSystem {
    /// China's obfuscated datum used by Tencent and Amap maps (the grids' system).
    #[default]
    Gcj02,
    /// GPS datum, what `wx.getLocation` returns by default.
    Wgs84,
}

/// Why a coordinate was rejected.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum CoordinateError {
    /// Latitude or longitude is NaN or infinite.
    #[error("coordinate is not a finite number (lat {lat}, lng {lng}); send decimal degrees")]
    NotFinite {
        /// The latitude given.
        lat: f64,
        /// The longitude given.
        lng: f64,
    },
    /// Latitude outside [-90, 90].
    #[error(
        "latitude {0} is out of range: it must be between -90 and 90 degrees \
         (were latitude and longitude swapped?)"
    )]
    LatitudeOutOfRange(f64),
    /// Longitude outside [-180, 180].
    #[error("longitude {0} is out of range: it must be between -180 and 180 degrees")]
    LongitudeOutOfRange(f64),
}

/// A validated point on the Earth, in decimal degrees, tagged with its system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinate {
    lat: f64,
    lng: f64,
    system: CoordSystem,
}

impl Coordinate {
    /// Makes a coordinate, rejecting non-finite values and values out of range.
    pub fn new(lat: f64, lng: f64, system: CoordSystem) -> Result<Coordinate, CoordinateError> {
        if !lat.is_finite() || !lng.is_finite() {
            return Err(CoordinateError::NotFinite { lat, lng });
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordinateError::LatitudeOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(CoordinateError::LongitudeOutOfRange(lng));
        }
        Ok(Coordinate { lat, lng, system })
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lng(&self) -> f64 {
        self.lng
    }

    /// The system the point is expressed in.
    pub fn system(&self) -> CoordSystem {
        self.system
    }

    /// The same place in GCJ-02: unchanged for GCJ-02 points and for points outside
    /// China (see [`out_of_china`]), transformed for WGS-84 points inside China.
    pub fn to_gcj02(&self) -> Coordinate {
        match self.system {
            CoordSystem::Gcj02 => *self,
            CoordSystem::Wgs84 => {
                let (lat, lng) = wgs84_to_gcj02(self.lat, self.lng);
                Coordinate {
                    lat,
                    lng,
                    system: CoordSystem::Gcj02,
                }
            }
        }
    }
}

/// The rough rectangle test used by every public GCJ-02 implementation: `true`
/// when the point is outside the box where the offset applies.
pub fn out_of_china(lat: f64, lng: f64) -> bool {
    !(72.004..=137.8347).contains(&lng) || !(0.8293..=55.8271).contains(&lat)
}

/// The public WGS-84 → GCJ-02 transform ("eviltransform"); returns `(lat, lng)`.
/// Points outside China (see [`out_of_china`]) are returned unchanged.
pub fn wgs84_to_gcj02(lat: f64, lng: f64) -> (f64, f64) {
    if out_of_china(lat, lng) {
        return (lat, lng);
    }
    let (d_lat, d_lng) = gcj02_offset(lat, lng);
    (lat + d_lat, lng + d_lng)
}

/// GCJ-02 → WGS-84 (for clients that speak WGS-84, such as Open311): the forward transform
/// has no closed inverse, so it is inverted by fixed-point iteration, which converges to well
/// under a centimetre in a few steps. Returns `(lat, lng)`.
pub fn gcj02_to_wgs84(lat: f64, lng: f64) -> (f64, f64) {
    if out_of_china(lat, lng) {
        return (lat, lng);
    }
    let (mut w_lat, mut w_lng) = (lat, lng);
    for _ in 0..6 {
        let (g_lat, g_lng) = wgs84_to_gcj02(w_lat, w_lng);
        w_lat -= g_lat - lat;
        w_lng -= g_lng - lng;
    }
    (w_lat, w_lng)
}

/// The GCJ-02 offset in degrees `(d_lat, d_lng)` for a WGS-84 point.
fn gcj02_offset(lat: f64, lng: f64) -> (f64, f64) {
    let x = lng - 105.0;
    let y = lat - 35.0;
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = transform_lat(x, y) * 180.0
        / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lng = transform_lng(x, y) * 180.0 / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (d_lat, d_lng)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lng(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// Great-circle (haversine) distance in metres, after converting both points to
/// GCJ-02 so that points given in different systems compare fairly.
pub fn distance_m(a: &Coordinate, b: &Coordinate) -> f64 {
    let a = a.to_gcj02();
    let b = b.to_gcj02();
    Haversine.distance(Point::new(a.lng, a.lat), Point::new(b.lng, b.lat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coord(lat: f64, lng: f64, system: CoordSystem) -> Coordinate {
        Coordinate::new(lat, lng, system).expect("valid test coordinate")
    }

    // Reference vectors published with the eviltransform implementations.
    const VECTORS: [(f64, f64, f64, f64); 3] = [
        (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215), // Shanghai
        (22.543847, 113.912316, 22.540796131694766, 113.9171764808363), // Shenzhen
        (39.911954, 116.377817, 39.91334545536069, 116.38404722455657), // Beijing
    ];

    #[test]
    fn transform_matches_reference_vectors() {
        for (w_lat, w_lng, g_lat, g_lng) in VECTORS {
            let (lat, lng) = wgs84_to_gcj02(w_lat, w_lng);
            assert!((lat - g_lat).abs() < 1e-9, "lat {lat} vs {g_lat}");
            assert!((lng - g_lng).abs() < 1e-9, "lng {lng} vs {g_lng}");
        }
    }

    #[test]
    fn offset_in_china_is_a_few_hundred_metres() {
        for (w_lat, w_lng, _, _) in VECTORS {
            let wgs = coord(w_lat, w_lng, CoordSystem::Wgs84);
            let gcj = wgs.to_gcj02();
            assert_eq!(gcj.system(), CoordSystem::Gcj02);
            let shift = distance_m(&coord(w_lat, w_lng, CoordSystem::Gcj02), &gcj);
            assert!((100.0..800.0).contains(&shift), "shift {shift} m");
        }
    }

    #[test]
    fn points_outside_china_are_unchanged() {
        for (lat, lng) in [
            (48.8566, 2.3522),
            (39.7392, -104.9903),
            (-27.4698, 153.0251),
        ] {
            assert!(out_of_china(lat, lng));
            assert_eq!(wgs84_to_gcj02(lat, lng), (lat, lng));
            let c = coord(lat, lng, CoordSystem::Wgs84).to_gcj02();
            assert_eq!((c.lat(), c.lng()), (lat, lng));
        }
        assert!(!out_of_china(31.2, 121.4));
    }

    #[test]
    fn gcj02_points_are_identity() {
        let c = coord(31.2, 121.4, CoordSystem::Gcj02);
        assert_eq!(c.to_gcj02(), c);
    }

    #[test]
    fn new_rejects_bad_values() {
        let sys = CoordSystem::Gcj02;
        assert!(matches!(
            Coordinate::new(f64::NAN, 121.0, sys),
            Err(CoordinateError::NotFinite { .. })
        ));
        assert!(matches!(
            Coordinate::new(31.0, f64::INFINITY, sys),
            Err(CoordinateError::NotFinite { .. })
        ));
        assert_eq!(
            Coordinate::new(121.4, 31.2, sys),
            Err(CoordinateError::LatitudeOutOfRange(121.4))
        );
        assert_eq!(
            Coordinate::new(31.2, -180.5, sys),
            Err(CoordinateError::LongitudeOutOfRange(-180.5))
        );
        let message = CoordinateError::LatitudeOutOfRange(121.4).to_string();
        assert!(message.contains("between -90 and 90"), "{message}");
    }

    #[test]
    fn new_accepts_the_extremes() {
        for (lat, lng) in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)] {
            let c = coord(lat, lng, CoordSystem::Wgs84);
            assert_eq!((c.lat(), c.lng()), (lat, lng));
        }
    }

    #[test]
    fn distance_is_haversine_metres() {
        let a = coord(31.0, 121.0, CoordSystem::Gcj02);
        let b = coord(32.0, 121.0, CoordSystem::Gcj02);
        let d = distance_m(&a, &b);
        // One degree of latitude is about 111.2 km on the mean sphere.
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(distance_m(&a, &a), 0.0);
    }

    #[test]
    fn distance_converts_systems_first() {
        let (w_lat, w_lng, g_lat, g_lng) = VECTORS[0];
        let wgs = coord(w_lat, w_lng, CoordSystem::Wgs84);
        let gcj = coord(g_lat, g_lng, CoordSystem::Gcj02);
        assert!(distance_m(&wgs, &gcj) < 0.01);
    }

    #[test]
    fn coord_system_serde_and_default() {
        assert_eq!(CoordSystem::default(), CoordSystem::Gcj02);
        let json = serde_json::to_string(&CoordSystem::Wgs84).expect("serializable");
        assert_eq!(json, "\"wgs84\"");
        let back: CoordSystem = serde_json::from_str("\"gcj02\"").expect("valid system");
        assert_eq!(back, CoordSystem::Gcj02);
    }
}

#[cfg(test)]
mod inverse_tests {
    use super::*;

    #[test]
    fn gcj02_to_wgs84_inverts_the_forward_transform_within_a_centimetre() {
        for (lat, lng) in [
            (31.2304, 121.4737),
            (39.9042, 116.4074),
            (22.5431, 114.0579),
        ] {
            let (g_lat, g_lng) = wgs84_to_gcj02(lat, lng);
            let (w_lat, w_lng) = gcj02_to_wgs84(g_lat, g_lng);
            assert!(
                (w_lat - lat).abs() < 1e-7 && (w_lng - lng).abs() < 1e-7,
                "{lat},{lng}"
            );
        }
        assert_eq!(gcj02_to_wgs84(48.85, 2.35), (48.85, 2.35));
    }
}
