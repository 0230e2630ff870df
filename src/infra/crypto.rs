//! Encryption at rest of personal data (phone numbers) and the keyed hash that finds them.
//!
//! A stored value is `SUITE:KID:NONCE:CIPHERTEXT` (nonce and ciphertext in unpadded base64url):
//! `v1` is AES-256-GCM, `s1` SM4-GCM (GB/T 32907 in GCM mode, `SAFEGRID_CRYPTO=sm`). `KID`
//! names the key in `SAFEGRID_DATA_KEYS` (`k2:BASE64,k1:BASE64`, the first one encrypts, every
//! one decrypts), so keys rotate: add a new first key, restart, run `safegrid keys rotate`,
//! then drop the old key. The associated data binds a ciphertext to its column and row, so a
//! value copied onto another row or column does not decrypt.
//!
//! Lookups never compare plaintext: a `*_hash` column holds HMAC-SHA256 (HMAC-SM3 is not used,
//! so the hash survives a change of suite) of the normalised number under
//! `SAFEGRID_PHONE_HASH_KEY`, a key separate from the encryption keys.

use std::fmt;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, AesGcm};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// The column (and associated data) of a user's number.
pub const USER_PHONE: &str = "users.phone";
/// The column (and associated data) of a hotline caller's number.
pub const CALLER_PHONE: &str = "reports.caller_phone";

/// Which algorithms protect data at rest (`SAFEGRID_CRYPTO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// AES-256-GCM for data, SHA-256 for the audit chain (the default).
    Standard,
    /// The national algorithms: SM4-GCM for data, SM3 for the audit chain.
    Sm,
}

impl Suite {
    fn tag(self) -> &'static str {
        match self {
            Suite::Standard => "v1",
            Suite::Sm => "s1",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Suite::Standard => 32,
            Suite::Sm => 16,
        }
    }

    fn from_tag(tag: &str) -> Option<Suite> {
        match tag {
            "v1" => Some(Suite::Standard),
            "s1" => Some(Suite::Sm),
            _ => None,
        }
    }
}

/// A stored value that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("encrypted with key {0:?}, which SAFEGRID_DATA_KEYS no longer holds")]
    UnknownKey(String),
    #[error("malformed ciphertext")]
    Malformed,
    #[error("ciphertext does not authenticate (wrong key, or moved to another row)")]
    Forged,
}

/// A problem with the key configuration, naming the variable.
#[derive(Debug)]
pub struct KeyConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// The configured keys. Never printed.
#[derive(Clone)]
pub struct Keyring {
    suite: Suite,
    /// `(kid, key bytes)`; the first one encrypts.
    keys: Vec<(String, Vec<u8>)>,
    hash_key: Vec<u8>,
    development: bool,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Keyring")
            .field("suite", &self.suite)
            .field("kids", &kids)
            .field("development", &self.development)
            .finish_non_exhaustive()
    }
}

fn fixed(label: &str, len: usize) -> Vec<u8> {
    Sha256::digest(label.as_bytes())[..len].to_vec()
}

impl Keyring {
    /// The fixed development keys (kid `dev`): public, for development and tests only.
    pub fn development(suite: Suite) -> Keyring {
        Keyring {
            suite,
            keys: vec![(
                "dev".into(),
                fixed("safegrid development data key", suite.key_len()),
            )],
            hash_key: fixed("safegrid development phone hash key", 32),
            development: true,
        }
    }

