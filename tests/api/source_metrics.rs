//! Where cases come from, patrols and disputes on the dashboard (DOMAIN.md §9): the
//! `from_*`, `resolved_on_site`, `patrols`, `patrol_coverage_rate`, `mediated`,
//! `mediation_agreed`, `mediation_success_rate`, `follow_ups_due` and
//! `follow_up_on_time_rate` fields of totals and groups, `group_by=source`, and the CSV.
//! Everything goes through HTTP except what must lie in the past (patrol times, an overdue
//! follow-up) and the one Open311 case (no Open311 endpoint on this branch yet), written
//! directly. Every expected number is computed by hand in the comments.

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::dashboard::{world, World};
use crate::helpers::{Session, TestApp};
use crate::sources::alarm;
use safegrid::dashboard::rollup::{day_key, day_of, day_start_ms};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

const G01: (f64, f64) = (31.205, 121.405);
const G02: (f64, f64) = (31.205, 121.415);
const G05: (f64, f64) = (31.205, 121.605);

async fn ok(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Submits a report at `at` with extra fields; returns its id.
async fn submit(app: &TestApp, who: &Session, at: (f64, f64), extra: Value) -> String {
    let mut b = json!({
        "category": "sanitation",
        "description": "来源指标测试上报",
        "location": { "lat": at.0, "lng": at.1, "coord": "gcj02" },
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    let r = ok(
        app.post_json("/api/v1/reports", Some(&who.access), &b)
            .await,
        201,
    )
    .await;
    r["id"].as_str().unwrap().to_owned()
}

async fn act(app: &TestApp, who: &Session, id: &str, body: Value) -> Value {
    ok(app.act(who, id, body).await, 200).await
}

/// Starts a patrol in `grid` through the API; returns its id.
async fn start_patrol(app: &TestApp, who: &Session, grid: &str) -> String {
    let p = ok(
        app.post_json(
            "/api/v1/patrols",
            Some(&who.access),
            &json!({ "grid_code": grid }),
        )
        .await,
        201,
    )
    .await;
    p["id"].as_str().unwrap().to_owned()
}

/// Moves a patrol in time (a worker cannot start one in the past through the API).
async fn set_patrol(app: &TestApp, id: &str, started_at: i64, ended_at: Option<i64>) {
    use entity::patrols as p;
    p::Entity::update_many()
        .col_expr(p::Column::StartedAt, Expr::value(started_at))
        .col_expr(p::Column::EndedAt, Expr::value(ended_at))
        .filter(p::Column::Id.eq(id))
        .exec(&app.state.db)
        .await
        .unwrap();
}

/// Sets columns of a report that the rollups do not count (sources, dispute clocks).
async fn set_report(app: &TestApp, id: &str, cols: &[(entity::reports::Column, sea_orm::Value)]) {
    let mut q = entity::reports::Entity::update_many().filter(entity::reports::Column::Id.eq(id));
    for (c, v) in cols {
        q = q.col_expr(*c, Expr::value(v.clone()));
    }
    q.exec(&app.state.db).await.unwrap();
}

async fn report_row(app: &TestApp, id: &str) -> entity::reports::Model {
    entity::reports::Entity::find_by_id(id.to_owned())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

async fn get(app: &TestApp, who: &Session, query: &str) -> Value {
    ok(
        app.get_auth(&format!("/api/v1/admin/dashboard?{query}"), &who.access)
            .await,
        200,
    )
    .await
}

/// The fourteen §9 fields of a metrics object, in the order of API.md.
fn fields(m: &Value) -> Value {
    json!([
        m["from_resident"],
        m["from_patrol"],
        m["from_visit"],
        m["from_hotline"],
        m["from_device"],
        m["from_open311"],
        m["resolved_on_site"],
        m["patrols"],
        m["patrol_coverage_rate"],
        m["mediated"],
        m["mediation_agreed"],
        m["mediation_success_rate"],
        m["follow_ups_due"],
        m["follow_up_on_time_rate"],
    ])
}

fn group<'a>(d: &'a Value, key: &str) -> &'a Value {
    d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key} in {}", d["groups"]))
}

fn keys(d: &Value) -> Vec<&str> {
    d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect()
}

async fn csv(app: &TestApp, who: &Session, query: &str) -> Vec<Vec<String>> {
    let res = app
        .get_auth(&format!("/api/v1/admin/dashboard.csv?{query}"), &who.access)
        .await;
    assert_eq!(res.status(), 200);
    res.text()
        .await
        .unwrap()
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// The fixture. Days are Asia/Shanghai; T is today, the period is T−2..T (3 days).
///
/// Reports, all submitted now (day T):
///
/// | report  | grid | how                                            | source   | on site |
/// |---------|------|------------------------------------------------|----------|---------|
/// | r1      | G01  | a resident's                                   | resident |         |
/// | r2      | G01  | the G01 worker's, found on patrol              | patrol   |         |
/// | r3      | G01  | the G01 worker's, fixed on the spot            | patrol   | yes     |
/// | r4      | G01  | the G01 worker's home visit, fixed on the spot | visit    | yes     |
/// | r5      | G01  | the G01 worker's home visit                    | visit    |         |
/// | r6      | G01  | a hotline order, entered twice (one case)      | hotline  |         |
/// | r7      | G01  | a signed smoke alarm                           | device   |         |
/// | r8      | G01  | a resident's, rewritten as an Open311 request  | open311  |         |
/// | r9      | G01  | a resident's, cancelled: counts nowhere        | —        |         |
/// | d1–d6   | G01  | residents' disputes, accepted by the worker    | resident |         |
/// | r10     | G02  | a resident's                                   | resident |         |
/// | r11     | G02  | the G02 worker's patrol, fixed on the spot     | patrol   | yes     |
/// | r12     | G05  | a resident's in S02: outside C01 and S01       | resident |         |
///
/// Disputes: d1 agreed, followed up at once (on time); d2 agreed 10 days ago, follow-up due
/// 3 days ago, not made (due, late); d3 partly agreed, followed up 2 days after its due date
/// (due, late); d4 failed; d5 agreed just now, follow-up not due yet; d6 not mediated.
/// mediated 5 (d1–d5), agreed 3 (d1, d2, d5): 3/5; follow-ups due 3 (d1, d2, d3), on time
/// 1 (d1): 1/3.
///
/// Patrols:
///
/// | patrol | grid | from → to                                   | days covered in period | started in period |
/// |--------|------|---------------------------------------------|------------------------|-------------------|
/// | p1     | G01  | T−2 22:00 → T−1 01:30 (crosses midnight)    | T−2, T−1               | yes (T−2)         |
/// | p2     | G01  | T−3 22:00 → T−2 01:00 (crosses into period) | T−2                    | no                |
/// | p3     | G01  | T−3 10:00 → T−3 12:00                       | —                      | no                |
/// | p4     | G02  | T−2 10:00, never ended: ends itself at 18:00 | T−2                   | yes (T−2)         |
/// | p5     | G02  | now, still walking                          | T                      | yes (T)           |
/// | p6     | G05  | now (S02)                                   | outside C01            | —                 |
///
/// C01's grids G01–G04 over 3 days: 12 grid-days; covered G01 {T−2, T−1}, G02 {T−2, T}: 4,
/// so 1/3; patrols 3 (p1, p4, p5). Per grid: G01 2/3 and 1 patrol, G02 2/3 and 2, G03 and
/// G04 0/3 and 0. Per day: T−2 2/4 (G01, G02) and 2 patrols (p1, p4); T−1 1/4 and 0; T
/// 1/4 and 1 (p5). Had p4 been taken to last until now, G02 would be covered on all three
/// days.
///
/// C01 totals: from resident 8 (r1, d1–d6, r10), patrol 3 (r2, r3, r11), visit 2, hotline 1,
/// device 1, open311 1 = 16 submitted; on site 3 (r3, r4, r11).
#[tokio::test]
async fn sources_patrols_and_disputes_in_totals_groups_and_the_csv() {
    let World {
        app,
        district,
        community,
        west,
        resident,
        worker,
        worker5,
    } = world().await;
    let app = &app;
    let worker2 = app.enrolled("openid-w2", "G02", "worker", &district).await;
    let now = safegrid::util::now_ms();
    let today = day_of(now);
    let t = |back: u64| today - chrono::Days::new(back);
    let at = |d: NaiveDate, hour: i64, minute: i64| day_start_ms(d) + hour * HOUR + minute * 60_000;
    let period = format!("from={}&to={}", day_key(t(2)), day_key(today));

    // Reports in G01.
    let _r1 = submit(app, &resident, G01, json!({})).await;
    let _r2 = submit(app, &worker, G01, json!({ "source": "patrol" })).await;
    let on_site = json!({ "note": "当场处理完毕" });
    let r3 = submit(
        app,
        &worker,
        G01,
        json!({ "source": "patrol", "resolved_on_site": on_site }),
    )
    .await;
    let r4 = submit(
        app,
        &worker,
        G01,
        json!({ "source": "visit", "resolved_on_site": on_site }),
    )
    .await;
    let _r5 = submit(app, &worker, G01, json!({ "source": "visit" })).await;
    let order = json!({
        "category": "sanitation",
        "description": "12345 转来的工单",
        "location": { "lat": G01.0, "lng": G01.1, "coord": "gcj02" },
        "source": "hotline",
        "hotline_order_no": "12345-SM-0001",
    });
    let r6 = ok(
        app.post_json("/api/v1/reports", Some(&community.access), &order)
            .await,
        201,
    )
    .await;
    let again = ok(
        app.post_json("/api/v1/reports", Some(&community.access), &order)
            .await,
        200,
    )
    .await;
    assert_eq!(again["id"], r6["id"], "the same order is the same case");
    let integration = ok(
        app.post_json(
            "/api/v1/admin/integrations",
            Some(&community.access),
            &json!({ "name": "烟感平台" }),
        )
        .await,
        201,
    )
    .await;
    let payload = json!({
        "alarm_id": "SM-AL-1", "device_id": "SMK-1", "kind": "smoke",
        "lat": G01.0, "lng": G01.1, "coord": "gcj02",
        "at": chrono::Utc::now().to_rfc3339(),
    })
    .to_string();
    ok(
        alarm(
            app,
            integration["id"].as_str().unwrap(),
            integration["secret"].as_str().unwrap(),
            chrono::Utc::now().timestamp(),
            &payload,
            false,
        )
        .await,
        201,
    )
    .await;
    let r8 = submit(app, &resident, G01, json!({})).await;
    set_report(
        app,
        &r8,
        &[(
            entity::reports::Column::Source,
            entity::enums::Source::Open311.as_str().into(),
        )],
    )
    .await;
    let r9 = submit(app, &resident, G01, json!({})).await;
    assert_eq!(
        act(app, &resident, &r9, json!({ "action": "cancel" })).await["status"],
        "cancelled"
    );

    // The disputes.
    let mut d = Vec::new();
    for _ in 0..6 {
        let id = submit(
            app,
            &resident,
            G01,
            json!({ "category": "dispute", "description": "邻里噪音纠纷" }),
        )
        .await;
        act(app, &worker, &id, json!({ "action": "accept" })).await;
        d.push(id);
    }
    let mediate = |outcome: &str| json!({ "action": "mediate", "tier": "grid", "outcome": outcome, "parties": "301 与 401 住户" });
    for (id, outcome) in d
        .iter()
        .zip(["agreed", "agreed", "partly_agreed", "failed", "agreed"])
    {
        act(app, &worker, id, mediate(outcome)).await;
    }
    let follow_up = json!({ "action": "follow_up", "result": "kept" });
    let f1 = act(app, &worker, &d[0], follow_up.clone()).await;
    assert_eq!(f1["follow_up"]["result"], "kept");
    act(app, &worker, &d[2], follow_up).await;
    use entity::reports::Column as R;
    // d2: agreed 10 days ago, its visit due 3 days ago and not made.
    set_report(
        app,
        &d[1],
        &[
            (R::MediatedAt, (now - 10 * DAY).into()),
            (R::FollowUpDue, (now - 3 * DAY).into()),
        ],
    )
    .await;
    // d3: visited 2 days after its due date.
    let d3 = report_row(app, &d[2]).await;
    let visited = d3.follow_up_at.expect("d3 was followed up");
    set_report(
        app,
        &d[2],
        &[
            (R::MediatedAt, (visited - 9 * DAY).into()),
            (R::FollowUpDue, (visited - 2 * DAY).into()),
        ],
    )
    .await;
    // The fixture is what the table says.
    let r = report_row(app, &d[0]).await;
    assert!(r.follow_up_at.unwrap() <= r.follow_up_due.unwrap());
    assert_eq!(report_row(app, &d[4]).await.follow_up_at, None);
    assert_eq!(report_row(app, &d[3]).await.follow_up_due, None, "failed");
    for id in [&r3, &r4] {
        let r = report_row(app, id).await;
        assert_eq!(r.resolved_at, Some(r.submitted_at));
    }

    // G02 and G05.
    let _r10 = submit(app, &resident, G02, json!({})).await;
    let _r11 = submit(
        app,
        &worker2,
        G02,
        json!({ "source": "patrol", "resolved_on_site": on_site }),
    )
    .await;
    let _r12 = submit(app, &resident, G05, json!({})).await;

    // The patrols.
    let p1 = start_patrol(app, &worker, "G01").await;
    set_patrol(app, &p1, at(t(2), 22, 0), Some(at(t(1), 1, 30))).await;
    let p2 = start_patrol(app, &worker, "G01").await;
    set_patrol(app, &p2, at(t(3), 22, 0), Some(at(t(2), 1, 0))).await;
    let p3 = start_patrol(app, &worker, "G01").await;
    set_patrol(app, &p3, at(t(3), 10, 0), Some(at(t(3), 12, 0))).await;
    let p4 = start_patrol(app, &worker2, "G02").await;
    set_patrol(app, &p4, at(t(2), 10, 0), None).await;
    let _p5 = start_patrol(app, &worker2, "G02").await;
    let _p6 = start_patrol(app, &worker5, "G05").await;
    let listed = ok(
        app.get_auth("/api/v1/patrols?grid=G02", &community.access)
            .await,
        200,
    )
    .await;
    let p4_view = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == p4.as_str())
        .unwrap()
        .clone();
    assert_eq!(p4_view["auto_ended"], true, "{p4_view}");

    // Totals of the community C01: by hand in the doc comment above.
    let third = 1.0 / 3.0;
    let c01 = json!([8, 3, 2, 1, 1, 1, 3, 3, third, 5, 3, 3.0 / 5.0, 3, third]);
    let d_grid = get(app, &community, &format!("area=C01&{period}&group_by=grid")).await;
    assert_eq!(fields(&d_grid["totals"]), c01, "{}", d_grid["totals"]);
    assert_eq!(
        d_grid["totals"]["submitted"], 16,
        "the same cohort as submitted"
    );

    // group_by=grid: G01 [7 residents (r1, d1–d6), 2 patrol, 2 visit, 1 hotline, 1 device,
    // 1 open311; on site 2 (r3, r4); 1 patrol (p1); coverage 2/3; the disputes];
    // G02 [1 resident, 1 patrol; on site 1; 2 patrols (p4, p5); coverage 2/3; no disputes];
    // G03, G04: nothing, coverage 0/3 = 0 (a rate, not null: they have grid-days).
    assert_eq!(keys(&d_grid).len(), 4);
    assert_eq!(
        fields(group(&d_grid, "G01")),
        json!([7, 2, 2, 1, 1, 1, 2, 1, 2.0 / 3.0, 5, 3, 3.0 / 5.0, 3, third])
    );
    assert_eq!(group(&d_grid, "G01")["submitted"], 14);
    assert_eq!(
        fields(group(&d_grid, "G02")),
        json!([1, 1, 0, 0, 0, 0, 1, 2, 2.0 / 3.0, 0, 0, null, 0, null])
    );
    for g in ["G03", "G04"] {
        assert_eq!(
            fields(group(&d_grid, g)),
            json!([0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0, null, 0, null]),
            "{g}"
        );
    }

    // group_by=source: all six, in order, keyed by name; each source's report counts read
    // from the reports (accepted: the workers' own reports start accepted, the disputes
    // were accepted; handled: the on-site fixes); no patrols or coverage in a source.
    let d_src = get(
        app,
        &community,
        &format!("area=C01&{period}&group_by=source"),
    )
    .await;
    assert_eq!(d_src["group_by"], "source");
    assert_eq!(
        keys(&d_src),
        ["resident", "patrol", "visit", "hotline", "device", "open311"]
    );
    assert_eq!(group(&d_src, "hotline")["name"], "12345热线");
    assert_eq!(fields(&d_src["totals"]), c01);
    let counts = |g: &Value| json!([g["submitted"], g["accepted"], g["handled"]]);
    let expected = [
        // resident: r1, r10, d1–d6; the six disputes accepted.
        ("resident", json!([8, 6, 0])),
        // patrol: r2, r3, r11; all accepted; r3 and r11 resolved.
        ("patrol", json!([3, 3, 2])),
        ("visit", json!([2, 2, 1])),
        ("hotline", json!([1, 0, 0])),
        ("device", json!([1, 0, 0])),
        ("open311", json!([1, 0, 0])),
    ];
    let mut sum = 0;
    for (key, c) in &expected {
        let g = group(&d_src, key);
        assert_eq!(counts(g), *c, "{key}");
        sum += g["submitted"].as_i64().unwrap();
        assert_eq!(g["patrols"], 0, "{key}");
        assert_eq!(g["patrol_coverage_rate"], Value::Null, "{key}");
        // A source's own count is its submitted; the others are 0.
        for other in [
            "resident", "patrol", "visit", "hotline", "device", "open311",
        ] {
            let n = &g[format!("from_{other}")];
            assert_eq!(
                *n,
                if other == *key {
                    g["submitted"].clone()
                } else {
                    json!(0)
                },
                "{key}: from_{other}"
            );
        }
    }
    assert_eq!(sum, 16);
    assert_eq!(
        fields(group(&d_src, "resident")),
        json!([8, 0, 0, 0, 0, 0, 0, 0, null, 5, 3, 3.0 / 5.0, 3, third])
    );
    assert_eq!(
        fields(group(&d_src, "patrol")),
        json!([0, 3, 0, 0, 0, 0, 2, 0, null, 0, 0, null, 0, null])
    );
    assert_eq!(group(&d_src, "visit")["resolved_on_site"], 1);

    // group_by=day: T−2 and T−1 have patrols only, T has the reports.
    let d_day = get(app, &community, &format!("area=C01&{period}&group_by=day")).await;
    assert_eq!(keys(&d_day), [day_key(t(2)), day_key(t(1)), day_key(today)]);
    let pc = |g: &Value| json!([g["submitted"], g["patrols"], g["patrol_coverage_rate"]]);
    assert_eq!(pc(group(&d_day, &day_key(t(2)))), json!([0, 2, 0.5]));
    assert_eq!(pc(group(&d_day, &day_key(t(1)))), json!([0, 0, 0.25]));
    assert_eq!(pc(group(&d_day, &day_key(today))), json!([16, 1, 0.25]));
    assert_eq!(group(&d_day, &day_key(today))["mediated"], 5);

    // group_by=child of the street S01: C01 as above; C02 has no grids: coverage null.
    let d_child = get(app, &district, &format!("area=S01&{period}&group_by=child")).await;
    assert_eq!(fields(&d_child["totals"]), c01);
    assert_eq!(fields(group(&d_child, "C01")), c01);
    assert_eq!(
        fields(group(&d_child, "C02")),
        json!([0, 0, 0, 0, 0, 0, 0, 0, null, 0, 0, null, 0, null])
    );
    // group_by=category: coverage is null for categories; the disputes are their own.
    let d_cat = get(
        app,
        &district,
        &format!("area=S01&{period}&group_by=category"),
    )
    .await;
    let disputes = group(&d_cat, "dispute");
    assert_eq!(
        fields(disputes),
        json!([6, 0, 0, 0, 0, 0, 0, 0, null, 5, 3, 3.0 / 5.0, 3, third])
    );
    assert_eq!(fields(&d_cat["totals"]), c01);

    // The other street: r12 and p6 only (G05 covered on T of 3 days).
    let d_west = get(app, &west, &period).await;
    assert_eq!(
        fields(&d_west["totals"]),
        json!([1, 0, 0, 0, 0, 0, 0, 1, third, 0, 0, null, 0, null])
    );
    // Before the period: p2 and p3 started on T−3; p2 reached T−2, p3 did not.
    let d_before = get(
        app,
        &community,
        &format!(
            "area=C01&from={}&to={}&group_by=grid",
            day_key(t(3)),
            day_key(t(3))
        ),
    )
    .await;
    assert_eq!(d_before["totals"]["patrols"], 2);
    assert_eq!(d_before["totals"]["patrol_coverage_rate"], 0.25);
    assert_eq!(d_before["totals"]["submitted"], 0);
    assert_eq!(d_before["totals"]["from_resident"], 0);
    assert_eq!(d_before["totals"]["mediation_success_rate"], Value::Null);

    // The CSV: the fourteen columns, on the total line and on each line.
    let header = [
        "居民上报数",
        "巡查发现数",
        "入户走访数",
        "热线工单数",
        "设备告警数",
        "Open311上报数",
        "现场处置数",
        "巡查次数",
        "巡查覆盖率(%)",
        "调解数",
        "调解成功数",
        "调解成功率(%)",
        "应回访数",
        "回访按期率(%)",
    ];
    let lines = csv(
        app,
        &community,
        &format!("area=C01&{period}&group_by=source"),
    )
    .await;
    assert_eq!(lines[0].len(), safegrid::dashboard::CSV_HEADER.len());
    assert_eq!(lines[0][30..], header);
    assert_eq!(lines[1][1], "合计");
    let c01_csv = [
        "8", "3", "2", "1", "1", "1", "3", "3", "33.33", "5", "3", "60.00", "3", "33.33",
    ];
    assert_eq!(lines[1][30..], c01_csv);
    let codes: Vec<&str> = lines[2..].iter().map(|l| l[0].as_str()).collect();
    assert_eq!(
        codes,
        ["resident", "patrol", "visit", "hotline", "device", "open311"]
    );
    assert_eq!(lines[2][1], "居民上报");
    assert_eq!(
        lines[2][30..],
        ["8", "0", "0", "0", "0", "0", "0", "0", "", "5", "3", "60.00", "3", "33.33"]
    );
    // Null rates are empty cells, not 0.
    assert_eq!(
        lines[3][30..],
        ["0", "3", "0", "0", "0", "0", "2", "0", "", "0", "0", "", "0", ""]
    );
    // The grid lines are streamed: the same figures.
    let lines = csv(app, &community, &format!("area=C01&{period}&group_by=grid")).await;
    assert_eq!(lines[1][30..], c01_csv);
    let line = |code: &str| lines.iter().find(|l| l[0] == code).unwrap().clone();
    assert_eq!(
        line("G01")[30..],
        ["7", "2", "2", "1", "1", "1", "2", "1", "66.67", "5", "3", "60.00", "3", "33.33"]
    );
    assert_eq!(
        line("G02")[30..],
        ["1", "1", "0", "0", "0", "0", "1", "2", "66.67", "0", "0", "", "0", ""]
    );
    assert_eq!(
        line("G03")[30..],
        ["0", "0", "0", "0", "0", "0", "0", "0", "0.00", "0", "0", "", "0", ""]
    );
}
