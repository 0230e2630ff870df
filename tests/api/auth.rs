//! Identity: WeChat login and its error paths, our tokens, refresh rotation, phone binding.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_error, spawn_app, spawn_second_instance, test_redis_url};
use crate::wechat_fake::{PATH_CODE2SESSION, PATH_STABLE_TOKEN};

#[tokio::test]
async fn wechat_login_returns_tokens_and_a_resident_without_the_session_key() {
    let app = spawn_app().await;
    let code = app.wechat.issue_code("openid-a");
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("session_key"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["roles"], json!(["resident"]));
    let me: serde_json::Value = app
        .get_auth("/api/v1/me", body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], body["user"]["id"]);
}

#[tokio::test]
async fn logging_in_twice_is_the_same_user() {
    let app = spawn_app().await;
    let a = app.login_wechat("openid-same").await;
    let b = app.login_wechat("openid-same").await;
    assert_eq!(a.user_id, b.user_id);
    let c = app.login_wechat("openid-other").await;
    assert_ne!(a.user_id, c.user_id);
}

#[tokio::test]
async fn a_used_or_stale_code_is_401_wechat_code_invalid() {
    let app = spawn_app().await;
    let code = app.wechat.issue_code("openid-a");
    let first = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert_eq!(first.status(), 200);
    let again = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert_error(again, 401, "wechat_code_invalid").await;
    let stale = app.wechat.issue_stale_code("openid-a");
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": stale }))
        .await;
    assert_error(res, 401, "wechat_code_invalid").await;
}

#[tokio::test]
async fn wechat_rate_limit_is_429_with_retry_after() {
    let app = spawn_app().await;
    app.wechat.fail_next(PATH_CODE2SESSION, 45011, 1);
    let code = app.wechat.issue_code("openid-a");
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "wechat_rate_limited").await;
}

#[tokio::test]
async fn a_high_risk_user_is_403() {
    let app = spawn_app().await;
    app.wechat.fail_next(PATH_CODE2SESSION, 40226, 1);
    let code = app.wechat.issue_code("openid-a");
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert_error(res, 403, "wechat_user_risky").await;
}

#[tokio::test]
async fn wechat_busy_once_is_retried_and_twice_is_503() {
    let app = spawn_app().await;
    app.wechat.fail_next(PATH_CODE2SESSION, -1, 1);
    let code = app.wechat.issue_code("openid-a");
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert_eq!(res.status(), 200);

    app.wechat.fail_next(PATH_CODE2SESSION, -1, 2);
    let code = app.wechat.issue_code("openid-b");
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert_error(res, 503, "wechat_unavailable").await;
}

#[tokio::test]
async fn a_slow_wechat_is_503_within_the_timeout_not_a_hang() {
    let app = spawn_app().await; // WeChat timeout is 1 s in tests
    app.wechat.set_delay(Duration::from_secs(5));
    let code = app.wechat.issue_code("openid-a");
    let started = Instant::now();
    let res = app
        .post_json("/api/v1/auth/wechat-login", None, &json!({ "code": code }))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_error(res, 503, "wechat_unavailable").await;
}

#[tokio::test]
async fn forged_expired_and_missing_tokens_are_401() {
    let app = spawn_app().await;
    let session = app.login_wechat("openid-a").await;
    assert_error(app.get("/api/v1/me").await, 401, "unauthenticated").await;
    for bad in [
        "not-a-jwt".to_string(),
        // alg none with the real claims
        {
            let parts: Vec<&str> = session.access.split('.').collect();
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1])
        },
        // a flipped signature character
        {
            let mut t = session.access.clone();
            let last = t.pop().unwrap();
            t.push(if last == 'A' { 'B' } else { 'A' });
            t
        },
    ] {
        assert_error(
            app.get_auth("/api/v1/me", &bad).await,
            401,
            "unauthenticated",
        )
        .await;
    }
    assert_eq!(
        app.get_auth("/api/v1/me", &session.access).await.status(),
        200
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": s.refresh }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let rotated: serde_json::Value = res.json().await.unwrap();
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, s.refresh);

    // The old token again: theft detected, the family dies.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": s.refresh }),
        )
        .await;
    assert_error(res, 401, "refresh_token_reused").await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": new_refresh }),
        )
        .await;
    assert_error(res, 401, "refresh_token_invalid").await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let res = app
        .post_json(
            "/api/v1/auth/logout",
            Some(&s.access),
            &json!({ "refresh_token": s.refresh }),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": s.refresh }),
        )
        .await;
    assert_error(res, 401, "refresh_token_invalid").await;
}

