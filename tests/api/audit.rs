//! The audit trail (MLPS level 3) over HTTP and through the CLI: staff actions, logins and
//! reads of personal data are recorded with the request's id and address; only the audit
//! admin reads them; an edited, deleted or reordered record is caught by `audit verify`.

use std::process::Command;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, Session, TestApp};
use safegrid::compliance::audit;

async fn auditor(app: &TestApp) -> Session {
    let db = app.db().await;
    safegrid::auth::service::create_duty_admin(
        &db,
        "auditor",
        crate::helpers::ADMIN_PASSWORD,
        "audit",
        false,
    )
    .await
    .unwrap();
    let body: Value = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "auditor", "password": crate::helpers::ADMIN_PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    Session {
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
        user_id: body["user"]["id"].as_str().unwrap().into(),
        openid: String::new(),
    }
}

#[tokio::test]
async fn staff_actions_logins_and_personal_reads_are_recorded_for_the_audit_admin_only() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let resident = app.login_wechat("openid-r").await;
    let report: Value = app
        .post_json(
            "/api/v1/reports",
            Some(&resident.access),
            &json!({ "category": "sanitation", "description": "匿名反映", "location": { "lat": 31.205, "lng": 121.405 }, "anonymous": true }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = report["id"].as_str().unwrap();
    assert_eq!(
        app.act(&worker, id, json!({ "action": "accept" }))
            .await
            .status(),
        200
    );
    // The district admin reads the anonymous reporter's identity.
    assert_eq!(
        app.get_auth(&format!("/api/v1/reports/{id}"), &district.access)
            .await
            .status(),
        200
    );
    // A failed login.
    let bad = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "district", "password": "Wrong-wrong-wrong-1" }),
        )
        .await;
    assert_eq!(bad.status(), 401);

    let auditor = auditor(&app).await;
    let me: Value = app
        .get_auth("/api/v1/me", &auditor.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["audit_admin"]));
    let page: Value = app
        .get_auth("/api/v1/admin/audit?limit=100", &auditor.access)
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    let find = |action: &str| items.iter().find(|e| e["action"] == action).cloned();
    let accept = find("report.accept").expect("the worker's accept is recorded");
    assert_eq!(accept["actor_id"], worker.user_id.as_str());
    assert_eq!(accept["actor_role"], "worker");
    assert_eq!(accept["object"], format!("report:{id}"));
    assert_eq!(accept["ip"], "127.0.0.1");
    assert!(!accept["request_id"].as_str().unwrap().is_empty());
    let read = find("read.anonymous_reporter").expect("the identity read is recorded");
    assert_eq!(read["actor_id"], district.user_id.as_str());
    let failed = items
        .iter()
        .find(|e| e["action"] == "login.password" && e["result"] == "failed")
        .expect("the failed login is recorded");
    assert_eq!(failed["detail"], "invalid_credentials");
    assert!(find("role.invite").is_some());
    // Residents' own actions are not staff actions.
    assert!(items.iter().all(|e| e["action"] != "report.submit"));

    // Nobody else reads the trail; the audit admin reads nothing else.
    for who in [&district, &worker, &resident] {
        assert_error(
            app.get_auth("/api/v1/admin/audit", &who.access).await,
            403,
            "forbidden",
        )
        .await;
        assert_error(
            app.get_auth("/api/v1/admin/audit.csv", &who.access).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_error(
        app.get_auth(&format!("/api/v1/reports/{id}"), &auditor.access)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/admin/dashboard?area=D01", &auditor.access)
            .await,
        403,
        "forbidden",
    )
    .await;
    let csv = app
        .get_auth("/api/v1/admin/audit.csv?action=report.", &auditor.access)
        .await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(
        text.starts_with('\u{feff}') && text.contains("report.accept"),
        "{text}"
    );
    // Reading the trail is on the trail.
    let again: Value = app
        .get_auth("/api/v1/admin/audit?action=read.audit", &auditor.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(!again["items"].as_array().unwrap().is_empty());
}

fn verify_cli(app: &TestApp) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_safegrid"))
        .args(["audit", "verify"])
        .env("SAFEGRID_DATABASE_URL", &app.db_url)
        .env("SAFEGRID_LOG", "warn")
        .output()
        .expect("safegrid runs")
}

#[tokio::test]
async fn an_edited_deleted_or_reordered_record_is_caught() {
    let app = spawn_app().await;
    let db = app.db().await;
    for i in 0..6 {
        audit::record(
            &db,
            audit::Record::ok("u1", "admin", &format!("test.{i}"), None),
        )
        .await;
    }
    assert_eq!(audit::seal(&db, 0, 1_000).await.unwrap(), 6);
    assert_eq!(audit::verify(&db).await.unwrap(), Ok(6));
    let out = verify_cli(&app);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A later record, not yet sealed, is fine at the tail.
    audit::record(&db, audit::Record::ok("u1", "admin", "test.tail", None)).await;
    assert_eq!(audit::verify(&db).await.unwrap(), Ok(6));

    let rows = entity::audit_log::Entity::find().all(&db).await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();

    // Edited: the record itself is named.
    entity::audit_log::Entity::update_many()
        .col_expr(entity::audit_log::Column::Result, Expr::value("denied"))
        .filter(entity::audit_log::Column::Id.eq(ids[2]))
        .exec(&db)
        .await
        .unwrap();
    let broken = audit::verify(&db).await.unwrap().unwrap_err();
    assert_eq!(broken.id, ids[2]);
    let out = verify_cli(&app);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("record {}", ids[2])),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    entity::audit_log::Entity::update_many()
        .col_expr(entity::audit_log::Column::Result, Expr::value("ok"))
        .filter(entity::audit_log::Column::Id.eq(ids[2]))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(audit::verify(&db).await.unwrap(), Ok(6));

    // Deleted: the record after the gap is named.
    entity::audit_log::Entity::delete_by_id(ids[3])
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(audit::verify(&db).await.unwrap().unwrap_err().id, ids[4]);

    // Reordered: a record moved after the others breaks where it no longer fits.
    entity::audit_log::Entity::update_many()
        .col_expr(entity::audit_log::Column::Id, Expr::value(ids[3]))
        .filter(entity::audit_log::Column::Id.eq(ids[1]))
        .exec(&db)
        .await
        .unwrap();
    let broken = audit::verify(&db).await.unwrap().unwrap_err();
    assert!(broken.id == ids[2] || broken.id == ids[3], "{broken:?}");
}

