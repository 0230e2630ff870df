//! The alarm signature (API.md "Sources"): `X-SafeGrid-Signature` is the hex HMAC-SHA256 of
//! `timestamp + "." + body` under the integration's secret, and `X-SafeGrid-Timestamp` (Unix
//! seconds) lies within 300 s of the server's clock, so a captured request cannot be
//! replayed later and a changed byte is refused.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed request's timestamp may lie from the server's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The timestamp is missing, not a number, or over 300 s away.
    Stale,
    /// The signature is missing, not hex, or does not match.
    Invalid,
}

/// The signature a sender computes (hex, lowercase).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn mac(secret: &str, timestamp: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac
}

/// Verifies a request at `now_secs`: the timestamp first, then the signature, compared in
/// constant time.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), Refusal> {
    let ts = timestamp.ok_or(Refusal::Stale)?;
    let at: i64 = ts.trim().parse().map_err(|_| Refusal::Stale)?;
    if (now_secs - at).abs() > MAX_SKEW_SECS {
        return Err(Refusal::Stale);
    }
    let given = signature
        .and_then(|s| hex::decode(s.trim()).ok())
        .ok_or(Refusal::Invalid)?;
    let mut mac = mac(secret, ts);
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| Refusal::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"alarm_id":"A1","kind":"smoke"}"#;

    #[test]
    fn a_good_signature_passes_and_any_change_fails() {
        let sig = sign("s3cret", "1700000000", BODY);
        assert_eq!(
            verify(
                "s3cret",
                Some("1700000000"),
                Some(&sig),
                BODY,
                1_700_000_100
            ),
            Ok(())
        );
        let mut altered = BODY.to_vec();
        altered[5] ^= 1;
        assert_eq!(
            verify(
                "s3cret",
                Some("1700000000"),
                Some(&sig),
                &altered,
                1_700_000_100
            ),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            verify("other", Some("1700000000"), Some(&sig), BODY, 1_700_000_100),
            Err(Refusal::Invalid)
        );
        // The timestamp is signed too: moving it breaks the signature.
        assert_eq!(
            verify(
                "s3cret",
                Some("1700000001"),
                Some(&sig),
                BODY,
                1_700_000_100
            ),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            verify(
                "s3cret",
                Some("1700000000"),
                Some("zz"),
                BODY,
                1_700_000_100
            ),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn a_timestamp_over_five_minutes_away_is_stale() {
        let sig = sign("s3cret", "1700000000", BODY);
        assert_eq!(
            verify(
                "s3cret",
                Some("1700000000"),
                Some(&sig),
                BODY,
                1_700_000_301
            ),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify(
                "s3cret",
                Some("1700000000"),
                Some(&sig),
                BODY,
                1_699_999_699
            ),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify("s3cret", None, Some(&sig), BODY, 0),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify("s3cret", Some("x"), Some(&sig), BODY, 0),
            Err(Refusal::Stale)
        );
    }
}
