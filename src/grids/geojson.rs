//! Parsing and validating a GeoJSON import of areas.
//!
//! The import is all-or-nothing: [`parse_feature_collection`] either returns every
//! feature or every problem it found, never a part. A file is read feature by feature
//! ([`stream_feature_collection`] + [`TreeCheck`]), so the whole document is never in memory.
//!
//! Each feature carries `properties.code`, `properties.name`, `properties.level`
//! (`district`, `street`, `community` or `grid`) and, below district,
//! `properties.parent_code`. Geometry is a GCJ-02 `Polygon` or `MultiPolygon`
//! (`[lng, lat]` positions); it is required for grids and optional above.

use std::collections::{HashMap, HashSet};

use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::line_intersection::line_intersection;
use geo::{
    BoundingRect, Coord, Intersects, Line, LineIntersection, LineString, MultiPolygon, Polygon,
    Relate,
};
use rstar::{RTree, RTreeObject, AABB};
use serde::Serialize;
use serde_json::{Map, Value};

use super::area::AreaLevel;

/// Stable machine-readable codes for [`ImportProblem::problem`].
pub mod problem {
    /// The document, or one of its features, is not GeoJSON of the expected kind.
    pub const NOT_FEATURE_COLLECTION: &str = "not_feature_collection";
    /// `code`, `name` or `level` is missing or blank.
    pub const MISSING_PROPERTY: &str = "missing_property";
    /// `level` is not one of district, street, community, grid.
    pub const INVALID_LEVEL: &str = "invalid_level";
    /// The geometry is not a Polygon or MultiPolygon (or is malformed).
    pub const UNSUPPORTED_GEOMETRY: &str = "unsupported_geometry";
    /// A polygon has no rings, an empty outer ring, or encloses no area.
    pub const EMPTY_POLYGON: &str = "empty_polygon";
    /// A ring's first and last positions differ, or it has fewer than 4 positions.
    pub const UNCLOSED_RING: &str = "unclosed_ring";
    /// A position is not two numbers with lng in [-180, 180] and lat in [-90, 90].
    pub const COORDINATE_OUT_OF_RANGE: &str = "coordinate_out_of_range";
    /// A ring crosses or touches itself, or two rings of a polygon cross or share a line.
    pub const SELF_INTERSECTING: &str = "self_intersecting";
    /// A hole lies outside its outer ring, or parts of a multipolygon overlap or
    /// share an edge.
    pub const INVALID_GEOMETRY: &str = "invalid_geometry";
    /// The same code appears more than once in the file.
    pub const DUPLICATE_CODE: &str = "duplicate_code";
    /// A grid has no geometry.
    pub const MISSING_GEOMETRY: &str = "missing_geometry";
    /// A non-district area has no parent, or its parent is in neither the file nor the database.
    pub const MISSING_PARENT: &str = "missing_parent";
    /// The parent is not exactly one level up (or a district names a parent).
    pub const INVALID_PARENT_LEVEL: &str = "invalid_parent_level";
    /// Following parent links from an area leads back to it.
    pub const CYCLE: &str = "cycle";
}

/// One valid area from an import.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaFeature {
    /// Position of the feature in the file's `features` array.
    pub index: usize,
    /// Unique area code (trimmed).
    pub code: String,
    /// Display name (trimmed).
    pub name: String,
    /// Level in the area tree.
    pub level: AreaLevel,
    /// Code of the parent area; `None` only for districts.
    pub parent_code: Option<String>,
    /// Boundary in GCJ-02, x = lng, y = lat; always present for grids.
    pub geometry: Option<MultiPolygon<f64>>,
}

/// One reason an import was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportProblem {
    /// Position of the feature in `features`; `None` for problems of the whole
    /// document or of an area already in the database.
    pub index: Option<usize>,
    /// The area's code, when known.
    pub code: Option<String>,
    /// Stable snake_case problem code, one of the constants in [`problem`].
    #[schema(value_type = String, example = "unclosed_ring")]
    pub problem: &'static str,
    /// What is wrong and how to fix it, for a person.
    pub message: String,
}

impl ImportProblem {
    fn new(
        index: Option<usize>,
        code: Option<&str>,
        problem: &'static str,
        message: impl Into<String>,
    ) -> ImportProblem {
        ImportProblem {
            index,
            code: code.map(str::to_string),
            problem,
            message: message.into(),
        }
    }
}

/// Parses and validates a GeoJSON FeatureCollection of areas held in memory.
///
/// `existing` maps the codes already in the database to their level and parent
/// code. A feature whose code is in `existing` replaces that area; parents may be
/// in the file or in `existing`. On any problem nothing is returned but the full
/// list of problems, ordered by feature index (document-level problems last).
pub fn parse_feature_collection(
    doc: &Value,
    existing: &HashMap<String, (AreaLevel, Option<String>)>,
) -> Result<Vec<AreaFeature>, Vec<ImportProblem>> {
    let features = match feature_array(doc) {
        Ok(features) => features,
        Err(problem) => return Err(vec![problem]),
    };
    let mut check = TreeCheck::default();
    let valid: Vec<AreaFeature> = features
        .iter()
        .enumerate()
        .filter_map(|(index, feature)| check.add(index, feature))
        .collect();
    check.finish(existing)?;
    Ok(valid)
}

/// The problems of a file read feature by feature: each feature is validated on its own as it
/// arrives ([`TreeCheck::add`]), keeping only what the tree checks need (code, level, parent —
/// no geometry), and the tree is checked once the file ends ([`TreeCheck::finish`]). This is
/// what lets an import of 50,000 areas stream instead of holding the whole document.
#[derive(Default)]
pub struct TreeCheck {
    drafts: Vec<Draft>,
    problems: Vec<ImportProblem>,
}

impl TreeCheck {
    /// Validates `features[index]`; the feature when it is valid on its own, `None` when it
    /// had a problem (recorded for [`TreeCheck::finish`]).
    pub fn add(&mut self, index: usize, feature: &Value) -> Option<AreaFeature> {
        let before = self.problems.len();
        let mut draft = parse_feature(index, feature, &mut self.problems);
        let light = Draft {
            index,
            code: draft.code.clone(),
            name: None,
            level: draft.level,
            parent_code: draft.parent_code.clone(),
            geometry: None,
        };
        let valid = self.problems.len() == before;
        let feature = valid
            .then(|| {
                let geometry = draft.geometry.take();
                Draft { geometry, ..draft }.into_feature()
            })
            .flatten();
        self.drafts.push(light);
        feature
    }

    /// A problem of the whole document (not a FeatureCollection).
    pub fn document_problem(&mut self) {
        self.problems.push(not_a_collection());
    }