#[tokio::test]
async fn password_login_gives_one_answer_for_unknown_user_and_wrong_password() {
    let app = spawn_app().await;
    let unknown = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "nobody", "password": "whatever-pass" }),
        )
        .await;
    let a = assert_error(unknown, 401, "invalid_credentials").await;
    crate::grids::import_demo_tree(&app).await;
    app.admin("chen", "D01").await;
    let wrong = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "chen", "password": "wrong-password" }),
        )
        .await;
    let b = assert_error(wrong, 401, "invalid_credentials").await;
    assert_eq!(a["message"], b["message"]);
}

#[tokio::test]
async fn password_attempts_are_rate_limited_per_username() {
    let app = spawn_app().await;
    // The limit is 10 in any 5 minutes: the 11th attempt is refused even when the run
    // straddles a clock boundary (the window slides).
    let body = json!({ "username": "target", "password": "guess-guess" });
    let guess = || app.post_json("/api/v1/auth/password-login", None, &body);
    for attempt in 1..=10 {
        assert_eq!(guess().await.status(), 401, "attempt {attempt}");
    }
    let res = guess().await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The wait until an attempt would fit again: within two windows (the limiter's unit
    // tests check the exact second).
    assert!(
        (1..=600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn phone_binding_shows_only_the_masked_number() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let code = app.wechat.issue_phone_code("13812345678");
    let res = app
        .post_json(
            "/api/v1/me/phone",
            Some(&s.access),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("13812345678"), "{text}");
    let me: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me["phone_masked"], "138****5678");

    let foreign = app.wechat.issue_phone_code_foreign_appid("13900000000");
    let res = app
        .post_json(
            "/api/v1/me/phone",
            Some(&s.access),
            &json!({ "code": foreign }),
        )
        .await;
    assert_error(res, 400, "wechat_phone_invalid").await;
}

#[tokio::test]
async fn an_expired_access_token_at_wechat_is_refreshed_once_and_the_call_succeeds() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let code = app.wechat.issue_phone_code("13812345678");
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
    app.wechat.expire_tokens();
    let code = app.wechat.issue_phone_code("13812345679");
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
    assert_eq!(app.wechat.tokens_issued(), 2);
}

#[tokio::test]
async fn instances_share_one_wechat_access_token() {
    let a = spawn_app().await;
    // With Redis: a second instance on the same Redis. Without: the same instance again,
    // which must still reuse its cached token.
    let second = if test_redis_url().is_some() {
        Some(spawn_second_instance(&a).await)
    } else {
        None
    };
    let b = second.as_ref().unwrap_or(&a);
    let sa = a.login_wechat("openid-a").await;
    let sb = b.login_wechat("openid-b").await;
    for (app, s, phone) in [
        (&a, &sa, "13800000001"),
        (b, &sb, "13800000002"),
        (&a, &sa, "13800000003"),
    ] {
        let code = app.wechat.issue_phone_code(phone);
        let res = app
            .post_json(
                "/api/v1/me/phone",
                Some(&s.access),
                &json!({ "code": code }),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        a.wechat.calls(PATH_STABLE_TOKEN),
        1,
        "one token fetch for every instance"
    );
}

#[tokio::test]
async fn an_empty_phone_code_is_422_without_asking_wechat() {
    // Found by schemathesis: an empty code used to reach WeChat.
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let res = app
        .post_json("/api/v1/me/phone", Some(&s.access), &json!({ "code": "" }))
        .await;
    assert_error(res, 422, "validation_failed").await;
    assert_eq!(app.wechat.calls(crate::wechat_fake::PATH_PHONE_NUMBER), 0);
}
