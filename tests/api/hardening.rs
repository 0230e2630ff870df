//! Hostile and unlucky input: limits, malformed bodies, personal data in logs, several
//! instances racing on one database.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, spawn_second_instance, test_redis_url};

/// Everything any test in this binary logs, for the personal-data check.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_carry_phone_numbers_openids_or_tokens() {
    let logs = captured_logs();
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-secret-4242").await;
    let code = app.wechat.issue_phone_code("13912345678");
    assert_eq!(
        app.post_json(
            "/api/v1/me/phone",
            Some(&s.access),
            &json!({ "code": code })
        )
        .await
        .status(),
        200
    );
    app.report_at(&s, 31.205, 121.405).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": s.refresh }),
        )
        .await;
    assert_eq!(res.status(), 200);
    // A failing request too: errors are where secrets tend to leak.
    app.post_json(
        "/api/v1/auth/wechat-login",
        None,
        &json!({ "code": "bogus-code-7777" }),
    )
    .await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("request"),
        "the capture works: {} bytes",
        text.len()
    );
    for secret in [
        "13912345678",
        "openid-secret-4242",
        s.access.as_str(),
        s.refresh.as_str(),
        "bogus-code-7777",
        "test-secret",
    ] {
        assert!(!text.contains(secret), "{secret} appears in the logs");
    }
}

#[tokio::test]
async fn api_responses_carry_security_headers_and_no_cors() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(app.url("/api/v1/me"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn malformed_and_oversized_input_gets_a_clear_4xx() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    let post_raw = |body: Vec<u8>| {
        app.http
            .post(app.url("/api/v1/reports"))
            .bearer_auth(&s.access)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    // Deep nesting, invalid UTF-8, a number out of range, the wrong content type.
    // (Nested inside an unknown field, which the parser still has to walk.)
    let deep = format!("{{\"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    // The parser walks it without overflowing the stack, then finds the fields missing.
    assert_error(post_raw(deep).await.unwrap(), 422, "validation_failed").await;
    assert_error(
        post_raw(b"{\"description\": \"\xff\xfe\"}".to_vec())
            .await
            .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    let huge_number =
        br#"{"category":"other","description":"x","location":{"lat":1e400,"lng":121.4}}"#.to_vec();
    let res = post_raw(huge_number).await.unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app
        .http
        .post(app.url("/api/v1/reports"))
        .bearer_auth(&s.access)
        .body("category=other")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    // Too many photos, too long an address.
    let ids: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&s.access),
            &json!({ "category": "other", "description": "x", "location": { "lat": 31.205, "lng": 121.405 }, "photo_ids": ids }),
        )
        .await;
    assert_error(res, 422, "validation_failed").await;
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&s.access),
            &json!({ "category": "other", "description": "x", "location": { "lat": 31.205, "lng": 121.405 }, "address": "路".repeat(301) }),
        )
        .await;
    assert_error(res, 422, "validation_failed").await;
    // A wrong query type.
    assert_error(
        app.get_auth("/api/v1/grids/locate?lat=north&lng=1", &s.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    // Nothing of the above was stored.
    let mine: Value = app
        .get_auth("/api/v1/me/reports", &s.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"], json!([]));
}

#[tokio::test]
async fn two_instances_split_a_claim_race_and_idempotent_retries() {
    let a = spawn_app().await;
    import_demo_tree(&a).await;
    let b = spawn_second_instance(&a).await;
    b.state.router.refresh(&b.state.db, true).await.unwrap();
    let district = a.admin("district", "D01").await;
    let w1 = a.enrolled("openid-w1", "G01", "worker", &district).await;
    let w2 = a.enrolled("openid-w2", "G01", "worker", &district).await;
    let resident = a.login_wechat("openid-r").await;
    for _ in 0..3 {
        let id = a.report_at(&resident, 31.205, 121.405).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (x, y) = tokio::join!(
            a.act(&w1, &id, json!({ "action": "accept" })),
            b.act(&w2, &id, json!({ "action": "accept" }))
        );
        let mut got = [x.status().as_u16(), y.status().as_u16()];
        got.sort();
        assert_eq!(got, [200, 409]);
    }
    let body = json!({ "category": "other", "description": "重试", "location": { "lat": 31.205, "lng": 121.405 } });
    let send = |app: &crate::helpers::TestApp| {
        app.http
            .post(app.url("/api/v1/reports"))
            .bearer_auth(&resident.access)
            .header("Idempotency-Key", "split-key")
            .json(&body)
            .send()
    };
    let (x, y) = tokio::join!(send(&a), send(&b));
    let (x, y): (Value, Value) = (
        x.unwrap().json().await.unwrap(),
        y.unwrap().json().await.unwrap(),
    );
    assert_eq!(x["id"], y["id"], "{x} {y}");
}

#[tokio::test]
async fn rate_limits_hold_across_instances_when_redis_is_shared() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .post_json(
                "/api/v1/auth/password-login",
                None,
                &json!({ "username": "victim", "password": "guess-guess" }),
            )
            .await;
        statuses.push(res.status().as_u16());
    }
    if test_redis_url().is_some() {
        // 10 per username per window, counted in Redis for both instances.
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            2,
            "{statuses:?}"
        );
    } else {
        // Without Redis each process counts alone: 6 each stays under the limit.
        assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    }
}

#[tokio::test]
async fn background_jobs_run_once_across_two_instances() {
    let config = || vec![("SAFEGRID_CONFIRM_WINDOW_HOURS", "0".to_string())];
    let a = crate::helpers::spawn_app_with(config()).await;
    import_demo_tree(&a).await;
    let b = crate::helpers::spawn_second_instance_with(&a, config()).await;
    let district = a.admin("district", "D01").await;
    let worker = a.enrolled("openid-w1", "G01", "worker", &district).await;
    let resident = a.login_wechat("openid-r").await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = a.report_at(&resident, 31.205, 121.405).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            a.act(&worker, &id, json!({ "action": "accept" }))
                .await
                .status(),
            200
        );
        assert_eq!(
            b.act(&worker, &id, json!({ "action": "resolve", "note": "done" }))
                .await
                .status(),
            200
        );
        ids.push(id);
    }
    for id in &ids {
        let mut closes = 0;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let full: Value = a
                .get_auth(&format!("/api/v1/reports/{id}"), &resident.access)
                .await
                .json()
                .await
                .unwrap();
            closes = full["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == "auto_close")
                .count();
            if full["status"] == "closed" {
                break;
            }
        }
        assert_eq!(closes, 1, "report {id} closed exactly once");
    }
}
