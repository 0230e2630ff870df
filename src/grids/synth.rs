//! A synthetic city of grid polygons for tests and benchmarks.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::area::AreaLevel;
use super::locate::AreaShape;

/// Centre of the synthetic city, GCJ-02 (central Shanghai).
const CENTRE_LNG: f64 = 121.4;
const CENTRE_LAT: f64 = 31.2;
/// Nominal lattice spacing; node jitter makes cells about 300–500 m across.
const CELL_M: f64 = 400.0;
/// Node jitter as a fraction of the cell size, in each axis.
const NODE_JITTER: f64 = 0.12;
/// Largest sideways wiggle of an edge's inner points, as a fraction of its length.
const EDGE_WIGGLE: f64 = 0.08;
/// Inner points per lattice edge; four edges give 20–200 vertices per grid.
const MIN_EDGE_POINTS: usize = 4;
const MAX_EDGE_POINTS: usize = 49;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

/// Kinds of lattice element, mixed into the per-element seed.
const NODE: u64 = 1;
const HORIZONTAL: u64 = 2;
const VERTICAL: u64 = 3;

/// Makes `grids` grid polygons tessellating a roughly square area around Shanghai.
///
/// The grids are the cells of a jittered lattice, row by row, coded `G000000`,
/// `G000001`, …. Every lattice edge is subdivided into 4–49 wiggly points drawn
/// from a generator seeded by the edge's own key, so neighbours share their common
/// edge exactly, point for point. Each polygon has 20–200 distinct vertices and
/// is valid (simple, counter-clockwise). The same seed gives the same city.
pub fn synthetic_city(grids: usize, seed: u64) -> Vec<AreaShape> {
    if grids == 0 {
        return Vec::new();
    }
    let lattice = Lattice::new(grids, seed);
    (0..grids)
        .map(|index| AreaShape {
            code: format!("G{index:06}"),
            level: AreaLevel::Grid,
            geometry: MultiPolygon(vec![
                lattice.cell(index % lattice.cols, index / lattice.cols)
            ]),
        })
        .collect()
}

/// Node positions and edge points of the jittered lattice.
struct Lattice {
    cols: usize,
    rows: usize,
    nodes: Vec<Coord<f64>>,
    /// Inner points of the edge from node (i, j) to (i + 1, j), left to right.
    horizontal: Vec<Vec<Coord<f64>>>,
    /// Inner points of the edge from node (i, j) to (i, j + 1), bottom to top.
    vertical: Vec<Vec<Coord<f64>>>,
}

impl Lattice {
    fn new(grids: usize, seed: u64) -> Lattice {
        let cols = (grids as f64).sqrt().ceil() as usize;
        let rows = grids.div_ceil(cols);
        let cell_lat = CELL_M / METRES_PER_DEGREE_LAT;
        let cell_lng = cell_lat / CENTRE_LAT.to_radians().cos();
        let origin = Coord {
            x: CENTRE_LNG - cols as f64 * cell_lng / 2.0,
            y: CENTRE_LAT - rows as f64 * cell_lat / 2.0,
        };
        let mut nodes = Vec::with_capacity((cols + 1) * (rows + 1));
        for j in 0..=rows {
            for i in 0..=cols {
                let mut rng = element_rng(seed, NODE, i, j);
                nodes.push(Coord {
                    x: origin.x + (i as f64 + jitter(&mut rng)) * cell_lng,
                    y: origin.y + (j as f64 + jitter(&mut rng)) * cell_lat,
                });
            }
        }
        let mut lattice = Lattice {
            cols,
            rows,
            nodes,
            horizontal: Vec::with_capacity(cols * (rows + 1)),
            vertical: Vec::with_capacity((cols + 1) * rows),
        };
        for j in 0..=rows {
            for i in 0..cols {
                let (a, b) = (lattice.node(i, j), lattice.node(i + 1, j));
                let points = edge_points(a, b, &mut element_rng(seed, HORIZONTAL, i, j));
                lattice.horizontal.push(points);
            }
        }
        for j in 0..rows {
            for i in 0..=cols {
                let (a, b) = (lattice.node(i, j), lattice.node(i, j + 1));
                let points = edge_points(a, b, &mut element_rng(seed, VERTICAL, i, j));
                lattice.vertical.push(points);
            }
        }
        lattice
    }

    fn node(&self, i: usize, j: usize) -> Coord<f64> {
        self.nodes[j * (self.cols + 1) + i]
    }

    fn horizontal(&self, i: usize, j: usize) -> &[Coord<f64>] {
        &self.horizontal[j * self.cols + i]
    }

    fn vertical(&self, i: usize, j: usize) -> &[Coord<f64>] {
        &self.vertical[j * (self.cols + 1) + i]
    }

