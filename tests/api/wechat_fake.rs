//! A fake of WeChat's mini-program server API for the integration tests.
//!
//! Each test starts its own server (`FakeWeChat::start().await`) on 127.0.0.1 with a free
//! port; nothing is shared between tests. It behaves like WeChat where the tests need it
//! to: one-time login codes, stable_token rotation with a 5-minute grace for the previous
//! token, access_token checks on every protected endpoint, a subscribe-message ledger with
//! value checks, keyword-driven content verdicts, errors as HTTP 200
//! `{"errcode", "errmsg": "... rid: <hex>"}`, and `text/plain` answers from
//! jscode2session. Failures, delays and HTML 5xx pages can be injected per path.

// Not every test uses every helper.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use rand::{Rng, RngCore};
use serde_json::{json, Value};

/// The appid the fake accepts.
pub const APPID: &str = "wx-test-app";
/// The app secret the fake accepts.
pub const SECRET: &str = "test-secret";
/// The appid put in the watermark of `issue_phone_code_foreign_appid` codes.
pub const FOREIGN_APPID: &str = "wx-other-app";

/// Login path, as given to `fail_next`, `calls` and friends.
pub const PATH_CODE2SESSION: &str = "/sns/jscode2session";
/// access_token path.
pub const PATH_STABLE_TOKEN: &str = "/cgi-bin/stable_token";
/// Phone number path.
pub const PATH_PHONE_NUMBER: &str = "/wxa/business/getuserphonenumber";
/// Subscribe-message path.
pub const PATH_SUBSCRIBE_SEND: &str = "/cgi-bin/message/subscribe/send";
/// Content-security path.
pub const PATH_MSG_SEC_CHECK: &str = "/wxa/msg_sec_check";

const CODE_TTL: Duration = Duration::from_secs(5 * 60);
const TOKEN_TTL: Duration = Duration::from_secs(7200);
/// How long the previous token stays valid after a forced refresh.
const TOKEN_GRACE: Duration = Duration::from_secs(5 * 60);
const MAX_CONTENT_CHARS: usize = 2500;

/// A subscribe message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Recipient openid.
    pub touser: String,
    /// Template used.
    pub template_id: String,
    /// Page opened from the message, if given.
    pub page: Option<String>,
    /// Field key to value (`{"thing1": {"value": v}}` flattened to `thing1 -> v`).
    pub data: BTreeMap<String, String>,
    /// `developer`, `trial` or `formal`, if given.
    pub miniprogram_state: Option<String>,
}

/// A running fake WeChat server. Cloning gives another handle to the same server.
#[derive(Clone)]
pub struct FakeWeChat {
    /// `http://127.0.0.1:<port>`, to use as the client's base URL.
    pub base_url: String,
    /// The accepted appid ("wx-test-app").
    pub appid: String,
    /// The accepted secret ("test-secret").
    pub secret: String,
    state: Arc<Mutex<State>>,
}

enum Injection {
    Error(i64),
    Html500,
}

struct LoginCode {
    openid: String,
    expires_at: Instant,
    used: bool,
}

struct PhoneCode {
    phone: String,
    watermark_appid: &'static str,
    expires_at: Instant,
    used: bool,
}

#[derive(Default)]
struct State {
    calls: HashMap<String, usize>,
    injections: HashMap<String, VecDeque<Injection>>,
    delay: Duration,
    codes: HashMap<String, LoginCode>,
    unionids: HashMap<String, String>,
    /// Every token ever issued, with the instant it stops being valid.
    tokens: HashMap<String, Instant>,
    current_token: Option<String>,
    token_fetches: usize,
    tokens_issued: usize,
    phone_codes: HashMap<String, PhoneCode>,
    quota: HashMap<(String, String), usize>,
    unlimited_quota: bool,
    sent: Vec<SentMessage>,
}

type Shared = web::Data<Mutex<State>>;

