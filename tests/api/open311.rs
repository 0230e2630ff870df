//! Open311 GeoReport v2 conformance: every endpoint in JSON and XML (the XML read with a real
//! parser), every error as the specification's list, the POST → GET round trip in WGS-84,
//! the 90-day rule, status updates once per `update_id`, keys, and odd form bodies.

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{spawn_app, Session, TestApp};

struct World {
    app: TestApp,
    admin: Session,
    worker: Session,
    key: String,
    client_id: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let admin = app.admin("community", "C01").await;
    let res = app
        .post_json(
            "/api/v1/admin/open311-clients",
            Some(&admin.access),
            &json!({ "name": "12345 热线桥" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    World {
        app,
        admin,
        worker,
        key: created["api_key"].as_str().unwrap().to_owned(),
        client_id: created["id"].as_str().unwrap().to_owned(),
    }
}

async fn get(app: &TestApp, path: &str) -> (u16, String, String) {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, res.text().await.unwrap())
}

async fn post_form(app: &TestApp, path: &str, body: String) -> (u16, String) {
    let res = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The WGS-84 point whose GCJ-02 image is (31.205, 121.405), inside grid G01.
fn g01_wgs() -> (f64, f64) {
    safegrid::grids::geo::gcj02_to_wgs84(31.205, 121.405)
}

impl World {
    async fn file(&self, extra: &str) -> (u16, String) {
        let (lat, lng) = g01_wgs();
        post_form(
            &self.app,
            "/open311/v2/requests.json",
            format!(
                "api_key={}&service_code=sanitation&lat={lat}&long={lng}&description={}{extra}",
                self.key,
                enc("楼道堆放杂物 & 垃圾")
            ),
        )
        .await
    }

    async fn filed(&self) -> String {
        let (status, body) = self.file("").await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v[0]["service_request_id"].as_str().unwrap().to_owned()
    }
}

fn xml_root(text: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("not XML ({e}): {text}"))
}

fn child_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .map(|c| c.text().unwrap_or(""))
}

#[tokio::test]
async fn every_read_endpoint_speaks_json_and_xml() {
    let w = world().await;
    let id = w.filed().await;

    let (s, ct, body) = get(&w.app, "/open311/v2/discovery.json").await;
    assert_eq!((s, ct.starts_with("application/json")), (200, true));
    let d: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        d["endpoints"][0]["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert_eq!(
        d["endpoints"][0]["formats"],
        json!(["text/xml", "application/json"])
    );
    let (s, ct, body) = get(&w.app, "/open311/v2/discovery.xml").await;
    assert_eq!((s, ct.starts_with("text/xml")), (200, true));
    let x = xml_root(&body);
    assert_eq!(x.root_element().tag_name().name(), "discovery");
    let endpoint = x
        .descendants()
        .find(|n| n.has_tag_name("endpoint"))
        .unwrap();
    assert_eq!(child_text(endpoint, "type"), Some("production"));

    let (_, _, body) = get(&w.app, "/open311/v2/services.json").await;
    let services: Value = serde_json::from_str(&body).unwrap();
    let sanitation = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "sanitation")
        .unwrap();
    for field in [
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ] {
        assert!(sanitation.get(field).is_some(), "{field}");
    }
    assert_eq!(sanitation["type"], "realtime");
    let (_, _, body) = get(&w.app, "/open311/v2/services.xml").await;
    let x = xml_root(&body);
    assert_eq!(x.root_element().tag_name().name(), "services");
    assert!(
        x.descendants()
            .filter(|n| n.has_tag_name("service"))
            .count()
            >= 9
    );

    let (_, _, body) = get(&w.app, "/open311/v2/services/sanitation.json").await;
    let def: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(def["attributes"][0]["code"], "urgency");
    assert_eq!(def["attributes"][0]["datatype"], "singlevaluelist");
    assert_eq!(def["attributes"][0]["values"][1]["key"], "urgent");
    let (_, _, body) = get(&w.app, "/open311/v2/services/sanitation.xml").await;
    let x = xml_root(&body);
    assert_eq!(x.root_element().tag_name().name(), "service_definition");
    assert_eq!(
        x.descendants().filter(|n| n.has_tag_name("value")).count(),
        3
    );

