//! Levels of the area tree: district → street → community → grid.

use serde::{Deserialize, Serialize};

/// One level of the area tree, from the top (district) to the bottom (grid).
///
/// The derived ordering follows the tree: `District < Street < Community < Grid`,
/// so a larger value is a deeper level.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AreaLevel {
    /// District (区), the root of the tree.
    District,
    /// Street or town (街道/镇).
    Street,
    /// Community or village (社区/村).
    Community,
    /// Grid (网格), the leaf that owns reports.
    Grid,
}

impl AreaLevel {
    /// All levels, from the root down.
    pub const ALL: [AreaLevel; 4] = [
        AreaLevel::District,
        AreaLevel::Street,
        AreaLevel::Community,
        AreaLevel::Grid,
    ];

    /// Depth in the tree: district 0, street 1, community 2, grid 3.
    pub fn depth(self) -> u8 {
        match self {
            AreaLevel::District => 0,
            AreaLevel::Street => 1,
            AreaLevel::Community => 2,
            AreaLevel::Grid => 3,
        }
    }

    /// The lowercase name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AreaLevel::District => "district",
            AreaLevel::Street => "street",
            AreaLevel::Community => "community",
            AreaLevel::Grid => "grid",
        }
    }

    /// Parses the lowercase name (surrounding whitespace and case are ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s))
    }

    /// The level directly above, or `None` for a district.
    pub fn parent_level(self) -> Option<Self> {
        match self {
            AreaLevel::District => None,
            AreaLevel::Street => Some(AreaLevel::District),
            AreaLevel::Community => Some(AreaLevel::Street),
            AreaLevel::Grid => Some(AreaLevel::Community),
        }
    }
}

impl std::fmt::Display for AreaLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_the_tree() {
        let depths: Vec<u8> = AreaLevel::ALL.iter().map(|l| l.depth()).collect();
        assert_eq!(depths, vec![0, 1, 2, 3]);
        assert!(AreaLevel::District < AreaLevel::Grid);
    }

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for level in AreaLevel::ALL {
            assert_eq!(AreaLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(AreaLevel::parse(" Grid "), Some(AreaLevel::Grid));
        assert_eq!(AreaLevel::parse("province"), None);
        assert_eq!(AreaLevel::parse(""), None);
    }

    #[test]
    fn parent_level_is_one_up() {
        assert_eq!(AreaLevel::District.parent_level(), None);
        assert_eq!(AreaLevel::Street.parent_level(), Some(AreaLevel::District));
        assert_eq!(AreaLevel::Community.parent_level(), Some(AreaLevel::Street));
        assert_eq!(AreaLevel::Grid.parent_level(), Some(AreaLevel::Community));
    }

    #[test]
    fn serde_uses_lowercase() {
        let json = serde_json::to_string(&AreaLevel::Community).expect("serializable");
        assert_eq!(json, "\"community\"");
        let back: AreaLevel = serde_json::from_str("\"street\"").expect("valid level");
        assert_eq!(back, AreaLevel::Street);
    }
}
