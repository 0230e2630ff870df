//! Our own access tokens: HS256 JWTs with the algorithm pinned and `exp`, `iss`, `aud`, `sub`
//! required. A token with `alg: none`, another algorithm, a wrong key, an expired `exp` or an
//! `iat` in the future is refused.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "safegrid";
pub const AUDIENCE: &str = "safegrid-api";
/// Clock skew tolerated between instances, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

/// Why a token was refused (logged, never shown in detail).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token issued in the future")]
    FromTheFuture,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A signed access token for `user_id`.
    pub fn issue(&self, user_id: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let now = crate::util::now_ms() / 1000;
        let claims = Claims {
            sub: user_id.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + self.ttl_secs,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)?;
        let now = crate::util::now_ms() / 1000;
        if data.claims.iat > now + LEEWAY_SECS as i64 {
            return Err(TokenError::FromTheFuture);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef", 900)
    }

    #[test]
    fn an_issued_token_verifies() {
        let k = keys();
        let t = k.issue("u1").unwrap();
        assert_eq!(k.verify(&t).unwrap().sub, "u1");
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let t = JwtKeys::new(b"another-secret-another-secret-xx", 900)
            .issue("u1")
            .unwrap();
        assert!(keys().verify(&t).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = crate::util::now_ms() / 1000;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(format!(
            r#"{{"sub":"u1","iss":"safegrid","aud":"safegrid-api","iat":{now},"exp":{}}}"#,
            now + 600
        ));
        assert!(keys().verify(&format!("{header}.{body}.")).is_err());
    }

    #[test]
    fn expired_and_future_tokens_are_refused() {
        let k = keys();
        let now = crate::util::now_ms() / 1000;
        let sign = |iat: i64, exp: i64| {
            let c = Claims {
                sub: "u".into(),
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                iat,
                exp,
            };
            encode(&Header::new(Algorithm::HS256), &c, &k.encoding).unwrap()
        };
        assert!(k.verify(&sign(now - 2000, now - 1000)).is_err());
        assert!(k.verify(&sign(now + 3600, now + 7200)).is_err());
    }

    #[test]
    fn wrong_audience_is_refused() {
        let k = keys();
        let now = crate::util::now_ms() / 1000;
        let c = Claims {
            sub: "u".into(),
            iss: ISSUER.into(),
            aud: "other".into(),
            iat: now,
            exp: now + 60,
        };
        let t = encode(&Header::new(Algorithm::HS256), &c, &k.encoding).unwrap();
        assert!(k.verify(&t).is_err());
    }
}
