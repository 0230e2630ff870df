//! The routing index: which area owns a point.
//!
//! Geometry convention everywhere: geo `x` = longitude, `y` = latitude, GCJ-02.

use std::ops::ControlFlow;

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{BoundingRect, Coord, LineString, MultiPolygon, Rect};
use rstar::{Envelope, PointDistance, RTree, RTreeNode, RTreeObject, AABB};

use super::area::AreaLevel;

/// An area's code, level and boundary, as the routing index needs it.
#[derive(Debug, Clone)]
pub struct AreaShape {
    /// The area's unique code.
    pub code: String,
    /// The area's level in the tree.
    pub level: AreaLevel,
    /// Boundary in GCJ-02, x = lng, y = lat. Holes are excluded from the area.
    pub geometry: MultiPolygon<f64>,
}

/// Where a point lies relative to a closed area.
///
/// The order matters: a greater value is a stronger claim on the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cover {
    Outside,
    OnBoundary,
    Inside,
}

/// Edges per chunk: each chunk keeps its y-range and largest x so that a query
/// reads only the few chunks level with the point.
const CHUNK_EDGES: usize = 8;

/// An R-tree entry: one shape's bounding box, its index and its rings.
#[derive(Debug, Clone)]
struct Entry {
    envelope: AABB<[f64; 2]>,
    shape: u32,
    rings: Rings,
}

/// Where a shape's rings are. Most grids are one ring without holes; keeping
/// that ring's span in the tree entry saves a memory access per candidate.
#[derive(Debug, Clone, Copy)]
enum Rings {
    Single(RingSpan),
    Many { first_ring: u32, end_ring: u32 },
}

/// A ring's vertices and chunk bounds in the index's flat arrays.
#[derive(Debug, Clone, Copy)]
struct RingSpan {
    first_coord: u32,
    end_coord: u32,
    first_chunk: u32,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

impl PointDistance for Entry {
    fn distance_2(&self, point: &[f64; 2]) -> f64 {
        self.envelope.distance_2(point)
    }

    fn contains_point(&self, point: &[f64; 2]) -> bool {
        self.envelope.contains_point(point)
    }
}

/// One ring in the index's flat vertex array. An exterior ring is followed by
/// its `holes` hole rings.
#[derive(Debug, Clone)]
struct Ring {
    bbox: Rect<f64>,
    span: RingSpan,
    holes: u32,
}

/// Bounds of a run of `CHUNK_EDGES` consecutive edges of a ring.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    min_y: f64,
    max_y: f64,
    max_x: f64,
}

/// A spatial index over area polygons that answers "which area owns this point?".
///
/// Built once from all areas (it is immutable; rebuild it after an import).
///
/// # Routing rule
///
/// A shape *covers* a point when the point is inside its closed polygon: the
/// boundary counts, holes are excluded, and a point on a hole's boundary counts
/// as covered. [`RoutingIndex::locate`] returns the code of the deepest-level
/// covering shape (grid, then community, then street, then district). Among the
/// covering shapes of that level:
///
/// 1. a shape that contains the point strictly in its interior wins;
/// 2. otherwise (the point lies on a shared edge or vertex) the shape with the
///    lexicographically smallest code wins.
///
/// So a point on an edge shared by two grids goes to exactly one of them, always
/// the same one. The tests are exact (robust orientation predicates, and a
/// crossing rule that does not depend on an edge's direction), so two neighbours
/// that share an edge's exact coordinates never both claim, nor both miss, a point
/// near that edge. (Two parts of one multipolygon that share an edge, which a
/// valid import rejects, would leave the shared edge as boundary.)
///
/// # Layout
///
/// Vertices of all rings live in one flat array, split into chunks of eight
/// edges with precomputed bounds, and each level has its own R-tree of bounding
/// boxes. A query walks the grid tree first and reads only the chunks level with
/// the point.
#[derive(Debug)]
pub struct RoutingIndex {
    codes: Vec<Box<str>>,
    coords: Vec<Coord<f64>>,
    rings: Vec<Ring>,
    chunks: Vec<Chunk>,
    /// One tree per level, indexed by [`AreaLevel::depth`].
    trees: [RTree<Entry>; 4],
}

