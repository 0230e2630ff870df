//! Subscribe messages: sent by the background consumer, only with consent, one per accept.

use std::time::Duration;

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{spawn_app_with, Session, TestApp};
use crate::wechat_fake::PATH_SUBSCRIBE_SEND;

const ACCEPTED: &str = "TPL_ACCEPTED";

async fn setup() -> (TestApp, Session, Session) {
    let app = spawn_app_with(vec![(
        "SAFEGRID_TEMPLATES",
        format!("report_accepted={ACCEPTED},report_resolved=TPL_RESOLVED"),
    )])
    .await;
    import_demo_tree(&app).await;
    let admin = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-worker", "G01", "worker", &admin).await;
    let resident = app.login_wechat("openid-resident").await;
    (app, worker, resident)
}

async fn consent(app: &TestApp, who: &Session, template: &str) -> Value {
    let res = app
        .post_json(
            "/api/v1/me/subscriptions",
            Some(&who.access),
            &json!({ "results": { template: "accept" } }),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Submits a report and has the worker accept it; returns its case number.
async fn accept_new_report(app: &TestApp, worker: &Session, resident: &Session) -> String {
    let report = app.report_at(resident, 31.205, 121.405).await;
    let id = report["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.act(worker, &id, json!({ "action": "accept" }))
            .await
            .status(),
        200
    );
    report["case_no"].as_str().unwrap().to_string()
}

async fn wait_for_sent(app: &TestApp, n: usize) -> Vec<crate::wechat_fake::SentMessage> {
    for _ in 0..50 {
        let sent = app.wechat.sent();
        if sent.len() >= n {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.wechat.sent()
}

#[tokio::test]
async fn an_accepted_report_sends_one_message_per_consent() {
    let (app, worker, resident) = setup().await;
    app.wechat.grant("openid-resident", ACCEPTED, 5);
    let ledger = consent(&app, &resident, ACCEPTED).await;
    assert_eq!(ledger["remaining"][ACCEPTED], 1);
    let case_no = accept_new_report(&app, &worker, &resident).await;
    let sent = wait_for_sent(&app, 1).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].touser, "openid-resident");
    assert_eq!(sent[0].template_id, ACCEPTED);
    assert!(sent[0].data["thing1"].chars().count() <= 20);
    assert_eq!(sent[0].data["character_string4"], case_no);
    // The one consent is used up: a second acceptance sends nothing.
    accept_new_report(&app, &worker, &resident).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.wechat.sent().len(), 1);
}

#[tokio::test]
async fn without_consent_nothing_is_sent() {
    let (app, worker, resident) = setup().await;
    app.wechat.set_unlimited_quota(true);
    accept_new_report(&app, &worker, &resident).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(app.wechat.sent().is_empty());
}

#[tokio::test]
async fn wechat_quota_exhausted_zeroes_our_ledger() {
    let (app, worker, resident) = setup().await;
    consent(&app, &resident, ACCEPTED).await;
    consent(&app, &resident, ACCEPTED).await;
    // The fake has no quota for this user: 43101.
    accept_new_report(&app, &worker, &resident).await;
    let mut remaining = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ledger = app
            .post_json(
                "/api/v1/me/subscriptions",
                Some(&resident.access),
                &json!({ "results": {} }),
            )
            .await;
        remaining = ledger.json::<Value>().await.unwrap()["remaining"][ACCEPTED].clone();
        if remaining == 0 {
            break;
        }
    }
    assert_eq!(remaining, 0);
    assert!(app.wechat.sent().is_empty());
}

#[tokio::test]
async fn an_expired_wechat_token_is_refreshed_and_the_message_still_goes() {
    let (app, worker, resident) = setup().await;
    app.wechat.set_unlimited_quota(true);
    // Fetch a token first (phone binding), then let WeChat expire it.
    let code = app.wechat.issue_phone_code("13800000000");
    assert_eq!(
        app.post_json(
            "/api/v1/me/phone",
            Some(&resident.access),
            &json!({ "code": code })
        )
        .await
        .status(),
        200
    );
    app.wechat.expire_tokens();
    consent(&app, &resident, ACCEPTED).await;
    accept_new_report(&app, &worker, &resident).await;
    assert_eq!(wait_for_sent(&app, 1).await.len(), 1);
}

#[tokio::test]
async fn a_value_wechat_refuses_is_dead_lettered_for_an_admin() {
    let (app, worker, resident) = setup().await;
    app.wechat.set_unlimited_quota(true);
    app.wechat.fail_next(PATH_SUBSCRIBE_SEND, 47003, 1);
    consent(&app, &resident, ACCEPTED).await;
    accept_new_report(&app, &worker, &resident).await;
    let admin = app.admin("ops", "D01").await;
    let mut letters = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        letters = app
            .get_auth("/api/v1/admin/dead-letters", &admin.access)
            .await
            .json()
            .await
            .unwrap();
        if letters.as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
    }
    assert_eq!(letters[0]["kind"], "report_accepted");
    assert!(letters[0]["error"].as_str().unwrap().contains("47003"));
    assert!(app.wechat.sent().is_empty());
}

#[tokio::test]
async fn a_database_error_while_building_messages_leaves_the_event_to_be_retried_and_sent() {
    use safegrid::notify::relay::relay_once;
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

    // No background relay or consumer: this test runs each relay cycle itself.
    let app = spawn_app_with(vec![
        ("SAFEGRID_TEMPLATES", "report_submitted=TPL_NEW_TASK".into()),
        ("SAFEGRID_JOBS", "false".into()),
    ])
    .await;
    import_demo_tree(&app).await;
    let admin = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-worker", "G01", "worker", &admin).await;
    let resident = app.login_wechat("openid-resident").await;
    app.wechat.set_unlimited_quota(true);
    consent(&app, &worker, "TPL_NEW_TASK").await;
    app.report_at(&resident, 31.205, 121.405).await;

    let s = &app.state;
    let cycle = || relay_once(&s.db, &*s.bus, &s.notify, &s.metrics);
    let unpublished = || async {
        entity::outbox::Entity::find()
            .filter(entity::outbox::Column::PublishedAt.is_null())
            .count(&s.db)
            .await
            .unwrap()
    };
    assert_eq!(unpublished().await, 1);
    // The grid's workers cannot be read: the cycle fails and the event stays unpublished.
    s.db.execute_unprepared("ALTER TABLE grid_members RENAME TO grid_members_away")
        .await
        .unwrap();
    let failed = cycle().await;
    s.db.execute_unprepared("ALTER TABLE grid_members_away RENAME TO grid_members")
        .await
        .unwrap();
    assert!(failed.is_err(), "a failed cycle reports it: {failed:?}");
    assert_eq!(unpublished().await, 1, "the event waits for the next cycle");

    assert_eq!(cycle().await, Ok(1));
    assert_eq!(unpublished().await, 0);
    // The consumer runs until the test ends: its stop signal is kept and never sent.
    let (_never_stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(safegrid::notify::subscribe::run(
        s.notify.clone(),
        "test-consumer".into(),
        safegrid::util::Stopping::new(stopping),
    ));
    let sent = wait_for_sent(&app, 1).await;
    assert_eq!(sent.len(), 1, "the workers' message is sent after all");
    assert_eq!(sent[0].touser, "openid-worker");
    assert_eq!(sent[0].template_id, "TPL_NEW_TASK");
}