#[tokio::test]
async fn an_sm3_chain_continues_a_sha256_one_and_an_edit_is_still_caught() {
    use safegrid::infra::crypto::Suite;
    let app = spawn_app().await;
    let db = app.db().await;
    for i in 0..6 {
        if i == 3 {
            // SAFEGRID_CRYPTO=sm from here on: the chain goes on in SM3.
            assert_eq!(audit::seal(&db, 0, 1_000).await.unwrap(), 3);
        }
        audit::record(
            &db,
            audit::Record::ok("u1", "admin", &format!("test.{i}"), None),
        )
        .await;
    }
    assert_eq!(audit::seal_with(&db, Suite::Sm, 0, 1_000).await.unwrap(), 3);
    assert_eq!(audit::verify(&db).await.unwrap(), Ok(6));
    let rows = entity::audit_log::Entity::find().all(&db).await.unwrap();
    assert!(!rows[2].hash.as_deref().unwrap().starts_with("sm3:"));
    assert!(rows[3].hash.as_deref().unwrap().starts_with("sm3:"));
    entity::audit_log::Entity::update_many()
        .col_expr(entity::audit_log::Column::Object, Expr::value("edited"))
        .filter(entity::audit_log::Column::Id.eq(rows[4].id))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&db).await.unwrap().unwrap_err().id,
        rows[4].id
    );
}
