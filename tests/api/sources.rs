//! Where cases come from (DOMAIN.md §9) over HTTP: patrols and workers' own reports, hotline
//! orders, signed device alarms, and disputes mediated and followed up.

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app_with, Overrides, Session, TestApp};

struct World {
    app: TestApp,
    resident: Session,
    worker: Session,
    backup: Session,
    other_worker: Session,
    community: Session,
}

async fn world() -> World {
    world_with(Vec::new()).await
}

async fn world_with(overrides: Overrides) -> World {
    let app = spawn_app_with(overrides).await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let backup = app.enrolled("openid-b1", "G01", "backup", &district).await;
    let other_worker = app.enrolled("openid-w5", "G05", "worker", &district).await;
    let community = app.admin("community", "C01").await;
    let resident = app.login_wechat("openid-resident").await;
    World {
        app,
        resident,
        worker,
        backup,
        other_worker,
        community,
    }
}

async fn body(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn report(extra: Value) -> Value {
    let mut b = json!({
        "category": "sanitation",
        "description": "楼道堆放杂物",
        "location": { "lat": 31.205, "lng": 121.405, "coord": "gcj02" },
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn at(offset_s: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_s)).to_rfc3339()
}

impl World {
    async fn submit(&self, who: &Session, b: Value) -> reqwest::Response {
        self.app
            .post_json("/api/v1/reports", Some(&who.access), &b)
            .await
    }

    async fn checkins(&self, who: &Session, patrol: &str, items: Value) -> reqwest::Response {
        self.app
            .post_json(
                &format!("/api/v1/patrols/{patrol}/checkins"),
                Some(&who.access),
                &json!({ "items": items }),
            )
            .await
    }
}

#[tokio::test]
async fn a_patrol_collects_its_points_once_and_its_reports_start_in_hand() {
    let w = world().await;
    let start = json!({ "grid_code": "G01" });
    let patrol = body(
        w.app
            .post_json("/api/v1/patrols", Some(&w.worker.access), &start)
            .await,
        201,
    )
    .await;
    let id = patrol["id"].as_str().unwrap().to_owned();
    // A retried start is the same patrol.
    let again = body(
        w.app
            .post_json("/api/v1/patrols", Some(&w.worker.access), &start)
            .await,
        200,
    )
    .await;
    assert_eq!(again["id"], id.as_str());
    // Not a grid the worker works.
    assert_error(
        w.app
            .post_json("/api/v1/patrols", Some(&w.other_worker.access), &start)
            .await,
        403,
        "forbidden",
    )
    .await;

    let p = |cid: &str, lat: f64, lng: f64| json!({ "client_id": cid, "lat": lat, "lng": lng, "at": at(1) });
    let batch = json!([
        p("a", 31.201, 121.401),
        p("b", 31.202, 121.402),
        p("c", 31.205, 121.605)
    ]);
    let first = body(w.checkins(&w.worker, &id, batch.clone()).await, 200).await;
    assert_eq!(
        (
            first["added"].as_i64(),
            first["checkins"].as_i64(),
            first["outside"].as_i64()
        ),
        (Some(3), Some(3), Some(1))
    );
    // The same batch again (a flaky network) adds nothing; an overlapping one adds the new point.
    let retried = body(w.checkins(&w.worker, &id, batch).await, 200).await;
    assert_eq!(
        (retried["added"].as_i64(), retried["checkins"].as_i64()),
        (Some(0), Some(3))
    );
    let overlap = json!([p("b", 31.202, 121.402), p("d", 31.203, 121.403)]);
    let more = body(w.checkins(&w.worker, &id, overlap).await, 200).await;
    assert_eq!(
        (more["added"].as_i64(), more["checkins"].as_i64()),
        (Some(1), Some(4))
    );
    let too_many: Vec<Value> = (0..501)
        .map(|i| p(&format!("x{i}"), 31.201, 121.401))
        .collect();
    assert_error(
        w.checkins(&w.worker, &id, json!(too_many)).await,
        422,
        "validation_failed",
    )
    .await;
    let old = json!([{ "client_id": "z", "lat": 31.201, "lng": 121.401, "at": at(-3600) }]);
    assert_error(
        w.checkins(&w.worker, &id, old).await,
        422,
        "validation_failed",
    )
    .await;
    // Someone else's patrol does not exist for them.
    assert_error(
        w.checkins(&w.backup, &id, json!([p("e", 31.2, 121.4)]))
            .await,
        404,
        "not_found",
    )
    .await;

    // A report found on the patrol starts accepted by the worker, with a deadline.
    let r = body(
        w.submit(
            &w.worker,
            report(json!({ "source": "patrol", "patrol_id": id })),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(r["status"], "accepted");
    assert_eq!(r["source"], "patrol");
    assert_eq!(r["patrol_id"], id.as_str());
    assert!(r["deadline"].is_string() && r["accepted_at"].is_string());
    // Fixed on the spot: it starts resolved and the community checks it.
    let fixed = body(
        w.submit(
            &w.worker,
            report(json!({ "source": "visit", "resolved_on_site": { "note": "当场清理完毕" } })),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(fixed["status"], "resolved");
    assert_eq!(fixed["source"], "visit");
    let fixed_id = fixed["id"].as_str().unwrap();
    let closed = body(
        w.app
            .act(&w.community, fixed_id, json!({ "action": "confirm" }))
            .await,
        200,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    let timeline = &closed["timeline"];
    assert_eq!(timeline[0]["to"], "resolved");
    assert_eq!(timeline[0]["note"], "当场清理完毕");

    let ended = body(
        w.app
            .post_json(
                &format!("/api/v1/patrols/{id}/end"),
                Some(&w.worker.access),
                &json!({}),
            )
            .await,
        200,
    )
    .await;
    assert!(ended["ended_at"].is_string());
    assert_eq!(ended["auto_ended"], false);

    // The track: the worker and the community admin see it; the grid's backup sees the patrol
    // without it; a worker of another grid sees nothing.
    let path = format!("/api/v1/patrols/{id}");
    let mine = body(w.app.get_auth(&path, &w.worker.access).await, 200).await;
    assert_eq!(mine["track"].as_array().unwrap().len(), 4);
    let admin = body(w.app.get_auth(&path, &w.community.access).await, 200).await;
    assert_eq!(admin["track"][2]["outside"], true, "{admin}");
    let backup = body(w.app.get_auth(&path, &w.backup.access).await, 200).await;
    assert!(backup.get("track").is_none());
    assert_error(
        w.app.get_auth(&path, &w.other_worker.access).await,
        404,
        "not_found",
    )
    .await;
    let listed = body(
        w.app
            .get_auth("/api/v1/patrols?grid=G01", &w.community.access)
            .await,
        200,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_error(
        w.app
            .get_auth("/api/v1/patrols?grid=G01", &w.other_worker.access)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn only_the_right_staff_may_name_a_source() {
    let w = world().await;
    // A resident's report is `resident`; a resident cannot set another source.
    let mine = body(w.submit(&w.resident, report(json!({}))).await, 201).await;
    assert_eq!(mine["source"], "resident");
    for source in ["patrol", "visit", "hotline", "device", "open311"] {
        assert_error(
            w.submit(
                &w.resident,
                report(json!({ "source": source, "hotline_order_no": "1" })),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_error(
        w.submit(&w.resident, report(json!({ "hotline_order_no": "1" })))
            .await,
        403,
        "forbidden",
    )
    .await;
    // A worker reports as patrol only in their own grid.
    assert_error(
        w.submit(&w.other_worker, report(json!({ "source": "patrol" })))
            .await,
        403,
        "forbidden",
    )
    .await;
    // A patrol id must be the worker's own.
    assert_error(
        w.submit(
            &w.worker,
            report(json!({ "source": "patrol", "patrol_id": "nope" })),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn a_hotline_order_entered_twice_is_one_case() {
    let w = world().await;
    let deadline = at(3 * 86_400);
    let order = report(json!({
        "source": "hotline",
        "hotline_order_no": "12345-20261205-0001",
        "caller_phone": "13800138000",
        "deadline": deadline,
    }));
    let first = body(w.submit(&w.community, order.clone()).await, 201).await;
    assert_eq!(first["source"], "hotline");
    assert_eq!(first["status"], "submitted");
    assert_eq!(first["hotline_order_no"], "12345-20261205-0001");
    assert_eq!(first["caller_phone_masked"], "138****8000");
    let again = body(w.submit(&w.community, order).await, 200).await;
    assert_eq!(again["id"], first["id"]);
    let id = first["id"].as_str().unwrap();
    // The hotline's deadline stands when the grid accepts; the worker never sees the phone.
    let accepted = body(
        w.app
            .act(&w.worker, id, json!({ "action": "accept" }))
            .await,
        200,
    )
    .await;
    assert_eq!(accepted["deadline"], first["deadline"]);
    assert!(accepted.get("caller_phone_masked").is_none());
    assert_error(
        w.submit(
            &w.worker,
            report(json!({ "source": "hotline", "hotline_order_no": "9" })),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        w.submit(&w.community, report(json!({ "source": "hotline" })))
            .await,
        422,
        "validation_failed",
    )
    .await;
}

/// Posts a device alarm signed with `secret` at `ts` (`tamper`: a byte altered after signing).
pub async fn alarm(
    app: &TestApp,
    integration: &str,
    secret: &str,
    ts: i64,
    body: &str,
    tamper: bool,
) -> reqwest::Response {
    let sig = safegrid::integrations::signature::sign(secret, &ts.to_string(), body.as_bytes());
    let mut sent = body.as_bytes().to_vec();
    if tamper {
        let i = sent.len() / 2;
        sent[i] ^= 1;
    }
    app.http
        .post(app.url("/api/v1/integrations/devices/alarms"))
        .header("content-type", "application/json")
        .header("X-SafeGrid-Integration", integration)
        .header("X-SafeGrid-Timestamp", ts.to_string())
        .header("X-SafeGrid-Signature", sig)
        .body(sent)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_device_alarm_becomes_one_case() {
    let w = world().await;
    let created = body(
        w.app
            .post_json(
                "/api/v1/admin/integrations",
                Some(&w.community.access),
                &json!({ "name": "烟感平台" }),
            )
            .await,
        201,
    )
    .await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let now = chrono::Utc::now().timestamp();
    let payload = json!({
        "alarm_id": "AL-1", "device_id": "SMK-7", "kind": "smoke",
        "lat": 31.205, "lng": 121.405, "coord": "gcj02", "at": at(0),
    })
    .to_string();

    let case = body(alarm(&w.app, id, secret, now, &payload, false).await, 201).await;
    assert_eq!(case["category"], "fire_hazard");
    let report_id = case["report_id"].as_str().unwrap();
    let replay = body(alarm(&w.app, id, secret, now, &payload, false).await, 200).await;
    assert_eq!(replay["report_id"], report_id);

    assert_error(
        alarm(&w.app, id, "wrong-secret", now, &payload, false).await,
        401,
        "signature_invalid",
    )
    .await;
    assert_error(
        alarm(&w.app, id, secret, now, &payload, true).await,
        401,
        "signature_invalid",
    )
    .await;
    assert_error(
        alarm(&w.app, id, secret, now - 301, &payload, false).await,
        401,
        "signature_stale",
    )
    .await;
    assert_error(
        alarm(&w.app, "nobody", secret, now, &payload, false).await,
        401,
        "integration_unknown",
    )
    .await;

    // The case is routed like any report and sits in the grid's queue, as a device case.
    let r = body(
        w.app
            .get_auth(&format!("/api/v1/reports/{report_id}"), &w.worker.access)
            .await,
        200,
    )
    .await;
    assert_eq!(r["source"], "device");
    assert_eq!(r["grid"]["code"], "G01");
    assert_eq!(r["timeline"][0]["actor_role"], "system");
}

#[tokio::test]
async fn a_dispute_is_mediated_and_its_agreement_followed_up() {
    let w = world().await;
    let d = body(
        w.submit(
            &w.resident,
            report(json!({ "category": "dispute", "description": "楼上漏水纠纷" })),
        )
        .await,
        201,
    )
    .await;
    let id = d["id"].as_str().unwrap();
    body(
        w.app
            .act(&w.worker, id, json!({ "action": "accept" }))
            .await,
        200,
    )
    .await;
    assert_error(
        w.app.act(&w.worker, id, json!({ "action": "mediate", "tier": "moon", "outcome": "agreed", "parties": "甲乙" })).await,
        422,
        "validation_failed",
    )
    .await;
    let m = body(
        w.app
            .act(
                &w.worker,
                id,
                json!({ "action": "mediate", "tier": "grid", "outcome": "agreed", "parties": "301 与 401 住户", "agreement": "401 承担维修费用" }),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(m["status"], "in_progress");
    assert_eq!(m["mediation"]["tier"], "grid");
    assert_eq!(m["mediation"]["outcome"], "agreed");
    assert_eq!(m["follow_up"]["light"], "green");
    assert!(m["follow_up"]["due"].is_string());
    assert!(m["available_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("follow_up")));
    body(
        w.app
            .act(
                &w.worker,
                id,
                json!({ "action": "resolve", "note": "已调解" }),
            )
            .await,
        200,
    )
    .await;
    body(
        w.app
            .act(&w.resident, id, json!({ "action": "confirm" }))
            .await,
        200,
    )
    .await;

    // Closed, but its follow-up is due: it stays in the worker's queue until visited.
    let queue = body(
        w.app
            .get_auth("/api/v1/worker/tasks", &w.worker.access)
            .await,
        200,
    )
    .await;
    assert!(
        queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id),
        "{queue}"
    );
    let f = body(
        w.app
            .act(
                &w.worker,
                id,
                json!({ "action": "follow_up", "result": "kept" }),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(f["follow_up"]["result"], "kept");
    assert_eq!(f["status"], "closed");
    let queue = body(
        w.app
            .get_auth("/api/v1/worker/tasks", &w.worker.access)
            .await,
        200,
    )
    .await;
    assert!(!queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id));
    assert_error(
        w.app
            .act(
                &w.worker,
                id,
                json!({ "action": "follow_up", "result": "kept" }),
            )
            .await,
        409,
        "invalid_transition",
    )
    .await;

    // Only disputes are mediated.
    let plain = body(w.submit(&w.resident, report(json!({}))).await, 201).await;
    let pid = plain["id"].as_str().unwrap();
    body(
        w.app
            .act(&w.worker, pid, json!({ "action": "accept" }))
            .await,
        200,
    )
    .await;
    assert_error(
        w.app.act(&w.worker, pid, json!({ "action": "mediate", "tier": "grid", "outcome": "failed", "parties": "甲乙" })).await,
        409,
        "invalid_transition",
    )
    .await;
}

#[tokio::test]
async fn the_full_caller_phone_is_for_admins_on_request_only() {
    let w = world().await;
    let order = report(json!({
        "source": "hotline",
        "hotline_order_no": "12345-X-1",
        "caller_phone": "13800138000",
    }));
    let r = body(w.submit(&w.community, order).await, 201).await;
    let id = r["id"].as_str().unwrap();
    let path = format!("/api/v1/admin/reports/{id}/caller-phone");
    let full = body(w.app.get_auth(&path, &w.community.access).await, 200).await;
    assert_eq!(full["caller_phone"], "13800138000");
    // The grid's worker sees the case but not the number; a stranger not even the case.
    assert_error(
        w.app.get_auth(&path, &w.worker.access).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        w.app.get_auth(&path, &w.other_worker.access).await,
        404,
        "not_found",
    )
    .await;
    // A case without a caller.
    let plain = body(w.submit(&w.resident, report(json!({}))).await, 201).await;
    let path = format!(
        "/api/v1/admin/reports/{}/caller-phone",
        plain["id"].as_str().unwrap()
    );
    assert_error(
        w.app.get_auth(&path, &w.community.access).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn old_tracks_are_coarsened_to_about_100_m_once() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    // No background jobs: the leased cleanup would coarsen the point before the call below
    // (it did, once, on PostgreSQL).
    let w = world_with(vec![("SAFEGRID_JOBS", "false".into())]).await;
    let p = body(
        w.app
            .post_json(
                "/api/v1/patrols",
                Some(&w.worker.access),
                &json!({ "grid_code": "G01" }),
            )
            .await,
        201,
    )
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let items = json!([
        { "client_id": "a", "lat": 31.201234, "lng": 121.404321, "at": at(0) },
        { "client_id": "b", "lat": 31.205678, "lng": 121.408765, "at": at(0) },
    ]);
    body(w.checkins(&w.worker, &id, items).await, 200).await;
    let db = w.app.db().await;
    // Make point `a` 100 days old.
    entity::patrol_checkins::Entity::update_many()
        .col_expr(
            entity::patrol_checkins::Column::At,
            sea_orm::sea_query::Expr::value(
                chrono::Utc::now().timestamp_millis() - 100 * 86_400_000,
            ),
        )
        .filter(entity::patrol_checkins::Column::ClientId.eq("a"))
        .exec(&db)
        .await
        .unwrap();
    let ninety_days = 90 * 86_400_000;
    let n = safegrid::patrols::service::coarsen_old_tracks(&db, ninety_days)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        safegrid::patrols::service::coarsen_old_tracks(&db, ninety_days)
            .await
            .unwrap(),
        0
    );
    let points = entity::patrol_checkins::Entity::find()
        .all(&db)
        .await
        .unwrap();
    let a = points.iter().find(|c| c.client_id == "a").unwrap();
    let b = points.iter().find(|c| c.client_id == "b").unwrap();
    let three_decimals = |x: f64| ((x * 1000.0) - (x * 1000.0).round()).abs() < 1e-6;
    assert!(three_decimals(a.lat) && three_decimals(a.lng), "{a:?}");
    assert!(
        !three_decimals(b.lat),
        "a fresh point keeps its precision: {b:?}"
    );
}