    /// Every problem of the file, ordered by feature index (document-level problems last).
    pub fn finish(
        mut self,
        existing: &HashMap<String, (AreaLevel, Option<String>)>,
    ) -> Result<(), Vec<ImportProblem>> {
        check_tree(&self.drafts, existing, &mut self.problems);
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|p| p.index.unwrap_or(usize::MAX));
        Err(self.problems)
    }
}

/// Why a streamed document could not be read to its end.
#[derive(Debug)]
pub enum StreamError {
    /// Not JSON (or cut short): the parser's message.
    Syntax(String),
    /// JSON, but not an object with `"type": "FeatureCollection"` and a `features` array.
    NotCollection,
    /// The consumer asked to stop.
    Stopped,
}

/// Reads a FeatureCollection from `reader` one feature at a time, calling `each(index,
/// feature)` for every element of `features` (`false` stops the read). Only one feature is
/// held at once, never the document: `type` and other members may come in any order and are
/// checked when the document ends.
pub fn stream_feature_collection<R: std::io::Read>(
    reader: R,
    each: impl FnMut(usize, Value) -> bool,
) -> Result<(), StreamError> {
    use serde::de::DeserializeSeed;
    let mut each = each;
    let mut stopped = false;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let seed = stream::Document {
        each: &mut each,
        stopped: &mut stopped,
    };
    let result = seed
        .deserialize(&mut de)
        .and_then(|ok| de.end().map(|_| ok));
    match result {
        _ if stopped => Err(StreamError::Stopped),
        Ok(true) => Ok(()),
        Ok(false) => Err(StreamError::NotCollection),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(StreamError::NotCollection)
        }
        Err(e) => Err(StreamError::Syntax(e.to_string())),
    }
}

/// The serde visitors behind [`stream_feature_collection`].
mod stream {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    pub(super) struct Document<'a, F> {
        pub each: &'a mut F,
        pub stopped: &'a mut bool,
    }

    impl<'de, F: FnMut(usize, Value) -> bool> DeserializeSeed<'de> for Document<'_, F> {
        /// True when the document is a FeatureCollection with a `features` array.
        type Value = bool;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de, F: FnMut(usize, Value) -> bool> Visitor<'de> for Document<'_, F> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a GeoJSON FeatureCollection")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut collection = false;
            let mut features = false;
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "type" => {
                        collection = map.next_value::<Value>()? == "FeatureCollection";
                    }
                    "features" => {
                        map.next_value_seed(Features {
                            each: &mut *self.each,
                            stopped: &mut *self.stopped,
                        })?;
                        features = true;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(collection && features)
        }
    }

    struct Features<'a, F> {
        each: &'a mut F,
        stopped: &'a mut bool,
    }

    impl<'de, F: FnMut(usize, Value) -> bool> DeserializeSeed<'de> for Features<'_, F> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de, F: FnMut(usize, Value) -> bool> Visitor<'de> for Features<'_, F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of features")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while let Some(feature) = seq.next_element::<Value>()? {
                if !(self.each)(index, feature) {
                    *self.stopped = true;
                    return Err(de::Error::custom("import stopped"));
                }
                index += 1;
            }
            Ok(())
        }
    }
}

fn not_a_collection() -> ImportProblem {
    ImportProblem::new(
        None,
        None,
        problem::NOT_FEATURE_COLLECTION,
        "the document must be a GeoJSON object with \"type\": \"FeatureCollection\" \
         and a \"features\" array",
    )
}

fn feature_array(doc: &Value) -> Result<&Vec<Value>, ImportProblem> {
    let is_collection = doc.get("type").and_then(Value::as_str) == Some("FeatureCollection");
    match doc.get("features").and_then(Value::as_array) {
        Some(features) if is_collection => Ok(features),
        _ => Err(not_a_collection()),
    }
}

/// A feature as parsed, before the tree checks; `None` fields were reported.
#[derive(Debug, Default)]
struct Draft {
    index: usize,
    code: Option<String>,
    name: Option<String>,
    level: Option<AreaLevel>,
    parent_code: Option<String>,
    geometry: Option<MultiPolygon<f64>>,
}

impl Draft {
    fn into_feature(self) -> Option<AreaFeature> {
        Some(AreaFeature {
            index: self.index,
            code: self.code?,
            name: self.name?,
            level: self.level?,
            parent_code: self.parent_code,
            geometry: self.geometry,
        })
    }
}

fn parse_feature(index: usize, feature: &Value, problems: &mut Vec<ImportProblem>) -> Draft {
    let Some(object) = feature
        .as_object()
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("Feature"))
    else {
        problems.push(ImportProblem::new(
            Some(index),
            None,
            problem::NOT_FEATURE_COLLECTION,
            format!("features[{index}] is not a GeoJSON object with \"type\": \"Feature\""),
        ));
        return Draft {
            index,
            ..Draft::default()
        };
    };
    let empty = Map::new();
    let props = object
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let code = text_property(props, "code");
    let mut report = |problem: &'static str, message: String| {
        problems.push(ImportProblem::new(
            Some(index),
            code.as_deref(),
            problem,
            message,
        ));
    };
    let checked_code = required_text(index, props, "code", &mut report);
    let name = required_text(index, props, "name", &mut report);
    let level = parse_level(index, props, &mut report);
    Draft {
        index,
        code: checked_code,
        name,
        level,
        parent_code: text_property(props, "parent_code"),
        geometry: feature_geometry(index, object.get("geometry"), level, &mut report),
    }
}

