//! Client for WeChat's mini-program server API (login, access_token, phone number,
//! subscribe messages and content security).
//!
//! WeChat answers errors with HTTP 200 and `{"errcode": N, "errmsg": "... rid: ..."}`;
//! success may omit `errcode`. Every answer is parsed as JSON whatever its content type.
//! Nothing secret (app secret, session_key, access tokens) and no personal data (openids,
//! phone numbers) is ever logged or put into an error: logs carry only the endpoint path,
//! the errcode and the duration.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Pause before the single retry of a login that WeChat answered with -1 (system busy).
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(200);

const PATH_CODE2SESSION: &str = "/sns/jscode2session";
const PATH_STABLE_TOKEN: &str = "/cgi-bin/stable_token";
const PATH_PHONE_NUMBER: &str = "/wxa/business/getuserphonenumber";
const PATH_SUBSCRIBE_SEND: &str = "/cgi-bin/message/subscribe/send";
const PATH_MSG_SEC_CHECK: &str = "/wxa/msg_sec_check";

/// A failed call to WeChat.
#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat API error {errcode}: {errmsg}")]
    Api {
        /// WeChat's error code (see DOMAIN.md §5).
        errcode: i64,
        /// WeChat's message, ending with ` rid: …` (useful when asking WeChat support).
        errmsg: String,
    },
    /// WeChat could not be reached or gave no usable answer: transport error, timeout,
    /// non-2xx status, a body that is not JSON or lacks the expected fields.
    #[error("WeChat unavailable: {0}")]
    Unavailable(String),
    /// The phone number's watermark names another appid than ours.
    #[error("phone number watermark belongs to another appid")]
    WatermarkMismatch,
}

impl WeChatError {
    /// WeChat's errcode, if WeChat answered with one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WeChatError::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    fn has_code(&self, codes: &[i64]) -> bool {
        self.errcode().is_some_and(|c| codes.contains(&c))
    }

    /// 40029 invalid code or 40163 code already used: the client must log in again.
    pub fn is_code_invalid(&self) -> bool {
        self.has_code(&[40029, 40163])
    }

    /// 45011: WeChat's API rate limit was hit.
    pub fn is_rate_limited(&self) -> bool {
        self.has_code(&[45011])
    }

    /// 40226: WeChat flags the user as high-risk.
    pub fn is_high_risk(&self) -> bool {
        self.has_code(&[40226])
    }

    /// -1: WeChat's system is busy.
    pub fn is_busy(&self) -> bool {
        self.has_code(&[-1])
    }

    /// 40001, 42001 or 40014: the access_token used is invalid, expired or malformed.
    pub fn is_token_invalid(&self) -> bool {
        self.has_code(&[40001, 42001, 40014])
    }

    /// 43101: the user has no subscribe-message quota left for this template.
    pub fn is_quota_exhausted(&self) -> bool {
        self.has_code(&[43101])
    }

    /// 47003: a subscribe-message value breaks its field type's limit.
    pub fn is_value_invalid(&self) -> bool {
        self.has_code(&[47003])
    }
}

/// The result of a successful login (`jscode2session`). Never send `session_key` to the
/// client; `Debug` prints none of the fields' values.
#[derive(Clone)]
pub struct Session {
    /// The user's id within this mini-program.
    pub openid: String,
    /// The session key (base64 of 16 bytes), used to decrypt data from the client.
    pub session_key: SecretString,
    /// The user's id across the open-platform account, when the app is bound to one.
    pub unionid: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("openid", &"[REDACTED]")
            .field("session_key", &"[REDACTED]")
            .field("unionid", &self.unionid.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// An access_token from `stable_token`. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token itself.
    pub token: String,
    /// Seconds the token stays valid from now (7200 for a fresh one).
    pub expires_in: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A user's phone number from `getuserphonenumber`. `Debug` redacts the numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneInfo {
    /// The number as bound in WeChat; numbers outside China carry their country code.
    pub phone_number: String,
    /// The number without country code.
    pub pure_phone_number: String,
    /// The country code, e.g. "86".
    pub country_code: String,
}

impl fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneInfo")
            .field("phone_number", &"[REDACTED]")
            .field("pure_phone_number", &"[REDACTED]")
            .field("country_code", &self.country_code)
            .finish()
    }
}

