//! The closed loop over HTTP: submit, route, accept, handle, resolve, confirm, rate — and
//! every way it must refuse.

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, spawn_app_with, Session, TestApp};

/// A district with a resident, two workers of G01, one of G05 and a community admin of C01.
struct World {
    app: TestApp,
    resident: Session,
    worker: Session,
    worker2: Session,
    other_worker: Session,
    admin: Session,
}

async fn world_with(app: TestApp) -> World {
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let worker2 = app.enrolled("openid-w2", "G01", "backup", &district).await;
    let other_worker = app.enrolled("openid-w5", "G05", "worker", &district).await;
    let admin = app.admin("community", "C01").await;
    let resident = app.login_wechat("openid-resident").await;
    World {
        app,
        resident,
        worker,
        worker2,
        other_worker,
        admin,
    }
}

async fn world() -> World {
    world_with(spawn_app().await).await
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_whole_loop_from_safety_key_to_rated_closure() {
    let w = world().await;
    let app = &w.app;
    let report = app.report_at(&w.resident, 31.205, 121.405).await;
    let id = report["id"].as_str().unwrap();
    assert_eq!(report["status"], "submitted");
    assert_eq!(report["grid"]["code"], "G01");
    assert_eq!(report["available_actions"], json!(["cancel"]));

    // It is in G01's queue, not G05's.
    let tasks: Value = app
        .get_auth("/api/v1/worker/tasks", &w.worker.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["items"][0]["id"], id);
    assert_eq!(tasks["items"][0]["light"], "green");
    let other: Value = app
        .get_auth("/api/v1/worker/tasks", &w.other_worker.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["items"], json!([]));

    let accepted = ok(app.act(&w.worker, id, json!({ "action": "accept" })).await).await;
    assert_eq!(accepted["status"], "accepted");
    assert!(accepted["deadline"].is_string());
    let noted = ok(app
        .act(
            &w.worker,
            id,
            json!({ "action": "note", "text": "已联系物业" }),
        )
        .await)
    .await;
    assert_eq!(noted["status"], "in_progress");
    let resolved = ok(app
        .act(
            &w.worker,
            id,
            json!({ "action": "resolve", "note": "垃圾已清运" }),
        )
        .await)
    .await;
    assert_eq!(resolved["status"], "resolved");
    let closed = ok(app
        .act(&w.resident, id, json!({ "action": "confirm" }))
        .await)
    .await;
    assert_eq!(closed["status"], "closed");
    let rated = ok(app
        .act(
            &w.resident,
            id,
            json!({ "action": "rate", "rating": 5, "comment": "很快" }),
        )
        .await)
    .await;
    assert_eq!(rated["rating"], 5);

    let full = ok(app
        .get_auth(&format!("/api/v1/reports/{id}"), &w.resident.access)
        .await)
    .await;
    let actions: Vec<&str> = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["submit", "accept", "note", "resolve", "confirm", "rate"]
    );
    // Rating twice is refused.
    assert_error(
        app.act(&w.resident, id, json!({ "action": "rate", "rating": 4 }))
            .await,
        409,
        "invalid_transition",
    )
    .await;
}

