//! Cursor pagination shared by every list: `?limit=` and `?cursor=`, answered with
//! `{items, next_cursor}` (API.md, Conventions).

use crate::error::ApiError;

/// The `limit` of a list request: default 20, at most 100.
pub fn page_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 100")),
    }
}

/// A keyset cursor `<sort key>_<id>`, as the lists hand out in `next_cursor`.
pub fn parse_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::invalid("cursor", "malformed cursor");
    let (k, id) = cursor.split_once('_').ok_or_else(bad)?;
    Ok((k.parse().map_err(|_| bad())?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_or_fail_as_validation_errors() {
        assert_eq!(parse_cursor("12_ab").unwrap(), (12, "ab".to_string()));
        assert!(parse_cursor("x_ab").is_err());
        assert!(parse_cursor("12").is_err());
    }

    #[test]
    fn limits_default_to_20_and_stop_at_100() {
        assert_eq!(page_limit(None).unwrap(), 20);
        assert_eq!(page_limit(Some(100)).unwrap(), 100);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}