/// A subscribe message to send. `Debug` redacts the recipient's openid.
#[derive(Clone, Default, Serialize)]
pub struct SubscribeMessage {
    /// The recipient's openid.
    pub touser: String,
    /// The template the user accepted.
    pub template_id: String,
    /// The mini-program page opened from the message, e.g. `pages/report/detail?id=…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Field key (`thing1`, `time2`, …) to value; sent as `{"thing1": {"value": "…"}}`.
    /// Use [`truncate_for_field`] to keep values within their type's limit.
    #[serde(serialize_with = "serialize_data")]
    pub data: BTreeMap<String, String>,
    /// `developer`, `trial` or `formal` (WeChat's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<String>,
}

impl fmt::Debug for SubscribeMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeMessage")
            .field("touser", &"[REDACTED]")
            .field("template_id", &self.template_id)
            .field("page", &self.page)
            .field("data", &self.data)
            .field("miniprogram_state", &self.miniprogram_state)
            .finish()
    }
}

fn serialize_data<S: Serializer>(
    data: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Field<'a> {
        value: &'a str,
    }
    serializer.collect_map(data.iter().map(|(k, v)| (k, Field { value: v })))
}

/// WeChat's verdict on a text (`msg_sec_check` version 2, `result.suggest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentVerdict {
    /// `pass`: the text may be published.
    Pass,
    /// `review`: a human should look at it first.
    Review,
    /// `risky`: the text must not be published.
    Risky,
}

/// Truncates a subscribe-message value to the character limit of its field type, read
/// from the key's prefix (`thing1` → thing): thing ≤ 20, character_string ≤ 32,
/// phrase ≤ 5, name ≤ 10, number ≤ 32, letter ≤ 32, phone_number ≤ 17, car_number ≤ 8.
/// time, date and unknown types are returned unchanged. Characters are counted, not bytes.
/// A cut `thing` ends with "…" within the limit; the other types only admit restricted
/// character sets (digits, letters, Chinese characters…), so they are cut without it.
pub fn truncate_for_field(key: &str, value: &str) -> String {
    let kind = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let (limit, ellipsis) = match kind {
        "thing" => (20, true),
        "character_string" | "number" | "letter" => (32, false),
        "phrase" => (5, false),
        "name" => (10, false),
        "phone_number" => (17, false),
        "car_number" => (8, false),
        _ => return value.to_owned(),
    };
    if value.chars().count() <= limit {
        return value.to_owned();
    }
    if ellipsis && limit > 1 {
        let mut cut: String = value.chars().take(limit - 1).collect();
        cut.push('…');
        cut
    } else {
        value.chars().take(limit).collect()
    }
}

/// A client for WeChat's server API, for one mini-program (appid). Cheap to clone.
#[derive(Clone)]
pub struct WeChatClient {
    http: reqwest::Client,
    base_url: Arc<str>,
    appid: Arc<str>,
    secret: SecretString,
    timeout: Duration,
}