#[tokio::test]
async fn illegal_transitions_are_409_naming_the_state_and_wrong_roles_are_403() {
    let w = world().await;
    let app = &w.app;
    let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = assert_error(
        app.act(&w.resident, &id, json!({ "action": "confirm" }))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(body["details"]["state"], "submitted");
    assert_error(
        app.act(&w.resident, &id, json!({ "action": "accept" }))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.act(&w.worker, &id, json!({ "action": "resolve", "note": "x" }))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    assert_error(
        app.act(&w.worker, &id, json!({ "action": "fly" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.act(&w.worker, &id, json!({ "action": "reject" })).await,
        422,
        "validation_failed",
    )
    .await;
    // Cancelling is the reporter's, before acceptance only.
    ok(app.act(&w.worker, &id, json!({ "action": "accept" })).await).await;
    let body = assert_error(
        app.act(&w.resident, &id, json!({ "action": "cancel" }))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(body["details"]["state"], "accepted");
}

#[tokio::test]
async fn two_workers_accepting_at_once_exactly_one_wins() {
    let w = world().await;
    let app = &w.app;
    for _ in 0..3 {
        let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (a, b) = tokio::join!(
            app.act(&w.worker, &id, json!({ "action": "accept" })),
            app.act(&w.worker2, &id, json!({ "action": "accept" })),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409]);
        let full = ok(app
            .get_auth(&format!("/api/v1/reports/{id}"), &w.worker.access)
            .await)
        .await;
        let accepts = full["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "accept")
            .count();
        assert_eq!(accepts, 1);
    }
}

#[tokio::test]
async fn a_retried_submission_with_the_same_key_creates_one_report() {
    let w = world().await;
    let app = &w.app;
    let body = json!({
        "category": "fire_hazard",
        "description": "消防通道被堵",
        "location": { "lat": 31.205, "lng": 121.405 },
    });
    let send = |key: &'static str| {
        app.http
            .post(app.url("/api/v1/reports"))
            .bearer_auth(&w.resident.access)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first: Value = send("key-1").await.unwrap().json().await.unwrap();
    let again: Value = send("key-1").await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    // Concurrent retries of a new key.
    let results = futures_join_all((0..5).map(|_| send("key-2"))).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let mine: Value = app
        .get_auth("/api/v1/me/reports", &w.resident.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
    // The same key with another body is a client bug.
    let res = app
        .http
        .post(app.url("/api/v1/reports"))
        .bearer_auth(&w.resident.access)
        .header("Idempotency-Key", "key-1")
        .json(&json!({ "category": "other", "description": "别的", "location": { "lat": 31.205, "lng": 121.405 } }))
        .send()
        .await
        .unwrap();
    assert_error(res, 422, "idempotency_key_reused").await;
}

#[tokio::test]
async fn a_key_past_its_24_hours_makes_way_for_a_new_report() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let w = world().await;
    let app = &w.app;
    let send = |description: &'static str| {
        app.http
            .post(app.url("/api/v1/reports"))
            .bearer_auth(&w.resident.access)
            .header("Idempotency-Key", "old-key")
            .json(&json!({
                "category": "sanitation",
                "description": description,
                "location": { "lat": 31.205, "lng": 121.405 },
            }))
            .send()
    };
    let first = send("垃圾堆放").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The record ages out of its window (the purge job has not run yet).
    entity::idempotency::Entity::update_many()
        .col_expr(
            entity::idempotency::Column::CreatedAt,
            sea_orm::sea_query::Expr::value(safegrid::util::now_ms() - 25 * 3_600_000),
        )
        .filter(entity::idempotency::Column::IdemKey.eq("old-key"))
        .exec(&app.state.db)
        .await
        .unwrap();
    // A new request under the old key is new: another body is not a conflict any more,
    // and it creates a second report rather than replaying the first.
    let second = send("又有垃圾").await.unwrap();
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["description"], "又有垃圾");
    // And that one is now what the key replays.
    let again: Value = send("又有垃圾").await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], second["id"]);
    let mine: Value = app
        .get_auth("/api/v1/me/reports", &w.resident.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
}

async fn futures_join_all<F: std::future::Future<Output = reqwest::Result<reqwest::Response>>>(
    futs: impl Iterator<Item = F>,
) -> Vec<Value> {
    let handles: Vec<F> = futs.collect();
    let mut out = Vec::new();
    for res in futures_util::future::join_all(handles).await {
        let res = res.unwrap();
        assert_eq!(res.status(), 201);
        out.push(res.json().await.unwrap());
    }
    out
}

#[tokio::test]
async fn nobody_else_can_see_a_report_and_probing_ids_is_404() {
    let w = world().await;
    let app = &w.app;
    let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = app.login_wechat("openid-stranger").await;
    assert_error(
        app.get_auth(&format!("/api/v1/reports/{id}"), &stranger.access)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get_auth(&format!("/api/v1/reports/{id}"), &w.other_worker.access)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.act(&stranger, &id, json!({ "action": "cancel" })).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get_auth(
            "/api/v1/reports/00000000-0000-0000-0000-000000000000",
            &stranger.access,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.get_auth(&format!("/api/v1/reports/{id}"), &w.admin.access)
            .await
            .status(),
        200
    );
    let other_admin = app.admin("west", "S02").await;
    assert_error(
        app.get_auth(&format!("/api/v1/reports/{id}"), &other_admin.access)
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_anonymous_reporter_is_hidden_from_workers_but_not_from_admins() {
    let w = world().await;
    let app = &w.app;
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&w.resident.access),
            &json!({ "category": "dispute", "description": "邻里噪音纠纷", "location": { "lat": 31.205, "lng": 121.405 }, "anonymous": true }),
        )
        .await;
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let as_worker = ok(app
        .get_auth(&format!("/api/v1/reports/{id}"), &w.worker.access)
        .await)
    .await;
    assert!(as_worker["reporter"].is_null());
    let as_admin = ok(app
        .get_auth(&format!("/api/v1/reports/{id}"), &w.admin.access)
        .await)
    .await;
    assert!(as_admin["reporter"]["nickname"].is_string());
}

#[tokio::test]
async fn escalation_moves_the_report_up_and_hand_down_sends_it_to_another_grid() {
    let w = world().await;
    let app = &w.app;
    let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let up = ok(app
        .act(
            &w.worker,
            &id,
            json!({ "action": "escalate", "reason": "需要社区协调" }),
        )
        .await)
    .await;
    assert_eq!(up["status"], "escalated");
    assert_eq!(up["queue"]["code"], "C01");
    // The community admin sees it in their queue; the worker can no longer act on it.
    let tasks: Value = app
        .get_auth("/api/v1/worker/tasks", &w.admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));
    assert_error(
        app.act(&w.worker, &id, json!({ "action": "accept" })).await,
        403,
        "forbidden",
    )
    .await;
    let down = ok(app
        .act(
            &w.admin,
            &id,
            json!({ "action": "hand_down", "grid_code": "G02" }),
        )
        .await)
    .await;
    assert_eq!(down["status"], "submitted");
    assert_eq!(down["queue"]["code"], "G02");
    // Not to a grid outside the queue's subtree.
    let id2 = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(app
        .act(
            &w.worker,
            &id2,
            json!({ "action": "escalate", "reason": "x" }),
        )
        .await)
    .await;
    assert_error(
        app.act(
            &w.admin,
            &id2,
            json!({ "action": "hand_down", "grid_code": "G05" }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn suspension_stops_the_clock_and_extensions_move_the_deadline() {
    let w = world().await;
    let app = &w.app;
    let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let accepted = ok(app.act(&w.worker, &id, json!({ "action": "accept" })).await).await;
    let deadline = accepted["deadline"].as_str().unwrap().to_string();
    ok(app
        .act(
            &w.admin,
            &id,
            json!({ "action": "suspend", "reason": "等待施工季" }),
        )
        .await)
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resumed = ok(app.act(&w.admin, &id, json!({ "action": "resume" })).await).await;
    assert!(
        resumed["deadline"].as_str().unwrap() > deadline.as_str(),
        "{resumed}"
    );
    let until = "2099-01-01T12:00:00+08:00";
    ok(app
        .act(
            &w.worker,
            &id,
            json!({ "action": "request_extension", "until": until, "reason": "材料未到" }),
        )
        .await)
    .await;
    assert_error(
        app.act(&w.worker, &id, json!({ "action": "approve_extension" }))
            .await,
        403,
        "forbidden",
    )
    .await;
    let approved = ok(app
        .act(&w.admin, &id, json!({ "action": "approve_extension" }))
        .await)
    .await;
    assert_eq!(approved["deadline"], until);
}

#[tokio::test]
async fn rework_sends_a_resolved_report_back_and_counts() {
    let w = world().await;
    let app = &w.app;
    let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(app.act(&w.worker, &id, json!({ "action": "accept" })).await).await;
    ok(app
        .act(
            &w.worker,
            &id,
            json!({ "action": "resolve", "note": "done" }),
        )
        .await)
    .await;
    let back = ok(app
        .act(
            &w.resident,
            &id,
            json!({ "action": "rework", "reason": "还没清理" }),
        )
        .await)
    .await;
    assert_eq!(back["status"], "in_progress");
    assert_eq!(back["rework_count"], 1);
}

#[tokio::test]
async fn a_resolved_report_closes_by_itself_after_the_window() {
    let w =
        world_with(spawn_app_with(vec![("SAFEGRID_CONFIRM_WINDOW_HOURS", "0".into())]).await).await;
    let app = &w.app;
    let id = app.report_at(&w.resident, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(app.act(&w.worker, &id, json!({ "action": "accept" })).await).await;
    ok(app
        .act(
            &w.worker,
            &id,
            json!({ "action": "resolve", "note": "done" }),
        )
        .await)
    .await;
    let mut status = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = ok(app
            .get_auth(&format!("/api/v1/reports/{id}"), &w.resident.access)
            .await)
        .await["status"]
            .clone();
        if status == "closed" {
            break;
        }
    }
    assert_eq!(status, "closed");
    let full = ok(app
        .get_auth(&format!("/api/v1/reports/{id}"), &w.resident.access)
        .await)
    .await;
    let last = full["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "auto_close");
    assert_eq!(last["actor_role"], "system");
}

#[tokio::test]
async fn bad_submissions_get_field_errors_and_nothing_is_stored() {
    let w = world().await;
    let app = &w.app;
    let long = "长".repeat(2001);
    for (body, field) in [
        (
            json!({ "category": "nope", "description": "x", "location": { "lat": 31.2, "lng": 121.4 } }),
            "category",
        ),
        (
            json!({ "category": "other", "description": "", "location": { "lat": 31.2, "lng": 121.4 } }),
            "description",
        ),
        (
            json!({ "category": "other", "description": long, "location": { "lat": 31.2, "lng": 121.4 } }),
            "description",
        ),
        (
            json!({ "category": "other", "description": "x", "location": { "lat": 91.0, "lng": 121.4 } }),
            "location",
        ),
        (
            json!({ "category": "other", "description": "x", "location": { "lat": 31.2, "lng": 121.4 }, "photo_ids": ["nope"] }),
            "photo_ids",
        ),
    ] {
        let res = app
            .post_json("/api/v1/reports", Some(&w.resident.access), &body)
            .await;
        let err = assert_error(res, 422, "validation_failed").await;
        assert!(err["fields"][field].is_string(), "{err}");
    }
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&w.resident.access),
            &json!({ "category": 5 }),
        )
        .await;
    assert_error(res, 422, "validation_failed").await;
    let res = app
        .http
        .post(app.url("/api/v1/reports"))
        .bearer_auth(&w.resident.access)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_json").await;
    let mine: Value = app
        .get_auth("/api/v1/me/reports", &w.resident.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"], json!([]));
}

#[tokio::test]
async fn a_body_over_one_megabyte_is_413_with_the_error_body() {
    let w = world().await;
    let big = "x".repeat(1_100_000);
    let res = w
        .app
        .post_json(
            "/api/v1/reports",
            Some(&w.resident.access),
            &json!({ "category": "other", "description": big }),
        )
        .await;
    assert_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn nearby_open_reports_of_the_same_category_are_hinted_and_can_be_linked() {
    let w = world().await;
    let app = &w.app;
    let first = app.report_at(&w.resident, 31.205, 121.405).await;
    let neighbour = app.login_wechat("openid-neighbour").await;
    let second = app.report_at(&neighbour, 31.2051, 121.4051).await;
    let hints = second["possible_duplicates"].as_array().unwrap();
    assert_eq!(hints.len(), 1);
    assert_eq!(hints[0]["id"], first["id"]);
    assert!(hints[0]["distance_m"].as_f64().unwrap() < 50.0);
    assert!(hints[0].get("description").is_none());
    let rejected = ok(app
        .act(
            &w.worker,
            second["id"].as_str().unwrap(),
            json!({ "action": "reject", "reason": "重复上报", "duplicate_of": first["id"] }),
        )
        .await)
    .await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["duplicate_of"], first["id"]);
}

#[tokio::test]
async fn the_worker_queue_pages_with_a_cursor_soonest_first() {
    let w = world().await;
    let app = &w.app;
    for _ in 0..5 {
        app.report_at(&w.resident, 31.205, 121.405).await;
    }
    let first: Value = app
        .get_auth("/api/v1/worker/tasks?limit=2", &w.worker.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().into())
        .collect();
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = ok(app
            .get_auth(
                &format!("/api/v1/worker/tasks?limit=2&cursor={c}"),
                &w.worker.access,
            )
            .await)
        .await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 5);
    assert_error(
        app.get_auth("/api/v1/worker/tasks", &w.resident.access)
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/worker/tasks?limit=500", &w.worker.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
}