/// The feature's geometry, reporting its problems, or a grid without one.
fn feature_geometry(
    index: usize,
    value: Option<&Value>,
    level: Option<AreaLevel>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<MultiPolygon<f64>> {
    match parse_geometry(value) {
        Ok(Some(geometry)) => Some(geometry),
        Ok(None) => {
            if level == Some(AreaLevel::Grid) {
                report(
                    problem::MISSING_GEOMETRY,
                    format!(
                        "features[{index}] is a grid and needs a Polygon or MultiPolygon geometry"
                    ),
                );
            }
            None
        }
        Err(found) => {
            for (problem, message) in found {
                report(problem, format!("features[{index}]: {message}"));
            }
            None
        }
    }
}

/// [`text_property`], reporting `missing_property` when absent.
fn required_text(
    index: usize,
    props: &Map<String, Value>,
    key: &str,
    report: &mut impl FnMut(&'static str, String),
) -> Option<String> {
    let text = text_property(props, key);
    if text.is_none() {
        report(problem::MISSING_PROPERTY, missing_message(index, key));
    }
    text
}

fn missing_message(index: usize, key: &str) -> String {
    format!("features[{index}] needs a non-blank properties.{key}")
}

/// A trimmed, non-blank string (numbers are accepted as their decimal text).
fn text_property(props: &Map<String, Value>, key: &str) -> Option<String> {
    let text = match props.get(key)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn parse_level(
    index: usize,
    props: &Map<String, Value>,
    report: &mut impl FnMut(&'static str, String),
) -> Option<AreaLevel> {
    match props.get("level") {
        None | Some(Value::Null) => {
            report(problem::MISSING_PROPERTY, missing_message(index, "level"));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            report(problem::MISSING_PROPERTY, missing_message(index, "level"));
            None
        }
        Some(value) => {
            let level = value.as_str().and_then(AreaLevel::parse);
            if level.is_none() {
                report(
                    problem::INVALID_LEVEL,
                    format!(
                        "features[{index}] has level {value}; use one of \
                         \"district\", \"street\", \"community\", \"grid\""
                    ),
                );
            }
            level
        }
    }
}

// ---------------------------------------------------------------------------
// Geometry

type GeometryProblems = Vec<(&'static str, String)>;

/// Parses a GeoJSON geometry into a multipolygon; `Ok(None)` when absent or null.
fn parse_geometry(value: Option<&Value>) -> Result<Option<MultiPolygon<f64>>, GeometryProblems> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let kind = value.get("type").and_then(Value::as_str);
    let coordinates = value.get("coordinates");
    let polygons: Vec<&Value> = match (kind, coordinates.and_then(Value::as_array)) {
        (Some("Polygon"), Some(_)) => coordinates.into_iter().collect(),
        (Some("MultiPolygon"), Some(parts)) => parts.iter().collect(),
        (Some("Polygon" | "MultiPolygon"), None) => {
            return Err(vec![(
                problem::UNSUPPORTED_GEOMETRY,
                "geometry.coordinates must be an array of rings of [lng, lat] positions".into(),
            )])
        }
        _ => {
            let found = kind.map_or_else(|| "no type".to_string(), |k| format!("a {k}"));
            return Err(vec![(
                problem::UNSUPPORTED_GEOMETRY,
                format!("geometry is {found}; only Polygon and MultiPolygon are accepted"),
            )]);
        }
    };
    let mut problems = GeometryProblems::new();
    if polygons.is_empty() {
        problems.push((
            problem::EMPTY_POLYGON,
            "the MultiPolygon has no polygons".into(),
        ));
    }
    let mut ranges = RangeProblems::default();
    let parsed: Vec<Polygon<f64>> = polygons
        .iter()
        .enumerate()
        .filter_map(|(p, rings)| parse_polygon(p, rings, &mut ranges, &mut problems))
        .collect();
    problems.extend(ranges.into_problem());
    if !problems.is_empty() {
        return Err(problems);
    }
    let geometry = MultiPolygon(parsed);
    let invalid = validity_problems(&geometry);
    if invalid.is_empty() {
        Ok(Some(geometry))
    } else {
        Err(invalid)
    }
}

/// Bad positions of one feature, reported as one problem (there can be thousands).
#[derive(Default)]
struct RangeProblems {
    count: usize,
    first: Option<String>,
}

impl RangeProblems {
    fn add(&mut self, place: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(place());
        }
    }

    fn into_problem(self) -> Option<(&'static str, String)> {
        let first = self.first?;
        Some((
            problem::COORDINATE_OUT_OF_RANGE,
            format!(
                "{} position(s) are not [lng, lat] numbers with lng in [-180, 180] and \
                 lat in [-90, 90]; the first is {first}",
                self.count
            ),
        ))
    }
}

fn parse_polygon(
    p: usize,
    rings: &Value,
    ranges: &mut RangeProblems,
    problems: &mut GeometryProblems,
) -> Option<Polygon<f64>> {
    let Some(rings) = rings.as_array() else {
        problems.push((
            problem::UNSUPPORTED_GEOMETRY,
            format!("polygon {p} must be an array of rings"),
        ));
        return None;
    };
    let has_exterior = rings
        .first()
        .and_then(Value::as_array)
        .is_some_and(|ring| !ring.is_empty());
    if !has_exterior {
        problems.push((
            problem::EMPTY_POLYGON,
            format!("polygon {p} has no outer ring"),
        ));
        return None;
    }
    let parsed: Vec<Option<LineString<f64>>> = rings
        .iter()
        .enumerate()
        .map(|(r, ring)| parse_ring(p, r, ring, ranges, problems))
        .collect();
    let mut rings = parsed.into_iter().collect::<Option<Vec<_>>>()?.into_iter();
    let exterior = rings.next()?;
    Some(Polygon::new(exterior, rings.collect()))
}

fn parse_ring(
    p: usize,
    r: usize,
    ring: &Value,
    ranges: &mut RangeProblems,
    problems: &mut GeometryProblems,
) -> Option<LineString<f64>> {
    let Some(positions) = ring.as_array() else {
        problems.push((
            problem::UNSUPPORTED_GEOMETRY,
            format!("polygon {p} ring {r} must be an array of [lng, lat] positions"),
        ));
        return None;
    };
    let coords: Vec<Option<Coord<f64>>> = positions
        .iter()
        .enumerate()
        .map(|(i, position)| {
            let coord = parse_position(position);
            if coord.is_none() {
                ranges.add(|| format!("{position} at polygon {p} ring {r} position {i}"));
            }
            coord
        })
        .collect();
    let coords: Vec<Coord<f64>> = coords.into_iter().collect::<Option<_>>()?;
    if coords.len() < 4 || coords.first() != coords.last() {
        problems.push((
            problem::UNCLOSED_RING,
            format!(
                "polygon {p} ring {r} has {} position(s); a ring needs at least 4 and must \
                 end with the same position it starts with",
                coords.len()
            ),
        ));
        return None;
    }
    Some(LineString(coords))
}

/// `[lng, lat, ...]` with both numbers in range.
fn parse_position(position: &Value) -> Option<Coord<f64>> {
    let position = position.as_array()?;
    let lng = position.first()?.as_f64()?;
    let lat = position.get(1)?.as_f64()?;
    let in_range = (-180.0..=180.0).contains(&lng) && (-90.0..=90.0).contains(&lat);
    in_range.then_some(Coord { x: lng, y: lat })
}

/// OGC validity of well-formed polygons: simple rings, rings that do not cross,
/// holes inside their shell, parts that do not overlap or share edges.
fn validity_problems(geometry: &MultiPolygon<f64>) -> GeometryProblems {
    let mut problems = GeometryProblems::new();
    for (p, polygon) in geometry.0.iter().enumerate() {
        problems.extend(polygon_problems(p, polygon));
    }
    if problems.is_empty() {
        problems.extend(overlapping_parts(geometry));
    }
    problems
}

fn polygon_problems(p: usize, polygon: &Polygon<f64>) -> GeometryProblems {
    let rings: Vec<Vec<Coord<f64>>> = std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(|ring| dedup_ring(&ring.0))
        .collect();
    let flat: Vec<usize> = rings
        .iter()
        .enumerate()
        .filter(|(_, ring)| ring.len() < 4)
        .map(|(r, _)| r)
        .collect();
    if !flat.is_empty() {
        return flat
            .into_iter()
            .map(|r| {
                (
                    problem::EMPTY_POLYGON,
                    format!(
                        "polygon {p} ring {r} has fewer than 3 distinct positions, \
                         so it encloses no area"
                    ),
                )
            })
            .collect();
    }
    let crossings = crossing_rings(&rings);
    if !crossings.is_empty() {
        return crossings
            .into_iter()
            .map(|(r, s)| (problem::SELF_INTERSECTING, crossing_message(p, r, s)))
            .collect();
    }
    hole_problems(p, polygon)
}

fn crossing_message(p: usize, r: usize, s: usize) -> String {
    if r == s {
        format!("polygon {p} ring {r} crosses or touches itself; redraw it as a simple ring")
    } else {
        format!("polygon {p} rings {r} and {s} cross or share an edge")
    }
}

/// The ring without consecutive repeated positions (still closed).
fn dedup_ring(ring: &[Coord<f64>]) -> Vec<Coord<f64>> {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.len());
    for &c in ring {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

/// One segment of a ring, for the segment R-tree.
struct Segment {
    line: Line<f64>,
    ring: usize,
    index: usize,
}

impl RTreeObject for Segment {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(
            [self.line.start.x, self.line.start.y],
            [self.line.end.x, self.line.end.y],
        )
    }
}

/// Pairs of rings `(r, s)` with `r <= s` that intersect improperly: a ring
/// crossing or touching itself, or two rings crossing or sharing a line. Two
/// rings touching at a single point are allowed. O(n log n) for ordinary shapes.
fn crossing_rings(rings: &[Vec<Coord<f64>>]) -> Vec<(usize, usize)> {
    let segments: Vec<Segment> = rings
        .iter()
        .enumerate()
        .flat_map(|(ring, coords)| {
            coords
                .windows(2)
                .enumerate()
                .map(move |(index, w)| Segment {
                    line: Line::new(w[0], w[1]),
                    ring,
                    index,
                })
        })
        .collect();
    let tree = RTree::bulk_load(segments);
    let mut found = HashSet::new();
    for a in tree.iter() {
        for b in tree.locate_in_envelope_intersecting(&a.envelope()) {
            let later = (b.ring, b.index) > (a.ring, a.index);
            if later && improper_pair(a, b, rings[a.ring].len() - 1) {
                found.insert((a.ring, b.ring));
            }
        }
    }
    let mut found: Vec<(usize, usize)> = found.into_iter().collect();
    found.sort_unstable();
    found
}

/// Whether two segments (a before b) meet in a way a valid polygon forbids.
fn improper_pair(a: &Segment, b: &Segment, segments_in_ring: usize) -> bool {
    let Some(meet) = line_intersection(a.line, b.line) else {
        return false;
    };
    if a.ring != b.ring {
        return match meet {
            LineIntersection::Collinear { .. } => true,
            LineIntersection::SinglePoint { is_proper, .. } => is_proper,
        };
    }
    let adjacent = b.index == a.index + 1 || (a.index == 0 && b.index + 1 == segments_in_ring);
    // Neighbours share exactly their common vertex; anything more is a spike.
    !adjacent || matches!(meet, LineIntersection::Collinear { .. })
}

/// Holes must lie inside the shell, and holes must not overlap each other.
fn hole_problems(p: usize, polygon: &Polygon<f64>) -> GeometryProblems {
    let shell = Polygon::new(polygon.exterior().clone(), Vec::new());
    let holes: Vec<Polygon<f64>> = polygon
        .interiors()
        .iter()
        .map(|h| Polygon::new(h.clone(), Vec::new()))
        .collect();
    let mut problems = GeometryProblems::new();
    for (h, hole) in holes.iter().enumerate() {
        let matrix = shell.relate(hole);
        if !matrix.is_contains()
            || matrix.get(CoordPos::OnBoundary, CoordPos::Inside) == Dimensions::OneDimensional
        {
            problems.push((
                problem::INVALID_GEOMETRY,
                format!(
                    "polygon {p} hole {h} is not inside the polygon's outer ring; \
                     a hole must lie within the outer ring, touching it at most at points"
                ),
            ));
        }
        for (k, other) in holes.iter().enumerate().skip(h + 1) {
            if !bbox_meet(hole, other) {
                continue;
            }
            let matrix = hole.relate(other);
            if matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                problems.push((
                    problem::SELF_INTERSECTING,
                    format!("polygon {p} holes {h} and {k} overlap; merge them into one hole"),
                ));
            }
        }
    }
    problems
}

/// Parts of a multipolygon must not overlap or share an edge.
fn overlapping_parts(geometry: &MultiPolygon<f64>) -> GeometryProblems {
    let mut problems = GeometryProblems::new();
    for (i, a) in geometry.0.iter().enumerate() {
        for (j, b) in geometry.0.iter().enumerate().skip(i + 1) {
            if !bbox_meet(a, b) {
                continue;
            }
            let matrix = a.relate(b);
            let overlap =
                matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional;
            let shared_edge = matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary)
                == Dimensions::OneDimensional;
            if overlap || shared_edge {
                problems.push((
                    problem::INVALID_GEOMETRY,
                    format!(
                        "polygons {i} and {j} of the MultiPolygon overlap or share an edge; \
                         merge them into one polygon"
                    ),
                ));
            }
        }
    }
    problems
}

fn bbox_meet(a: &Polygon<f64>, b: &Polygon<f64>) -> bool {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(a), Some(b)) => a.intersects(&b),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// The area tree

/// What the tree checks know about a code: from the file (first occurrence wins)
/// or, failing that, from the database.
struct Lookup<'a> {
    file: HashMap<&'a str, (Option<AreaLevel>, Option<&'a str>)>,
    existing: &'a HashMap<String, (AreaLevel, Option<String>)>,
}