impl fmt::Debug for WeChatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatClient")
            .field("base_url", &self.base_url)
            .field("appid", &self.appid)
            .field("secret", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WeChatClient {
    /// Builds a client for `base_url` (e.g. `https://api.weixin.qq.com`, no trailing
    /// slash needed); `timeout` bounds both connecting and each whole request.
    pub fn new(base_url: String, appid: String, secret: SecretString, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .unwrap_or_else(|err| {
                // Only a broken TLS setup gets here; every request still carries its own
                // timeout, so falling back to the default client loses nothing essential.
                tracing::error!(error = %err, "building the WeChat HTTP client failed; using defaults");
                reqwest::Client::new()
            });
        Self {
            http,
            base_url: Arc::from(base_url.trim_end_matches('/')),
            appid: Arc::from(appid),
            secret,
            timeout,
        }
    }

    /// The mini-program's appid.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Exchanges a `wx.login` code for the user's session. WeChat's -1 (system busy) is
    /// retried once after a short pause, then returned.
    pub async fn code2session(&self, js_code: &str) -> Result<Session, WeChatError> {
        match self.code2session_once(js_code).await {
            Err(err) if err.is_busy() => {
                tokio::time::sleep(BUSY_RETRY_PAUSE).await;
                self.code2session_once(js_code).await
            }
            other => other,
        }
    }

    async fn code2session_once(&self, js_code: &str) -> Result<Session, WeChatError> {
        #[derive(Deserialize)]
        struct Raw {
            openid: String,
            session_key: String,
            unionid: Option<String>,
        }
        let request = self.http.get(self.url(PATH_CODE2SESSION)).query(&[
            ("appid", self.appid()),
            ("secret", self.secret.expose_secret()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ]);
        let raw: Raw = self.call(PATH_CODE2SESSION, request).await?;
        Ok(Session {
            openid: raw.openid,
            session_key: SecretString::from(raw.session_key),
            unionid: raw.unionid.filter(|u| !u.is_empty()),
        })
    }

    /// Fetches the stable access_token. Without `force_refresh` WeChat returns the current
    /// token while it is valid; with it, a new one (the previous stays valid 5 minutes).
    pub async fn stable_token(&self, force_refresh: bool) -> Result<AccessToken, WeChatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            grant_type: &'a str,
            appid: &'a str,
            secret: &'a str,
            force_refresh: bool,
        }
        #[derive(Deserialize)]
        struct Raw {
            access_token: String,
            expires_in: u64,
        }
        let request = self.http.post(self.url(PATH_STABLE_TOKEN)).json(&Body {
            grant_type: "client_credential",
            appid: self.appid(),
            secret: self.secret.expose_secret(),
            force_refresh,
        });
        let raw: Raw = self.call(PATH_STABLE_TOKEN, request).await?;
        Ok(AccessToken {
            token: raw.access_token,
            expires_in: raw.expires_in,
        })
    }

    /// Exchanges a phone-button code for the user's phone number, checking that the
    /// watermark names our appid.
    pub async fn phone_number(
        &self,
        access_token: &str,
        code: &str,
    ) -> Result<PhoneInfo, WeChatError> {
        #[derive(Deserialize)]
        struct Raw {
            phone_info: RawPhone,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawPhone {
            phone_number: String,
            pure_phone_number: String,
            // Documented as a string, shown as a number in WeChat's own example.
            country_code: Value,
            watermark: RawWatermark,
        }
        #[derive(Deserialize)]
        struct RawWatermark {
            appid: String,
        }
        let request = self
            .http
            .post(self.url(PATH_PHONE_NUMBER))
            .query(&[("access_token", access_token)])
            .json(&serde_json::json!({ "code": code }));
        let raw: Raw = self.call(PATH_PHONE_NUMBER, request).await?;
        let phone = raw.phone_info;
        if phone.watermark.appid != *self.appid {
            tracing::warn!(
                endpoint = PATH_PHONE_NUMBER,
                "phone number watermark names another appid"
            );
            return Err(WeChatError::WatermarkMismatch);
        }
        let country_code = match phone.country_code {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(WeChatError::Unavailable(format!(
                    "{PATH_PHONE_NUMBER}: unexpected countryCode"
                )))
            }
        };
        Ok(PhoneInfo {
            phone_number: phone.phone_number,
            pure_phone_number: phone.pure_phone_number,
            country_code,
        })
    }

    /// Sends a subscribe message. 43101 (no quota left) is routine: see
    /// [`WeChatError::is_quota_exhausted`].
    pub async fn send_subscribe(
        &self,
        access_token: &str,
        msg: &SubscribeMessage,
    ) -> Result<(), WeChatError> {
        let request = self
            .http
            .post(self.url(PATH_SUBSCRIBE_SEND))
            .query(&[("access_token", access_token)])
            .json(msg);
        let _: Value = self.call(PATH_SUBSCRIBE_SEND, request).await?;
        Ok(())
    }

    /// Checks a text with `msg_sec_check` version 2. `scene`: 1 profile, 2 comment,
    /// 3 forum, 4 social log. An unknown `suggest` is taken as [`ContentVerdict::Review`].
    pub async fn msg_sec_check(
        &self,
        access_token: &str,
        openid: &str,
        scene: u8,
        content: &str,
    ) -> Result<ContentVerdict, WeChatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            version: u8,
            openid: &'a str,
            scene: u8,
            content: &'a str,
        }
        #[derive(Deserialize)]
        struct Raw {
            result: RawResult,
        }
        #[derive(Deserialize)]
        struct RawResult {
            suggest: String,
        }
        let request = self
            .http
            .post(self.url(PATH_MSG_SEC_CHECK))
            .query(&[("access_token", access_token)])
            .json(&Body {
                version: 2,
                openid,
                scene,
                content,
            });
        let raw: Raw = self.call(PATH_MSG_SEC_CHECK, request).await?;
        Ok(match raw.result.suggest.as_str() {
            "pass" => ContentVerdict::Pass,
            "risky" => ContentVerdict::Risky,
            "review" => ContentVerdict::Review,
            _ => {
                tracing::warn!(
                    endpoint = PATH_MSG_SEC_CHECK,
                    "unknown suggest, treating as review"
                );
                ContentVerdict::Review
            }
        })
    }

    /// Sends `request` and decodes WeChat's answer: errcode absent or 0 is success.
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WeChatError> {
        let started = Instant::now();
        let result = self.exchange(endpoint, request).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => tracing::debug!(endpoint, elapsed_ms, "WeChat call succeeded"),
            Err(WeChatError::Api { errcode, .. }) => {
                tracing::warn!(endpoint, errcode, elapsed_ms, "WeChat returned an error")
            }
            Err(err) => tracing::warn!(endpoint, elapsed_ms, error = %err, "WeChat call failed"),
        }
        result
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WeChatError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| transport_error(endpoint, err))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| transport_error(endpoint, err))?;
        if !status.is_success() {
            return Err(WeChatError::Unavailable(format!(
                "{endpoint}: HTTP {}",
                status.as_u16()
            )));
        }
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            WeChatError::Unavailable(format!("{endpoint}: answer is not JSON (HTTP {status})"))
        })?;
        let errcode = value.get("errcode").and_then(Value::as_i64).unwrap_or(0);
        if errcode != 0 {
            let errmsg = value
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return Err(WeChatError::Api { errcode, errmsg });
        }
        // The error names the missing field only, never a value from the answer.
        serde_json::from_value(value).map_err(|err| {
            WeChatError::Unavailable(format!("{endpoint}: unexpected answer: {err}"))
        })
    }
}

