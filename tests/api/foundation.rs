//! The foundation: health, readiness, metrics, and the error body on actix's own failures.

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_ok_with_a_request_id() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-request-id").is_some());
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_ready_when_dependencies_answer() {
    let app = spawn_app().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn readyz_names_redis_when_redis_is_configured_but_down() {
    // Port 1 is never a Redis server.
    let app = spawn_app_with(vec![("SAFEGRID_REDIS_URL", "redis://127.0.0.1:1/".into())]).await;
    let res = app.get("/readyz").await;
    let body = assert_error(res, 503, "dependency_unavailable").await;
    assert_eq!(body["details"]["failing"], serde_json::json!(["redis"]));
    assert!(body["message"].as_str().unwrap().contains("redis"));
}

#[tokio::test]
async fn an_unknown_route_is_404_with_the_error_body() {
    let app = spawn_app().await;
    assert_error(app.get("/no/such/thing").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_an_error_body_not_html() {
    let app = spawn_app().await;
    let res = app.http.delete(app.url("/healthz")).send().await.unwrap();
    assert_error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn the_request_id_sent_by_the_client_is_echoed_in_header_and_body() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(app.url("/nope"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let body = assert_error(res, 404, "not_found").await;
    assert_eq!(body["request_id"], "abc-123");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(
            r#"safegrid_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("safegrid_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn docs_page_and_openapi_document_are_served() {
    let app = spawn_app().await;
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/docs/");
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html"), "{html}");
    // Everything the page loads comes from this server (intranets have no internet).
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "{asset}");
        let res = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(res.status(), 200, "{asset}");
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "SafeGrid API");
    assert!(doc["paths"]["/healthz"].is_object());
}

#[tokio::test]
async fn background_jobs_stop_at_their_next_wait_when_asked() {
    let app = spawn_app().await;
    // A second set of this instance's loops (relay, notification consumer, leased jobs,
    // routing refresh), stopped while they poll; every one must end on its own.
    let jobs = safegrid::jobs::spawn_all(app.state.clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let dropped = jobs.stop(std::time::Duration::from_secs(30)).await;
    assert_eq!(dropped, 0, "loops that ignored the stop signal");
}
