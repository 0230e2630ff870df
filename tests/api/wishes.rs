//! Micro-wishes over HTTP: post, review, the wall, claim (and its race), fulfil, confirm;
//! expiry into the grid's queue; volunteers by invite and by self-registration.

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, spawn_app_with, Session, TestApp};

/// Posts a wish at a GCJ-02 point; returns the wish JSON.
pub async fn wish_at(app: &TestApp, who: &Session, lat: f64, lng: f64) -> Value {
    let res = app
        .post_json(
            "/api/v1/wishes",
            Some(&who.access),
            &json!({
                "title": "想要一台收音机",
                "description": "独居老人，想听戏曲广播",
                "kind": "goods",
                "estimated_value_fen": 15_000,
                "location": { "lat": lat, "lng": lng, "coord": "gcj02" },
            }),
        )
        .await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "post wish: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn act(app: &TestApp, who: &Session, id: &str, body: Value) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/wishes/{id}/actions"),
        Some(&who.access),
        &body,
    )
    .await
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A district with a wisher in G01 (phone bound), G01's worker, a volunteer enrolled in
/// G05 (another street), a plain resident and C01's admin.
struct World {
    app: TestApp,
    wisher: Session,
    worker: Session,
    volunteer: Session,
    resident: Session,
    admin: Session,
    district: Session,
}