/// Describes a transport failure without its URL, which carries the secret or the token.
fn transport_error(endpoint: &str, err: reqwest::Error) -> WeChatError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    WeChatError::Unavailable(format!("{endpoint}: {kind} ({detail})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_is_cut_to_twenty_chars_with_ellipsis() {
        let long = "小区东门路灯损坏已经三天夜间出行很不方便请尽快处理谢谢";
        let cut = truncate_for_field("thing1", long);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
        assert!(long.starts_with(cut.trim_end_matches('…')));
    }

    #[test]
    fn values_within_the_limit_are_unchanged() {
        assert_eq!(truncate_for_field("thing2", "路灯损坏"), "路灯损坏");
        let twenty = "一二三四五六七八九十一二三四五六七八九十";
        assert_eq!(truncate_for_field("thing3", twenty), twenty);
        assert_eq!(truncate_for_field("phrase1", "已受理"), "已受理");
    }

    #[test]
    fn chars_are_counted_not_bytes() {
        // 6 Chinese characters are 18 bytes but fit the 10-character name limit.
        assert_eq!(truncate_for_field("name1", "欧阳建国同志"), "欧阳建国同志");
        assert_eq!(
            truncate_for_field("name1", "一二三四五六七八九十十一"),
            "一二三四五六七八九十"
        );
    }

    #[test]
    fn restricted_types_are_cut_without_ellipsis() {
        assert_eq!(truncate_for_field("phrase4", "处理中请等待"), "处理中请等");
        let long_id = "SG-2024-0501-000000000000000000000001";
        let cut = truncate_for_field("character_string12", long_id);
        assert_eq!(cut.chars().count(), 32);
        assert!(long_id.starts_with(&cut));
        assert_eq!(
            truncate_for_field("number3", &"9".repeat(40)),
            "9".repeat(32)
        );
        assert_eq!(
            truncate_for_field("letter2", &"a".repeat(33)),
            "a".repeat(32)
        );
        assert_eq!(
            truncate_for_field("phone_number5", "+86-138-0013-8000-1234"),
            "+86-138-0013-8000"
        );
        assert_eq!(
            truncate_for_field("car_number1", "粤B12345678"),
            "粤B123456"
        );
    }

    #[test]
    fn phone_number_is_not_mistaken_for_number() {
        // "phone_number" has its own limit (17), not number's (32).
        let v = "1".repeat(20);
        assert_eq!(truncate_for_field("phone_number1", &v).len(), 17);
        assert_eq!(truncate_for_field("number1", &v).len(), 20);
    }

    #[test]
    fn time_date_and_unknown_types_are_left_alone() {
        let t = "2024年5月1日 15:01 ~ 2024年5月2日 15:01 加长加长加长";
        assert_eq!(truncate_for_field("time4", t), t);
        assert_eq!(truncate_for_field("date2", t), t);
        assert_eq!(truncate_for_field("amount1", t), t);
        assert_eq!(truncate_for_field("thing", "短"), "短");
    }

    #[test]
    fn subscribe_message_serializes_data_as_value_objects() {
        let mut data = BTreeMap::new();
        data.insert("thing1".to_owned(), "路灯损坏".to_owned());
        data.insert("time2".to_owned(), "2024年5月1日 15:01".to_owned());
        let msg = SubscribeMessage {
            touser: "o-user".into(),
            template_id: "tpl".into(),
            page: None,
            data,
            miniprogram_state: Some("formal".into()),
        };
        let json = serde_json::to_value(&msg).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "touser": "o-user",
                "template_id": "tpl",
                "data": {
                    "thing1": {"value": "路灯损坏"},
                    "time2": {"value": "2024年5月1日 15:01"}
                },
                "miniprogram_state": "formal"
            })
        );
    }

    #[test]
    fn debug_output_hides_secrets_and_personal_data() {
        let session = Session {
            openid: "o-secret-openid".into(),
            session_key: SecretString::from("c2Vzc2lvbmtleQ==".to_owned()),
            unionid: Some("u-secret".into()),
        };
        let token = AccessToken {
            token: "tok-secret".into(),
            expires_in: 7200,
        };
        let phone = PhoneInfo {
            phone_number: "13800138000".into(),
            pure_phone_number: "13800138000".into(),
            country_code: "86".into(),
        };
        let client = WeChatClient::new(
            "http://127.0.0.1:1".into(),
            "wx-app".into(),
            SecretString::from("app-secret".to_owned()),
            Duration::from_secs(1),
        );
        let printed = format!("{session:?} {token:?} {phone:?} {client:?}");
        for secret in [
            "o-secret-openid",
            "c2Vzc2lvbmtleQ==",
            "u-secret",
            "tok-secret",
            "13800138000",
            "app-secret",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked in {printed}");
        }
    }

    #[test]
    fn error_helpers_match_their_codes() {
        let api = |errcode| WeChatError::Api {
            errcode,
            errmsg: String::new(),
        };
        assert!(api(40029).is_code_invalid() && api(40163).is_code_invalid());
        assert!(api(45011).is_rate_limited());
        assert!(api(40226).is_high_risk());
        assert!(api(-1).is_busy());
        assert!(api(40001).is_token_invalid());
        assert!(api(42001).is_token_invalid());
        assert!(api(40014).is_token_invalid());
        assert!(api(43101).is_quota_exhausted());
        assert!(api(47003).is_value_invalid());
        assert!(!api(40029).is_token_invalid());
        assert!(!WeChatError::Unavailable("x".into()).is_busy());
        assert!(!WeChatError::WatermarkMismatch.is_code_invalid());
        assert_eq!(api(45011).errcode(), Some(45011));
    }
}