    for path in [
        "/open311/v2/requests.json".to_owned(),
        format!("/open311/v2/requests/{id}.json"),
        format!("/open311/v2/requests.json?service_request_id={id}"),
    ] {
        let (s, _, body) = get(&w.app, &path).await;
        assert_eq!(s, 200, "{path}: {body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        let r = &list[0];
        assert_eq!(r["service_request_id"], id.as_str(), "{path}");
        for field in [
            "status",
            "status_notes",
            "service_name",
            "service_code",
            "description",
            "agency_responsible",
            "service_notice",
            "requested_datetime",
            "updated_datetime",
            "expected_datetime",
            "address",
            "address_id",
            "zipcode",
            "lat",
            "long",
            "media_url",
        ] {
            assert!(r.get(field).is_some(), "{path} lacks {field}");
        }
        assert_eq!(r["status"], "open");
        assert_eq!(r["agency_responsible"], "第一网格");
    }
    let (_, _, body) = get(&w.app, &format!("/open311/v2/requests/{id}.xml")).await;
    let x = xml_root(&body);
    assert_eq!(x.root_element().tag_name().name(), "service_requests");
    let request = x.descendants().find(|n| n.has_tag_name("request")).unwrap();
    assert_eq!(child_text(request, "service_request_id"), Some(id.as_str()));
    assert_eq!(
        child_text(request, "description"),
        Some("楼道堆放杂物 & 垃圾")
    );

    let (_, _, body) = get(&w.app, &format!("/open311/v2/tokens/{id}.json")).await;
    let t: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t[0]["service_request_id"], id.as_str());
    let (_, _, body) = get(&w.app, &format!("/open311/v2/tokens/{id}.xml")).await;
    assert_eq!(
        xml_root(&body).root_element().tag_name().name(),
        "service_requests"
    );

    let (_, _, body) = get(&w.app, "/open311/v2/servicerequestupdates.json").await;
    let updates: Value = serde_json::from_str(&body).unwrap();
    assert!(updates
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["service_request_id"] == id.as_str()));
    let (_, _, body) = get(&w.app, "/open311/v2/servicerequestupdates.xml").await;
    assert_eq!(
        xml_root(&body).root_element().tag_name().name(),
        "service_request_updates"
    );
}