impl FakeWeChat {
    /// Starts a fake on 127.0.0.1 with a free port; it runs until the test's runtime ends.
    pub async fn start() -> FakeWeChat {
        let state = Arc::new(Mutex::new(State::default()));
        let data: Shared = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake WeChat");
        let port = listener.local_addr().expect("local addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(PATH_CODE2SESSION, web::get().to(code2session))
                .route(PATH_STABLE_TOKEN, web::post().to(stable_token))
                .route(PATH_PHONE_NUMBER, web::post().to(phone_number))
                .route(PATH_SUBSCRIBE_SEND, web::post().to(subscribe_send))
                .route(PATH_MSG_SEC_CHECK, web::post().to(msg_sec_check))
                .default_service(web::to(unknown_path))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen fake WeChat")
        .run();
        tokio::spawn(server);
        FakeWeChat {
            base_url: format!("http://127.0.0.1:{port}"),
            appid: APPID.to_owned(),
            secret: SECRET.to_owned(),
            state,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake WeChat state poisoned")
    }

    /// A fresh `wx.login` code for `openid`: valid for 5 minutes, once.
    pub fn issue_code(&self, openid: &str) -> String {
        self.insert_code(openid, Instant::now() + CODE_TTL)
    }

    /// A code that has already expired (→ 40029).
    pub fn issue_stale_code(&self, openid: &str) -> String {
        self.insert_code(openid, Instant::now())
    }

    fn insert_code(&self, openid: &str, expires_at: Instant) -> String {
        let code = random_code();
        self.lock().codes.insert(
            code.clone(),
            LoginCode {
                openid: openid.to_owned(),
                expires_at,
                used: false,
            },
        );
        code
    }

    /// Makes logins of `openid` return `unionid`.
    pub fn set_unionid(&self, openid: &str, unionid: &str) {
        self.lock()
            .unionids
            .insert(openid.to_owned(), unionid.to_owned());
    }

    /// The next `times` requests to `path` fail with `errcode` (before any other check,
    /// so e.g. a login code is not consumed).
    pub fn fail_next(&self, path: &str, errcode: i64, times: usize) {
        let mut state = self.lock();
        let queue = state.injections.entry(path.to_owned()).or_default();
        queue.extend((0..times).map(|_| Injection::Error(errcode)));
    }

    /// The next request to `path` gets an HTML page with HTTP 500, like WeChat's edge.
    pub fn return_html_500_next(&self, path: &str) {
        self.lock()
            .injections
            .entry(path.to_owned())
            .or_default()
            .push_back(Injection::Html500);
    }

    /// Delays every answer by `d` (zero to stop delaying).
    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// How many stable_token requests succeeded (cached or new token alike).
    pub fn token_fetches(&self) -> usize {
        self.lock().token_fetches
    }

    /// How many distinct tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens_issued
    }

    /// The token stable_token currently hands out, if one is valid.
    pub fn current_token(&self) -> Option<String> {
        let state = self.lock();
        let now = Instant::now();
        state
            .current_token
            .clone()
            .filter(|t| state.tokens.get(t).is_some_and(|until| now < *until))
    }

    /// Every token issued so far stops being valid (→ 42001 on use); the next
    /// stable_token call issues a new one.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for until in self.lock().tokens.values_mut() {
            *until = now;
        }
    }

    /// A phone-button code for `phone` ("13800138000", or "+1 2025550123" for a number
    /// with another country code); valid for 5 minutes, once.
    pub fn issue_phone_code(&self, phone: &str) -> String {
        self.insert_phone_code(phone, APPID)
    }

    /// A phone-button code whose watermark names another appid ("wx-other-app").
    pub fn issue_phone_code_foreign_appid(&self, phone: &str) -> String {
        self.insert_phone_code(phone, FOREIGN_APPID)
    }

    fn insert_phone_code(&self, phone: &str, watermark_appid: &'static str) -> String {
        let code = random_code();
        self.lock().phone_codes.insert(
            code.clone(),
            PhoneCode {
                phone: phone.to_owned(),
                watermark_appid,
                expires_at: Instant::now() + CODE_TTL,
                used: false,
            },
        );
        code
    }

    /// Records that `openid` accepted `template_id` `n` more times (n more sends allowed).
    pub fn grant(&self, openid: &str, template_id: &str, n: usize) {
        *self
            .lock()
            .quota
            .entry((openid.to_owned(), template_id.to_owned()))
            .or_default() += n;
    }

    /// Sends left for `openid` × `template_id`.
    pub fn quota(&self, openid: &str, template_id: &str) -> usize {
        self.lock()
            .quota
            .get(&(openid.to_owned(), template_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// With `true`, sends never run out of quota (values are still checked).
    pub fn set_unlimited_quota(&self, unlimited: bool) {
        self.lock().unlimited_quota = unlimited;
    }

    /// The subscribe messages accepted so far, oldest first.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// How many requests reached `path` (injected failures included).
    pub fn calls(&self, path: &str) -> usize {
        self.lock().calls.get(path).copied().unwrap_or(0)
    }
}

fn random_code() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn rid() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "{:08x}-{:08x}-{:08x}",
        rng.gen::<u32>(),
        rng.gen::<u32>(),
        rng.gen::<u32>()
    )
}

