//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30-second
//! steps, what every authenticator app expects. Pure: the caller passes the clock.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// RFC 4226 recommends at least 128 bits and suggests 160 (the SHA-1 block output).
const SECRET_BYTES: usize = 20;

/// A fresh random secret, base32 without padding (what `otpauth://` URIs carry).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

/// The key behind a base32 secret (case and padding tolerated).
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let cleaned: String = secret
        .trim()
        .trim_end_matches('=')
        .to_ascii_uppercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    BASE32_NOPAD.decode(cleaned.as_bytes()).ok()
}

/// The time step of a Unix time in seconds.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// RFC 4226 HOTP with dynamic truncation, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The 6-digit code of `step`.
pub fn code_for_step(key: &[u8], step: i64) -> String {
    hotp(key, step.max(0) as u64, DIGITS)
}

/// The 6-digit code at a Unix time.
pub fn code_at(key: &[u8], unix_secs: i64) -> String {
    code_for_step(key, step_at(unix_secs))
}

/// What a submitted code turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The code of this step (the current or the previous one), not used before.
    Accepted(i64),
    /// A right code of a step at or before the last one accepted.
    Replayed,
    Wrong,
}

/// Checks `code` against the current and the previous step at `unix_secs`, refusing a step
/// at or before `last_used` (so a code works once, and an older one never after it).
pub fn verify(key: &[u8], code: &str, unix_secs: i64, last_used: Option<i64>) -> Verdict {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Verdict::Wrong;
    }
    let now = step_at(unix_secs);
    let mut verdict = Verdict::Wrong;
    // Newest first: a code valid in both steps (astronomically rare) counts as the newest.
    for step in [now, now - 1] {
        if constant_time_eq(code_for_step(key, step).as_bytes(), code.as_bytes()) {
            verdict = match last_used {
                Some(last) if step <= last => Verdict::Replayed,
                _ => Verdict::Accepted(step),
            };
            break;
        }
    }
    verdict
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://` URI an authenticator app scans (Google's Key Uri Format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer),
    )
}

/// The URI as a QR code in SVG, for the console to show (no QR library in the page, nothing
/// fetched from outside). `None` only if the URI were too long for any QR version.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build(),
    )
}

/// The secret inside an `otpauth://` URI (for tests and tools).
pub fn secret_from_uri(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrolment_uri_becomes_a_qr_code_in_svg() {
        let uri = otpauth_uri("SafeGrid", "chen", "JBSWY3DPEHPK3PXP");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
        assert!(
            !svg.contains("JBSWY3DPEHPK3PXP"),
            "the secret is in the picture only"
        );
    }

    /// The SHA-1 key of RFC 6238 appendix B.
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        for (time, expected) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(RFC_KEY, step_at(time) as u64, 8), expected, "T={time}");
        }
        // Six digits are the last six of the eight.
        assert_eq!(code_at(RFC_KEY, 59), "287082");
    }

    #[test]
    fn the_current_and_the_previous_step_are_accepted_and_older_ones_are_not() {
        let now = 1_111_111_111;
        let step = step_at(now);
        let current = code_at(RFC_KEY, now);
        let previous = code_at(RFC_KEY, now - STEP_SECS);
        let older = code_at(RFC_KEY, now - 2 * STEP_SECS);
        assert_eq!(
            verify(RFC_KEY, &current, now, None),
            Verdict::Accepted(step)
        );
        assert_eq!(
            verify(RFC_KEY, &previous, now, None),
            Verdict::Accepted(step - 1)
        );
        assert_eq!(verify(RFC_KEY, &older, now, None), Verdict::Wrong);
        // The next step's code is not accepted early.
        let next = code_at(RFC_KEY, now + STEP_SECS);
        assert_eq!(verify(RFC_KEY, &next, now, None), Verdict::Wrong);
    }

    #[test]
    fn a_code_already_used_is_refused_as_a_replay() {
        let now = 1_234_567_890;
        let step = step_at(now);
        let code = code_at(RFC_KEY, now);
        assert_eq!(
            verify(RFC_KEY, &code, now, Some(step - 1)),
            Verdict::Accepted(step)
        );
        assert_eq!(verify(RFC_KEY, &code, now, Some(step)), Verdict::Replayed);
        // After a newer code was used, the previous step's code is refused too.
        let previous = code_at(RFC_KEY, now - STEP_SECS);
        assert_eq!(
            verify(RFC_KEY, &previous, now, Some(step)),
            Verdict::Replayed
        );
    }

    #[test]
    fn malformed_codes_are_wrong() {
        for code in ["", "12345", "1234567", "12a456", "abcdef"] {
            assert_eq!(verify(RFC_KEY, code, 59, None), Verdict::Wrong, "{code:?}");
        }
    }

    #[test]
    fn a_generated_secret_round_trips_through_the_uri() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 32);
        let key = decode_secret(&secret).unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
        let uri = otpauth_uri("SafeGrid", "chen.wei", &secret);
        assert!(
            uri.starts_with("otpauth://totp/SafeGrid:chen.wei?secret="),
            "{uri}"
        );
        assert_eq!(secret_from_uri(&uri).as_deref(), Some(secret.as_str()));
        assert_eq!(decode_secret(&secret.to_lowercase()), Some(key));
    }
}