impl<'a> Lookup<'a> {
    fn get(&self, code: &str) -> Option<(Option<AreaLevel>, Option<&'a str>)> {
        if let Some(&entry) = self.file.get(code) {
            return Some(entry);
        }
        self.existing
            .get(code)
            .map(|(level, parent)| (Some(*level), parent.as_deref()))
    }

    fn parent(&self, code: &str) -> Option<&'a str> {
        self.get(code).and_then(|(_, parent)| parent)
    }
}

fn check_tree(
    drafts: &[Draft],
    existing: &HashMap<String, (AreaLevel, Option<String>)>,
    problems: &mut Vec<ImportProblem>,
) {
    let mut lookup = Lookup {
        file: HashMap::new(),
        existing,
    };
    for draft in drafts {
        let Some(code) = draft.code.as_deref() else {
            continue;
        };
        if lookup.file.contains_key(code) {
            problems.push(ImportProblem::new(
                Some(draft.index),
                Some(code),
                problem::DUPLICATE_CODE,
                format!("code {code} appears more than once in the file; codes must be unique"),
            ));
        } else {
            lookup
                .file
                .insert(code, (draft.level, draft.parent_code.as_deref()));
        }
    }
    for draft in drafts {
        check_parent(draft, &lookup, problems);
    }
    check_cycles(drafts, &lookup, problems);
    check_existing_children(&lookup, problems);
}

