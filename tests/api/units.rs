//! Coordinated handling (DOMAIN.md §8) over HTTP: units and their staff, dispatch, sign-for,
//! return, resolution and the on-site check, supervision, the ownership rule, the unit
//! queue and events — and every way it must refuse.

use std::time::Duration;

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, Session, TestApp};
use crate::notify::{collect, connect};

/// The demo district with units: POL1 (police, serving community C01), GAS1 (gas, serving
/// street S01) with two staff, FAR (property, serving street S02).
struct World {
    app: TestApp,
    resident: Session,
    worker: Session,
    community: Session,
    district: Session,
    police: Session,
    gas_lead: Session,
    gas_member: Session,
    far_staff: Session,
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn created(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn unit(app: &TestApp, admin: &Session, code: &str, kind: &str, areas: &[&str]) -> Value {
    created(
        app.post_json(
            "/api/v1/admin/units",
            Some(&admin.access),
            &json!({ "code": code, "name": format!("{code} 单位"), "kind": kind, "area_codes": areas }),
        )
        .await,
    )
    .await
}

async fn staff(app: &TestApp, admin: &Session, unit: &str, role: &str, openid: &str) -> Session {
    let invite = created(
        app.post_json(
            "/api/v1/admin/invites",
            Some(&admin.access),
            &json!({ "unit_code": unit, "role": role }),
        )
        .await,
    )
    .await;
    assert_eq!(invite["unit_code"], unit);
    assert_eq!(invite["grid_code"], Value::Null);
    let user = app.login_wechat(openid).await;
    let res = app
        .post_json(
            "/api/v1/me/enrolments",
            Some(&user.access),
            &json!({ "invite_code": invite["invite_code"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    user
}

async fn world() -> World {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let community = app.admin("community", "C01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    unit(&app, &community, "POL1", "police", &["C01"]).await;
    unit(&app, &district, "GAS1", "gas", &["S01"]).await;
    unit(&app, &district, "FAR", "property", &["S02"]).await;
    let police = staff(&app, &community, "POL1", "unit_lead", "openid-pol").await;
    let gas_lead = staff(&app, &district, "GAS1", "unit_lead", "openid-gas1").await;
    let gas_member = staff(&app, &district, "GAS1", "unit_member", "openid-gas2").await;
    let far_staff = staff(&app, &district, "FAR", "unit_lead", "openid-far").await;
    let resident = app.login_wechat("openid-resident").await;
    World {
        app,
        resident,
        worker,
        community,
        district,
        police,
        gas_lead,
        gas_member,
        far_staff,
    }
}

impl World {
    async fn report(&self, category: &str) -> String {
        let res = self
            .app
            .post_json(
                "/api/v1/reports",
                Some(&self.resident.access),
                &json!({
                    "category": category,
                    "description": "楼道里有燃气味，邻居吵架",
                    "location": { "lat": 31.205, "lng": 121.405, "coord": "gcj02" },
                    "anonymous": true,
                }),
            )
            .await;
        created(res).await["id"].as_str().unwrap().to_owned()
    }

    async fn act(&self, who: &Session, id: &str, body: Value) -> reqwest::Response {
        self.app.act(who, id, body).await
    }

    async fn view(&self, who: &Session, id: &str) -> reqwest::Response {
        self.app
            .get_auth(&format!("/api/v1/reports/{id}"), &who.access)
            .await
    }

    async fn tasks(&self, who: &Session) -> Value {
        ok(self.app.get_auth("/api/v1/unit/tasks", &who.access).await).await
    }
}

fn dispatch(lead: &str, assist: &[&str]) -> Value {
    json!({ "action": "dispatch", "lead_unit": lead, "assist_units": assist, "instruction": "请到现场处置" })
}

#[tokio::test]
async fn a_dispatched_case_goes_round_the_whole_loop() {
    let w = world().await;
    let id = w.report("sanitation").await;
    ok(w.act(&w.worker, &id, json!({ "action": "accept" })).await).await;

    let r = ok(w.act(&w.community, &id, dispatch("POL1", &["GAS1"])).await).await;
    assert_eq!(r["status"], "in_progress");
    assert_eq!(r["supervised"], false);
    assert_eq!(r["units"][0]["code"], "POL1");
    assert_eq!(r["units"][0]["name"], "POL1 单位");
    assert_eq!(r["units"][0]["role"], "lead");
    assert_eq!(r["units"][0]["status"], "dispatched");
    assert_eq!(r["units"][1]["code"], "GAS1");
    assert_eq!(r["units"][1]["role"], "assist");
    assert!(r["units"][0]["sign_deadline"].is_string() && r["units"][0]["deadline"].is_string());
    // The case stays in the grid's queue for the on-site check.
    assert_eq!(r["queue"]["code"], "G01");

    // The police see it in their queue, without the anonymous reporter; the far unit doesn't.
    let tasks = w.tasks(&w.police).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);
    let task = &tasks["items"][0];
    assert_eq!(task["report"]["id"], id.as_str());
    assert_eq!(task["status"], "dispatched");
    assert_eq!(task["sign_light"], "green");
    assert_eq!(task["instruction"], "请到现场处置");
    assert_eq!(task["report"]["reporter"], Value::Null);
    assert_eq!(
        task["report"]["available_actions"],
        json!(["note", "sign", "return"])
    );
    assert_eq!(w.tasks(&w.far_staff).await["items"], json!([]));
    assert_error(w.view(&w.far_staff, &id).await, 404, "not_found").await;
    // The worker may not resolve what a unit holds; the assisting unit may not sign.
    assert_error(
        w.act(
            &w.worker,
            &id,
            json!({ "action": "resolve", "note": "done" }),
        )
        .await,
        409,
        "invalid_transition",
    )
    .await;
    assert_error(
        w.act(&w.gas_lead, &id, json!({ "action": "sign" })).await,
        403,
        "forbidden",
    )
    .await;

    let signed = ok(w.act(&w.police, &id, json!({ "action": "sign" })).await).await;
    assert_eq!(signed["units"][0]["status"], "signed");
    assert!(signed["units"][0]["signed_at"].is_string());
    ok(w.act(
        &w.gas_member,
        &id,
        json!({ "action": "note", "text": "燃气管道已检查" }),
    )
    .await)
    .await;
    let resolved = ok(w
        .act(
            &w.police,
            &id,
            json!({ "action": "resolve", "note": "已调解并清理" }),
        )
        .await)
    .await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["units"][0]["status"], "resolved");
    assert_eq!(resolved["units"][1]["status"], "resolved");

    // Rework goes back to the lead unit, which resolves again; the grid checks on site.
    let reworked = ok(w
        .act(
            &w.resident,
            &id,
            json!({ "action": "rework", "reason": "还有垃圾" }),
        )
        .await)
    .await;
    assert_eq!(reworked["status"], "in_progress");
    assert_eq!(reworked["units"][0]["status"], "signed");
    ok(w.act(
        &w.police,
        &id,
        json!({ "action": "resolve", "note": "已彻底清理" }),
    )
    .await)
    .await;
    let closed = ok(w.act(&w.worker, &id, json!({ "action": "confirm" })).await).await;
    assert_eq!(closed["status"], "closed");
    let rated = ok(w
        .act(&w.resident, &id, json!({ "action": "rate", "rating": 5 }))
        .await)
    .await;
    assert_eq!(rated["rating"], 5);

    let timeline = ok(w.view(&w.community, &id).await).await["timeline"].clone();
    let actions: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "submit", "accept", "dispatch", "sign", "note", "resolve", "rework", "resolve",
            "confirm", "rate"
        ]
    );
    // Who acted is recorded by relation.
    assert_eq!(timeline[3]["actor_role"], "lead_unit");
    assert_eq!(timeline[4]["actor_role"], "assist_unit");
}

#[tokio::test]
async fn a_dispatch_is_refused_for_units_that_cannot_take_the_case() {
    let w = world().await;
    let id = w.report("sanitation").await;

    let far = assert_error(
        w.act(&w.district, &id, dispatch("FAR", &[])).await,
        422,
        "unit_out_of_area",
    )
    .await;
    assert!(far["message"].as_str().unwrap().contains("FAR"), "{far}");
    assert!(far["fields"]["lead_unit"].is_string(), "{far}");
    let assist = assert_error(
        w.act(&w.district, &id, dispatch("POL1", &["FAR"])).await,
        422,
        "unit_out_of_area",
    )
    .await;
    assert!(assist["fields"]["assist_units"].is_string(), "{assist}");
    let unknown = assert_error(
        w.act(&w.district, &id, dispatch("NOPE", &[])).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(unknown["fields"]["lead_unit"]
        .as_str()
        .unwrap()
        .contains("NOPE"));
    assert_error(
        w.act(&w.district, &id, json!({ "action": "dispatch" }))
            .await,
        422,
        "validation_failed",
    )
    .await;

    // A deactivated unit takes nothing new, and is still listed (never deleted).
    let patched = ok(w
        .app
        .http
        .patch(w.app.url("/api/v1/admin/units/POL1"))
        .bearer_auth(&w.community.access)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(patched["active"], false);
    let inactive = assert_error(
        w.act(&w.community, &id, dispatch("POL1", &[])).await,
        409,
        "unit_inactive",
    )
    .await;
    assert!(inactive["message_zh"].as_str().unwrap().contains("POL1"));
    let listed = ok(w
        .app
        .get_auth("/api/v1/admin/units", &w.community.access)
        .await)
    .await;
    let codes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["GAS1", "POL1"],
        "C01 sees the units serving it, not FAR"
    );

    // The worker may not dispatch a sanitation case (no direct dispatch), nor anyone a
    // closed one.
    assert_error(
        w.act(&w.worker, &id, dispatch("GAS1", &[])).await,
        409,
        "invalid_transition",
    )
    .await;
    ok(w.act(
        &w.worker,
        &id,
        json!({ "action": "reject", "reason": "重复" }),
    )
    .await)
    .await;
    assert_error(
        w.act(&w.district, &id, dispatch("GAS1", &[])).await,
        409,
        "invalid_transition",
    )
    .await;

    // Disputes may go straight from the grid to the mediators.
    let dispute = w.report("dispute").await;
    let r = ok(w.act(&w.worker, &dispute, dispatch("GAS1", &[])).await).await;
    assert_eq!(r["units"][0]["code"], "GAS1");

    // A street-level unit cannot be changed by a community admin: 403, since it serves them.
    let res = w
        .app
        .http
        .patch(w.app.url("/api/v1/admin/units/GAS1"))
        .bearer_auth(&w.community.access)
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "forbidden").await;
}

#[tokio::test]
async fn the_third_return_escalates_and_supervises() {
    let w = world().await;
    let id = w.report("sanitation").await;
    for round in 1..=3 {
        let lead = if round == 2 { "POL1" } else { "GAS1" };
        let staff = if lead == "POL1" {
            &w.police
        } else {
            &w.gas_member
        };
        ok(w.act(&w.district, &id, dispatch(lead, &[])).await).await;
        assert_error(
            w.act(staff, &id, json!({ "action": "return" })).await,
            422,
            "validation_failed",
        )
        .await;
        let r = ok(w
            .act(
                staff,
                &id,
                json!({ "action": "return", "reason": "不属于本单位职责" }),
            )
            .await)
        .await;
        if round < 3 {
            assert_eq!(r["status"], "in_progress", "back in the dispatcher's queue");
            assert_eq!(r["queue"]["code"], "G01");
            assert_eq!(r["supervised"], false);
        } else {
            assert_eq!(r["status"], "escalated");
            assert_eq!(r["queue"]["code"], "C01");
            assert_eq!(r["supervised"], true);
        }
        let returned = r["units"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(returned["status"], "returned");
        assert_eq!(returned["return_reason"], "不属于本单位职责");
        // A unit that returned the case no longer sees it.
        assert_error(w.view(staff, &id).await, 404, "not_found").await;
    }

    // Supervision: an admin above adds a note; the case is marked.
    let r = ok(w
        .act(
            &w.district,
            &id,
            json!({ "action": "supervise", "note": "三日内办结" }),
        )
        .await)
    .await;
    assert_eq!(r["supervised"], true);
    assert_error(
        w.act(
            &w.worker,
            &id,
            json!({ "action": "supervise", "note": "x" }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let timeline = ok(w.view(&w.district, &id).await).await["timeline"].clone();
    let last = timeline.as_array().unwrap().last().unwrap();
    assert_eq!(last["action"], "supervise");
    assert_eq!(last["note"], "三日内办结");
}

#[tokio::test]
async fn a_gas_hazard_goes_to_the_gas_company_at_once_and_to_the_grid_for_the_check() {
    let w = world().await;
    let id = w.report("gas_hazard").await;
    let r = ok(w.view(&w.resident, &id).await).await;
    assert_eq!(r["status"], "submitted");
    assert_eq!(r["units"][0]["code"], "GAS1");
    assert_eq!(r["units"][0]["status"], "dispatched");
    // Still in the grid worker's queue.
    let grid = ok(w
        .app
        .get_auth("/api/v1/worker/tasks", &w.worker.access)
        .await)
    .await;
    assert_eq!(grid["items"][0]["id"], id.as_str());
    // In the gas company's queue, for either of its staff.
    assert_eq!(
        w.tasks(&w.gas_member).await["items"][0]["report"]["id"],
        id.as_str()
    );
    let signed = ok(w.act(&w.gas_lead, &id, json!({ "action": "sign" })).await).await;
    assert_eq!(signed["status"], "in_progress");
    assert!(signed["accepted_at"].is_string() && signed["deadline"].is_string());

    // Without an active gas unit serving the place, nothing is pre-dispatched.
    ok(w.app
        .http
        .patch(w.app.url("/api/v1/admin/units/GAS1"))
        .bearer_auth(&w.district.access)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap())
    .await;
    let other = w.report("gas_hazard").await;
    assert_eq!(
        ok(w.view(&w.resident, &other).await).await["units"],
        json!([])
    );
}

#[tokio::test]
async fn two_staff_signing_at_once_make_one_signature() {
    let w = world().await;
    let id = w.report("sanitation").await;
    ok(w.act(&w.district, &id, dispatch("GAS1", &[])).await).await;
    let sign = json!({ "action": "sign" });
    let (a, b) = tokio::join!(
        w.act(&w.gas_lead, &id, sign.clone()),
        w.act(&w.gas_member, &id, sign.clone())
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let timeline = ok(w.view(&w.district, &id).await).await["timeline"].clone();
    let signs = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sign")
        .count();
    assert_eq!(signs, 1);
}

#[tokio::test]
async fn a_return_racing_a_redispatch_loses_nothing() {
    let w = world().await;
    for _ in 0..3 {
        let id = w.report("sanitation").await;
        ok(w.act(&w.district, &id, dispatch("GAS1", &[])).await).await;
        let (ret, again) = tokio::join!(
            w.act(
                &w.gas_lead,
                &id,
                json!({ "action": "return", "reason": "非本单位" })
            ),
            w.act(&w.district, &id, dispatch("POL1", &[]))
        );
        let (ret, again) = (ret.status().as_u16(), again.status().as_u16());
        assert_eq!(again, 200, "a re-dispatch always goes through");
        assert!(
            ret == 200 || ret == 403 || ret == 404,
            "return answered {ret}"
        );
        let r = ok(w.view(&w.district, &id).await).await;
        let holding: Vec<&Value> = r["units"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["status"] == "dispatched" || u["status"] == "signed")
            .collect();
        assert_eq!(holding.len(), 1, "one lead holds it: {r}");
        assert_eq!(holding[0]["code"], "POL1");
        let actions: Vec<&str> = r["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        let expected_returns = usize::from(ret == 200);
        assert_eq!(
            actions.iter().filter(|a| **a == "return").count(),
            expected_returns
        );
        assert_eq!(actions.iter().filter(|a| **a == "dispatch").count(), 2);
    }
}

#[tokio::test]
async fn unit_staff_hear_their_cases_live() {
    let w = world().await;
    let mut gas = connect(&w.app, &w.gas_lead, None).await;
    let mut far = connect(&w.app, &w.far_staff, None).await;
    let id = w.report("sanitation").await;
    ok(w.act(&w.district, &id, dispatch("GAS1", &[])).await).await;
    let frames = collect(&mut gas, 1, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].data["kind"], "report_dispatched");
    assert_eq!(frames[0].data["subject_id"], id.as_str());
    assert!(frames[0].data.get("units").is_none());
    assert!(collect(&mut far, 1, Duration::from_millis(500))
        .await
        .is_empty());
}

#[tokio::test]
async fn the_unit_queue_is_for_unit_staff_only() {
    let w = world().await;
    assert_error(
        w.app.get_auth("/api/v1/unit/tasks", &w.worker.access).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        w.app
            .get_auth("/api/v1/unit/tasks?unit=POL1", &w.gas_lead.access)
            .await,
        422,
        "validation_failed",
    )
    .await;
    let me = ok(w.app.get_auth("/api/v1/me", &w.gas_lead.access).await).await;
    assert!(
        me["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("unit_staff")),
        "{me}"
    );
}