fn default_errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40037 => "invalid template_id",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40226 => "high risk user, login blocked",
        41001 => "access_token missing",
        41008 => "missing code",
        42001 => "access_token expired",
        43101 => "user refuse to accept the msg",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        47001 => "data format error",
        47003 => "argument invalid!",
        _ => "fake error",
    }
}

/// `path`'s answer, with jscode2session's `text/plain` content type.
fn reply(path: &str, body: Value) -> HttpResponse {
    let content_type = if path == PATH_CODE2SESSION {
        "text/plain"
    } else {
        "application/json; encoding=utf-8"
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .body(body.to_string())
}

fn error_with(path: &str, errcode: i64, errmsg: &str) -> HttpResponse {
    reply(
        path,
        json!({ "errcode": errcode, "errmsg": format!("{errmsg}, rid: {}", rid()) }),
    )
}

fn error(path: &str, errcode: i64) -> HttpResponse {
    error_with(path, errcode, default_errmsg(errcode))
}

fn html_500() -> HttpResponse {
    HttpResponse::InternalServerError()
        .content_type("text/html")
        .body("<html><head><title>500 Internal Server Error</title></head><body><center><h1>500 Internal Server Error</h1></center></body></html>")
}

/// Counts the call, applies the delay, and answers an injected failure if one is queued.
async fn preamble(state: &Shared, path: &str) -> Option<HttpResponse> {
    let (delay, injection) = {
        let mut s = state.lock().expect("fake WeChat state poisoned");
        *s.calls.entry(path.to_owned()).or_default() += 1;
        let injection = s.injections.get_mut(path).and_then(VecDeque::pop_front);
        (s.delay, injection)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match injection {
        Some(Injection::Error(errcode)) => Some(error(path, errcode)),
        Some(Injection::Html500) => Some(html_500()),
        None => None,
    }
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

/// The body as a JSON object; `None` when it is not one (→ 47001).
fn json_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

fn bad_body(path: &str) -> HttpResponse {
    error_with(
        path,
        47001,
        "data format error hint: [request body is not a JSON object]",
    )
}

fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

/// Checks `?access_token=` like WeChat: missing 41001, unknown 40001, expired 42001.
/// Returns the rejection, if any.
fn reject_token(state: &Shared, req: &HttpRequest, path: &str) -> Option<HttpResponse> {
    let Some(token) = query(req).remove("access_token") else {
        return Some(error(path, 41001));
    };
    let s = state.lock().expect("fake WeChat state poisoned");
    match s.tokens.get(&token) {
        None => Some(error(path, 40001)),
        Some(until) if Instant::now() >= *until => Some(error(path, 42001)),
        Some(_) => None,
    }
}

async fn code2session(state: Shared, req: HttpRequest) -> HttpResponse {
    let path = PATH_CODE2SESSION;
    if let Some(resp) = preamble(&state, path).await {
        return resp;
    }
    let q = query(&req);
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if get("appid") != APPID {
        return error(path, 40013);
    }
    if get("secret") != SECRET {
        return error(path, 40125);
    }
    if get("grant_type") != "authorization_code" {
        return error(path, 40002);
    }
    let js_code = get("js_code");
    if js_code.is_empty() {
        return error(path, 41008);
    }
    let mut s = state.lock().expect("fake WeChat state poisoned");
    let openid = match s.codes.get_mut(js_code) {
        None => return error(path, 40029),
        Some(code) if code.used => return error(path, 40163),
        Some(code) if Instant::now() >= code.expires_at => return error(path, 40029),
        Some(code) => {
            code.used = true;
            code.openid.clone()
        }
    };
    let mut key = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut key);
    let mut body = json!({
        "openid": openid,
        "session_key": base64::engine::general_purpose::STANDARD.encode(key),
    });
    if let Some(unionid) = s.unionids.get(&openid) {
        body["unionid"] = json!(unionid);
    }
    reply(path, body)
}

async fn stable_token(state: Shared, body: web::Bytes) -> HttpResponse {
    let path = PATH_STABLE_TOKEN;
    if let Some(resp) = preamble(&state, path).await {
        return resp;
    }
    let Some(body) = json_body(&body) else {
        return bad_body(path);
    };
    if str_field(&body, "grant_type") != Some("client_credential") {
        return error(path, 40002);
    }
    if str_field(&body, "appid") != Some(APPID) {
        return error(path, 40013);
    }
    if str_field(&body, "secret") != Some(SECRET) {
        return error(path, 40125);
    }
    let force_refresh = body
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let mut s = state.lock().expect("fake WeChat state poisoned");
    s.token_fetches += 1;
    let now = Instant::now();
    let current = s
        .current_token
        .clone()
        .and_then(|t| s.tokens.get(&t).map(|until| (t, *until)))
        .filter(|(_, until)| now < *until);
    if let (Some((token, until)), false) = (&current, force_refresh) {
        let expires_in = until.saturating_duration_since(now).as_secs();
        return reply(
            path,
            json!({ "access_token": token, "expires_in": expires_in }),
        );
    }
    if let Some((old, until)) = current {
        // Like the real stable_token, the replaced token keeps working for a while.
        s.tokens.insert(old, until.min(now + TOKEN_GRACE));
    }
    let token = format!("fake-token-{}", uuid::Uuid::new_v4().simple());
    s.tokens.insert(token.clone(), now + TOKEN_TTL);
    s.current_token = Some(token.clone());
    s.tokens_issued += 1;
    reply(
        path,
        json!({ "access_token": token, "expires_in": TOKEN_TTL.as_secs() }),
    )
}

async fn phone_number(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let path = PATH_PHONE_NUMBER;
    if let Some(resp) = preamble(&state, path).await {
        return resp;
    }
    if let Some(resp) = reject_token(&state, &req, path) {
        return resp;
    }
    let Some(body) = json_body(&body) else {
        return bad_body(path);
    };
    let Some(code) = str_field(&body, "code").filter(|c| !c.is_empty()) else {
        return error(path, 41008);
    };
    let mut s = state.lock().expect("fake WeChat state poisoned");
    let (phone, watermark_appid) = match s.phone_codes.get_mut(code) {
        Some(c) if !c.used && Instant::now() < c.expires_at => {
            c.used = true;
            (c.phone.clone(), c.watermark_appid)
        }
        _ => return error(path, 40029),
    };
    let (country_code, pure) = match phone.strip_prefix('+').and_then(|p| p.split_once(' ')) {
        Some((cc, pure)) => (cc.to_owned(), pure.to_owned()),
        None => ("86".to_owned(), phone.clone()),
    };
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    reply(
        path,
        json!({
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": phone,
                "purePhoneNumber": pure,
                "countryCode": country_code,
                "watermark": { "timestamp": timestamp, "appid": watermark_appid },
            }
        }),
    )
}

async fn subscribe_send(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let path = PATH_SUBSCRIBE_SEND;
    if let Some(resp) = preamble(&state, path).await {
        return resp;
    }
    if let Some(resp) = reject_token(&state, &req, path) {
        return resp;
    }
    let Some(body) = json_body(&body) else {
        return bad_body(path);
    };
    let Some(touser) = str_field(&body, "touser").filter(|s| !s.is_empty()) else {
        return error(path, 40003);
    };
    let Some(template_id) = str_field(&body, "template_id").filter(|s| !s.is_empty()) else {
        return error(path, 40037);
    };
    let Some(fields) = body.get("data").and_then(Value::as_object) else {
        return error_with(
            path,
            47001,
            "data format error hint: [data is not an object]",
        );
    };
    let mut data = BTreeMap::new();
    for (key, field) in fields {
        let Some(value) = field.get("value").and_then(Value::as_str) else {
            return error_with(
                path,
                47001,
                &format!("data format error hint: [data.{key}.value must be a string]"),
            );
        };
        if let Err(reason) = check_value(key, value) {
            return error_with(
                path,
                47003,
                &format!("argument invalid! data.{key}.value {reason}"),
            );
        }
        data.insert(key.clone(), value.to_owned());
    }
    let page = str_field(&body, "page").map(str::to_owned);
    let miniprogram_state = str_field(&body, "miniprogram_state").map(str::to_owned);
    if let Some(ms) = &miniprogram_state {
        if !["developer", "trial", "formal"].contains(&ms.as_str()) {
            return error_with(path, 47003, "argument invalid! miniprogram_state");
        }
    }

    let mut s = state.lock().expect("fake WeChat state poisoned");
    if !s.unlimited_quota {
        let key = (touser.to_owned(), template_id.to_owned());
        match s.quota.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return error(path, 43101),
        }
    }
    s.sent.push(SentMessage {
        touser: touser.to_owned(),
        template_id: template_id.to_owned(),
        page,
        data,
        miniprogram_state,
    });
    reply(path, json!({ "errcode": 0, "errmsg": "ok" }))
}