impl RoutingIndex {
    /// Builds the index. Shapes with an empty geometry are dropped.
    ///
    /// # Panics
    ///
    /// If the shapes hold more than `u32::MAX` shapes, rings or vertices.
    pub fn build(shapes: Vec<AreaShape>) -> RoutingIndex {
        let (rings, coords) = count_rings_and_coords(&shapes);
        let mut index = RoutingIndex {
            codes: Vec::with_capacity(shapes.len()),
            // A ring may need one more vertex to close it.
            coords: Vec::with_capacity(coords + rings),
            rings: Vec::with_capacity(rings),
            chunks: Vec::with_capacity(coords / CHUNK_EDGES + rings),
            trees: Default::default(),
        };
        let mut per_level: [Vec<Entry>; 4] = Default::default();
        for shape in shapes {
            let Some(rect) = shape.geometry.bounding_rect() else {
                continue;
            };
            let first_ring = to_u32(index.rings.len());
            for polygon in &shape.geometry.0 {
                index.push_polygon(polygon.exterior(), polygon.interiors());
            }
            let end_ring = to_u32(index.rings.len());
            let rings = match &index.rings[first_ring as usize..] {
                [only] => Rings::Single(only.span),
                _ => Rings::Many {
                    first_ring,
                    end_ring,
                },
            };
            per_level[usize::from(shape.level.depth())].push(Entry {
                envelope: rect_to_aabb(rect),
                shape: to_u32(index.codes.len()),
                rings,
            });
            index.codes.push(shape.code.into_boxed_str());
        }
        index.coords.shrink_to_fit();
        index.rings.shrink_to_fit();
        index.chunks.shrink_to_fit();
        index.trees = per_level.map(RTree::bulk_load);
        index
    }

    /// The code of the area that owns the point (see the routing rule on
    /// [`RoutingIndex`]), or `None` when no area covers it or the input is not finite.
    pub fn locate(&self, lng: f64, lat: f64) -> Option<&str> {
        if !lng.is_finite() || !lat.is_finite() {
            return None;
        }
        let point = Coord { x: lng, y: lat };
        // Deepest level first: the first level with a covering shape decides.
        self.trees
            .iter()
            .rev()
            .find_map(|tree| self.best_in_level(tree, point))
            .map(|shape| self.code(shape))
    }

    /// The grid whose bounding box is nearest to the point (distance in degrees;
    /// ties go to the smallest code). Meant for points that [`RoutingIndex::locate`]
    /// puts in no area, so the caller can route to that grid's district.
    pub fn nearest_grid(&self, lng: f64, lat: f64) -> Option<&str> {
        if !lng.is_finite() || !lat.is_finite() {
            return None;
        }
        let tree = &self.trees[usize::from(AreaLevel::Grid.depth())];
        let mut nearest = tree.nearest_neighbor_iter_with_distance_2(&[lng, lat]);
        let (first, best_distance) = nearest.next()?;
        let mut best = self.code(first.shape);
        for (entry, distance) in nearest {
            if distance > best_distance {
                break;
            }
            best = best.min(self.code(entry.shape));
        }
        Some(best)
    }