fn check_parent(draft: &Draft, lookup: &Lookup<'_>, problems: &mut Vec<ImportProblem>) {
    let (Some(code), Some(level)) = (draft.code.as_deref(), draft.level) else {
        return;
    };
    let mut report = |problem: &'static str, message: String| {
        problems.push(ImportProblem::new(
            Some(draft.index),
            Some(code),
            problem,
            message,
        ));
    };
    let Some(expected) = level.parent_level() else {
        if let Some(parent) = &draft.parent_code {
            report(
                problem::INVALID_PARENT_LEVEL,
                format!("{code} is a district, the top of the tree, and cannot have parent {parent}; remove parent_code"),
            );
        }
        return;
    };
    let Some(parent) = draft.parent_code.as_deref() else {
        report(
            problem::MISSING_PARENT,
            format!("{code} is a {level} and needs a parent_code naming its {expected}"),
        );
        return;
    };
    if parent == code {
        // Reported by the cycle check.
        return;
    }
    match lookup.get(parent) {
        None => report(
            problem::MISSING_PARENT,
            format!(
                "parent_code {parent} of {code} is neither in this file nor in the database; \
                 add the {expected} {parent} or fix the code"
            ),
        ),
        Some((Some(found), _)) if found != expected => report(
            problem::INVALID_PARENT_LEVEL,
            format!("parent {parent} of {code} is a {found}; the parent of a {level} must be a {expected}"),
        ),
        Some(_) => {}
    }
}

/// Reports every file feature that is its own ancestor, following parents
/// through the file and the database together, once per code.
fn check_cycles(drafts: &[Draft], lookup: &Lookup<'_>, problems: &mut Vec<ImportProblem>) {
    let on_cycle = find_cycles(lookup);
    if on_cycle.is_empty() {
        return;
    }
    let mut reported: HashSet<&str> = HashSet::new();
    for draft in drafts {
        let Some(code) = draft.code.as_deref() else {
            continue;
        };
        let Some(cycle) = on_cycle.get(code) else {
            continue;
        };
        if reported.insert(code) {
            problems.push(ImportProblem::new(
                Some(draft.index),
                Some(code),
                problem::CYCLE,
                format!(
                    "parent links of {code} loop back to it ({}); each area needs a parent \
                     one level up",
                    cycle_from(cycle, code)
                ),
            ));
        }
    }
}

/// Every code on a parent cycle reachable from the file, with its cycle.
/// Each code is walked once, so this is linear in the number of codes.
fn find_cycles<'a>(lookup: &Lookup<'a>) -> HashMap<&'a str, Vec<&'a str>> {
    let mut done: HashSet<&str> = HashSet::new();
    let mut on_cycle: HashMap<&str, Vec<&str>> = HashMap::new();
    for &start in lookup.file.keys() {
        let mut path: Vec<&str> = Vec::new();
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mut current = Some(start);
        while let Some(code) = current.filter(|c| !done.contains(c)) {
            if let Some(&at) = position.get(code) {
                let cycle = path[at..].to_vec();
                for member in &cycle {
                    on_cycle.insert(member, cycle.clone());
                }
                break;
            }
            position.insert(code, path.len());
            path.push(code);
            current = lookup.parent(code);
        }
        done.extend(path);
    }
    on_cycle
}

/// The cycle written from `code` back to `code`: "A → B → A".
fn cycle_from(cycle: &[&str], code: &str) -> String {
    let start = cycle.iter().position(|c| *c == code).unwrap_or(0);
    let mut chain: Vec<&str> = cycle[start..]
        .iter()
        .chain(&cycle[..start])
        .copied()
        .collect();
    chain.push(code);
    chain.join(" → ")
}

/// Areas already in the database whose parent the file changes to another level.
fn check_existing_children(lookup: &Lookup<'_>, problems: &mut Vec<ImportProblem>) {
    let mut found: Vec<ImportProblem> = Vec::new();
    for (child, (level, parent)) in lookup.existing {
        let Some(parent) = parent.as_deref() else {
            continue;
        };
        if lookup.file.contains_key(child.as_str()) {
            continue;
        }
        let Some(&(Some(parent_level), _)) = lookup.file.get(parent) else {
            continue;
        };
        if level.parent_level() != Some(parent_level) {
            found.push(ImportProblem::new(
                None,
                Some(child),
                problem::INVALID_PARENT_LEVEL,
                format!(
                    "{child}, a {level} already in the database, has parent {parent}, which this \
                     file makes a {parent_level}; move {child} in the same file or keep {parent}'s level"
                ),
            ));
        }
    }
    found.sort_by(|a, b| a.code.cmp(&b.code));
    problems.extend(found);
}