/// Checks a subscribe-message value against its field type (the key without its digits).
fn check_value(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("is empty".to_owned());
    }
    let kind = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let limit = match kind {
        "thing" => 20,
        "character_string" | "number" | "letter" => 32,
        "phrase" => 5,
        "name" => 10,
        "phone_number" => 17,
        "car_number" => 8,
        "time" => {
            return ranged(value, is_time_point)
                .then_some(())
                .ok_or_else(|| "is not a valid time".to_owned())
        }
        "date" => {
            return ranged(value, is_date_point)
                .then_some(())
                .ok_or_else(|| "is not a valid date".to_owned())
        }
        _ => return Ok(()),
    };
    let len = value.chars().count();
    if len > limit {
        return Err(format!("exceeds the length limit {limit} (got {len})"));
    }
    Ok(())
}

/// A value, or a range of two joined by "~".
fn ranged(value: &str, point: fn(&str) -> bool) -> bool {
    value.split('~').count() <= 2 && value.split('~').all(|p| point(p.trim()))
}

/// `15:01`, or a date followed by one.
fn is_time_point(s: &str) -> bool {
    if is_clock(s) {
        return true;
    }
    matches!(split_date(s), Some((date, rest)) if is_date(date) && is_clock(rest))
}

/// A date, optionally followed by a time.
fn is_date_point(s: &str) -> bool {
    if is_date(s) {
        return true;
    }
    matches!(split_date(s), Some((date, rest)) if is_date(date) && is_clock(rest))
}

