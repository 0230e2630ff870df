//! Areas and grids over HTTP: import (all or nothing), locate, the area tree, scoping.

use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Vec<f64>> {
    vec![
        vec![x0, y0],
        vec![x1, y0],
        vec![x1, y1],
        vec![x0, y1],
        vec![x0, y0],
    ]
}

fn feature(
    code: &str,
    name: &str,
    level: &str,
    parent: Option<&str>,
    geometry: Option<Value>,
) -> Value {
    json!({
        "type": "Feature",
        "properties": { "code": code, "name": name, "level": level, "parent_code": parent },
        "geometry": geometry,
    })
}

fn polygon(rings: Vec<Vec<Vec<f64>>>) -> Option<Value> {
    Some(json!({ "type": "Polygon", "coordinates": rings }))
}

/// The test district (GCJ-02, around Shanghai):
/// - D01 → S01 → C01 → G01 [121.40–121.41]×[31.20–31.21], G02 [121.41–121.42] (shares G01's east edge),
///   G03 [121.40–121.42]×[31.21–31.22] with a hole [121.405–121.415]×[31.212–31.218],
///   G04 a multipolygon of two squares at 121.43 and 121.45.
/// - D01 → S01 → C02, a community with a polygon [121.50–121.52]×[31.20–31.22] and no grids.
/// - D01 → S02 → C03 → G05 [121.60–121.61]×[31.20–31.21].
pub fn demo_tree() -> Value {
    json!({
        "type": "FeatureCollection",
        "features": [
            feature("D01", "示范区", "district", None, None),
            feature("S01", "东街道", "street", Some("D01"), None),
            feature("S02", "西街道", "street", Some("D01"), None),
            feature("C01", "幸福社区", "community", Some("S01"), None),
            feature("C02", "和谐社区", "community", Some("S01"), polygon(vec![square(121.50, 31.20, 121.52, 31.22)])),
            feature("C03", "平安社区", "community", Some("S02"), None),
            feature("G01", "第一网格", "grid", Some("C01"), polygon(vec![square(121.40, 31.20, 121.41, 31.21)])),
            feature("G02", "第二网格", "grid", Some("C01"), polygon(vec![square(121.41, 31.20, 121.42, 31.21)])),
            feature("G03", "第三网格", "grid", Some("C01"), polygon(vec![
                square(121.40, 31.21, 121.42, 31.22),
                square(121.405, 31.212, 121.415, 31.218),
            ])),
            feature("G04", "第四网格", "grid", Some("C01"), Some(json!({
                "type": "MultiPolygon",
                "coordinates": [[square(121.43, 31.20, 121.44, 31.21)], [square(121.45, 31.20, 121.46, 31.21)]],
            }))),
            feature("G05", "第五网格", "grid", Some("C03"), polygon(vec![square(121.60, 31.20, 121.61, 31.21)])),
        ]
    })
}

/// Imports the test district through the crate's import function and refreshes the index.
pub async fn import_demo_tree(app: &TestApp) {
    let db = app.db().await;
    safegrid::grids::service::import(&db, &demo_tree(), None, &|_, _| {})
        .await
        .expect("the demo tree imports");
    app.state
        .router
        .refresh(&app.state.db, true)
        .await
        .expect("index refresh");
}

async fn locate(app: &TestApp, token: &str, lat: f64, lng: f64, coord: &str) -> Value {
    let res = app
        .get_auth(
            &format!("/api/v1/grids/locate?lat={lat}&lng={lng}&coord={coord}"),
            token,
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn points_route_to_the_grid_that_contains_them() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    let inside = locate(&app, &s.access, 31.205, 121.405, "gcj02").await;
    assert_eq!(inside["grid"]["code"], "G01");
    let codes: Vec<&str> = inside["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["D01", "S01", "C01", "G01"]);
    // Both parts of the multipolygon.
    assert_eq!(
        locate(&app, &s.access, 31.205, 121.435, "gcj02").await["grid"]["code"],
        "G04"
    );
    assert_eq!(
        locate(&app, &s.access, 31.205, 121.455, "gcj02").await["grid"]["code"],
        "G04"
    );
}

#[tokio::test]
async fn a_point_on_a_shared_edge_goes_to_exactly_one_grid_every_time() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    let first = locate(&app, &s.access, 31.205, 121.41, "gcj02").await["grid"]["code"].clone();
    assert!(first == "G01" || first == "G02", "{first}");
    for _ in 0..5 {
        assert_eq!(
            locate(&app, &s.access, 31.205, 121.41, "gcj02").await["grid"]["code"],
            first
        );
    }
    // A shared vertex too.
    let vertex = locate(&app, &s.access, 31.21, 121.41, "gcj02").await;
    assert!(vertex["grid"]["code"].is_string());
}

#[tokio::test]
async fn a_point_in_a_hole_or_outside_every_grid_goes_to_the_smallest_enclosing_area() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    // In G03's hole there is no grid and no community polygon: the district takes it.
    let hole = locate(&app, &s.access, 31.215, 121.41, "gcj02").await;
    assert!(hole["grid"].is_null());
    assert_eq!(hole["queue"]["code"], "D01");
    // Inside community C02's polygon, where no grid is drawn.
    let community = locate(&app, &s.access, 31.21, 121.51, "gcj02").await;
    assert!(community["grid"].is_null());
    assert_eq!(community["queue"]["code"], "C02");
    // Far away: never a void.
    let far = locate(&app, &s.access, 30.0, 120.0, "gcj02").await;
    assert_eq!(far["queue"]["code"], "D01");
}