#[tokio::test]
async fn errors_are_the_specifications_list_in_both_formats() {
    let w = world().await;
    let (s, _, body) = get(&w.app, "/open311/v2/services/nope.json").await;
    assert_eq!(s, 404);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e[0]["code"], 404);
    assert!(e[0]["description"].as_str().unwrap().contains("nope"));
    let (s, _, body) = get(&w.app, "/open311/v2/requests/R19990101-00001.xml").await;
    assert_eq!(s, 404);
    let x = xml_root(&body);
    assert_eq!(x.root_element().tag_name().name(), "errors");
    let error = x.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert_eq!(child_text(error, "code"), Some("404"));

    // The 90-day rule.
    let (s, _, body) = get(
        &w.app,
        "/open311/v2/requests.json?start_date=2026-08-01T00:00:00%2B08:00&end_date=2026-11-30T00:00:00%2B08:00",
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("90 days"));
    let (s, _, _) = get(
        &w.app,
        "/open311/v2/requests.json?start_date=2026-09-01T00:00:00%2B08:00&end_date=2026-11-30T00:00:00%2B08:00",
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = get(&w.app, "/open311/v2/requests.json?status=pending").await;
    assert_eq!(s, 400);

    // Keys: none, wrong, revoked.
    let (lat, lng) = g01_wgs();
    let form = |key: &str| {
        format!("api_key={key}&service_code=sanitation&lat={lat}&long={lng}&description=x")
    };
    let (s, body) = post_form(&w.app, "/open311/v2/requests.xml", form("wrong")).await;
    assert_eq!(s, 403);
    assert_eq!(xml_root(&body).root_element().tag_name().name(), "errors");
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/requests.json",
        "service_code=sanitation".into(),
    )
    .await;
    assert_eq!(s, 403);
    let res = w
        .app
        .post_json(
            &format!("/api/v1/admin/open311-clients/{}/revoke", w.client_id),
            Some(&w.admin.access),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (s, _) = post_form(&w.app, "/open311/v2/requests.json", form(&w.key)).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn a_filed_request_comes_back_where_it_was_filed_within_the_public_rounding() {
    let w = world().await;
    let (lat, lng) = g01_wgs();
    let id = w.filed().await;
    let (_, _, body) = get(&w.app, &format!("/open311/v2/requests/{id}.json")).await;
    let r: Value = serde_json::from_str(&body).unwrap();
    let (back_lat, back_lng) = (
        r[0]["lat"].as_f64().unwrap(),
        r[0]["long"].as_f64().unwrap(),
    );
    // Rounded to three decimals (about 100 m), in WGS-84 like what was sent.
    assert!(
        (back_lat - lat).abs() <= 0.0005 + 1e-9,
        "{back_lat} vs {lat}"
    );
    assert!(
        (back_lng - lng).abs() <= 0.0005 + 1e-9,
        "{back_lng} vs {lng}"
    );
    // No identity of any kind in the public feed.
    for hidden in ["reporter", "phone", "email", "12345 热线桥"] {
        assert!(!body.contains(hidden), "{hidden} in {body}");
    }
    // Staff see it as an Open311 case, recorded with the client's name.
    let case: Value = w
        .app
        .get_auth("/api/v1/worker/tasks", &w.worker.access)
        .await
        .json()
        .await
        .unwrap();
    let report_id = case["items"][0]["id"].as_str().unwrap();
    let full: Value = w
        .app
        .get_auth(&format!("/api/v1/reports/{report_id}"), &w.admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["source"], "open311");
    assert_eq!(full["case_no"], id.as_str());
    assert_eq!(full["timeline"][0]["data"]["client"], "12345 热线桥");
}

#[tokio::test]
async fn odd_form_bodies_get_clear_answers() {
    let w = world().await;
    // An empty description.
    let (s, body) = w.file("").await;
    assert_eq!(s, 200, "{body}");
    let (lat, lng) = g01_wgs();
    let (s, body) = post_form(
        &w.app,
        "/open311/v2/requests.json",
        format!(
            "api_key={}&service_code=sanitation&lat={lat}&long={lng}&description=",
            w.key
        ),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("description"), "{body}");
    // Repeated attributes: the first counts; an unknown urgency is named.
    let (s, body) = w
        .file("&attribute[urgency]=urgent&attribute[urgency]=normal&attribute[]=x")
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = w.file("&attribute%5Burgency%5D=tomorrow").await;
    assert_eq!(s, 400);
    assert!(body.contains("tomorrow"), "{body}");
    // A point that is not a number; an address without an area; an area's centre.
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/requests.json",
        format!(
            "api_key={}&service_code=sanitation&lat=north&long=1&description=x",
            w.key
        ),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/requests.json",
        format!(
            "api_key={}&service_code=sanitation&address_string=x&description=x",
            w.key
        ),
    )
    .await;
    assert_eq!(s, 400);
    let (s, body) = post_form(
        &w.app,
        "/open311/v2/requests.json",
        format!(
            "api_key={}&service_code=sanitation&address_string={}&address_id=G01&description=x&media_url={}",
            w.key,
            enc("幸福路 1 号"),
            enc("https://example.org/photo.jpg")
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, _, body) = get(&w.app, &format!("/open311/v2/requests/{id}.json")).await;
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r[0]["address"], "幸福路 1 号");
    assert_eq!(r[0]["media_url"], "https://example.org/photo.jpg");
    // An unknown service.
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/requests.json",
        format!(
            "api_key={}&service_code=nope&lat={lat}&long={lng}&description=x",
            w.key
        ),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_partner_closes_its_case_once_per_update_id() {
    let w = world().await;
    let id = w.filed().await;
    let tasks: Value = w
        .app
        .get_auth("/api/v1/worker/tasks", &w.worker.access)
        .await
        .json()
        .await
        .unwrap();
    let report_id = tasks["items"][0]["id"].as_str().unwrap().to_owned();
    let update = |update_id: &str, status: &str| {
        format!(
            "api_key={}&update_id={update_id}&service_request_id={id}&status={status}&updated_datetime=2026-12-05T10:00:00%2B08:00&description={}",
            w.key,
            enc("热线回访：已解决")
        )
    };
    // Not yet resolved: closing is refused with the reason.
    w.app
        .act(&w.worker, &report_id, json!({ "action": "accept" }))
        .await;
    let (s, body) = post_form(
        &w.app,
        "/open311/v2/servicerequestupdates.json",
        update("u0", "CLOSED"),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("resolved"), "{body}");
    w.app
        .act(
            &w.worker,
            &report_id,
            json!({ "action": "resolve", "note": "已清理" }),
        )
        .await;
    let (s, body) = post_form(
        &w.app,
        "/open311/v2/servicerequestupdates.json",
        update("u1", "CLOSED"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()[0]["update_id"],
        "u1"
    );
    // The same update again: the same answer, nothing done twice.
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/servicerequestupdates.xml",
        update("u1", "CLOSED"),
    )
    .await;
    assert_eq!(s, 200);
    let full: Value = w
        .app
        .get_auth(&format!("/api/v1/reports/{report_id}"), &w.admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["status"], "closed");
    let confirms = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "confirm")
        .count();
    assert_eq!(confirms, 1);
    let (_, _, body) = get(&w.app, &format!("/open311/v2/requests/{id}.json")).await;
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r[0]["status"], "closed");
    assert_eq!(r[0]["status_notes"], "已清理");
    // A closed case is not reopened; a status that is neither is refused.
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/servicerequestupdates.json",
        update("u2", "OPEN"),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post_form(
        &w.app,
        "/open311/v2/servicerequestupdates.json",
        update("u3", "MAYBE"),
    )
    .await;
    assert_eq!(s, 400);

    // Another client may not touch it.
    let other: Value = w
        .app
        .post_json(
            "/api/v1/admin/open311-clients",
            Some(&w.admin.access),
            &json!({ "name": "other" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let form = format!(
        "api_key={}&update_id=x&service_request_id={id}&status=OPEN",
        other["api_key"].as_str().unwrap()
    );
    let (s, _) = post_form(&w.app, "/open311/v2/servicerequestupdates.json", form).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn an_anonymous_residents_case_shows_only_its_grids_centre() {
    let w = world().await;
    let resident = w.app.login_wechat("openid-anon").await;
    // Near G01's corner: the public point must not be near it, but at G01's centre.
    let res = w
        .app
        .post_json(
            "/api/v1/reports",
            Some(&resident.access),
            &json!({ "category": "sanitation", "description": "匿名", "location": { "lat": 31.2012, "lng": 121.4013 }, "anonymous": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let report: Value = res.json().await.unwrap();
    let id = report["case_no"].as_str().unwrap();
    let (_, _, body) = get(&w.app, &format!("/open311/v2/requests/{id}.json")).await;
    let r: Value = serde_json::from_str(&body).unwrap();
    let (centre_lat, centre_lng) = safegrid::open311::public::public_point(31.205, 121.405);
    assert_eq!(r[0]["lat"].as_f64().unwrap(), centre_lat, "{body}");
    assert_eq!(r[0]["long"].as_f64().unwrap(), centre_lng, "{body}");
    assert!(!body.contains("openid-anon"));
}
