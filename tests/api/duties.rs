//! Separated duties (MLPS 三员分立, DOMAIN.md §10), from one table: the system admin manages
//! areas, categories, units; the security admin lockouts, password resets, duty grants and
//! partner keys; the audit admin reads the trail and nothing else; nobody else reads the
//! trail; an area admin keeps their area's work; nobody grants a role to themselves.

use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, Session, TestApp, ADMIN_PASSWORD};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    System,
    Security,
    Audit,
    /// The admin of community C01.
    AreaAdmin,
}

const CALLERS: [Who; 4] = [Who::System, Who::Security, Who::Audit, Who::AreaAdmin];

struct Ids {
    report: String,
    /// A locked-out area admin: the target of unlocks and resets.
    victim: String,
    /// A password account without an area: the target of duty grants.
    spare: String,
}

struct Row {
    method: &'static str,
    /// `{report}`, `{victim}`, `{spare}` and `{self}` are filled in.
    path: &'static str,
    body: fn(Who) -> Option<Value>,
    /// Status for System, Security, Audit, AreaAdmin; a code after the status when it must be
    /// exactly that one.
    expect: [(u16, Option<&'static str>); 4],
}

const NO: (u16, Option<&str>) = (403, Some("forbidden"));

fn ok(status: u16) -> (u16, Option<&'static str>) {
    (status, None)
}

fn rows() -> Vec<Row> {
    vec![
        // The audit trail: the audit admin only.
        Row {
            method: "GET",
            path: "/api/v1/admin/audit",
            body: |_| None,
            expect: [NO, NO, ok(200), NO],
        },
        Row {
            method: "GET",
            path: "/api/v1/admin/audit.csv",
            body: |_| None,
            expect: [NO, NO, ok(200), NO],
        },
        // Structure: the system admin anywhere, an area admin inside the area.
        Row {
            method: "POST",
            path: "/api/v1/admin/units",
            body: |w| {
                let code = format!("U{}", w as u8);
                Some(json!({ "code": code, "name": code, "kind": "police", "area_codes": ["C01"] }))
            },
            expect: [ok(201), NO, NO, ok(201)],
        },
        Row {
            method: "GET",
            path: "/api/v1/admin/units",
            body: |_| None,
            expect: [ok(200), NO, NO, ok(200)],
        },
        Row {
            method: "PATCH",
            path: "/api/v1/admin/categories/sanitation",
            body: |_| Some(json!({ "sign_limit_hours": 4 })),
            // Categories are the whole district's: a community admin never had them.
            expect: [ok(200), NO, NO, NO],
        },
        Row {
            method: "POST",
            path: "/api/v1/admin/areas/import",
            body: |_| {
                Some(json!({ "type": "FeatureCollection", "features": [{
                    "type": "Feature",
                    "properties": { "code": "G01", "name": "第一网格", "level": "grid", "parent_code": "C01" },
                    "geometry": { "type": "Polygon", "coordinates": [[[121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21], [121.40, 31.20]]] },
                }]}))
            },
            expect: [ok(200), NO, NO, ok(200)],
        },
        // Partner keys: the security admin (district-wide), an area admin for the area.
        Row {
            method: "POST",
            path: "/api/v1/admin/integrations",
            body: |_| Some(json!({ "name": "烟感平台", "kind_map": {} })),
            expect: [NO, ok(201), NO, ok(201)],
        },
        Row {
            method: "POST",
            path: "/api/v1/admin/open311-clients",
            body: |_| Some(json!({ "name": "合作系统" })),
            expect: [NO, ok(201), NO, ok(201)],
        },
        // Accounts: the security admin.
        Row {
            method: "POST",
            path: "/api/v1/admin/accounts/{victim}/unlock",
            body: |_| None,
            expect: [NO, ok(200), NO, NO],
        },
        Row {
            method: "POST",
            path: "/api/v1/admin/accounts/{victim}/password-reset",
            body: |_| None,
            expect: [NO, ok(200), NO, NO],
        },
        Row {
            method: "PUT",
            path: "/api/v1/admin/accounts/{spare}/duty",
            body: |_| Some(json!({ "duty": "audit" })),
            expect: [NO, ok(200), NO, NO],
        },
        // Nobody grants a role to (or unlocks, resets) themselves.
        Row {
            method: "PUT",
            path: "/api/v1/admin/accounts/{self}/duty",
            body: |_| Some(json!({ "duty": "audit" })),
            expect: [NO, (403, Some("self_grant")), NO, NO],
        },
        Row {
            method: "POST",
            path: "/api/v1/admin/accounts/{self}/password-reset",
            body: |_| None,
            expect: [NO, (403, Some("self_grant")), NO, NO],
        },
        // Area work stays with the area admin: cases, the dashboard, grid invites.
        Row {
            method: "GET",
            path: "/api/v1/reports/{report}",
            body: |_| None,
            expect: [ok(404), ok(404), ok(404), ok(200)],
        },
        Row {
            method: "GET",
            path: "/api/v1/admin/dashboard?area=C01",
            body: |_| None,
            expect: [NO, NO, NO, ok(200)],
        },
        Row {
            method: "POST",
            path: "/api/v1/admin/invites",
            body: |_| Some(json!({ "grid_code": "G01", "role": "worker" })),
            expect: [NO, NO, NO, ok(201)],
        },
    ]
}

async fn login(app: &TestApp, username: &str) -> Session {
    let res = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": username, "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), 200, "{username}");
    let body: Value = res.json().await.unwrap();
    Session {
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
        user_id: body["user"]["id"].as_str().unwrap().into(),
        openid: String::new(),
    }
}