/// A stored polygon (the `areas` row's JSON rings, GCJ-02) as geometry; `None` when malformed.
pub fn multipolygon_from_json(text: &str) -> Option<geo::MultiPolygon<f64>> {
    let polys: Vec<Vec<Vec<[f64; 2]>>> = serde_json::from_str(text).ok()?;
    let to_ring = |r: &Vec<[f64; 2]>| {
        geo::LineString::from(r.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>())
    };
    Some(geo::MultiPolygon(
        polys
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| geo::Polygon::new(to_ring(&p[0]), p[1..].iter().map(to_ring).collect()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn square(x: f64, y: f64, size: f64) -> Value {
        json!([[
            [x, y],
            [x + size, y],
            [x + size, y + size],
            [x, y + size],
            [x, y]
        ]])
    }

    fn polygon(coordinates: Value) -> Value {
        json!({"type": "Polygon", "coordinates": coordinates})
    }

    fn feature(code: &str, level: &str, parent: Option<&str>, geometry: Value) -> Value {
        json!({
            "type": "Feature",
            "properties": {"code": code, "name": format!("{code} name"), "level": level,
                           "parent_code": parent},
            "geometry": geometry,
        })
    }

    fn grid(code: &str, parent: &str) -> Value {
        feature(
            code,
            "grid",
            Some(parent),
            polygon(square(121.40, 31.20, 0.004)),
        )
    }

    fn collection(features: Vec<Value>) -> Value {
        json!({"type": "FeatureCollection", "features": features})
    }

    fn no_existing() -> HashMap<String, (AreaLevel, Option<String>)> {
        HashMap::new()
    }

    /// A valid district → street → community chain to hang test grids on.
    fn chain() -> Vec<Value> {
        vec![
            feature("D1", "district", None, Value::Null),
            feature("S1", "street", Some("D1"), Value::Null),
            feature("C1", "community", Some("S1"), Value::Null),
        ]
    }

    fn problems_of(features: Vec<Value>) -> Vec<ImportProblem> {
        parse_feature_collection(&collection(features), &no_existing())
            .expect_err("the file should be rejected")
    }

    fn kinds(problems: &[ImportProblem]) -> Vec<&'static str> {
        problems.iter().map(|p| p.problem).collect()
    }

    /// Rejected with exactly these problem kinds, in order.
    fn assert_kinds(features: Vec<Value>, expected: &[&str]) -> Vec<ImportProblem> {
        let problems = problems_of(features);
        assert_eq!(kinds(&problems), expected, "{problems:#?}");
        problems
    }

    fn with_chain(extra: Value) -> Vec<Value> {
        let mut features = chain();
        features.push(extra);
        features
    }

    #[test]
    fn valid_multi_level_file_with_a_holed_multipolygon() {
        let holed = json!({"type": "MultiPolygon", "coordinates": [
            [
                [[121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21], [121.40, 31.20]],
                [[121.403, 31.203], [121.403, 31.206], [121.406, 31.206], [121.406, 31.203], [121.403, 31.203]]
            ],
            [[[121.42, 31.20], [121.43, 31.20], [121.43, 31.21], [121.42, 31.20]]]
        ]});
        let mut features = chain();
        features.push(feature("G1", "grid", Some("C1"), holed));
        features.push(grid("G2", "C1"));
        features.push(feature("S2", "street", Some("D0"), Value::Null));
        let existing = HashMap::from([("D0".to_string(), (AreaLevel::District, None))]);
        let parsed =
            parse_feature_collection(&collection(features), &existing).expect("the file is valid");
        let codes: Vec<&str> = parsed.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["D1", "S1", "C1", "G1", "G2", "S2"]);
        let g1 = &parsed[3];
        assert_eq!((g1.index, g1.level), (3, AreaLevel::Grid));
        assert_eq!(g1.parent_code.as_deref(), Some("C1"));
        assert_eq!(g1.name, "G1 name");
        let geometry = g1.geometry.as_ref().expect("grid geometry");
        assert_eq!(geometry.0.len(), 2);
        assert_eq!(geometry.0[0].interiors().len(), 1);
        assert_eq!(parsed[0].parent_code, None);
        assert_eq!(parsed[0].geometry, None);
    }

    #[test]
    fn numeric_codes_and_padded_text_are_accepted() {
        let features = vec![json!({
            "type": "Feature",
            "properties": {"code": 310101, "name": "  黄浦区 ", "level": "District"},
            "geometry": null,
        })];
        let parsed =
            parse_feature_collection(&collection(features), &no_existing()).expect("valid");
        assert_eq!(parsed[0].code, "310101");
        assert_eq!(parsed[0].name, "黄浦区");
    }

    #[test]
    fn empty_collection_is_valid() {
        let parsed = parse_feature_collection(&collection(vec![]), &no_existing());
        assert_eq!(parsed, Ok(vec![]));
    }

    #[test]
    fn not_a_feature_collection() {
        for doc in [
            json!([1, 2]),
            json!({"type": "Feature", "features": []}),
            json!({"type": "FeatureCollection"}),
            json!("FeatureCollection"),
        ] {
            let problems =
                parse_feature_collection(&doc, &no_existing()).expect_err("not a collection");
            assert_eq!(kinds(&problems), [problem::NOT_FEATURE_COLLECTION]);
            assert_eq!(problems[0].index, None);
        }
        let problems = assert_kinds(
            vec![json!(42), json!({"type": "Point"})],
            &[
                problem::NOT_FEATURE_COLLECTION,
                problem::NOT_FEATURE_COLLECTION,
            ],
        );
        assert_eq!(problems[1].index, Some(1));
    }

    #[test]
    fn missing_properties() {
        let features = vec![
            json!({"type": "Feature", "properties": {"code": " ", "name": "x", "level": "district"},
                   "geometry": null}),
            json!({"type": "Feature", "properties": {"code": "D2", "level": "district"},
                   "geometry": null}),
            json!({"type": "Feature", "properties": {"code": "D3", "name": "x", "level": ""},
                   "geometry": null}),
            json!({"type": "Feature", "geometry": null}),
        ];
        let problems = problems_of(features);
        assert!(kinds(&problems)
            .iter()
            .all(|k| *k == problem::MISSING_PROPERTY));
        let per_feature: Vec<Option<usize>> = problems.iter().map(|p| p.index).collect();
        assert_eq!(
            per_feature,
            [Some(0), Some(1), Some(2), Some(3), Some(3), Some(3)]
        );
        assert_eq!(problems[1].code.as_deref(), Some("D2"));
        assert!(problems[1].message.contains("properties.name"));
    }

    #[test]
    fn invalid_level() {
        let problems = assert_kinds(
            vec![feature("P1", "province", None, Value::Null)],
            &[problem::INVALID_LEVEL],
        );
        assert!(problems[0].message.contains("province"));
        assert_kinds(
            vec![
                json!({"type": "Feature", "properties": {"code": "X", "name": "x", "level": 3},
                        "geometry": null}),
            ],
            &[problem::INVALID_LEVEL],
        );
    }

    #[test]
    fn unsupported_geometry() {
        for geometry in [
            json!({"type": "Point", "coordinates": [121.4, 31.2]}),
            json!({"type": "LineString", "coordinates": [[121.4, 31.2], [121.5, 31.2]]}),
            json!({"type": "Polygon"}),
            json!({"coordinates": []}),
        ] {
            assert_kinds(
                with_chain(feature("G1", "grid", Some("C1"), geometry)),
                &[problem::UNSUPPORTED_GEOMETRY],
            );
        }
    }

    #[test]
    fn empty_polygon() {
        for geometry in [
            polygon(json!([])),
            polygon(json!([[]])),
            json!({"type": "MultiPolygon", "coordinates": []}),
            polygon(json!([[
                [121.4, 31.2],
                [121.5, 31.2],
                [121.5, 31.2],
                [121.4, 31.2]
            ]])),
        ] {
            assert_kinds(
                with_chain(feature("G1", "grid", Some("C1"), geometry)),
                &[problem::EMPTY_POLYGON],
            );
        }
    }

    #[test]
    fn unclosed_ring() {
        let open = polygon(json!([[
            [121.4, 31.2],
            [121.5, 31.2],
            [121.5, 31.3],
            [121.4, 31.3]
        ]]));
        let short = polygon(json!([[[121.4, 31.2], [121.5, 31.2], [121.4, 31.2]]]));
        let problems = assert_kinds(
            with_chain(feature("G1", "grid", Some("C1"), open)),
            &[problem::UNCLOSED_RING],
        );
        assert_eq!(problems[0].code.as_deref(), Some("G1"));
        assert_kinds(
            with_chain(feature("G1", "grid", Some("C1"), short)),
            &[problem::UNCLOSED_RING],
        );
    }

    #[test]
    fn coordinates_out_of_range_or_not_numbers() {
        for bad in [
            json!([200.0, 31.2]),
            json!([121.4, 95.0]),
            json!(["121.4", 31.2]),
            json!([121.4]),
        ] {
            let ring = json!([[[121.4, 31.2], bad, [121.5, 31.3], [121.4, 31.2]]]);
            let problems = assert_kinds(
                with_chain(feature("G1", "grid", Some("C1"), polygon(ring))),
                &[problem::COORDINATE_OUT_OF_RANGE],
            );
            assert!(
                problems[0].message.contains("position 1"),
                "{}",
                problems[0].message
            );
        }
    }

    #[test]
    fn self_intersecting() {
        let bowtie = polygon(json!([[
            [0.0, 0.0],
            [2.0, 2.0],
            [2.0, 0.0],
            [0.0, 2.0],
            [0.0, 0.0]
        ]]));
        let spike = polygon(json!([[
            [0.0, 0.0],
            [2.0, 0.0],
            [3.0, 0.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [0.0, 0.0]
        ]]));
        let figure_eight = polygon(json!([[
            [0.0, 0.0],
            [1.0, 1.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [1.0, 1.0],
            [0.0, 2.0],
            [0.0, 0.0]
        ]]));
        let hole_crossing = polygon(json!([
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[1.0, 1.0], [5.0, 1.0], [5.0, 3.0], [1.0, 3.0], [1.0, 1.0]]
        ]));
        for geometry in [bowtie, spike, figure_eight, hole_crossing] {
            assert_kinds(
                with_chain(feature("G1", "grid", Some("C1"), geometry)),
                &[problem::SELF_INTERSECTING],
            );
        }
    }

    #[test]
    fn hole_outside_shell_and_overlapping_parts_are_invalid() {
        let hole_outside = polygon(json!([
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[5.0, 5.0], [6.0, 5.0], [6.0, 6.0], [5.0, 6.0], [5.0, 5.0]]
        ]));
        let overlapping = json!({"type": "MultiPolygon", "coordinates": [
            square(0.0, 0.0, 2.0), square(1.0, 1.0, 2.0)
        ]});
        let sharing_edge = json!({"type": "MultiPolygon", "coordinates": [
            square(0.0, 0.0, 1.0), square(1.0, 0.0, 1.0)
        ]});
        for geometry in [hole_outside, overlapping, sharing_edge] {
            assert_kinds(
                with_chain(feature("G1", "grid", Some("C1"), geometry)),
                &[problem::INVALID_GEOMETRY],
            );
        }
    }

    #[test]
    fn rings_touching_at_a_point_are_valid() {
        let touching_hole = polygon(json!([
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[0.0, 2.0], [2.0, 1.0], [3.0, 2.0], [2.0, 3.0], [0.0, 2.0]]
        ]));
        let corner_parts = json!({"type": "MultiPolygon", "coordinates": [
            square(0.0, 0.0, 1.0), square(1.0, 1.0, 1.0)
        ]});
        let repeated_point = polygon(json!([[
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
            [0.0, 0.0]
        ]]));
        for geometry in [touching_hole, corner_parts, repeated_point] {
            let features = with_chain(feature("G1", "grid", Some("C1"), geometry));
            assert!(parse_feature_collection(&collection(features), &no_existing()).is_ok());
        }
    }

    #[test]
    fn large_rings_validate() {
        let n = 20_000;
        let ring: Vec<Value> = (0..=n)
            .map(|i| {
                let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
                let r = 0.01 * (1.0 + 0.1 * (a * 37.0).sin());
                json!([121.4 + r * a.cos(), 31.2 + r * a.sin()])
            })
            .collect();
        let features = with_chain(feature("G1", "grid", Some("C1"), polygon(json!([ring]))));
        assert!(parse_feature_collection(&collection(features), &no_existing()).is_ok());
    }

    #[test]
    fn a_synthetic_city_round_trips() {
        let city = super::super::synth::synthetic_city(40, 8);
        let features: Vec<Value> = city
            .iter()
            .map(|shape| {
                let ring: Vec<[f64; 2]> = shape.geometry.0[0]
                    .exterior()
                    .0
                    .iter()
                    .map(|c| [c.x, c.y])
                    .collect();
                feature(&shape.code, "grid", Some("C9"), polygon(json!([ring])))
            })
            .collect();
        let existing = HashMap::from([(
            "C9".to_string(),
            (AreaLevel::Community, Some("S9".to_string())),
        )]);
        let parsed =
            parse_feature_collection(&collection(features), &existing).expect("valid city");
        assert_eq!(parsed.len(), 40);
        for (feature, shape) in parsed.iter().zip(&city) {
            assert_eq!(feature.geometry.as_ref(), Some(&shape.geometry));
        }
    }

    #[test]
    fn duplicate_code() {
        let problems = assert_kinds(
            vec![
                feature("D1", "district", None, Value::Null),
                feature("D1", "district", None, Value::Null),
            ],
            &[problem::DUPLICATE_CODE],
        );
        assert_eq!(problems[0].index, Some(1));
    }

    #[test]
    fn grid_without_geometry() {
        assert_kinds(
            with_chain(feature("G1", "grid", Some("C1"), Value::Null)),
            &[problem::MISSING_GEOMETRY],
        );
        let mut no_member = grid("G1", "C1");
        no_member
            .as_object_mut()
            .expect("feature object")
            .remove("geometry");
        assert_kinds(with_chain(no_member), &[problem::MISSING_GEOMETRY]);
    }

    #[test]
    fn missing_parent() {
        let problems = assert_kinds(
            vec![
                feature("S1", "street", None, Value::Null),
                grid("G1", "C-NOWHERE"),
            ],
            &[problem::MISSING_PARENT, problem::MISSING_PARENT],
        );
        assert!(problems[1].message.contains("C-NOWHERE"));
    }

    #[test]
    fn parent_in_the_database() {
        let existing = HashMap::from([(
            "C9".to_string(),
            (AreaLevel::Community, Some("S9".to_string())),
        )]);
        let parsed = parse_feature_collection(&collection(vec![grid("G1", "C9")]), &existing)
            .expect("valid");
        assert_eq!(parsed[0].parent_code.as_deref(), Some("C9"));
    }

    #[test]
    fn invalid_parent_level() {
        let problems = assert_kinds(
            with_chain(grid("G1", "S1")),
            &[problem::INVALID_PARENT_LEVEL],
        );
        assert!(problems[0].message.contains("must be a community"));
        assert_kinds(
            vec![
                feature("D1", "district", None, Value::Null),
                feature("D2", "district", Some("D1"), Value::Null),
            ],
            &[problem::INVALID_PARENT_LEVEL],
        );
        let existing = HashMap::from([("S0".to_string(), (AreaLevel::Street, None))]);
        let problems = parse_feature_collection(&collection(vec![grid("G1", "S0")]), &existing)
            .expect_err("grid under a street");
        assert_eq!(kinds(&problems), [problem::INVALID_PARENT_LEVEL]);
    }

    #[test]
    fn relevelling_a_parent_strands_existing_children() {
        let existing = HashMap::from([
            (
                "C1".to_string(),
                (AreaLevel::Community, Some("S1".to_string())),
            ),
            ("G7".to_string(), (AreaLevel::Grid, Some("C1".to_string()))),
        ]);
        let features = vec![
            feature("D1", "district", None, Value::Null),
            feature("C1", "street", Some("D1"), Value::Null),
        ];
        let problems = parse_feature_collection(&collection(features), &existing)
            .expect_err("G7 would hang under a street");
        assert_eq!(kinds(&problems), [problem::INVALID_PARENT_LEVEL]);
        assert_eq!(
            (problems[0].index, problems[0].code.as_deref()),
            (None, Some("G7"))
        );
    }

    #[test]
    fn cycles() {
        let problems = problems_of(vec![
            feature("C1", "community", Some("C2"), Value::Null),
            feature("C2", "community", Some("C1"), Value::Null),
        ]);
        let cycles: Vec<_> = problems
            .iter()
            .filter(|p| p.problem == problem::CYCLE)
            .collect();
        assert_eq!(cycles.len(), 2);
        assert!(
            cycles[0].message.contains("C1 → C2 → C1"),
            "{}",
            cycles[0].message
        );
        // Self-parent.
        let problems = problems_of(vec![feature("S1", "street", Some("S1"), Value::Null)]);
        assert_eq!(kinds(&problems), [problem::CYCLE]);
        // Through the database: X (in the database) → Y (in the file) → X.
        let existing =
            HashMap::from([("X".to_string(), (AreaLevel::Street, Some("Y".to_string())))]);
        let features = vec![feature("Y", "street", Some("X"), Value::Null)];
        let problems = parse_feature_collection(&collection(features), &existing)
            .expect_err("cycle through the database");
        assert!(kinds(&problems).contains(&problem::CYCLE), "{problems:#?}");
    }

    #[test]
    fn every_problem_is_collected_in_feature_order() {
        let bowtie = polygon(json!([[
            [0.0, 0.0],
            [2.0, 2.0],
            [2.0, 0.0],
            [0.0, 2.0],
            [0.0, 0.0]
        ]]));
        let features = vec![
            feature("D1", "district", None, Value::Null),
            feature("G1", "grid", Some("C-NOWHERE"), bowtie),
            feature("X", "village", Some("D1"), Value::Null),
            feature("D1", "district", None, Value::Null),
            grid("G2", "D1"),
        ];
        let problems = problems_of(features);
        assert_eq!(
            kinds(&problems),
            [
                problem::SELF_INTERSECTING,
                problem::MISSING_PARENT,
                problem::INVALID_LEVEL,
                problem::DUPLICATE_CODE,
                problem::INVALID_PARENT_LEVEL,
            ]
        );
        let indices: Vec<_> = problems.iter().map(|p| p.index).collect();
        assert_eq!(indices, [Some(1), Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn problem_serializes_as_a_string() {
        let problem = ImportProblem::new(Some(2), Some("G1"), problem::UNCLOSED_RING, "msg");
        let json = serde_json::to_value(&problem).expect("serializable");
        assert_eq!(
            json,
            json!({"index": 2, "code": "G1", "problem": "unclosed_ring", "message": "msg"})
        );
    }

    /// Streams `doc` through [`stream_feature_collection`] and [`TreeCheck`], as the import does.
    fn stream(text: &str) -> Result<Vec<AreaFeature>, Result<Vec<ImportProblem>, StreamError>> {
        let mut check = TreeCheck::default();
        let mut valid = Vec::new();
        let read = stream_feature_collection(text.as_bytes(), |index, feature| {
            valid.extend(check.add(index, &feature));
            true
        });
        match read {
            Ok(()) => {}
            Err(StreamError::NotCollection) => check.document_problem(),
            Err(e) => return Err(Err(e)),
        }
        check.finish(&no_existing()).map_err(Ok)?;
        Ok(valid)
    }

    #[test]
    fn a_stream_reads_features_in_any_member_order_and_checks_the_tree_at_the_end() {
        let mut features = chain();
        features.push(grid("G1", "C1"));
        // `type` after `features`, and an unknown member: both fine.
        let text = format!(
            r#"{{"features": {}, "name": "x", "type": "FeatureCollection"}}"#,
            Value::Array(features.clone())
        );
        let parsed = stream(&text).expect("valid");
        assert_eq!(parsed.len(), features.len());
        assert_eq!(parsed.last().map(|f| f.code.as_str()), Some("G1"));
        // The same answer as the in-memory parser given the same text.
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            parsed,
            parse_feature_collection(&doc, &no_existing()).expect("valid")
        );
    }

    #[test]
    fn a_stream_names_every_bad_feature_and_refuses_what_is_not_a_collection() {
        let mut features = chain();
        features.push(grid("G1", "NOPE"));
        features.push(json!({"type": "Feature", "properties": {"code": "G2"}}));
        let problems = stream(&collection(features).to_string())
            .expect_err("refused")
            .expect("problems, not a stream error");
        let named: Vec<(Option<usize>, Option<&str>, &str)> = problems
            .iter()
            .map(|p| (p.index, p.code.as_deref(), p.problem))
            .collect();
        assert!(
            named.contains(&(Some(3), Some("G1"), problem::MISSING_PARENT)),
            "{named:?}"
        );
        assert!(
            named.contains(&(Some(4), Some("G2"), problem::MISSING_PROPERTY)),
            "{named:?}"
        );
        for doc in [
            r#"{"type": "Feature", "features": []}"#,
            r#"{"type": "FeatureCollection"}"#,
            "[1, 2]",
        ] {
            let problems = stream(doc)
                .expect_err("refused")
                .expect("a document problem");
            assert_eq!(problems.len(), 1, "{doc}");
            assert_eq!(
                problems[0].problem,
                problem::NOT_FEATURE_COLLECTION,
                "{doc}"
            );
        }
        assert!(matches!(
            stream(r#"{"type": "FeatureCollection", "features": [{"#),
            Err(Err(StreamError::Syntax(_)))
        ));
    }
}
