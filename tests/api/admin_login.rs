//! Strong admin login (DOMAIN.md §10): the password policy, the lockout shared by every
//! instance, the operator-set password that must be changed first, the TOTP second factor
//! with replays refused, admins' idle sessions, and MFA required by configuration.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{
    assert_error, spawn_app, spawn_app_with, spawn_second_instance, Session, TestApp,
    ADMIN_PASSWORD,
};
use safegrid::auth::totp;

async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    code: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "username": username, "password": password });
    if let Some(code) = code {
        body["totp"] = json!(code);
    }
    app.post_json("/api/v1/auth/password-login", None, &body)
        .await
}

fn session(body: &Value) -> Session {
    Session {
        access: body["access_token"].as_str().expect("access").into(),
        refresh: body["refresh_token"].as_str().expect("refresh").into(),
        user_id: body["user"]["id"].as_str().expect("id").into(),
        openid: String::new(),
    }
}

/// An admin-only route that changes nothing much: an invite to grid G01 (community C01).
async fn invite(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/admin/invites",
        Some(token),
        &json!({ "grid_code": "G01", "role": "worker" }),
    )
    .await
}

async fn user_row(app: &TestApp, username: &str) -> entity::users::Model {
    entity::users::Entity::find()
        .filter(entity::users::Column::Username.eq(username))
        .one(&app.db().await)
        .await
        .unwrap()
        .expect("user exists")
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Now, in Unix seconds, at least two seconds before the current TOTP step ends (so a code
/// computed here is still the server's current one when it arrives).
async fn settled_now() -> i64 {
    loop {
        let now = safegrid::util::now_ms() / 1000;
        if now % totp::STEP_SECS < totp::STEP_SECS - 2 {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Enrols and confirms a factor for `who`, confirming with the previous step's code (so the
/// current step is still unused); returns the key.
async fn enrol_and_confirm(app: &TestApp, who: &Session) -> Vec<u8> {
    let res = app
        .post_json("/api/v1/auth/mfa/enrol", Some(&who.access), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/SafeGrid:"), "{uri}");
    let key = totp::decode_secret(&totp::secret_from_uri(uri).unwrap()).unwrap();
    let res = app
        .post_json(
            "/api/v1/auth/mfa/confirm",
            Some(&who.access),
            &json!({ "code": "abcdef" }),
        )
        .await;
    assert_error(res, 422, "validation_failed").await;
    let now = settled_now().await;
    let previous = totp::code_at(&key, now - totp::STEP_SECS);
    let res = app
        .post_json(
            "/api/v1/auth/mfa/confirm",
            Some(&who.access),
            &json!({ "code": previous }),
        )
        .await;
    assert_eq!(
        res.status(),
        204,
        "{}",
        res.text().await.unwrap_or_default()
    );
    key
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_on_every_instance_with_retry_after() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    import_demo_tree(&a).await;
    a.admin("chen", "C01").await;
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = login(app, "chen", "Wrong-password-42", None).await;
        assert_error(res, 401, "invalid_credentials").await;
    }
    // Locked, on both instances, even for the right password.
    for app in [&b, &a] {
        let res = login(app, "chen", ADMIN_PASSWORD, None).await;
        let secs = retry_after(&res);
        assert!((890..=900).contains(&secs), "Retry-After {secs}");
        assert_error(res, 423, "account_locked").await;
    }
    // Fifteen minutes later (the lock moved into the past), the right password works.
    entity::users::Entity::update_many()
        .col_expr(
            entity::users::Column::LockedUntil,
            Expr::value(safegrid::util::now_ms() - 1),
        )
        .filter(entity::users::Column::Username.eq("chen"))
        .exec(&a.db().await)
        .await
        .unwrap();
    let res = login(&b, "chen", ADMIN_PASSWORD, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(user_row(&a, "chen").await.failed_logins, 0);
}

#[tokio::test]
async fn a_successful_login_resets_the_failed_count() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    app.admin("chen", "C01").await;
    for _ in 0..4 {
        let res = login(&app, "chen", "Wrong-password-42", None).await;
        assert_error(res, 401, "invalid_credentials").await;
    }
    assert_eq!(user_row(&app, "chen").await.failed_logins, 4);
    assert_eq!(
        login(&app, "chen", ADMIN_PASSWORD, None).await.status(),
        200
    );
    assert_eq!(user_row(&app, "chen").await.failed_logins, 0);
    for _ in 0..4 {
        let res = login(&app, "chen", "Wrong-password-42", None).await;
        assert_error(res, 401, "invalid_credentials").await;
    }
    let row = user_row(&app, "chen").await;
    assert_eq!(row.failed_logins, 4);
    assert_eq!(row.locked_until, None);
}

#[tokio::test]
async fn an_operator_set_password_must_be_changed_before_anything_else() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    // What `safegrid admin create` calls.
    safegrid::auth::service::create_admin_requiring_change(
        &app.db().await,
        "li",
        "Tide-pool-42-lantern",
        "C01",
    )
    .await
    .unwrap();
    let res = login(&app, "li", "Tide-pool-42-lantern", None).await;
    assert_eq!(res.status(), 200);
    let first = session(&res.json().await.unwrap());

    // Every admin route refuses; /me, refresh and the change itself work.
    assert_error(
        invite(&app, &first.access).await,
        403,
        "password_change_required",
    )
    .await;
    let res = app.get_auth("/api/v1/me/reports", &first.access).await;
    assert_error(res, 403, "password_change_required").await;
    assert_eq!(
        app.get_auth("/api/v1/me", &first.access).await.status(),
        200
    );
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": first.refresh }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let refreshed = session(&res.json().await.unwrap());
    assert_error(
        invite(&app, &refreshed.access).await,
        403,
        "password_change_required",
    )
    .await;

    // The old password is checked, and the new one must pass the policy (rule named).
    let change = |old: &'static str, new: &'static str| {
        let token = refreshed.access.clone();
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/auth/password",
                Some(&token),
                &json!({ "old_password": old, "new_password": new }),
            )
            .await
        }
    };
    let body = assert_error(
        change("Not-my-password-1", "Harbour beams 77").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(body["fields"]["old_password"].is_string(), "{body}");
    for (new, rule) in [
        ("Short-1a", "at least 12 characters"),
        ("harbour lights forever", "three of"),
        ("Harbour-LI-lights-7", "must not contain the username"),
        ("P@ssw0rd1234", "commonly used"),
        ("Tide-pool-42-lantern", "must differ"),
    ] {
        let body = assert_error(
            change("Tide-pool-42-lantern", new).await,
            422,
            "validation_failed",
        )
        .await;
        let message = body["fields"]["new_password"].as_str().unwrap_or_default();
        assert!(message.contains(rule), "{new}: {body}");
    }
    let res = change("Tide-pool-42-lantern", "Harbour beams 77").await;
    assert_eq!(res.status(), 200);
    let changed = session(&res.json().await.unwrap());

    // Settled at once, for the token that changed it; every other session ended.
    assert_eq!(invite(&app, &changed.access).await.status(), 201);
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": refreshed.refresh }),
        )
        .await;
    assert_error(res, 401, "refresh_token_invalid").await;
    let res = login(&app, "li", "Tide-pool-42-lantern", None).await;
    assert_error(res, 401, "invalid_credentials").await;
    assert_eq!(
        login(&app, "li", "Harbour beams 77", None).await.status(),
        200
    );
    let row = user_row(&app, "li").await;
    assert!(!row.must_change_password);
    assert_eq!(
        row.failed_logins, 0,
        "the success reset the wrong old password"
    );
}

#[tokio::test]
async fn weak_passwords_are_refused_when_an_admin_is_created() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let db = app.db().await;
    for (password, rule) in [
        ("correct horse battery", "three of"),
        ("Zhang-2026", "at least 12"),
        ("Zhang.wei-2026!", "username"),
        ("Password1234!", "commonly used"),
    ] {
        let err = safegrid::auth::service::create_admin(&db, "zhang.wei", password, "C01")
            .await
            .expect_err(password)
            .to_string();
        assert!(err.contains(rule), "{password}: {err}");
    }
    // The command line says which rule, before it even looks at the area.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_safegrid"))
        .args([
            "admin",
            "create",
            "--username",
            "wang",
            "--password-stdin",
            "--area",
            "C01",
        ])
        .env("SAFEGRID_DATABASE_URL", &app.db_url)
        .env("SAFEGRID_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"Wang-2026\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 12 characters"), "{stderr}");
}

#[tokio::test]
async fn a_confirmed_factor_is_required_at_login_and_a_code_works_once() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a).await;
    import_demo_tree(&a).await;
    let chen = a.admin("chen", "C01").await;
    // Pending only: login still needs no code.
    let res = a
        .post_json("/api/v1/auth/mfa/enrol", Some(&chen.access), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(login(&a, "chen", ADMIN_PASSWORD, None).await.status(), 200);
    let key = enrol_and_confirm(&a, &chen).await;
    // A second enrolment is refused while the factor is active.
    let res = a
        .post_json("/api/v1/auth/mfa/enrol", Some(&chen.access), &json!({}))
        .await;
    assert_error(res, 409, "invalid_transition").await;

    // Without a code, or with a wrong one: mfa_required.
    assert_error(
        login(&a, "chen", ADMIN_PASSWORD, None).await,
        401,
        "mfa_required",
    )
    .await;
    let now = settled_now().await;
    let current = totp::code_at(&key, now);
    let wrong = format!("{:06}", (current.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_error(
        login(&a, "chen", ADMIN_PASSWORD, Some(&wrong)).await,
        401,
        "mfa_required",
    )
    .await;
    // A wrong password with the right code is still a wrong password.
    assert_error(
        login(&a, "chen", "Wrong-password-42", Some(&current)).await,
        401,
        "invalid_credentials",
    )
    .await;
    // The current code works once; again on the other instance it is a replay, and so is
    // the confirmation's (older) code.
    let res = login(&a, "chen", ADMIN_PASSWORD, Some(&current)).await;
    assert_eq!(res.status(), 200);
    let body = assert_error(
        login(&b, "chen", ADMIN_PASSWORD, Some(&current)).await,
        401,
        "mfa_required",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let previous = totp::code_at(&key, now - totp::STEP_SECS);
    assert_error(
        login(&b, "chen", ADMIN_PASSWORD, Some(&previous)).await,
        401,
        "mfa_required",
    )
    .await;
    // The success reset the count (a wrong code and a wrong password); each replay spent a try.
    assert_eq!(user_row(&a, "chen").await.failed_logins, 2);
}

#[tokio::test]
async fn where_mfa_is_required_an_admin_without_a_factor_may_only_enrol() {
    let app = spawn_app_with(vec![("SAFEGRID_ADMIN_MFA", "required".into())]).await;
    import_demo_tree(&app).await;
    let chen = app.admin("chen", "C01").await;
    assert_error(
        invite(&app, &chen.access).await,
        403,
        "mfa_enrolment_required",
    )
    .await;
    assert_eq!(app.get_auth("/api/v1/me", &chen.access).await.status(), 200);
    let key = enrol_and_confirm(&app, &chen).await;
    // Settled for the same session at once.
    assert_eq!(invite(&app, &chen.access).await.status(), 201);
    assert_error(
        login(&app, "chen", ADMIN_PASSWORD, None).await,
        401,
        "mfa_required",
    )
    .await;
    let code = totp::code_at(&key, settled_now().await);
    assert_eq!(
        login(&app, "chen", ADMIN_PASSWORD, Some(&code))
            .await
            .status(),
        200
    );
    // Residents are not admins: nothing to enrol, nothing refused.
    let resident = app.login_wechat("openid-r").await;
    assert_eq!(
        app.get_auth("/api/v1/me/reports", &resident.access)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_admin_session_idle_for_thirty_minutes_cannot_be_refreshed() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let chen = app.admin("chen", "C01").await;
    let resident = app.login_wechat("openid-r").await;
    let thirty_one_minutes_ago = safegrid::util::now_ms() - 31 * 60_000;
    entity::refresh_tokens::Entity::update_many()
        .col_expr(
            entity::refresh_tokens::Column::CreatedAt,
            Expr::value(thirty_one_minutes_ago),
        )
        .exec(&app.db().await)
        .await
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": chen.refresh }),
        )
        .await;
    let body = assert_error(res, 401, "refresh_token_invalid").await;
    assert!(
        body["message"].as_str().unwrap().contains("without use"),
        "{body}"
    );
    // The mini-program's residents keep their long sessions.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": resident.refresh }),
        )
        .await;
    assert_eq!(res.status(), 200);
}