async fn duty_admin(app: &TestApp, username: &str, duty: &str) -> Session {
    let db = app.db().await;
    safegrid::auth::service::create_duty_admin(&db, username, ADMIN_PASSWORD, duty, false)
        .await
        .unwrap();
    login(app, username).await
}

#[tokio::test]
async fn each_duty_is_refused_outside_itself() {
    let app = crate::helpers::spawn_app().await;
    import_demo_tree(&app).await;
    let system = duty_admin(&app, "sysadmin", "system").await;
    let security = duty_admin(&app, "secadmin", "security").await;
    let auditor = duty_admin(&app, "auditadmin", "audit").await;
    let spare_session = duty_admin(&app, "spare", "system").await;
    let community = app.admin("community", "C01").await;
    let victim = app.admin("victim", "C01").await;
    for _ in 0..5 {
        app.post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "victim", "password": "Wrong password 123" }),
        )
        .await;
    }
    let resident = app.login_wechat("openid-duties").await;
    let report = app.report_at(&resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = Ids {
        report,
        victim: victim.user_id.clone(),
        spare: spare_session.user_id.clone(),
    };
    let session = |w: Who| match w {
        Who::System => &system,
        Who::Security => &security,
        Who::Audit => &auditor,
        Who::AreaAdmin => &community,
    };

    let mut wrong = Vec::new();
    for row in rows() {
        for (i, who) in CALLERS.into_iter().enumerate() {
            let s = session(who);
            let path = row
                .path
                .replace("{report}", &ids.report)
                .replace("{victim}", &ids.victim)
                .replace("{spare}", &ids.spare)
                .replace("{self}", &s.user_id);
            let mut req = match row.method {
                "GET" => app.http.get(app.url(&path)),
                "POST" => app.http.post(app.url(&path)),
                "PATCH" => app.http.patch(app.url(&path)),
                "PUT" => app.http.put(app.url(&path)),
                other => panic!("method {other} needs a case"),
            }
            .bearer_auth(&s.access);
            if let Some(body) = (row.body)(who) {
                req = req.json(&body);
            }
            let res = req.send().await.unwrap();
            let got = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            let code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned));
            let (want, want_code) = row.expect[i];
            if got != want || want_code.is_some_and(|c| code.as_deref() != Some(c)) {
                wrong.push(format!(
                    "{} {} as {who:?}: got {got} {code:?}, want {want} {want_code:?}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "duty mismatches:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn the_security_admin_unlocks_resets_and_grants() {
    let app = crate::helpers::spawn_app().await;
    import_demo_tree(&app).await;
    let security = duty_admin(&app, "secadmin", "security").await;
    let victim = app.admin("victim", "C01").await;
    for _ in 0..5 {
        app.post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "victim", "password": "Wrong password 123" }),
        )
        .await;
    }
    let locked = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "victim", "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_error(locked, 423, "account_locked").await;
    let res = app
        .post_json(
            &format!("/api/v1/admin/accounts/{}/unlock", victim.user_id),
            Some(&security.access),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    login(&app, "victim").await;

    // A reset: the old password and sessions die, the temporary one must be changed first.
    let reset: Value = app
        .post_json(
            &format!("/api/v1/admin/accounts/{}/password-reset", victim.user_id),
            Some(&security.access),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let temporary = reset["temporary_password"].as_str().unwrap();
    let old = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "victim", "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_error(old, 401, "invalid_credentials").await;
    let refreshed = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": victim.refresh }),
        )
        .await;
    assert_eq!(refreshed.status(), 401);
    let fresh: Value = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "victim", "password": temporary }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_error(
        app.get_auth(
            "/api/v1/admin/dashboard?area=C01",
            fresh["access_token"].as_str().unwrap(),
        )
        .await,
        403,
        "password_change_required",
    )
    .await;

    // A duty grant shows in GET /me at once; an area admin cannot take one; null withdraws.
    let db = app.db().await;
    safegrid::auth::service::create_duty_admin(&db, "spare", ADMIN_PASSWORD, "system", false)
        .await
        .unwrap();
    let spare = login(&app, "spare").await;
    let grant = |id: String, duty: Value| {
        let app = &app;
        let security = &security;
        async move {
            app.http
                .put(app.url(&format!("/api/v1/admin/accounts/{id}/duty")))
                .bearer_auth(&security.access)
                .json(&json!({ "duty": duty }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        grant(spare.user_id.clone(), json!("audit")).await.status(),
        200
    );
    let me: Value = app
        .get_auth("/api/v1/me", &login(&app, "spare").await.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(me["roles"]
        .as_array()
        .unwrap()
        .contains(&json!("audit_admin")));
    assert_error(
        grant(victim.user_id.clone(), json!("audit")).await,
        409,
        "duty_conflict",
    )
    .await;
    assert_error(
        grant(spare.user_id.clone(), json!("root")).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        grant(spare.user_id.clone(), Value::Null).await.status(),
        200
    );
    // Every one of these was recorded for the audit admin.
    let rows = entity::audit_log::Entity::find().all(&db).await.unwrap();
    for action in ["account.unlock", "account.password_reset", "role.duty"] {
        assert!(
            rows.iter()
                .any(|r| r.action == action && r.actor_id.as_deref() == Some(&security.user_id)),
            "{action}"
        );
    }
}