async fn world_with(app: TestApp) -> World {
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let volunteer = app
        .enrolled("openid-v5", "G05", "volunteer", &district)
        .await;
    let admin = app.admin("community", "C01").await;
    let resident = app.login_wechat("openid-resident").await;
    let wisher = app.login_wechat("openid-wisher").await;
    let code = app.wechat.issue_phone_code("13812345678");
    let res = app
        .post_json(
            "/api/v1/me/phone",
            Some(&wisher.access),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(res.status(), 200);
    World {
        app,
        wisher,
        worker,
        volunteer,
        resident,
        admin,
        district,
    }
}

async fn world() -> World {
    world_with(spawn_app().await).await
}

/// Posts and approves a wish in G01; returns its id.
async fn published(w: &World) -> String {
    let id = wish_at(&w.app, &w.wisher, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(act(&w.app, &w.worker, &id, json!({ "action": "approve" })).await).await;
    id
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every object key anywhere in a JSON value.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| keys(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_whole_lifecycle_from_wish_to_confirmed_closure() {
    let w = world().await;
    let app = &w.app;
    let photo: Value = crate::uploads::upload(
        app,
        &w.wisher,
        crate::uploads::PNG.to_vec(),
        "a.png",
        "image/png",
    )
    .await
    .json()
    .await
    .unwrap();
    let res = app
        .post_json(
            "/api/v1/wishes",
            Some(&w.wisher.access),
            &json!({
                "title": "想要一台收音机",
                "description": "独居老人，想听戏曲广播",
                "kind": "service",
                "estimated_value_fen": 30_000,
                "location": { "lat": 31.205, "lng": 121.405 },
                "photo_ids": [photo["id"]],
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let wish: Value = res.json().await.unwrap();
    let id = wish["id"].as_str().unwrap();
    assert_eq!(wish["status"], "submitted");
    assert_eq!(wish["kind"], "service");
    assert_eq!(wish["grid"]["code"], "G01");
    assert_eq!(wish["photos"].as_array().unwrap().len(), 1);
    assert_eq!(wish["available_actions"], json!(["cancel"]));

    // Awaiting review in G01's queue, not on the wall yet, invisible to strangers.
    let queue = ok(app
        .get_auth("/api/v1/worker/wishes", &w.worker.access)
        .await)
    .await;
    assert_eq!(ids(&queue), [id]);
    let wall = ok(app
        .get_auth("/api/v1/wishes?area=C01", &w.resident.access)
        .await)
    .await;
    assert!(ids(&wall).is_empty());
    assert_error(
        app.get_auth(&format!("/api/v1/wishes/{id}"), &w.volunteer.access)
            .await,
        404,
        "not_found",
    )
    .await;

    let approved = ok(act(app, &w.worker, id, json!({ "action": "approve" })).await).await;
    assert_eq!(approved["status"], "approved");
    assert!(approved["approved_at"].is_string());
    // On the wall of its community and district, not of another street.
    for area in ["G01", "C01", "D01"] {
        let wall = ok(app
            .get_auth(&format!("/api/v1/wishes?area={area}"), &w.resident.access)
            .await)
        .await;
        assert_eq!(ids(&wall), [id], "area {area}");
    }
    let wall = ok(app
        .get_auth("/api/v1/wishes?area=S02", &w.resident.access)
        .await)
    .await;
    assert!(ids(&wall).is_empty());
    let queue = ok(app
        .get_auth("/api/v1/worker/wishes", &w.worker.access)
        .await)
    .await;
    assert!(ids(&queue).is_empty());

    // A volunteer of another street claims it (wishes are public) and then sees the contact.
    let seen = ok(app
        .get_auth(&format!("/api/v1/wishes/{id}"), &w.volunteer.access)
        .await)
    .await;
    assert_eq!(seen["available_actions"], json!(["claim"]));
    assert!(seen.get("wisher").is_none());
    let claimed = ok(act(
        app,
        &w.volunteer,
        id,
        json!({ "action": "claim", "unit": "平安社区党支部" }),
    )
    .await)
    .await;
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["wisher"]["phone"], "13812345678");
    assert!(claimed["wisher"]["nickname"].is_string());
    assert_eq!(claimed["location"]["lat"], 31.205);
    assert_eq!(claimed["claimant"]["unit"], "平安社区党支部");
    assert_eq!(claimed["available_actions"], json!(["release", "fulfil"]));
    // Off the wall, and the wisher may no longer cancel.
    let wall = ok(app
        .get_auth("/api/v1/wishes?area=C01", &w.resident.access)
        .await)
    .await;
    assert!(ids(&wall).is_empty());
    let body = assert_error(
        act(app, &w.wisher, id, json!({ "action": "cancel" })).await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(body["details"]["state"], "claimed");
    // The claimant lists it among their wishes.
    let mine = ok(app.get_auth("/api/v1/me/wishes", &w.volunteer.access).await).await;
    assert_eq!(ids(&mine), [id]);

    // Fulfilment needs a proof photo of the claimant's own.
    let res = act(
        app,
        &w.volunteer,
        id,
        json!({ "action": "fulfil", "note": "已送到" }),
    )
    .await;
    let body = assert_error(res, 422, "validation_failed").await;
    assert!(body["fields"]["photo_ids"].is_string());
    let proof: Value = crate::uploads::upload(
        app,
        &w.volunteer,
        crate::uploads::PNG.to_vec(),
        "p.png",
        "image/png",
    )
    .await
    .json()
    .await
    .unwrap();
    let fulfilled = ok(act(
        app,
        &w.volunteer,
        id,
        json!({ "action": "fulfil", "note": "收音机已送到老人家中", "photo_ids": [proof["id"]] }),
    )
    .await)
    .await;
    assert_eq!(fulfilled["status"], "fulfilled");
    assert_eq!(fulfilled["fulfil_note"], "收音机已送到老人家中");
    assert_eq!(fulfilled["photos"].as_array().unwrap().len(), 2);

    // Only the wisher (or an admin) confirms.
    assert_error(
        act(app, &w.volunteer, id, json!({ "action": "confirm" })).await,
        403,
        "forbidden",
    )
    .await;
    let closed = ok(act(app, &w.wisher, id, json!({ "action": "confirm" })).await).await;
    assert_eq!(closed["status"], "closed");
    assert!(closed["closed_at"].is_string());
    let actions: Vec<(&str, &str)> = closed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("submit", "wisher"),
            ("approve", "worker"),
            ("claim", "claimant"),
            ("fulfil", "claimant"),
            ("confirm", "wisher"),
        ]
    );
    // Events were written with the changes, in their order (by id: without an ORDER BY,
    // PostgreSQL returns rows the relay has since updated in whatever order they now lie).
    let db = app.db().await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let kinds: Vec<String> = entity::outbox::Entity::find()
        .filter(entity::outbox::Column::Kind.starts_with("wish_"))
        .order_by_asc(entity::outbox::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "wish_submitted",
            "wish_published",
            "wish_claimed",
            "wish_fulfilled",
            "wish_closed"
        ]
    );
}

#[tokio::test]
async fn a_claimant_may_release_and_the_wish_returns_to_the_wall_and_rejection_needs_a_reason() {
    let w = world().await;
    let app = &w.app;
    let id = published(&w).await;
    ok(act(app, &w.volunteer, &id, json!({ "action": "claim" })).await).await;
    let released = ok(act(
        app,
        &w.volunteer,
        &id,
        json!({ "action": "release", "reason": "临时出差" }),
    )
    .await)
    .await;
    assert_eq!(released["status"], "approved");
    assert!(released.get("claimant").is_none());
    // The former claimant lost the contact details with the claim.
    assert!(released.get("wisher").is_none());
    let wall = ok(app
        .get_auth("/api/v1/wishes?area=C01", &w.resident.access)
        .await)
    .await;
    assert_eq!(ids(&wall), [id.as_str()]);
    // The wisher may cancel while nobody holds it.
    let cancelled = ok(act(app, &w.wisher, &id, json!({ "action": "cancel" })).await).await;
    assert_eq!(cancelled["status"], "cancelled");

    let other = wish_at(app, &w.wisher, 31.205, 121.405).await;
    let other = other["id"].as_str().unwrap();
    let body = assert_error(
        act(app, &w.admin, other, json!({ "action": "reject" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(body["fields"]["reason"].is_string());
    let rejected = ok(act(
        app,
        &w.admin,
        other,
        json!({ "action": "reject", "reason": "超出微心愿范围" }),
    )
    .await)
    .await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "超出微心愿范围");
    assert_error(
        act(app, &w.worker, other, json!({ "action": "approve" })).await,
        409,
        "invalid_transition",
    )
    .await;
}

#[tokio::test]
async fn many_concurrent_claims_have_exactly_one_winner() {
    let w = world().await;
    let app = &w.app;
    let mut volunteers = vec![w.volunteer.clone()];
    for i in 0..7 {
        volunteers.push(
            app.enrolled(&format!("openid-race-{i}"), "G05", "volunteer", &w.district)
                .await,
        );
    }
    for _ in 0..2 {
        let id = published(&w).await;
        let results = futures_util::future::join_all(
            volunteers
                .iter()
                .map(|v| act(app, v, &id, json!({ "action": "claim" }))),
        )
        .await;
        let mut statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
        statuses.sort();
        let mut want = vec![409; volunteers.len() - 1];
        want.insert(0, 200);
        assert_eq!(statuses, want);
        let full = ok(app
            .get_auth(&format!("/api/v1/wishes/{id}"), &w.wisher.access)
            .await)
        .await;
        let claims = full["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "claim")
            .count();
        assert_eq!(claims, 1);
        assert_eq!(full["version"], 2);
    }
}

#[tokio::test]
async fn a_value_over_the_cap_is_422_naming_the_cap_and_nothing_is_stored() {
    let w = world_with(spawn_app_with(vec![("SAFEGRID_WISH_CAP_FEN", "5000".into())]).await).await;
    let app = &w.app;
    let body = |fen: i64| {
        json!({
            "title": "轮椅", "description": "需要一辆轮椅", "kind": "goods",
            "estimated_value_fen": fen, "location": { "lat": 31.205, "lng": 121.405 },
        })
    };
    let res = app
        .post_json("/api/v1/wishes", Some(&w.wisher.access), &body(5_001))
        .await;
    let err = assert_error(res, 422, "wish_value_over_cap").await;
    assert!(err["message"].as_str().unwrap().contains("50.00"), "{err}");
    assert!(
        err["message_zh"].as_str().unwrap().contains("50.00"),
        "{err}"
    );
    assert!(err["fields"]["estimated_value_fen"].is_string());
    assert_eq!(err["details"]["cap_fen"], 5_000);
    let mine = ok(app.get_auth("/api/v1/me/wishes", &w.wisher.access).await).await;
    assert!(ids(&mine).is_empty());
    // Exactly the cap is allowed.
    let res = app
        .post_json("/api/v1/wishes", Some(&w.wisher.access), &body(5_000))
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn the_wall_reveals_nothing_about_the_wisher() {
    let w = world().await;
    let app = &w.app;
    let id = published(&w).await;
    let wall_text = app
        .get_auth("/api/v1/wishes?area=C01", &w.resident.access)
        .await
        .text()
        .await
        .unwrap();
    let one_text = app
        .get_auth(&format!("/api/v1/wishes/{id}"), &w.resident.access)
        .await
        .text()
        .await
        .unwrap();
    let me: Value = ok(app.get_auth("/api/v1/me", &w.wisher.access).await).await;
    let nickname = me["nickname"].as_str().unwrap();
    for text in [&wall_text, &one_text] {
        let v: Value = serde_json::from_str(text).unwrap();
        let mut found = Vec::new();
        keys(&v, &mut found);
        for forbidden in [
            "wisher",
            "wisher_id",
            "nickname",
            "phone",
            "phone_masked",
            "location",
            "lat",
            "lng",
            "timeline",
            "flagged",
        ] {
            assert!(
                !found.iter().any(|k| k == forbidden),
                "{forbidden} in {text}"
            );
        }
        for secret in [
            w.wisher.user_id.as_str(),
            nickname,
            "13812345678",
            "5678",
            "31.205",
            "121.405",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    // The grid is shown instead.
    let wall: Value = serde_json::from_str(&wall_text).unwrap();
    assert_eq!(wall["items"][0]["grid"]["code"], "G01");
    assert_eq!(wall["items"][0]["grid"]["name"], "第一网格");
}

#[tokio::test]
async fn an_unclaimed_wish_past_its_deadline_becomes_a_grid_task() {
    let w = world().await;
    let app = &w.app;
    let id = published(&w).await;
    // The default deadline is 30 days out: the job with today's clock leaves it alone.
    let now = safegrid::util::now_ms();
    assert_eq!(
        safegrid::wishes::actions::expire_unclaimed(&app.state.cases(), now)
            .await
            .unwrap(),
        0
    );
    let moved =
        safegrid::wishes::actions::expire_unclaimed(&app.state.cases(), now + 31 * 86_400_000)
            .await
            .unwrap();
    assert_eq!(moved, 1);
    let wish = ok(app
        .get_auth(&format!("/api/v1/wishes/{id}"), &w.worker.access)
        .await)
    .await;
    assert_eq!(wish["status"], "expired");
    assert_eq!(wish["expired_to_queue"], true);
    let last = wish["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor_role"].as_str()),
        (Some("expire"), Some("system"))
    );
    // Off the wall, in the grid's queue; the worker handles it.
    let wall = ok(app
        .get_auth("/api/v1/wishes?area=C01", &w.resident.access)
        .await)
    .await;
    assert!(ids(&wall).is_empty());
    let queue = ok(app
        .get_auth("/api/v1/worker/wishes", &w.worker.access)
        .await)
    .await;
    assert_eq!(ids(&queue), [id.as_str()]);
    let expired_only = ok(app
        .get_auth("/api/v1/worker/wishes?state=expired", &w.admin.access)
        .await)
    .await;
    assert_eq!(ids(&expired_only), [id.as_str()]);
    // The worker's one queue carries it too, beside the reports, and only for its grid.
    let tasks = ok(app.get_auth("/api/v1/worker/tasks", &w.worker.access).await).await;
    let in_tasks: Vec<&str> = tasks["expired_wishes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(in_tasks, [id.as_str()]);
    let other_grid = ok(app
        .get_auth("/api/v1/worker/tasks?grid=G05", &w.worker.access)
        .await)
    .await;
    assert_eq!(other_grid["expired_wishes"], json!([]));
    let reports_only = ok(app
        .get_auth("/api/v1/worker/tasks?category=sanitation", &w.worker.access)
        .await)
    .await;
    assert_eq!(reports_only["expired_wishes"], json!([]));
    ok(act(
        app,
        &w.worker,
        &id,
        json!({ "action": "claim", "unit": "幸福社区居委会" }),
    )
    .await)
    .await;
    // Released, it goes back to the queue, not to the wall.
    let back = ok(act(app, &w.worker, &id, json!({ "action": "release" })).await).await;
    assert_eq!(back["status"], "expired");
    // Running the job again changes nothing.
    assert_eq!(
        safegrid::wishes::actions::expire_unclaimed(&app.state.cases(), now + 31 * 86_400_000)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn the_background_job_expires_a_wish_whose_own_deadline_passed() {
    let w = world().await;
    let app = &w.app;
    let deadline = chrono::Utc::now() + chrono::Duration::seconds(2);
    let res = app
        .post_json(
            "/api/v1/wishes",
            Some(&w.wisher.access),
            &json!({
                "title": "陪老人去医院", "description": "周五上午复诊", "kind": "service",
                "location": { "lat": 31.205, "lng": 121.405 },
                "deadline": deadline.to_rfc3339(),
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(act(app, &w.worker, &id, json!({ "action": "approve" })).await).await;
    let mut status = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = ok(app
            .get_auth(&format!("/api/v1/wishes/{id}"), &w.wisher.access)
            .await)
        .await["status"]
            .clone();
        if status == "expired" {
            break;
        }
    }
    assert_eq!(status, "expired");
}

#[tokio::test]
async fn a_fulfilled_wish_nobody_confirms_closes_by_itself() {
    let w = world().await;
    let app = &w.app;
    let id = published(&w).await;
    ok(act(app, &w.volunteer, &id, json!({ "action": "claim" })).await).await;
    let proof: Value = crate::uploads::upload(
        app,
        &w.volunteer,
        crate::uploads::PNG.to_vec(),
        "p.png",
        "image/png",
    )
    .await
    .json()
    .await
    .unwrap();
    ok(act(
        app,
        &w.volunteer,
        &id,
        json!({ "action": "fulfil", "note": "done", "photo_ids": [proof["id"]] }),
    )
    .await)
    .await;
    let now = safegrid::util::now_ms();
    assert_eq!(
        safegrid::wishes::actions::auto_confirm(&app.state.cases(), now)
            .await
            .unwrap(),
        0
    );
    let window = app.settings.confirm_window.as_millis() as i64;
    assert_eq!(
        safegrid::wishes::actions::auto_confirm(&app.state.cases(), now + window + 1_000)
            .await
            .unwrap(),
        1
    );
    let wish = ok(app
        .get_auth(&format!("/api/v1/wishes/{id}"), &w.wisher.access)
        .await)
    .await;
    assert_eq!(wish["status"], "closed");
    let last = wish["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "auto_confirm");
    assert_eq!(last["actor_role"], "system");
}

#[tokio::test]
async fn a_volunteer_anywhere_may_claim_but_a_plain_resident_or_the_wisher_may_not() {
    let w = world().await;
    let app = &w.app;
    let id = published(&w).await;
    assert_error(
        act(app, &w.resident, &id, json!({ "action": "claim" })).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        act(app, &w.wisher, &id, json!({ "action": "claim" })).await,
        403,
        "forbidden",
    )
    .await;
    // A worker of another grid is no volunteer either.
    let other_worker = app
        .enrolled("openid-w5", "G05", "worker", &w.district)
        .await;
    assert_error(
        act(app, &other_worker, &id, json!({ "action": "claim" })).await,
        403,
        "forbidden",
    )
    .await;
    // Reviewing is the community's: a volunteer may not approve or reject.
    let pending = wish_at(app, &w.wisher, 31.205, 121.405).await;
    let pending = pending["id"].as_str().unwrap();
    assert_error(
        act(app, &other_worker, pending, json!({ "action": "approve" })).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        act(app, &w.wisher, pending, json!({ "action": "approve" })).await,
        403,
        "forbidden",
    )
    .await;
    // The volunteer enrolled in G05 (another street) claims a G01 wish.
    let claimed = ok(act(app, &w.volunteer, &id, json!({ "action": "claim" })).await).await;
    assert_eq!(claimed["status"], "claimed");
    // Once claimed, it is no longer visible to other residents.
    assert_error(
        app.get_auth(&format!("/api/v1/wishes/{id}"), &w.resident.access)
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_retried_post_with_the_same_key_creates_one_wish() {
    let w = world().await;
    let app = &w.app;
    let body = json!({
        "title": "理发上门", "description": "行动不便，想请人上门理发", "kind": "service",
        "location": { "lat": 31.205, "lng": 121.405 },
    });
    let send = |key: &'static str| {
        app.http
            .post(app.url("/api/v1/wishes"))
            .bearer_auth(&w.wisher.access)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first: Value = send("wish-1").await.unwrap().json().await.unwrap();
    let again = send("wish-1").await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let results = futures_util::future::join_all((0..5).map(|_| send("wish-2"))).await;
    let mut seen = std::collections::HashSet::new();
    for res in results {
        let res = res.unwrap();
        assert_eq!(res.status(), 201);
        seen.insert(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    let mine = ok(app.get_auth("/api/v1/me/wishes", &w.wisher.access).await).await;
    assert_eq!(ids(&mine).len(), 2);
    let res = app
        .http
        .post(app.url("/api/v1/wishes"))
        .bearer_auth(&w.wisher.access)
        .header("Idempotency-Key", "wish-1")
        .json(&json!({ "title": "别的", "description": "别的", "kind": "goods", "location": { "lat": 31.205, "lng": 121.405 } }))
        .send()
        .await
        .unwrap();
    assert_error(res, 422, "idempotency_key_reused").await;
}

#[tokio::test]
async fn bad_input_gets_the_right_4xx_and_nothing_is_stored() {
    let w = world().await;
    let app = &w.app;
    let good = json!({
        "title": "想要一台收音机", "description": "独居老人", "kind": "goods",
        "location": { "lat": 31.205, "lng": 121.405 },
    });
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    let cases = [
        (with("title", json!("   ")), "title"),
        (with("title", json!("长".repeat(101))), "title"),
        (
            with("description", json!("长".repeat(2_001))),
            "description",
        ),
        (
            with("estimated_value_fen", json!(-1)),
            "estimated_value_fen",
        ),
        (
            with("location", json!({ "lat": 91.0, "lng": 121.405 })),
            "location",
        ),
        (with("deadline", json!("tomorrow")), "deadline"),
        (
            with("deadline", json!("2020-01-01T00:00:00+08:00")),
            "deadline",
        ),
        (with("photo_ids", json!(["not-an-upload"])), "photo_ids"),
    ];
    for (body, field) in cases {
        let res = app
            .post_json("/api/v1/wishes", Some(&w.wisher.access), &body)
            .await;
        let err = assert_error(res, 422, "validation_failed").await;
        assert!(err["fields"][field].is_string(), "{field}: {err}");
    }
    // A kind that is neither goods nor service, or a missing field, is refused with the field.
    for body in [
        with("kind", json!("money")),
        json!({ "title": "x", "kind": "goods" }),
    ] {
        let res = app
            .post_json("/api/v1/wishes", Some(&w.wisher.access), &body)
            .await;
        let status = res.status().as_u16();
        assert!(status == 400 || status == 422, "{status}");
        let err: Value = res.json().await.unwrap();
        assert!(
            err["code"].is_string() && err["message_zh"].is_string(),
            "{err}"
        );
    }
    let mine = ok(app.get_auth("/api/v1/me/wishes", &w.wisher.access).await).await;
    assert!(ids(&mine).is_empty());
    // Admins have no WeChat identity to wish with.
    let res = app
        .post_json("/api/v1/wishes", Some(&w.admin.access), &good)
        .await;
    assert_error(res, 403, "forbidden").await;
    let id = published(&w).await;
    for action in ["fly", "expire", "auto_confirm"] {
        let err = assert_error(
            act(app, &w.admin, &id, json!({ "action": action })).await,
            422,
            "validation_failed",
        )
        .await;
        assert!(err["fields"]["action"].is_string());
    }
    assert_error(
        app.get_auth("/api/v1/wishes?area=NOWHERE", &w.resident.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/wishes?cursor=garbage", &w.resident.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/wishes?limit=0", &w.resident.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/worker/wishes?state=nope", &w.worker.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/wishes/no-such-wish", &w.resident.access)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get_auth("/api/v1/worker/wishes", &w.resident.access)
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_wall_pages_newest_first_with_a_cursor() {
    let w = world().await;
    let app = &w.app;
    let mut posted = Vec::new();
    for _ in 0..5 {
        posted.push(published(&w).await);
        // Distinct publication times on every backend's clock resolution.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    posted.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/wishes?area=C01&limit=2".to_string(),
            Some(c) => format!("/api/v1/wishes?area=C01&limit=2&cursor={c}"),
        };
        let page = ok(app.get_auth(&path, &w.resident.access).await).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, posted);
}

#[tokio::test]
async fn self_registered_volunteers_claim_once_an_admin_of_their_area_approves() {
    let w = world().await;
    let app = &w.app;
    let id = published(&w).await;
    let body = json!({ "unit": "幸福社区党支部", "area_code": "C01" });
    let res = app
        .post_json("/api/v1/me/volunteer", Some(&w.resident.access), &body)
        .await;
    assert_eq!(res.status(), 201);
    let application: Value = res.json().await.unwrap();
    assert_eq!(application["status"], "pending");
    // Applying again while pending updates the application rather than adding one.
    let res = app
        .post_json(
            "/api/v1/me/volunteer",
            Some(&w.resident.access),
            &json!({ "unit": "幸福物业", "area_code": "C01" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], application["id"]);
    let bad = app
        .post_json(
            "/api/v1/me/volunteer",
            Some(&w.resident.access),
            &json!({ "unit": " ", "area_code": "C01" }),
        )
        .await;
    assert_error(bad, 422, "validation_failed").await;
    let bad = app
        .post_json(
            "/api/v1/me/volunteer",
            Some(&w.resident.access),
            &json!({ "unit": "x", "area_code": "NOWHERE" }),
        )
        .await;
    assert_error(bad, 422, "validation_failed").await;
    // Not yet a volunteer.
    assert_error(
        act(app, &w.resident, &id, json!({ "action": "claim" })).await,
        403,
        "forbidden",
    )
    .await;

    // Another street's admin neither lists nor approves it.
    let west = app.admin("west", "S02").await;
    let list = ok(app.get_auth("/api/v1/admin/volunteers", &west.access).await).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let aid = application["id"].as_str().unwrap();
    let approve = format!("/api/v1/admin/volunteers/{aid}/approve");
    assert_error(
        app.post_json(&approve, Some(&west.access), &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    let list = ok(app
        .get_auth("/api/v1/admin/volunteers", &w.admin.access)
        .await)
    .await;
    assert_eq!(list["items"][0]["id"], application["id"]);
    assert_eq!(list["items"][0]["unit"], "幸福物业");
    let approved = ok(app
        .post_json(&approve, Some(&w.admin.access), &json!({}))
        .await)
    .await;
    assert_eq!(approved["status"], "approved");
    assert_error(
        app.post_json(&approve, Some(&w.admin.access), &json!({}))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    let me = ok(app.get_auth("/api/v1/me", &w.resident.access).await).await;
    assert!(
        me["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("volunteer")),
        "{me}"
    );

    // The unit they registered with is the claimant's unit by default.
    let claimed = ok(act(app, &w.resident, &id, json!({ "action": "claim" })).await).await;
    assert_eq!(claimed["claimant"]["unit"], "幸福物业");
    let again = app
        .post_json("/api/v1/me/volunteer", Some(&w.resident.access), &body)
        .await;
    assert_error(again, 409, "already_enrolled").await;
}