/// Splits "2024年5月1日 15:01" / "2024-05-01 15:01" into date and (trimmed) time.
fn split_date(s: &str) -> Option<(&str, &str)> {
    if let Some(i) = s.find('日') {
        let end = i + '日'.len_utf8();
        return Some((&s[..end], s[end..].trim()));
    }
    s.split_once(' ').map(|(d, t)| (d, t.trim()))
}

fn number_in(s: &str, digits: std::ops::RangeInclusive<usize>, range: (u32, u32)) -> bool {
    digits.contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|n| n >= range.0 && n <= range.1)
}

/// `2024年5月1日`, `2024-05-01` or `2024/5/1`.
fn is_date(s: &str) -> bool {
    let parts: Option<(&str, &str, &str)> = if let Some(rest) = s.strip_suffix('日') {
        rest.split_once('年')
            .and_then(|(y, md)| md.split_once('月').map(|(m, d)| (y, m, d)))
    } else {
        let sep = if s.contains('/') { '/' } else { '-' };
        let mut it = s.split(sep);
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(y), Some(m), Some(d), None) => Some((y, m, d)),
            _ => None,
        }
    };
    matches!(parts, Some((y, m, d))
        if number_in(y, 4..=4, (1970, 9999)) && number_in(m, 1..=2, (1, 12)) && number_in(d, 1..=2, (1, 31)))
}

