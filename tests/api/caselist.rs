//! The staff case list (`GET /admin/reports`, `.csv`): every filter API.md names, the light
//! counts of the whole filtered list, keyset paging in each order, the area bound, CSV.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, Session, TestApp};

async fn list(app: &TestApp, who: &Session, query: &str) -> Value {
    let res = app
        .get_auth(&format!("/api/v1/admin/reports?{query}"), &who.access)
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn case_nos(page: &Value) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["case_no"].as_str().unwrap().to_owned())
        .collect()
}

async fn submit(
    app: &TestApp,
    who: &Session,
    category: &str,
    text: &str,
    lat: f64,
    lng: f64,
) -> Value {
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&who.access),
            &json!({
                "category": category,
                "description": text,
                "location": { "lat": lat, "lng": lng, "coord": "gcj02" },
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_staff_case_list_filters_counts_pages_and_exports() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let community = app.admin("community", "C01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let resident = app.login_wechat("openid-r").await;
    let a = submit(
        &app,
        &resident,
        "sanitation",
        "楼道堆放杂物",
        31.205,
        121.405,
    )
    .await;
    let b = submit(
        &app,
        &resident,
        "public_order",
        "=HYPERLINK(\"x\") 深夜噪音",
        31.205,
        121.405,
    )
    .await;
    let c = submit(&app, &resident, "sanitation", "垃圾桶满溢", 31.205, 121.415).await;
    // Another street's case: never in the community's list.
    let far = submit(&app, &resident, "sanitation", "西街道的事", 31.205, 121.605).await;
    let id = |r: &Value| r["id"].as_str().unwrap().to_owned();
    let res = app
        .act(&worker, &id(&a), json!({ "action": "accept" }))
        .await;
    assert_eq!(res.status(), 200);
    // B is supervised; C dispatched to a unit.
    let res = app
        .act(
            &community,
            &id(&b),
            json!({ "action": "supervise", "note": "尽快处理" }),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = app
        .post_json(
            "/api/v1/admin/units",
            Some(&community.access),
            &json!({ "code": "WY1", "name": "幸福物业", "kind": "property", "area_codes": ["C01"] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .act(
            &community,
            &id(&c),
            json!({ "action": "dispatch", "lead_unit": "WY1", "instruction": "清运" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    // A is overdue: its deadline moved into the past.
    let db = app.db().await;
    use sea_orm::{ConnectionTrait, Statement};
    let past = safegrid::util::now_ms() - 3_600_000;
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!(
            "UPDATE reports SET deadline = {past}, accepted_at = {} WHERE id = '{}'",
            past - 86_400_000,
            id(&a)
        ),
    ))
    .await
    .unwrap();

    let no = |r: &Value| r["case_no"].as_str().unwrap().to_owned();
    let all = list(&app, &community, "").await;
    assert_eq!(all["total"], 3);
    assert_eq!(case_nos(&all), BTreeSet::from([no(&a), no(&b), no(&c)]));
    assert_eq!(all["lights"], json!({ "red": 1, "yellow": 0, "green": 2 }));
    // The district sees the fourth too.
    assert_eq!(list(&app, &district, "").await["total"], 4);
    assert!(case_nos(&list(&app, &district, "").await).contains(&no(&far)));

    let only = |q: &'static str| {
        let app = &app;
        let community = &community;
        async move { case_nos(&list(app, community, q).await) }
    };
    assert_eq!(only("light=red").await, BTreeSet::from([no(&a)]));
    assert_eq!(only("overdue=true").await, BTreeSet::from([no(&a)]));
    assert_eq!(
        only("overdue=false").await,
        BTreeSet::from([no(&b), no(&c)])
    );
    assert_eq!(only("supervised=true").await, BTreeSet::from([no(&b)]));
    assert_eq!(only("unit=WY1").await, BTreeSet::from([no(&c)]));
    assert_eq!(
        only("category=public_order").await,
        BTreeSet::from([no(&b)])
    );
    assert_eq!(only("status=accepted").await, BTreeSet::from([no(&a)]));
    assert_eq!(only("source=resident").await.len(), 3);
    assert!(only("source=hotline").await.is_empty());
    assert_eq!(only("grid=G02").await, BTreeSet::from([no(&c)]));
    // By number, by its tail, by words.
    let number = no(&b);
    let tail = number
        .rsplit('-')
        .next()
        .unwrap()
        .trim_start_matches('0')
        .to_owned();
    assert_eq!(
        case_nos(&list(&app, &community, &format!("q={number}")).await),
        BTreeSet::from([no(&b)])
    );
    assert_eq!(
        case_nos(&list(&app, &community, &format!("q={tail}")).await),
        BTreeSet::from([no(&b)])
    );
    assert_eq!(
        case_nos(&list(&app, &community, "q=%E5%9E%83%E5%9C%BE").await),
        BTreeSet::from([no(&c)]),
        "垃圾"
    );
    // Submission days in Beijing time: today holds all, a past month none.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        list(&app, &community, &format!("from={today}&to={today}")).await["total"],
        3
    );
    assert_eq!(
        list(&app, &community, "from=2026-01-01&to=2026-01-31").await["total"],
        0
    );
    // The light counts cover the whole filtered list, whatever the light filter.
    let red = list(&app, &community, "light=red&limit=1").await;
    assert_eq!(red["total"], 1);
    assert_eq!(red["lights"], all["lights"]);

    // Paging, in each order: every case once.
    for sort in ["newest", "oldest", "deadline"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("sort={sort}&limit=1&cursor={c}"),
                None => format!("sort={sort}&limit=1"),
            };
            let page = list(&app, &community, &q).await;
            seen.extend(case_nos(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3, "{sort}: {seen:?}");
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 3, "{sort}");
        if sort == "newest" {
            assert_eq!(seen[0], no(&c));
        }
        if sort == "deadline" {
            assert_eq!(seen[0], no(&a), "the overdue case has the soonest deadline");
        }
    }

    // Refusals: outside the area, bad values, non-admins.
    let res = app
        .get_auth("/api/v1/admin/reports?grid=G05", &community.access)
        .await;
    assert_eq!(res.status(), 403);
    for q in [
        "status=nope",
        "from=2026-13-01",
        "from=2026-02-02&to=2026-02-01",
        "sort=sideways",
        "light=blue",
    ] {
        let res = app
            .get_auth(&format!("/api/v1/admin/reports?{q}"), &community.access)
            .await;
        assert_eq!(res.status(), 422, "{q}");
    }
    let res = app.get_auth("/api/v1/admin/reports", &worker.access).await;
    assert_error(res, 403, "forbidden").await;

    // CSV: Chinese headers and names, case numbers, a formula defused.
    let res = app
        .get_auth("/api/v1/admin/reports.csv?sort=oldest", &community.access)
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("\u{feff}案件编号,状态,类别"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].starts_with(&no(&a)), "{}", lines[1]);
    assert!(
        lines[1].contains("已受理") && lines[1].contains("环境卫生") && lines[1].contains("红灯")
    );
    assert!(lines[2].contains("'=HYPERLINK"), "{}", lines[2]);
    assert!(lines[3].contains("幸福物业"), "{}", lines[3]);
}