    /// Parses `SAFEGRID_DATA_KEYS` and `SAFEGRID_PHONE_HASH_KEY`; `None` for both gives the
    /// development keys (refused by the caller in production).
    pub fn parse(
        suite: Suite,
        keys: Option<&str>,
        hash_key: Option<&str>,
    ) -> Result<Keyring, KeyConfigError> {
        let bad = |variable: &'static str, problem: String| KeyConfigError { variable, problem };
        if keys.is_none() && hash_key.is_none() {
            return Ok(Keyring::development(suite));
        }
        let keys = keys.ok_or_else(|| {
            bad(
                "SAFEGRID_DATA_KEYS",
                "is required when SAFEGRID_PHONE_HASH_KEY is set".into(),
            )
        })?;
        let mut parsed: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in keys.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, b64) = entry.split_once(':').ok_or_else(|| {
                bad(
                    "SAFEGRID_DATA_KEYS",
                    "expected kid:base64 pairs separated by commas, e.g. k2:…,k1:…".into(),
                )
            })?;
            let kid = kid.trim();
            if kid.is_empty()
                || kid.len() > 16
                || !kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad(
                    "SAFEGRID_DATA_KEYS",
                    format!("key id {kid:?}: 1 to 16 letters, digits, - or _"),
                ));
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| bad("SAFEGRID_DATA_KEYS", format!("key {kid}: not valid base64")))?;
            if bytes.len() != 16 && bytes.len() != 32 {
                return Err(bad(
                    "SAFEGRID_DATA_KEYS",
                    format!(
                        "key {kid}: 32 bytes for AES-256 or 16 for SM4, got {}",
                        bytes.len()
                    ),
                ));
            }
            if parsed.iter().any(|(k, _)| k == kid) {
                return Err(bad(
                    "SAFEGRID_DATA_KEYS",
                    format!("key id {kid} appears twice"),
                ));
            }
            parsed.push((kid.to_string(), bytes));
        }
        let Some((current, key)) = parsed.first() else {
            return Err(bad("SAFEGRID_DATA_KEYS", "holds no key".into()));
        };
        if key.len() != suite.key_len() {
            return Err(bad(
                "SAFEGRID_DATA_KEYS",
                format!(
                    "the current key {current} must be {} bytes for {}",
                    suite.key_len(),
                    match suite {
                        Suite::Standard => "AES-256-GCM",
                        Suite::Sm => "SM4-GCM (SAFEGRID_CRYPTO=sm)",
                    }
                ),
            ));
        }
        let hash_key = hash_key.ok_or_else(|| {
            bad(
                "SAFEGRID_PHONE_HASH_KEY",
                "is required when SAFEGRID_DATA_KEYS is set".into(),
            )
        })?;
        let hash_key = STANDARD
            .decode(hash_key.trim())
            .map_err(|_| bad("SAFEGRID_PHONE_HASH_KEY", "not valid base64".into()))?;
        if hash_key.len() < 32 {
            return Err(bad(
                "SAFEGRID_PHONE_HASH_KEY",
                "must be at least 32 bytes".into(),
            ));
        }
        Ok(Keyring {
            suite,
            keys: parsed,
            hash_key,
            development: false,
        })
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Whether these are the public development keys.
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// The id of the key that encrypts.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].0
    }

    fn aad(field: &str, row_id: &str) -> Vec<u8> {
        format!("safegrid\u{1f}{field}\u{1f}{row_id}").into_bytes()
    }

    /// Encrypts `plain` for column `field` (e.g. `users.phone`) of row `row_id`.
    pub fn encrypt(&self, field: &str, row_id: &str, plain: &str) -> String {
        let (kid, key) = &self.keys[0];
        let nonce: [u8; 12] = rand::random();
        let aad = Self::aad(field, row_id);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: &aad,
        };
        let ct = match self.suite {
            Suite::Standard => Aes256Gcm::new_from_slice(key)
                .expect("current key length checked at start")
                .encrypt(&nonce.into(), payload),
            Suite::Sm => Sm4Gcm::new_from_slice(key)
                .expect("current key length checked at start")
                .encrypt(&nonce.into(), payload),
        }
        .expect("GCM encryption of a short value cannot fail");
        format!(
            "{}:{kid}:{}:{}",
            self.suite.tag(),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ct)
        )
    }

    /// Whether `stored` is a ciphertext of the current suite and key (nothing to rotate).
    pub fn is_current(&self, stored: &str) -> bool {
        let mut parts = stored.splitn(3, ':');
        parts.next() == Some(self.suite.tag()) && parts.next() == Some(self.current_kid())
    }

    /// Whether `stored` looks like one of our ciphertexts (else it is legacy plaintext).
    pub fn is_ciphertext(stored: &str) -> bool {
        let parts: Vec<&str> = stored.split(':').collect();
        parts.len() == 4 && Suite::from_tag(parts[0]).is_some()
    }

    /// Decrypts a stored value. A value that is not a ciphertext at all is plaintext left by
    /// a release before encryption (converted at start and by `safegrid keys rotate`).
    pub fn decrypt(&self, field: &str, row_id: &str, stored: &str) -> Result<String, CryptoError> {
        if !Self::is_ciphertext(stored) {
            return Ok(stored.to_string());
        }
        let parts: Vec<&str> = stored.split(':').collect();
        let suite = Suite::from_tag(parts[0]).ok_or(CryptoError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|(k, _)| k == parts[1])
            .map(|(_, key)| key)
            .ok_or_else(|| CryptoError::UnknownKey(parts[1].to_string()))?;
        let nonce: [u8; 12] = URL_SAFE_NO_PAD
            .decode(parts[2])
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(CryptoError::Malformed)?;
        let ct = URL_SAFE_NO_PAD
            .decode(parts[3])
            .map_err(|_| CryptoError::Malformed)?;
        let aad = Self::aad(field, row_id);
        let payload = Payload {
            msg: &ct,
            aad: &aad,
        };
        let plain = match suite {
            Suite::Standard => Aes256Gcm::new_from_slice(key)
                .map_err(|_| CryptoError::UnknownKey(parts[1].to_string()))?
                .decrypt(&nonce.into(), payload),
            Suite::Sm => Sm4Gcm::new_from_slice(key)
                .map_err(|_| CryptoError::UnknownKey(parts[1].to_string()))?
                .decrypt(&nonce.into(), payload),
        }
        .map_err(|_| CryptoError::Forged)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }

    /// Decrypts for display; a value that cannot be read is logged and shown as absent.
    pub fn reveal(&self, field: &str, row_id: &str, stored: Option<&str>) -> Option<String> {
        let stored = stored?;
        match self.decrypt(field, row_id, stored) {
            Ok(plain) => Some(plain),
            Err(e) => {
                tracing::error!(error = %e, field, "stored personal data cannot be decrypted");
                None
            }
        }
    }

    /// A user's phone number in clear (`None` when unbound or unreadable).
    pub fn user_phone(&self, u: &entity::users::Model) -> Option<String> {
        self.reveal(USER_PHONE, &u.id, u.phone.as_deref())
    }

    /// A hotline caller's number in clear.
    pub fn caller_phone(&self, r: &entity::reports::Model) -> Option<String> {
        self.reveal(CALLER_PHONE, &r.id, r.caller_phone.as_deref())
    }

    /// The keyed hash of a phone number, for lookups: HMAC-SHA256 over its digits (a leading
    /// `86` country code of an 11-digit mobile number dropped), hex.
    pub fn phone_hash(&self, phone: &str) -> String {
        let mut digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 13 && digits.starts_with("86") {
            digits.drain(..2);
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key)
            .expect("HMAC takes any key length");
        mac.update(b"phone\x1f");
        mac.update(digits.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(n: u8, len: usize) -> String {
        STANDARD.encode(vec![n; len])
    }

    #[test]
    fn round_trip_with_either_suite_bound_to_its_row() {
        for suite in [Suite::Standard, Suite::Sm] {
            let k = Keyring::development(suite);
            let c = k.encrypt("users.phone", "u1", "13812345678");
            assert!(c.starts_with(&format!("{}:dev:", suite.tag())), "{c}");
            assert!(!c.contains("13812345678"));
            assert_eq!(k.decrypt("users.phone", "u1", &c).unwrap(), "13812345678");
            assert!(matches!(
                k.decrypt("users.phone", "u2", &c),
                Err(CryptoError::Forged)
            ));
            assert!(matches!(
                k.decrypt("reports.caller_phone", "u1", &c),
                Err(CryptoError::Forged)
            ));
            assert_ne!(c, k.encrypt("users.phone", "u1", "13812345678"));
        }
    }

    #[test]
    fn old_keys_decrypt_and_only_the_first_encrypts() {
        let old = Keyring::parse(
            Suite::Standard,
            Some(&format!("k1:{}", b64(1, 32))),
            Some(&b64(9, 32)),
        )
        .unwrap();
        let c = old.encrypt("f", "r", "123");
        let new = Keyring::parse(
            Suite::Sm,
            Some(&format!("k2:{},k1:{}", b64(2, 16), b64(1, 32))),
            Some(&b64(9, 32)),
        )
        .unwrap();
        assert!(!new.is_current(&c));
        assert_eq!(new.decrypt("f", "r", &c).unwrap(), "123");
        let c2 = new.encrypt("f", "r", "123");
        assert!(new.is_current(&c2) && c2.starts_with("s1:k2:"));
        assert!(matches!(
            old.decrypt("f", "r", &c2),
            Err(CryptoError::UnknownKey(k)) if k == "k2"
        ));
        assert_eq!(
            old.phone_hash("+86 138-1234-5678"),
            new.phone_hash("13812345678")
        );
    }

    #[test]
    fn bad_configuration_names_the_variable() {
        let e = |keys: Option<&str>, hash: Option<&str>| {
            Keyring::parse(Suite::Standard, keys, hash)
                .unwrap_err()
                .variable
        };
        assert_eq!(e(Some("k1"), Some(&b64(9, 32))), "SAFEGRID_DATA_KEYS");
        assert_eq!(
            e(Some(&format!("k1:{}", b64(1, 16))), Some(&b64(9, 32))),
            "SAFEGRID_DATA_KEYS"
        );
        assert_eq!(
            e(Some(&format!("k1:{}", b64(1, 32))), None),
            "SAFEGRID_PHONE_HASH_KEY"
        );
        assert_eq!(
            e(Some(&format!("k1:{}", b64(1, 32))), Some(&b64(9, 8))),
            "SAFEGRID_PHONE_HASH_KEY"
        );
        assert!(format!("{:?}", Keyring::development(Suite::Sm)).contains("dev"));
    }
}
