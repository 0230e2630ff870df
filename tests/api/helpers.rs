//! spawn_app() and typed helpers shared by the API tests.
#![allow(dead_code)]

use std::collections::HashMap;

use crate::wechat_fake::FakeWeChat;
use safegrid::config::Settings;
use safegrid::startup::Application;
use sea_orm::{ConnectionTrait, Database};

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub db_url: String,
    pub wechat: FakeWeChat,
    pub state: actix_web::web::Data<safegrid::state::AppState>,
    _tempdir: tempfile::TempDir,
}

/// The password of the admins the tests create (it passes the password policy).
pub const ADMIN_PASSWORD: &str = "Correct horse battery 9";

/// Extra `SAFEGRID_*` settings for one test.
pub type Overrides = Vec<(&'static str, String)>;

/// A database of its own for one test: a temp SQLite file, or `CREATE DATABASE t_<uuid>` on
/// the server named by SAFEGRID_TEST_DATABASE_URL.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("SAFEGRID_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Some(admin_url) => {
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("SAFEGRID_TEST_DATABASE_URL is unreachable: {e}"));
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create the test database");
            admin.close().await.ok();
            let (base, _) = admin_url
                .rsplit_once('/')
                .expect("database URL ends with /dbname");
            format!("{base}/{name}")
        }
    }
}

pub fn test_redis_url() -> Option<String> {
    std::env::var("SAFEGRID_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Vec::new()).await
}

pub async fn spawn_app_with(overrides: Overrides) -> TestApp {
    let tempdir = tempfile::tempdir().expect("temp dir");
    let db_url = fresh_database(tempdir.path()).await;
    let wechat = FakeWeChat::start().await;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    spawn_app_on(db_url, tempdir, wechat, prefix, overrides).await
}

/// An instance on a database the test provides itself (e.g. its own PostgreSQL cluster).
pub async fn spawn_app_on_database(db_url: String, overrides: Overrides) -> TestApp {
    let tempdir = tempfile::tempdir().expect("temp dir");
    let wechat = FakeWeChat::start().await;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    spawn_app_on(db_url, tempdir, wechat, prefix, overrides).await
}

/// A second instance of the same system: same database, Redis prefix and WeChat.
pub async fn spawn_second_instance(first: &TestApp) -> TestApp {
    spawn_second_instance_with(first, Vec::new()).await
}

/// A second instance with extra settings (give it the same as the first: one system).
pub async fn spawn_second_instance_with(first: &TestApp, extra: Overrides) -> TestApp {
    let tempdir = tempfile::tempdir().expect("temp dir");
    let mut overrides: Overrides = vec![("SAFEGRID_UPLOAD_DIR", first.settings.upload_dir.clone())];
    overrides.extend(extra);
    spawn_app_on(
        first.db_url.clone(),
        tempdir,
        first.wechat.clone(),
        first.settings.redis_prefix.clone(),
        overrides,
    )
    .await
}

async fn spawn_app_on(
    db_url: String,
    tempdir: tempfile::TempDir,
    wechat: FakeWeChat,
    redis_prefix: String,
    overrides: Overrides,
) -> TestApp {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("SAFEGRID_WECHAT_API_BASE".into(), wechat.base_url.clone()),
        ("SAFEGRID_WECHAT_APPID".into(), wechat.appid.clone()),
        ("SAFEGRID_WECHAT_SECRET".into(), wechat.secret.clone()),
        ("SAFEGRID_BIND".into(), "127.0.0.1:0".into()),
        ("SAFEGRID_DATABASE_URL".into(), db_url.clone()),
        (
            "SAFEGRID_JWT_SECRET".into(),
            "test-secret-test-secret-test-secret-42".into(),
        ),
        (
            "SAFEGRID_UPLOAD_DIR".into(),
            tempdir.path().join("uploads").display().to_string(),
        ),
        ("SAFEGRID_WECHAT_TIMEOUT_MS".into(), "1000".into()),
        ("SAFEGRID_JOB_INTERVAL_MS".into(), "200".into()),
        ("SAFEGRID_REDIS_PREFIX".into(), redis_prefix),
    ]);
    if let Some(redis) = test_redis_url() {
        vars.insert("SAFEGRID_REDIS_URL".into(), redis);
    }
    for (k, v) in overrides {
        vars.insert(k.to_string(), v);
    }
    let settings = Settings::from_map(&vars).expect("test settings are valid");
    let app = Application::build(settings.clone())
        .await
        .expect("the app starts");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        settings,
        db_url,
        wechat,
        state,
        _tempdir: tempdir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }
}