/// `15:01` or `15:01:30`.
fn is_clock(s: &str) -> bool {
    let mut it = s.split(':');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(m), sec, None) => {
            number_in(h, 1..=2, (0, 23))
                && number_in(m, 2..=2, (0, 59))
                && sec.is_none_or(|sec| number_in(sec, 2..=2, (0, 59)))
        }
        _ => false,
    }
}

async fn msg_sec_check(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let path = PATH_MSG_SEC_CHECK;
    if let Some(resp) = preamble(&state, path).await {
        return resp;
    }
    if let Some(resp) = reject_token(&state, &req, path) {
        return resp;
    }
    let Some(body) = json_body(&body) else {
        return bad_body(path);
    };
    if body.get("version").and_then(Value::as_i64) != Some(2) {
        return error_with(path, 47001, "data format error hint: [version must be 2]");
    }
    if str_field(&body, "openid").is_none_or(str::is_empty) {
        return error(path, 40003);
    }
    if !body
        .get("scene")
        .and_then(Value::as_i64)
        .is_some_and(|s| (1..=4).contains(&s))
    {
        return error_with(path, 47001, "data format error hint: [scene must be 1-4]");
    }
    let Some(content) = str_field(&body, "content") else {
        return error_with(path, 47001, "data format error hint: [content missing]");
    };
    if content.chars().count() > MAX_CONTENT_CHARS {
        return error_with(path, 47001, "data format error hint: [content too long]");
    }
    let (suggest, label) = if content.contains("RISKY") || content.contains("赌博") {
        ("risky", 20001)
    } else if content.contains("REVIEW") {
        ("review", 21000)
    } else {
        ("pass", 100)
    };
    reply(
        path,
        json!({
            "errcode": 0,
            "errmsg": "ok",
            "result": { "suggest": suggest, "label": label },
            "detail": [{
                "strategy": "content_model",
                "errcode": 0,
                "suggest": suggest,
                "label": label,
                "prob": 90,
            }],
            "trace_id": uuid::Uuid::new_v4().simple().to_string(),
        }),
    )
}

async fn unknown_path(state: Shared, req: HttpRequest) -> HttpResponse {
    let path = req.path().to_owned();
    if let Some(resp) = preamble(&state, &path).await {
        return resp;
    }
    HttpResponse::NotFound()
        .content_type("text/html")
        .body("<html><body><h1>404 Not Found</h1></body></html>")
}