#[tokio::test]
async fn wgs84_points_are_converted_before_routing() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    // GCJ-02 shifts Shanghai points by roughly +0.0045° lng and -0.002° lat. This WGS-84
    // point lies in G01 as raw numbers but lands in G02 once converted.
    let (lat, lng) = (31.205, 121.4090);
    assert_eq!(
        locate(&app, &s.access, lat, lng, "gcj02").await["grid"]["code"],
        "G01"
    );
    assert_eq!(
        locate(&app, &s.access, lat, lng, "wgs84").await["grid"]["code"],
        "G02"
    );
}

#[tokio::test]
async fn the_area_tree_is_browsable() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    let area: Value = app
        .get_auth("/api/v1/areas/C01", &s.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(area["level"], "community");
    assert_eq!(area["parent_code"], "S01");
    let page: Value = app
        .get_auth("/api/v1/areas/C01/children?limit=3", &s.access)
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["G01", "G02", "G03"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get_auth(
            &format!("/api/v1/areas/C01/children?limit=3&cursor={cursor}"),
            &s.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["code"], "G04");
    assert!(rest["next_cursor"].is_null());
    assert_error(
        app.get_auth("/api/v1/areas/NOPE", &s.access).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_import_lists_every_problem_and_changes_nothing() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let admin = app.admin("district", "D01").await;
    let bad = json!({
        "type": "FeatureCollection",
        "features": [
            feature("G10", "ok grid", "grid", Some("C01"), polygon(vec![square(121.70, 31.20, 121.71, 31.21)])),
            feature("G11", "unclosed", "grid", Some("C01"), polygon(vec![vec![vec![121.0, 31.0], vec![121.1, 31.0], vec![121.1, 31.1]]])),
            feature("G12", "bow tie", "grid", Some("C01"), polygon(vec![vec![
                vec![121.0, 31.0], vec![121.1, 31.1], vec![121.1, 31.0], vec![121.0, 31.1], vec![121.0, 31.0]
            ]])),
            feature("G13", "orphan", "grid", Some("NOPE"), polygon(vec![square(121.80, 31.20, 121.81, 31.21)])),
            feature("G10", "duplicate", "grid", Some("C01"), polygon(vec![square(121.90, 31.20, 121.91, 31.21)])),
            feature("G14", "a line", "grid", Some("C01"), Some(json!({"type": "LineString", "coordinates": [[121.0, 31.0], [121.1, 31.1]]}))),
            feature("G15", "out of range", "grid", Some("C01"), polygon(vec![square(200.0, 31.20, 201.0, 31.21)])),
        ]
    });
    let res = app
        .post_json("/api/v1/admin/areas/import", Some(&admin.access), &bad)
        .await;
    let body = assert_error(res, 422, "import_invalid").await;
    let problems: Vec<&str> = body["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap())
        .collect();
    for expected in [
        "unclosed_ring",
        "self_intersecting",
        "missing_parent",
        "duplicate_code",
        "unsupported_geometry",
        "coordinate_out_of_range",
    ] {
        assert!(
            problems.contains(&expected),
            "{expected} missing from {problems:?}"
        );
    }
    // Nothing was imported, not even the valid G10.
    assert_error(
        app.get_auth("/api/v1/areas/G10", &admin.access).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn reimporting_updates_in_place_and_new_grids_route_at_once() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let admin = app.admin("street", "S01").await;
    let update = json!({
        "type": "FeatureCollection",
        "features": [
            feature("G01", "第一网格（新）", "grid", Some("C01"), polygon(vec![square(121.40, 31.20, 121.41, 31.21)])),
            feature("G06", "新网格", "grid", Some("C02"), polygon(vec![square(121.50, 31.20, 121.51, 31.21)])),
        ]
    });
    let res = app
        .post_json("/api/v1/admin/areas/import", Some(&admin.access), &update)
        .await;
    assert_eq!(res.status(), 200);
    let summary: Value = res.json().await.unwrap();
    assert_eq!(summary["created"], 1);
    assert_eq!(summary["updated"], 1);
    let g01: Value = app
        .get_auth("/api/v1/areas/G01", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g01["name"], "第一网格（新）");
    assert_eq!(
        locate(&app, &admin.access, 31.205, 121.505, "gcj02").await["grid"]["code"],
        "G06"
    );
}

#[tokio::test]
async fn an_admin_cannot_import_outside_their_area() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let admin = app.admin("community", "C01").await;
    let foreign = json!({
        "type": "FeatureCollection",
        "features": [feature("G20", "别人的网格", "grid", Some("C03"), polygon(vec![square(121.62, 31.20, 121.63, 31.21)]))]
    });
    let res = app
        .post_json("/api/v1/admin/areas/import", Some(&admin.access), &foreign)
        .await;
    assert_error(res, 403, "forbidden").await;
    let resident = app.login_wechat("openid-r").await;
    let res = app
        .post_json(
            "/api/v1/admin/areas/import",
            Some(&resident.access),
            &foreign,
        )
        .await;
    assert_error(res, 403, "forbidden").await;
}

/// 1,200 small grids of community C09 on a lattice away from the demo district, listed before
/// C09 itself (their paths are only known when the file ends); `bad` adds an unclosed grid
/// after them.
fn many_grids_then_their_community(bad: bool) -> Value {
    let mut features: Vec<Value> = (0..1200)
        .map(|i| {
            let (x, y) = (
                121.0 + (i % 40) as f64 * 0.001,
                30.5 + (i / 40) as f64 * 0.001,
            );
            feature(
                &format!("G{}", 1000 + i),
                "批量网格",
                "grid",
                Some("C09"),
                polygon(vec![square(x, y, x + 0.001, y + 0.001)]),
            )
        })
        .collect();
    if bad {
        features.push(feature(
            "G2200",
            "unclosed",
            "grid",
            Some("C09"),
            polygon(vec![vec![
                vec![121.0, 30.0],
                vec![121.1, 30.0],
                vec![121.1, 30.1],
            ]]),
        ));
    }
    features.push(feature("C09", "批量社区", "community", Some("S01"), None));
    json!({ "type": "FeatureCollection", "features": features })
}

#[tokio::test]
async fn a_streamed_import_with_one_bad_feature_after_many_staged_ones_changes_nothing() {
    // The import writes valid areas as it reads them (500 a statement, in its transaction):
    // a bad feature after two such batches must still roll all of them back and be named.
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let admin = app.admin("district", "D01").await;
    let res = app
        .post_json(
            "/api/v1/admin/areas/import",
            Some(&admin.access),
            &many_grids_then_their_community(true),
        )
        .await;
    let body = assert_error(res, 422, "import_invalid").await;
    let problems = body["details"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["index"], 1200);
    assert_eq!(problems[0]["code"], "G2200");
    assert_eq!(problems[0]["problem"], "unclosed_ring");
    for code in ["G1000", "G2199", "C09"] {
        assert_error(
            app.get_auth(&format!("/api/v1/areas/{code}"), &admin.access)
                .await,
            404,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn a_streamed_import_gives_children_listed_before_their_parent_the_right_path() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let admin = app.admin("district", "D01").await;
    let res = app
        .post_json(
            "/api/v1/admin/areas/import",
            Some(&admin.access),
            &many_grids_then_their_community(false),
        )
        .await;
    assert_eq!(res.status(), 200);
    let summary: Value = res.json().await.unwrap();
    assert_eq!(summary["created"], 1201);
    let db = app.db().await;
    for code in ["G1000", "G2199"] {
        let area = safegrid::grids::service::find(&db, code)
            .await
            .unwrap()
            .expect("imported");
        assert_eq!(area.path, format!("/D01/S01/C09/{code}/"));
    }
    // And the new grids route at once.
    assert_eq!(
        locate(&app, &admin.access, 30.5005, 121.0005, "gcj02").await["grid"]["code"],
        "G1000"
    );
}

#[tokio::test]
async fn an_import_body_that_is_not_json_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let admin = app.admin("district", "D01").await;
    // Valid features, then the body ends mid-document: read up to there, then refused.
    let text = many_grids_then_their_community(false).to_string();
    let cut = &text[..text.len() - 200];
    let res = app
        .http
        .post(app.url("/api/v1/admin/areas/import"))
        .bearer_auth(&admin.access)
        .header("Content-Type", "application/json")
        .body(cut.to_owned())
        .send()
        .await
        .expect("request sent");
    assert_error(res, 400, "invalid_json").await;
    assert_error(
        app.get_auth("/api/v1/areas/G1000", &admin.access).await,
        404,
        "not_found",
    )
    .await;
}