    /// The cell with lower-left node (i, j), as a counter-clockwise polygon.
    fn cell(&self, i: usize, j: usize) -> Polygon<f64> {
        debug_assert!(i < self.cols && j < self.rows);
        let mut ring = Vec::with_capacity(4 + 4 * MAX_EDGE_POINTS + 1);
        ring.push(self.node(i, j));
        ring.extend_from_slice(self.horizontal(i, j));
        ring.push(self.node(i + 1, j));
        ring.extend_from_slice(self.vertical(i + 1, j));
        ring.push(self.node(i + 1, j + 1));
        ring.extend(self.horizontal(i, j + 1).iter().rev());
        ring.push(self.node(i, j + 1));
        ring.extend(self.vertical(i, j).iter().rev());
        // Polygon::new closes the ring.
        Polygon::new(LineString(ring), Vec::new())
    }
}

/// A generator seeded by one lattice element, so the element looks the same
/// whichever cell asks for it.
fn element_rng(seed: u64, kind: u64, i: usize, j: usize) -> StdRng {
    let key = splitmix(splitmix(splitmix(seed ^ kind) ^ i as u64) ^ j as u64);
    StdRng::seed_from_u64(key)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn jitter(rng: &mut StdRng) -> f64 {
    rng.gen_range(-NODE_JITTER..=NODE_JITTER)
}

/// Inner points of the edge a → b: strictly increasing along the edge, wiggling
/// sideways by at most `EDGE_WIGGLE · sin(πt)` of its length, so the edge stays a
/// simple path that leaves its end nodes at a shallow angle.
fn edge_points(a: Coord<f64>, b: Coord<f64>, rng: &mut StdRng) -> Vec<Coord<f64>> {
    let count = rng.gen_range(MIN_EDGE_POINTS..=MAX_EDGE_POINTS);
    let d = b - a;
    let normal = Coord { x: -d.y, y: d.x };
    (1..=count)
        .map(|m| {
            let t = (m as f64 + rng.gen_range(-0.3..=0.3)) / (count + 1) as f64;
            let side = EDGE_WIGGLE * (std::f64::consts::PI * t).sin() * rng.gen_range(-1.0..=1.0);
            a + d * t + normal * side
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{BoundingRect, Distance, Haversine, Point, Validation};
    use std::collections::HashMap;

    #[test]
    fn same_seed_same_city_other_seed_other_city() {
        let a = synthetic_city(50, 1);
        let b = synthetic_city(50, 1);
        let c = synthetic_city(50, 2);
        assert_eq!(a.len(), 50);
        assert!(a.iter().zip(&b).all(|(x, y)| x.geometry == y.geometry));
        assert!(a.iter().zip(&c).any(|(x, y)| x.geometry != y.geometry));
        assert_eq!(a[0].code, "G000000");
        assert_eq!(a[49].code, "G000049");
        assert!(a.iter().all(|s| s.level == AreaLevel::Grid));
        assert!(synthetic_city(0, 1).is_empty());
    }

    #[test]
    fn polygons_are_valid_with_20_to_200_vertices() {
        for shape in synthetic_city(120, 4) {
            assert!(shape.geometry.is_valid(), "{} invalid", shape.code);
            let ring = shape.geometry.0[0].exterior();
            let distinct = ring.0.len() - 1;
            assert!((20..=200).contains(&distinct), "{distinct} vertices");
        }
    }

    #[test]
    fn grids_are_300_to_500_metres_across_around_shanghai() {
        for shape in synthetic_city(60, 5) {
            let rect = shape.geometry.bounding_rect().expect("non-empty");
            let (min, max) = (rect.min(), rect.max());
            let width = Haversine.distance(Point::new(min.x, min.y), Point::new(max.x, min.y));
            let height = Haversine.distance(Point::new(min.x, min.y), Point::new(min.x, max.y));
            for extent in [width, height] {
                assert!((250.0..650.0).contains(&extent), "{extent} m");
            }
            assert!((121.3..121.5).contains(&min.x) && (31.1..31.3).contains(&min.y));
        }
    }

    #[test]
    fn shared_edges_are_shared_exactly() {
        // Every directed edge must appear reversed in exactly one neighbour,
        // except on the city's outline.
        let city = synthetic_city(25, 6);
        let mut count: HashMap<[u64; 4], usize> = HashMap::new();
        for shape in &city {
            for line in shape.geometry.0[0].exterior().lines() {
                let key = [
                    line.start.x.to_bits(),
                    line.start.y.to_bits(),
                    line.end.x.to_bits(),
                    line.end.y.to_bits(),
                ];
                *count.entry(key).or_default() += 1;
            }
        }
        let mut shared = 0;
        for (key, n) in &count {
            assert_eq!(*n, 1, "a directed edge is used twice");
            if count.contains_key(&[key[2], key[3], key[0], key[1]]) {
                shared += 1;
            }
        }
        // A 5×5 block has 40 interior lattice edges, each seen from both sides.
        assert!(shared > 2 * 40 * 4, "{shared} shared segments");
    }
}