    /// Number of indexed shapes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether no shape is indexed.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// A rough estimate of the memory the index holds: vertices at 16 bytes each,
    /// ring and chunk records, codes and R-tree nodes.
    pub fn approx_memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let codes: usize = self
            .codes
            .iter()
            .map(|c| c.len() + size_of::<Box<str>>())
            .sum();
        let entries: usize = self.trees.iter().map(RTree::size).sum();
        // Bulk loading fills nodes with up to six children; parents add about a fifth.
        let tree = entries * size_of::<RTreeNode<Entry>>() * 6 / 5;
        size_of::<Self>()
            + codes
            + self.coords.capacity() * size_of::<Coord<f64>>()
            + self.rings.capacity() * size_of::<Ring>()
            + self.chunks.capacity() * size_of::<Chunk>()
            + tree
    }

    fn code(&self, shape: u32) -> &str {
        &self.codes[shape as usize]
    }

    /// Appends one polygon's rings; an empty exterior drops the polygon and empty
    /// holes are skipped.
    fn push_polygon(&mut self, exterior: &LineString<f64>, holes: &[LineString<f64>]) {
        let holes: Vec<&LineString<f64>> = holes.iter().filter(|h| !h.0.is_empty()).collect();
        if exterior.0.is_empty() {
            return;
        }
        self.push_ring(exterior, to_u32(holes.len()));
        for hole in holes {
            self.push_ring(hole, 0);
        }
    }

    fn push_ring(&mut self, ring: &LineString<f64>, holes: u32) {
        let Some(bbox) = ring.bounding_rect() else {
            return;
        };
        let first_coord = self.coords.len();
        self.coords.extend_from_slice(&ring.0);
        if ring.0.first() != ring.0.last() {
            self.coords.push(ring.0[0]);
        }
        let first_chunk = to_u32(self.chunks.len());
        let edges = self.coords.len() - first_coord - 1;
        for start in (0..edges).step_by(CHUNK_EDGES) {
            let end = (start + CHUNK_EDGES).min(edges);
            let run = &self.coords[first_coord + start..=first_coord + end];
            self.chunks.push(chunk_bounds(run));
        }
        self.rings.push(Ring {
            bbox,
            span: RingSpan {
                first_coord: to_u32(first_coord),
                end_coord: to_u32(self.coords.len()),
                first_chunk,
            },
            holes,
        });
    }

    /// The best covering shape of one level, by the routing rule.
    fn best_in_level(&self, tree: &RTree<Entry>, point: Coord<f64>) -> Option<u32> {
        let mut best: Option<(Cover, u32)> = None;
        // Internal iteration: much faster than rstar's iterator, which pushes every
        // child of a visited node on a stack before looking at its box.
        let _: ControlFlow<()> = tree.locate_all_at_point_int(&[point.x, point.y], |entry| {
            let cover = self.shape_cover(entry, point);
            let wins = match best {
                _ if cover == Cover::Outside => false,
                None => true,
                Some((best_cover, best_shape)) => outranks(
                    (cover, self.code(entry.shape)),
                    (best_cover, self.code(best_shape)),
                ),
            };
            if wins {
                best = Some((cover, entry.shape));
            }
            ControlFlow::Continue(())
        });
        best.map(|(_, shape)| shape)
    }

    /// [`multipolygon_cover`] on the flat layout, skipping rings and chunks by
    /// their bounds.
    fn shape_cover(&self, entry: &Entry, p: Coord<f64>) -> Cover {
        let (first_ring, end_ring) = match entry.rings {
            // The entry's box is the ring's box, and the tree has checked it.
            Rings::Single(span) => return self.ring_cover(span, p),
            Rings::Many {
                first_ring,
                end_ring,
            } => (first_ring as usize, end_ring as usize),
        };
        let rings = &self.rings[first_ring..end_ring];
        let mut cover = Cover::Outside;
        let mut r = 0;
        while r < rings.len() {
            let exterior = &rings[r];
            let holes = &rings[r + 1..r + 1 + exterior.holes as usize];
            r += 1 + holes.len();
            if !rect_has(exterior.bbox, p) {
                continue;
            }
            let mut here = self.ring_cover(exterior.span, p);
            if here == Cover::Inside {
                for hole in holes.iter().filter(|h| rect_has(h.bbox, p)) {
                    here = carve_hole(here, self.ring_cover(hole.span, p));
                }
            }
            cover = cover.max(here);
            if cover == Cover::Inside {
                break;
            }
        }
        cover
    }

    /// [`ring_cover`] reading only the chunks that can matter.
    fn ring_cover(&self, ring: RingSpan, p: Coord<f64>) -> Cover {
        let coords = &self.coords[ring.first_coord as usize..ring.end_coord as usize];
        let edges = coords.len() - 1;
        let first_chunk = ring.first_chunk as usize;
        let chunks = &self.chunks[first_chunk..first_chunk + edges.div_ceil(CHUNK_EDGES)];
        let mut inside = false;
        for (c, bounds) in chunks.iter().enumerate() {
            // Edges above, below or wholly left of the point cannot meet its ray.
            if p.y < bounds.min_y || p.y > bounds.max_y || p.x > bounds.max_x {
                continue;
            }
            let start = c * CHUNK_EDGES;
            let end = (start + CHUNK_EDGES).min(edges);
            for w in coords[start..=end].windows(2) {
                match edge_test(w[0], w[1], p) {
                    EdgeTest::Miss => {}
                    EdgeTest::Crosses => inside = !inside,
                    EdgeTest::OnEdge => return Cover::OnBoundary,
                }
            }
        }
        if inside {
            Cover::Inside
        } else {
            Cover::Outside
        }
    }
}