/// Asserts the documented error body and returns it.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    let actual = res.status().as_u16();
    let text = res.text().await.expect("body");
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(body["code"], code, "code; body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    assert!(
        body["message_zh"].as_str().is_some_and(|m| !m.is_empty()),
        "message_zh: {body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "request_id: {body}"
    );
    body
}

/// A logged-in user as the tests hold it.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub openid: String,
}

impl TestApp {
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Logs a mini-program user in through the fake WeChat.
    pub async fn login_wechat(&self, openid: &str) -> Session {
        let code = self.wechat.issue_code(openid);
        let res = self
            .post_json(
                "/api/v1/auth/wechat-login",
                None,
                &serde_json::json!({ "code": code }),
            )
            .await;
        assert_eq!(
            res.status(),
            200,
            "login: {}",
            res.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = res.json().await.expect("json");
        Session {
            access: body["access_token"].as_str().expect("access token").into(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .into(),
            user_id: body["user"]["id"].as_str().expect("user id").into(),
            openid: openid.into(),
        }
    }

    /// Creates an admin of `area` through the crate's public function and logs them in.
    pub async fn admin(&self, username: &str, area: &str) -> Session {
        let db = self.db().await;
        safegrid::auth::service::create_admin(&db, username, ADMIN_PASSWORD, area)
            .await
            .expect("create admin");
        let res = self
            .post_json(
                "/api/v1/auth/password-login",
                None,
                &serde_json::json!({ "username": username, "password": ADMIN_PASSWORD }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("json");
        Session {
            access: body["access_token"].as_str().expect("access").into(),
            refresh: body["refresh_token"].as_str().expect("refresh").into(),
            user_id: body["user"]["id"].as_str().expect("id").into(),
            openid: String::new(),
        }
    }

    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        safegrid::infra::db::connect(&self.db_url)
            .await
            .expect("connect to the test database")
    }
}

impl TestApp {
    /// A WeChat user enrolled as `role` of `grid` through an admin's invite.
    pub async fn enrolled(&self, openid: &str, grid: &str, role: &str, admin: &Session) -> Session {
        let res = self
            .post_json(
                "/api/v1/admin/invites",
                Some(&admin.access),
                &serde_json::json!({ "grid_code": grid, "role": role }),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "invite: {}",
            res.text().await.unwrap_or_default()
        );
        let invite: serde_json::Value = res.json().await.expect("json");
        let user = self.login_wechat(openid).await;
        let res = self
            .post_json(
                "/api/v1/me/enrolments",
                Some(&user.access),
                &serde_json::json!({ "invite_code": invite["invite_code"] }),
            )
            .await;
        assert_eq!(
            res.status(),
            200,
            "enrol: {}",
            res.text().await.unwrap_or_default()
        );
        user
    }

    /// Submits a report at a GCJ-02 point; returns the report JSON.
    pub async fn report_at(&self, who: &Session, lat: f64, lng: f64) -> serde_json::Value {
        let res = self
            .post_json(
                "/api/v1/reports",
                Some(&who.access),
                &serde_json::json!({
                    "category": "sanitation",
                    "description": "楼下垃圾堆放三天了",
                    "location": { "lat": lat, "lng": lng, "coord": "gcj02" },
                }),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "submit: {}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("json")
    }

    /// Posts an action; returns the response.
    pub async fn act(
        &self,
        who: &Session,
        report_id: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.post_json(
            &format!("/api/v1/reports/{report_id}/actions"),
            Some(&who.access),
            &body,
        )
        .await
    }
}
