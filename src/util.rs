//! Small helpers shared by every domain: ids, clocks, random tokens and hashes, and the
//! signal that stops background loops.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

/// A new time-ordered id (UUIDv7), opaque to clients.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Milliseconds since the Unix epoch: the one time representation stored in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 with the Asia/Shanghai offset, how the API shows times.
pub fn rfc3339(ms: i64) -> String {
    use chrono::TimeZone;
    chrono_tz::Asia::Shanghai
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A random URL-safe token of `len` alphanumeric characters.
pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Hex SHA-256, for storing tokens we must recognise but never reveal.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Masks a phone number for display: `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// A background loop's view of the process stopping (`jobs::Jobs::stop`): cloned into every
/// loop, which checks it at its waits.
#[derive(Clone)]
pub struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    pub fn new(stop: tokio::sync::watch::Receiver<bool>) -> Stopping {
        Stopping(stop)
    }

    /// Resolves once the process is stopping (at once if it already is).
    pub async fn requested(&mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_in_the_middle() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn times_round_trip_through_rfc3339() {
        let ms = 1_763_900_000_000;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert!(rfc3339(ms).ends_with("+08:00"));
    }
}