/// The routing rule of [`RoutingIndex::locate`], checking every shape without an
/// index. The baseline for benchmarks and the oracle for tests.
pub fn linear_scan_locate(shapes: &[AreaShape], lng: f64, lat: f64) -> Option<&str> {
    if !lng.is_finite() || !lat.is_finite() {
        return None;
    }
    let point = Coord { x: lng, y: lat };
    let mut best: Option<(u8, Cover, &AreaShape)> = None;
    for shape in shapes {
        let cover = multipolygon_cover(&shape.geometry, point);
        if cover == Cover::Outside {
            continue;
        }
        let depth = shape.level.depth();
        let wins = match best {
            None => true,
            Some((best_depth, best_cover, best_shape)) => {
                depth > best_depth
                    || (depth == best_depth
                        && outranks((cover, &shape.code), (best_cover, &best_shape.code)))
            }
        };
        if wins {
            best = Some((depth, cover, shape));
        }
    }
    best.map(|(_, _, shape)| shape.code.as_str())
}

/// Within one level: interior beats boundary, then the smaller code wins.
fn outranks(candidate: (Cover, &str), incumbent: (Cover, &str)) -> bool {
    candidate.0 > incumbent.0 || (candidate.0 == incumbent.0 && candidate.1 < incumbent.1)
}

fn count_rings_and_coords(shapes: &[AreaShape]) -> (usize, usize) {
    shapes
        .iter()
        .flat_map(|shape| &shape.geometry.0)
        .flat_map(|polygon| std::iter::once(polygon.exterior()).chain(polygon.interiors()))
        .fold((0, 0), |(rings, coords), ring| {
            (rings + 1, coords + ring.0.len())
        })
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("routing index holds fewer than 2^32 shapes, rings and vertices")
}

fn rect_to_aabb(rect: Rect<f64>) -> AABB<[f64; 2]> {
    AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y])
}

fn chunk_bounds(run: &[Coord<f64>]) -> Chunk {
    run.iter().fold(
        Chunk {
            min_y: f64::INFINITY,
            max_y: f64::NEG_INFINITY,
            max_x: f64::NEG_INFINITY,
        },
        |b, c| Chunk {
            min_y: b.min_y.min(c.y),
            max_y: b.max_y.max(c.y),
            max_x: b.max_x.max(c.x),
        },
    )
}

fn rect_has(r: Rect<f64>, p: Coord<f64>) -> bool {
    p.x >= r.min().x && p.x <= r.max().x && p.y >= r.min().y && p.y <= r.max().y
}

/// Where the point lies relative to a multipolygon: the strongest claim of its parts.
fn multipolygon_cover(geometry: &MultiPolygon<f64>, p: Coord<f64>) -> Cover {
    let mut cover = Cover::Outside;
    for polygon in &geometry.0 {
        let mut here = ring_cover(&polygon.exterior().0, p);
        if here == Cover::Inside {
            for hole in polygon.interiors().iter().filter(|h| !h.0.is_empty()) {
                here = carve_hole(here, ring_cover(&hole.0, p));
            }
        }
        cover = cover.max(here);
        if cover == Cover::Inside {
            break;
        }
    }
    cover
}

/// Applies one hole to a point found inside the exterior ring.
fn carve_hole(current: Cover, in_hole: Cover) -> Cover {
    match in_hole {
        Cover::Inside => Cover::Outside,
        // The hole's boundary belongs to the closed polygon.
        Cover::OnBoundary => current.min(Cover::OnBoundary),
        Cover::Outside => current,
    }
}

