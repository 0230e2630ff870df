//! Residents' rights (PIPL, DOMAIN.md §10) over HTTP: a copy of all their data and nobody
//! else's, correction, withdrawal of consent, and deletion that erases the person while the
//! dashboards keep their figures.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app};

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_export_holds_my_data_and_nothing_of_anyone_elses() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let me = app.login_wechat("openid-me").await;
    let other = app.login_wechat("openid-other").await;
    let mine = app.report_at(&me, 31.205, 121.405).await;
    app.post_json(
        "/api/v1/reports",
        Some(&other.access),
        &json!({ "category": "sanitation", "description": "别人的秘密上报", "location": { "lat": 31.205, "lng": 121.405 } }),
    )
    .await;
    crate::wishes::wish_at(&app, &me, 31.205, 121.405).await;
    app.post_json(
        "/api/v1/me/subscriptions",
        Some(&me.access),
        &json!({ "results": { "TPL-1": "accept" } }),
    )
    .await;

    let res = app.get_auth("/api/v1/me/export", &me.access).await;
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let export = ok(res).await;
    assert_eq!(export["user"]["id"], me.user_id.as_str());
    assert_eq!(export["user"]["wechat_openid"], "openid-me");
    assert_eq!(export["reports"].as_array().unwrap().len(), 1);
    assert_eq!(export["reports"][0]["id"], mine["id"]);
    assert!(export["reports"][0]["timeline"].is_array());
    assert_eq!(export["wishes"].as_array().unwrap().len(), 1);
    assert_eq!(export["subscriptions"]["TPL-1"], 1);
    let text = export.to_string();
    assert!(
        !text.contains("别人的秘密上报")
            && !text.contains(&other.user_id)
            && !text.contains("openid-other")
    );

    // Correction, and withdrawal of consent.
    let patched = ok(app
        .http
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&me.access)
        .json(&json!({ "nickname": "老王" }))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(patched["nickname"], "老王");
    let res = app
        .http
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&me.access)
        .json(&json!({ "nickname": "  " }))
        .send()
        .await
        .unwrap();
    assert_error(res, 422, "validation_failed").await;
    let res = app
        .http
        .delete(app.url("/api/v1/me/subscriptions"))
        .bearer_auth(&me.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let export = ok(app.get_auth("/api/v1/me/export", &me.access).await).await;
    assert_eq!(export["subscriptions"], json!({}));
}

#[tokio::test]
async fn deleting_an_account_erases_the_person_and_keeps_the_figures() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let me = app.login_wechat("openid-leaving").await;
    // A closed report with a photo, and an open one.
    let png: Value = crate::uploads::upload(
        &app,
        &me,
        crate::uploads::PNG.to_vec(),
        "a.png",
        "image/png",
    )
    .await
    .json()
    .await
    .unwrap();
    let closed: Value = app
        .post_json(
            "/api/v1/reports",
            Some(&me.access),
            &json!({ "category": "sanitation", "description": "门口垃圾", "location": { "lat": 31.205, "lng": 121.405 }, "photo_ids": [png["id"]] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let closed_id = closed["id"].as_str().unwrap();
    for (who, body) in [
        (&worker, json!({ "action": "accept" })),
        (&worker, json!({ "action": "resolve", "note": "已清理" })),
        (&me, json!({ "action": "confirm" })),
    ] {
        assert_eq!(app.act(who, closed_id, body).await.status(), 200);
    }
    app.report_at(&me, 31.205, 121.405).await;

    // A worker with a task in hand must hand it over first.
    let held = app.report_at(&me, 31.205, 121.405).await;
    assert_eq!(
        app.act(
            &worker,
            held["id"].as_str().unwrap(),
            json!({ "action": "accept" })
        )
        .await
        .status(),
        200
    );
    let res = app
        .http
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&worker.access)
        .send()
        .await
        .unwrap();
    let e = assert_error(res, 409, "open_tasks").await;
    assert!(e["message_zh"].is_string());

    let dashboard = |app: &crate::helpers::TestApp| {
        let token = district.access.clone();
        let url = app.url("/api/v1/admin/dashboard?area=D01");
        let http = app.http.clone();
        async move {
            let v: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["totals"].clone()
        }
    };
    let before = dashboard(&app).await;
    let res = app
        .http
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&me.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(dashboard(&app).await, before, "the figures do not move");

    // Tokens are dead.
    assert_error(
        app.get_auth("/api/v1/me", &me.access).await,
        401,
        "unauthenticated",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({ "refresh_token": me.refresh }),
        )
        .await;
    assert_eq!(res.status(), 401);

    // No row holds the person: not the WeChat id, not the account id on what stays.
    let db = app.db().await;
    let users = entity::users::Entity::find().all(&db).await.unwrap();
    assert!(users
        .iter()
        .all(|u| u.openid.as_deref() != Some("openid-leaving")));
    let erased = users.iter().find(|u| u.id == me.user_id).unwrap();
    assert_eq!(erased.nickname, "已注销用户");
    assert!(erased.phone.is_none() && erased.unionid.is_none() && erased.session_key.is_none());
    let left = entity::reports::Entity::find()
        .filter(entity::reports::Column::ReporterId.eq(me.user_id.as_str()))
        .all(&db)
        .await
        .unwrap();
    assert!(left.is_empty(), "reports re-keyed to a tombstone");
    assert_eq!(
        entity::reports::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .len(),
        3
    );
    let timeline = entity::timeline_events::Entity::find()
        .filter(entity::timeline_events::Column::ActorId.eq(me.user_id.as_str()))
        .all(&db)
        .await
        .unwrap();
    assert!(timeline.is_empty());
    // The photo of the closed case is gone.
    let photos = entity::uploads::Entity::find()
        .filter(entity::uploads::Column::AttachedId.eq(closed_id))
        .all(&db)
        .await
        .unwrap();
    assert!(photos.is_empty());

    // Coming back with the same WeChat account is a new person with nothing.
    let again = app.login_wechat("openid-leaving").await;
    assert_ne!(again.user_id, me.user_id);
    let mine = ok(app.get_auth("/api/v1/me/reports", &again.access).await).await;
    assert_eq!(mine["items"], json!([]));
}