/// Exact point-in-ring test (crossing number with a half-open rule).
///
/// Each edge is oriented bottom-up before testing, so the outcome for an edge does
/// not depend on its direction: neighbours sharing an edge agree on it exactly.
/// An unclosed ring is treated as closed.
fn ring_cover(ring: &[Coord<f64>], p: Coord<f64>) -> Cover {
    let mut inside = false;
    let closing = match (ring.first(), ring.last()) {
        (Some(&first), Some(&last)) if first != last => Some((last, first)),
        _ => None,
    };
    let edges = ring.windows(2).map(|w| (w[0], w[1]));
    for (a, b) in edges.chain(closing) {
        match edge_test(a, b, p) {
            EdgeTest::Miss => {}
            EdgeTest::Crosses => inside = !inside,
            EdgeTest::OnEdge => return Cover::OnBoundary,
        }
    }
    if inside {
        Cover::Inside
    } else {
        Cover::Outside
    }
}

enum EdgeTest {
    Miss,
    Crosses,
    OnEdge,
}

/// Tests one edge against a ray from `p` towards +x.
#[inline]
fn edge_test(a: Coord<f64>, b: Coord<f64>, p: Coord<f64>) -> EdgeTest {
    let (lo, hi) = if a.y <= b.y { (a, b) } else { (b, a) };
    if p.y < lo.y || p.y > hi.y {
        return EdgeTest::Miss;
    }
    let (min_x, max_x) = if lo.x <= hi.x {
        (lo.x, hi.x)
    } else {
        (hi.x, lo.x)
    };
    if p.x > max_x {
        return EdgeTest::Miss;
    }
    if lo.y == hi.y {
        return if p.x >= min_x {
            EdgeTest::OnEdge
        } else {
            EdgeTest::Miss
        };
    }
    // Half-open in y: an edge counts for lo.y <= p.y < hi.y, so a ray through a
    // vertex is counted once.
    let counts = p.y < hi.y;
    if p.x < min_x {
        return if counts {
            EdgeTest::Crosses
        } else {
            EdgeTest::Miss
        };
    }
    match RobustKernel::orient2d(lo, hi, p) {
        Orientation::Collinear => EdgeTest::OnEdge,
        Orientation::CounterClockwise if counts => EdgeTest::Crosses,
        _ => EdgeTest::Miss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::coordinate_position::CoordPos;
    use geo::{polygon, CoordinatePosition, Polygon};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn square(x0: f64, y0: f64, size: f64) -> Polygon<f64> {
        polygon![
            (x: x0, y: y0),
            (x: x0 + size, y: y0),
            (x: x0 + size, y: y0 + size),
            (x: x0, y: y0 + size),
        ]
    }

    fn shape(code: &str, level: AreaLevel, polygons: Vec<Polygon<f64>>) -> AreaShape {
        AreaShape {
            code: code.to_string(),
            level,
            geometry: MultiPolygon(polygons),
        }
    }

    /// A 2×2 block of unit grids inside one community covering all four, with the
    /// grid codes deliberately not in the order of their positions.
    fn block() -> Vec<AreaShape> {
        vec![
            shape("G-D", AreaLevel::Grid, vec![square(0.0, 0.0, 1.0)]),
            shape("G-B", AreaLevel::Grid, vec![square(1.0, 0.0, 1.0)]),
            shape("G-C", AreaLevel::Grid, vec![square(0.0, 1.0, 1.0)]),
            shape("G-A", AreaLevel::Grid, vec![square(1.0, 1.0, 1.0)]),
            shape("C-1", AreaLevel::Community, vec![square(0.0, 0.0, 2.0)]),
            shape("D-1", AreaLevel::District, vec![square(-5.0, -5.0, 10.0)]),
        ]
    }

    fn check_both(shapes: &[AreaShape], lng: f64, lat: f64) -> Option<String> {
        let index = RoutingIndex::build(shapes.to_vec());
        let indexed = index.locate(lng, lat).map(str::to_string);
        let scanned = linear_scan_locate(shapes, lng, lat).map(str::to_string);
        assert_eq!(
            indexed, scanned,
            "index and scan disagree at ({lng}, {lat})"
        );
        indexed
    }

    #[test]
    fn inside_goes_to_the_grid() {
        let shapes = block();
        assert_eq!(check_both(&shapes, 0.5, 0.5).as_deref(), Some("G-D"));
        assert_eq!(check_both(&shapes, 1.5, 1.5).as_deref(), Some("G-A"));
    }

    #[test]
    fn grid_preferred_over_its_community_and_district() {
        let shapes = block();
        assert_eq!(check_both(&shapes, 1.25, 0.75).as_deref(), Some("G-B"));
        // Outside the community, inside the district.
        assert_eq!(check_both(&shapes, 3.0, 3.0).as_deref(), Some("D-1"));
    }

    #[test]
    fn outside_everything_is_none() {
        let shapes = block();
        assert_eq!(check_both(&shapes, 50.0, 50.0), None);
        let index = RoutingIndex::build(shapes);
        assert_eq!(index.locate(f64::NAN, 0.5), None);
    }

    #[test]
    fn shared_edge_goes_to_exactly_one_grid_every_time() {
        let shapes = block();
        // On the vertical edge between G-D (left) and G-B (right).
        for _ in 0..3 {
            assert_eq!(check_both(&shapes, 1.0, 0.5).as_deref(), Some("G-B"));
        }
        // On the horizontal edge between G-D (below) and G-C (above).
        assert_eq!(check_both(&shapes, 0.5, 1.0).as_deref(), Some("G-C"));
        // A hair to either side goes to the grid on that side.
        assert_eq!(
            check_both(&shapes, 1.0 - 1e-12, 0.5).as_deref(),
            Some("G-D")
        );
        assert_eq!(
            check_both(&shapes, 1.0 + 1e-12, 0.5).as_deref(),
            Some("G-B")
        );
    }

    #[test]
    fn shared_vertex_goes_to_the_smallest_code() {
        let shapes = block();
        for _ in 0..3 {
            assert_eq!(check_both(&shapes, 1.0, 1.0).as_deref(), Some("G-A"));
        }
        // The outer corner of the block belongs to one grid only.
        assert_eq!(check_both(&shapes, 0.0, 0.0).as_deref(), Some("G-D"));
    }

    #[test]
    fn shuffled_input_gives_the_same_answers() {
        let mut shapes = block();
        let before: Vec<_> = [(1.0, 0.5), (1.0, 1.0), (0.5, 1.0), (2.0, 2.0)]
            .iter()
            .map(|&(x, y)| check_both(&shapes, x, y))
            .collect();
        shapes.reverse();
        let after: Vec<_> = [(1.0, 0.5), (1.0, 1.0), (0.5, 1.0), (2.0, 2.0)]
            .iter()
            .map(|&(x, y)| check_both(&shapes, x, y))
            .collect();
        assert_eq!(before, after);
    }

    fn donut() -> Polygon<f64> {
        Polygon::new(
            LineString::from(vec![(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)]),
            vec![LineString::from(vec![
                (1.0, 1.0),
                (3.0, 1.0),
                (3.0, 3.0),
                (1.0, 3.0),
            ])],
        )
    }

    #[test]
    fn holes_are_excluded_but_their_boundary_is_covered() {
        let shapes = vec![
            shape("G-RING", AreaLevel::Grid, vec![donut()]),
            shape("C-1", AreaLevel::Community, vec![square(-1.0, -1.0, 6.0)]),
        ];
        assert_eq!(check_both(&shapes, 0.5, 0.5).as_deref(), Some("G-RING"));
        assert_eq!(check_both(&shapes, 2.0, 2.0).as_deref(), Some("C-1"));
        assert_eq!(check_both(&shapes, 1.0, 2.0).as_deref(), Some("G-RING"));
        assert_eq!(check_both(&shapes, 3.0, 3.0).as_deref(), Some("G-RING"));
    }

    #[test]
    fn island_in_a_hole_wins_inside_the_hole() {
        let shapes = vec![
            shape("G-B-RING", AreaLevel::Grid, vec![donut()]),
            shape("G-A-ISLAND", AreaLevel::Grid, vec![square(1.0, 1.0, 2.0)]),
        ];
        assert_eq!(check_both(&shapes, 2.0, 2.0).as_deref(), Some("G-A-ISLAND"));
        // The hole's edge is shared: the smaller code takes it.
        assert_eq!(check_both(&shapes, 1.0, 2.0).as_deref(), Some("G-A-ISLAND"));
        assert_eq!(check_both(&shapes, 0.5, 2.0).as_deref(), Some("G-B-RING"));
    }

    #[test]
    fn multipolygon_parts_all_count() {
        let shapes = vec![
            shape(
                "G-TWO",
                AreaLevel::Grid,
                vec![square(0.0, 0.0, 1.0), square(5.0, 5.0, 1.0)],
            ),
            shape("G-MID", AreaLevel::Grid, vec![square(2.0, 2.0, 1.0)]),
        ];
        assert_eq!(check_both(&shapes, 0.5, 0.5).as_deref(), Some("G-TWO"));
        assert_eq!(check_both(&shapes, 5.5, 5.5).as_deref(), Some("G-TWO"));
        assert_eq!(check_both(&shapes, 2.5, 2.5).as_deref(), Some("G-MID"));
        // Inside the multipolygon's bounding box but in neither part.
        assert_eq!(check_both(&shapes, 4.0, 1.0), None);
    }

    #[test]
    fn non_convex_ring_and_vertex_rays() {
        // A "W" shape whose horizontal rays pass exactly through vertices.
        let w = polygon![
            (x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 2.0), (x: 3.0, y: 1.0),
            (x: 2.0, y: 2.0), (x: 1.0, y: 1.0), (x: 0.0, y: 2.0),
        ];
        let shapes = vec![shape("G-W", AreaLevel::Grid, vec![w.clone()])];
        for &(x, y) in &[
            (0.5, 1.0),
            (2.0, 1.0),
            (3.5, 1.0),
            (2.0, 1.5),
            (-1.0, 1.0),
            (2.0, 2.0),
        ] {
            let expected = match w.coordinate_position(&Coord { x, y }) {
                CoordPos::Outside => None,
                _ => Some("G-W".to_string()),
            };
            assert_eq!(check_both(&shapes, x, y), expected, "at ({x}, {y})");
        }
    }

    #[test]
    fn ring_cover_agrees_with_geo_on_random_points() {
        let city = super::super::synth::synthetic_city(30, 7);
        let mut rng = StdRng::seed_from_u64(11);
        for shape in &city {
            let polygon = &shape.geometry.0[0];
            let rect = polygon.bounding_rect().expect("non-empty polygon");
            for _ in 0..200 {
                let p = Coord {
                    x: rng.gen_range(rect.min().x..=rect.max().x),
                    y: rng.gen_range(rect.min().y..=rect.max().y),
                };
                let expected = match polygon.coordinate_position(&p) {
                    CoordPos::Inside => Cover::Inside,
                    CoordPos::OnBoundary => Cover::OnBoundary,
                    CoordPos::Outside => Cover::Outside,
                };
                assert_eq!(multipolygon_cover(&shape.geometry, p), expected);
            }
            // Every vertex is on the boundary.
            for &v in &polygon.exterior().0 {
                assert_eq!(multipolygon_cover(&shape.geometry, v), Cover::OnBoundary);
            }
        }
    }

    #[test]
    fn index_agrees_with_linear_scan_on_a_synthetic_city() {
        let city = super::super::synth::synthetic_city(400, 3);
        let index = RoutingIndex::build(city.clone());
        let rect = bbox(&city);
        let mut rng = StdRng::seed_from_u64(5);
        let mut located = 0;
        for _ in 0..3_000 {
            let (x, y) = (
                rng.gen_range(rect.min().x..=rect.max().x),
                rng.gen_range(rect.min().y..=rect.max().y),
            );
            let indexed = index.locate(x, y);
            assert_eq!(indexed, linear_scan_locate(&city, x, y), "at ({x}, {y})");
            located += usize::from(indexed.is_some());
        }
        assert!(located > 2_500, "most points fall in a grid: {located}");
    }

    #[test]
    fn every_vertex_of_a_synthetic_city_goes_to_exactly_one_grid() {
        let city = super::super::synth::synthetic_city(100, 9);
        let index = RoutingIndex::build(city.clone());
        for shape in &city {
            for &v in &shape.geometry.0[0].exterior().0 {
                let owners: Vec<&str> = city
                    .iter()
                    .filter(|s| multipolygon_cover(&s.geometry, v) != Cover::Outside)
                    .map(|s| s.code.as_str())
                    .collect();
                let smallest = owners.iter().min().copied();
                assert!(owners.contains(&shape.code.as_str()));
                assert_eq!(index.locate(v.x, v.y), smallest, "vertex {v:?}");
            }
        }
    }

    #[test]
    fn points_on_and_near_shared_edges_have_exactly_one_owner() {
        // Points interpolated along edges land exactly on them or a rounding error
        // to one side; either way no two grids may both claim the interior, and
        // inside the city no point may fall between grids.
        let city = super::super::synth::synthetic_city(64, 12);
        let index = RoutingIndex::build(city.clone());
        let key = |a: Coord<f64>, b: Coord<f64>| [a.x, a.y, b.x, b.y].map(f64::to_bits);
        let directed: std::collections::HashSet<[u64; 4]> = city
            .iter()
            .flat_map(|s| s.geometry.0[0].exterior().lines())
            .map(|l| key(l.start, l.end))
            .collect();
        let mut rng = StdRng::seed_from_u64(13);
        for shape in &city {
            let lines = shape.geometry.0[0].exterior().lines();
            // Only edges seen from both sides; the city's outline has nothing beyond it.
            for line in lines.filter(|l| directed.contains(&key(l.end, l.start))) {
                let t: f64 = rng.gen_range(0.0..1.0);
                let p = line.start + (line.end - line.start) * t;
                let covers: Vec<Cover> = city
                    .iter()
                    .map(|s| multipolygon_cover(&s.geometry, p))
                    .filter(|c| *c != Cover::Outside)
                    .collect();
                let inside = covers.iter().filter(|c| **c == Cover::Inside).count();
                assert!(!covers.is_empty(), "{p:?} falls between grids");
                assert!(inside <= 1, "{p:?} is inside {inside} grids");
                if inside == 1 {
                    assert_eq!(covers.len(), 1, "{p:?} inside one grid, on another's edge");
                }
                assert_eq!(index.locate(p.x, p.y), linear_scan_locate(&city, p.x, p.y));
            }
        }
    }

    #[test]
    fn nearest_grid_finds_the_closest_box() {
        let index = RoutingIndex::build(block());
        assert_eq!(index.nearest_grid(2.5, 0.5), Some("G-B"));
        assert_eq!(index.nearest_grid(-3.0, 1.5), Some("G-C"));
        // Equally near the two left grids' boxes: the smaller code.
        assert_eq!(index.nearest_grid(-3.0, 1.0), Some("G-C"));
        assert_eq!(RoutingIndex::build(Vec::new()).nearest_grid(0.0, 0.0), None);
    }

    #[test]
    fn len_memory_and_empty_shapes() {
        let mut shapes = block();
        shapes.push(shape("G-EMPTY", AreaLevel::Grid, vec![]));
        let index = RoutingIndex::build(shapes);
        assert_eq!(index.len(), 6);
        assert!(!index.is_empty());
        // 6 rings of 5 vertices at 16 bytes is the floor.
        assert!(index.approx_memory_bytes() > 6 * 5 * 16);
        assert!(RoutingIndex::build(Vec::new()).is_empty());
    }

    fn bbox(shapes: &[AreaShape]) -> Rect<f64> {
        shapes
            .iter()
            .filter_map(|s| s.geometry.bounding_rect())
            .reduce(|a, b| {
                Rect::new(
                    Coord {
                        x: a.min().x.min(b.min().x),
                        y: a.min().y.min(b.min().y),
                    },
                    Coord {
                        x: a.max().x.max(b.max().x),
                        y: a.max().y.max(b.max().y),
                    },
                )
            })
            .expect("non-empty city")
    }
}
