//! Dashboards over HTTP: scoping, the numbers against a naive computation from the raw
//! reports, rollups against a rebuild, the CSV against the JSON, and the admin page.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, spawn_second_instance, Session, TestApp};
use safegrid::dashboard::metrics::{Counts, Coverage, Fact, Metrics, WishCounts};
use safegrid::dashboard::rollup;

pub struct World {
    pub app: TestApp,
    pub district: Session,
    pub community: Session,
    pub west: Session,
    pub resident: Session,
    pub worker: Session,
    pub worker5: Session,
}

pub async fn world() -> World {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let community = app.admin("community", "C01").await;
    let west = app.admin("west", "S02").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let worker5 = app.enrolled("openid-w5", "G05", "worker", &district).await;
    let resident = app.login_wechat("openid-resident").await;
    World {
        app,
        district,
        community,
        west,
        resident,
        worker,
        worker5,
    }
}

async fn submit(app: &TestApp, who: &Session, category: &str, lat: f64, lng: f64) -> String {
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&who.access),
            &json!({
                "category": category,
                "description": "看板测试上报",
                "location": { "lat": lat, "lng": lng, "coord": "gcj02" },
            }),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn act(app: &TestApp, who: &Session, id: &str, body: Value) {
    let res = app.act(who, id, body.clone()).await;
    assert_eq!(res.status(), 200, "{body}: {}", res.text().await.unwrap());
}

/// Reports in every interesting state, and a few wishes.
pub async fn populate(w: &World) {
    let app = &w.app;
    // Closed on time, rated 5.
    let r1 = submit(app, &w.resident, "sanitation", 31.205, 121.405).await;
    act(app, &w.worker, &r1, json!({ "action": "accept" })).await;
    act(
        app,
        &w.worker,
        &r1,
        json!({ "action": "resolve", "note": "已清理" }),
    )
    .await;
    act(app, &w.resident, &r1, json!({ "action": "confirm" })).await;
    act(
        app,
        &w.resident,
        &r1,
        json!({ "action": "rate", "rating": 5 }),
    )
    .await;
    // Reworked once, then closed, rated 3.
    let r2 = submit(app, &w.resident, "gas_hazard", 31.205, 121.405).await;
    act(app, &w.worker, &r2, json!({ "action": "accept" })).await;
    act(
        app,
        &w.worker,
        &r2,
        json!({ "action": "resolve", "note": "已处理" }),
    )
    .await;
    act(
        app,
        &w.resident,
        &r2,
        json!({ "action": "rework", "reason": "没有处理好" }),
    )
    .await;
    act(
        app,
        &w.worker,
        &r2,
        json!({ "action": "resolve", "note": "再次处理" }),
    )
    .await;
    act(app, &w.resident, &r2, json!({ "action": "confirm" })).await;
    act(
        app,
        &w.resident,
        &r2,
        json!({ "action": "rate", "rating": 3 }),
    )
    .await;
    // Submitted only, in G02.
    submit(app, &w.resident, "sanitation", 31.205, 121.415).await;
    // Suspended, in G05 (another street).
    let r4 = submit(app, &w.resident, "sanitation", 31.205, 121.605).await;
    act(app, &w.worker5, &r4, json!({ "action": "accept" })).await;
    act(
        app,
        &w.district,
        &r4,
        json!({ "action": "suspend", "reason": "季节性施工" }),
    )
    .await;
    // Rejected.
    let r5 = submit(app, &w.resident, "sanitation", 31.205, 121.405).await;
    act(
        app,
        &w.worker,
        &r5,
        json!({ "action": "reject", "reason": "不属于受理范围" }),
    )
    .await;
    // Accepted, open within its limit; resolved, waiting for the check.
    let r6 = submit(app, &w.resident, "public_order", 31.205, 121.405).await;
    act(app, &w.worker, &r6, json!({ "action": "accept" })).await;
    let r7 = submit(app, &w.resident, "public_order", 31.205, 121.405).await;
    act(app, &w.worker, &r7, json!({ "action": "accept" })).await;
    act(
        app,
        &w.worker,
        &r7,
        json!({ "action": "resolve", "note": "已办结" }),
    )
    .await;
    // Cancelled by its reporter: counts nowhere.
    let r8 = submit(app, &w.resident, "sanitation", 31.205, 121.405).await;
    act(app, &w.resident, &r8, json!({ "action": "cancel" })).await;

    let now = safegrid::util::now_ms();
    for (i, (grid, path, claimed, fulfilled)) in [
        ("G01", "/D01/S01/C01/G01/", true, true),
        ("G01", "/D01/S01/C01/G01/", true, false),
        ("G02", "/D01/S01/C01/G02/", false, false),
        ("G05", "/D01/S02/C03/G05/", true, false),
    ]
    .into_iter()
    .enumerate()
    {
        entity::wishes::ActiveModel {
            id: Set(format!("wish-{i}")),
            case_no: Set(format!("W20261201-{i:05}")),
            wisher_id: Set(w.resident.user_id.clone()),
            title: Set("帮忙修理轮椅".into()),
            description: Set("轮椅坏了".into()),
            kind: Set(entity::enums::WishKind::Service),
            estimated_value_fen: Set(None),
            lat: Set(31.205),
            lng: Set(121.405),
            grid_code: Set(grid.into()),
            queue_path: Set(path.into()),
            status: Set(entity::enums::WishStatus::Approved),
            deadline: Set(now + 86_400_000),
            claimant_id: Set(None),
            claimant_unit: Set(None),
            reason: Set(None),
            flagged: Set(false),
            expired_to_queue: Set(false),
            submitted_at: Set(now - 1_000),
            approved_at: Set(None),
            claimed_at: Set(claimed.then_some(now)),
            fulfilled_at: Set(fulfilled.then_some(now)),
            fulfil_note: Set(None),
            closed_at: Set(None),
            version: Set(0),
            updated_at: Set(now),
        }
        .insert(&app.state.db)
        .await
        .expect("insert a wish");
    }
}

pub fn today() -> String {
    rollup::day_key(rollup::day_of(safegrid::util::now_ms()))
}

pub async fn dashboard(app: &TestApp, who: &Session, query: &str) -> Value {
    let res = app
        .get_auth(&format!("/api/v1/admin/dashboard?{query}"), &who.access)
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// The metrics computed the slow way: every raw report whose area lies under `prefix`, and
/// every patrol of its grids over a period of `days` days that holds them all.
async fn naive(app: &TestApp, prefix: &str, wishes: WishCounts, days: i64) -> Value {
    let areas = entity::areas::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let paths: HashMap<String, String> = areas
        .iter()
        .map(|a| (a.code.clone(), a.path.clone()))
        .collect();
    let reports = entity::reports::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    let now = safegrid::util::now_ms();
    let mut c = Counts::default();
    for r in &reports {
        if paths
            .get(&r.grid_code)
            .is_some_and(|p| p.starts_with(prefix))
        {
            c.add(&Fact::from(r), now);
        }
    }
    let grids = areas
        .iter()
        .filter(|a| a.level == "grid" && a.path.starts_with(prefix))
        .count() as i64;
    let patrols: Vec<entity::patrols::Model> = entity::patrols::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.grid_path.starts_with(prefix))
        .collect();
    let mut covered = std::collections::HashSet::new();
    for p in &patrols {
        let end = safegrid::patrols::service::effective_end(p, now).unwrap_or(now);
        for day in safegrid::patrols::service::shanghai_days(p.started_at, end) {
            covered.insert((p.grid_code.clone(), day));
        }
    }
    let coverage = Coverage {
        covered: covered.len() as i64,
        grid_days: grids * days,
    };
    serde_json::to_value(
        Metrics::from_counts(&c, wishes).with_patrols(patrols.len() as i64, Some(coverage)),
    )
    .unwrap()
}

/// A group's metrics: the group without its `key` and `name`.
fn metrics_of(group: &Value) -> Value {
    let mut m = group.clone();
    let fields = m.as_object_mut().unwrap();
    assert!(fields.remove("key").is_some(), "{group}");
    assert!(fields.remove("name").is_some(), "{group}");
    m
}

fn wishes(submitted: i64, claimed: i64, fulfilled: i64) -> WishCounts {
    WishCounts {
        submitted,
        claimed,
        fulfilled,
    }
}

#[tokio::test]
async fn the_dashboard_agrees_with_a_naive_count_of_the_raw_reports() {
    let w = world().await;
    populate(&w).await;
    let app = &w.app;
    let day = today();
    let q = format!("area=D01&from={day}&to={day}");
    let d = dashboard(app, &w.district, &format!("{q}&group_by=child")).await;
    assert_eq!(d["area"]["code"], "D01");
    assert_eq!(d["totals"], naive(app, "/D01/", wishes(4, 3, 1), 1).await);
    // Hand-checked headline figures of the populated district (the cancelled report counts
    // nowhere).
    let t = &d["totals"];
    assert_eq!(t["submitted"], 7);
    assert_eq!(t["accepted"], 5);
    assert_eq!(t["handled"], 3);
    assert_eq!(t["due"], 3);
    assert_eq!(t["closed"], 2);
    assert_eq!(t["open"], 3);
    assert_eq!(t["reworked"], 1);
    assert_eq!(t["rated"], 2);
    assert_eq!(t["satisfied"], 1);
    assert_eq!(t["closure_rate"].as_f64(), Some(2.0 / 3.0));
    assert_eq!(t["rework_rate"].as_f64(), Some(1.0 / 3.0));
    assert_eq!(t["satisfaction_rate"].as_f64(), Some(0.5));
    assert_eq!(t["loop_closed_rate"].as_f64(), Some(2.0 / 5.0));
    assert_eq!(
        (
            &t["wishes_submitted"],
            &t["wishes_claimed"],
            &t["wishes_fulfilled"]
        ),
        (&json!(4), &json!(3), &json!(1))
    );
    // Children, worst first: S02 has nothing due (null rates, last).
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["key"], "S01");
    assert_eq!(groups[0]["name"], "东街道");
    assert_eq!(
        metrics_of(&groups[0]),
        naive(app, "/D01/S01/", wishes(3, 2, 1), 1).await
    );
    assert_eq!(
        metrics_of(&groups[1]),
        naive(app, "/D01/S02/", wishes(1, 1, 0), 1).await
    );
    assert_eq!(groups[1]["closure_rate"], Value::Null);

    // Grids, categories and days add up to the same totals.
    let grids = dashboard(app, &w.district, &format!("{q}&group_by=grid")).await;
    let by_grid: HashMap<String, Value> = grids["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap().to_string(), metrics_of(g)))
        .collect();
    // Every grid of the district, reports or not.
    assert_eq!(by_grid.len(), 5, "{by_grid:?}");
    assert_eq!(
        by_grid["G01"],
        naive(app, "/D01/S01/C01/G01/", wishes(2, 2, 1), 1).await
    );
    let cats = dashboard(app, &w.district, &format!("{q}&group_by=category")).await;
    let submitted: i64 = cats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["submitted"].as_i64().unwrap())
        .sum();
    assert_eq!(submitted, 7);
    let days = dashboard(app, &w.district, &format!("{q}&group_by=day")).await;
    assert_eq!(days["groups"][0]["key"], day.as_str());
    assert_eq!(metrics_of(&days["groups"][0]), d["totals"]);

    // The whole month (read from the monthly rows) gives the same figures.
    let first = chrono::NaiveDate::parse_from_str(&format!("{}01", &day[..8]), "%Y-%m-%d").unwrap();
    let last = (first + chrono::Months::new(1)).pred_opt().unwrap();
    let month = dashboard(
        app,
        &w.district,
        &format!("area=D01&from={first}&to={last}"),
    )
    .await;
    assert_eq!(month["totals"], d["totals"]);

    // A community admin sees their community and its grids.
    let c = dashboard(app, &w.community, "area=C01").await;
    assert_eq!(
        c["totals"],
        naive(app, "/D01/S01/C01/", wishes(3, 2, 1), 30).await
    );
    let g = dashboard(app, &w.community, "area=G01&group_by=day").await;
    assert_eq!(g["totals"]["submitted"], 5);
}

/// The dashboard metric fields of the client contract (API.md), exactly as spelled there,
/// with the unit metrics of "Partner units", then those of "Sources, patrols, disputes".
const CONTRACT_METRICS: [&str; 42] = [
    "submitted",
    "accepted",
    "due",
    "closed",
    "closed_on_time",
    "open",
    "overdue",
    "reworked",
    "rated",
    "satisfied",
    "closure_rate",
    "on_time_rate",
    "rework_rate",
    "satisfaction_rate",
    "loop_closed_rate",
    "accept_minutes_p50",
    "accept_minutes_p90",
    "close_minutes_p50",
    "close_minutes_p90",
    "wishes_submitted",
    "wishes_claimed",
    "wishes_fulfilled",
    "dispatched",
    "signed_on_time",
    "returned",
    "sign_on_time_rate",
    "unit_on_time_rate",
    "return_rate",
    "from_resident",
    "from_patrol",
    "from_visit",
    "from_hotline",
    "from_device",
    "from_open311",
    "resolved_on_site",
    "patrols",
    "patrol_coverage_rate",
    "mediated",
    "mediation_agreed",
    "mediation_success_rate",
    "follow_ups_due",
    "follow_up_on_time_rate",
];

/// The fields of a set of metrics: the contract's, plus `handled` (the CSV's 办结数).
fn assert_contract_fields(what: &str, m: &Value, also: &[&str]) {
    let mut keys: Vec<&str> = m
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {m}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = CONTRACT_METRICS
        .iter()
        .chain(&["handled"])
        .chain(also)
        .copied()
        .collect();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{what}");
    for (k, v) in m.as_object().unwrap() {
        if k.ends_with("_rate") || k.contains("_minutes_") {
            assert!(v.is_null() || v.is_number(), "{what}.{k} = {v}");
        } else if k != "key" && k != "name" {
            assert!(v.is_i64(), "{what}.{k} = {v} is not an integer");
        }
    }
}

#[tokio::test]
async fn totals_and_groups_carry_the_contract_field_names_flat_beside_key_and_name() {
    let w = world().await;
    populate(&w).await;
    let app = &w.app;
    for group_by in ["child", "grid", "category", "day", "source"] {
        let d = dashboard(app, &w.district, &format!("area=D01&group_by={group_by}")).await;
        assert_contract_fields("totals", &d["totals"], &[]);
        let groups = d["groups"].as_array().unwrap();
        assert!(!groups.is_empty(), "{group_by}");
        for g in groups {
            assert_contract_fields(&format!("{group_by} group"), g, &["key", "name"]);
        }
        // The scope stays beside them.
        assert_eq!(d["area"]["code"], "D01");
        assert_eq!(d["group_by"], group_by);
    }
    // Durations are minutes: the closed reports took seconds, not hours, to close here.
    let d = dashboard(app, &w.district, "area=D01").await;
    let close = d["totals"]["close_minutes_p50"].as_f64().unwrap();
    assert!(close < 5.0, "{close}");
    assert_eq!((close * 10.0).round() / 10.0, close, "one decimal");
}

#[tokio::test]
async fn every_grid_and_every_child_area_is_a_group_even_without_reports() {
    let w = world().await;
    let app = &w.app;
    // Nothing reported yet: every grid of the community is still ranked, as zeros.
    let d = dashboard(app, &w.community, "area=C01&group_by=grid").await;
    let keys: Vec<&str> = d["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["G01", "G02", "G03", "G04"]);

    populate(&w).await;
    let d = dashboard(app, &w.district, "area=D01&group_by=grid").await;
    let groups = d["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["G01", "G02", "G03", "G04", "G05"]);
    let quiet = groups.iter().find(|g| g["key"] == "G03").unwrap();
    assert_eq!(quiet["name"], "第三网格");
    assert_eq!(quiet["submitted"], 0);
    assert_eq!(quiet["due"], 0);
    assert_eq!(quiet["wishes_submitted"], 0);
    assert_eq!(quiet["closure_rate"], Value::Null);
    assert_eq!(quiet["on_time_rate"], Value::Null);
    assert_eq!(quiet["close_minutes_p50"], Value::Null);
    // Worst first puts the grids with nothing due (no rate) after those with a rate.
    assert_eq!(keys[0], "G01");

    // Children: community C02 of street S01 has no grid and no report, and is still there.
    let d = dashboard(app, &w.district, "area=S01&group_by=child").await;
    let groups = d["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["C01", "C02"]);
    assert_eq!(groups[1]["name"], "和谐社区");
    assert_eq!(groups[1]["submitted"], 0);
    assert_eq!(groups[1]["loop_closed_rate"], Value::Null);

    // The CSV lists them too.
    let res = app
        .get_auth(
            "/api/v1/admin/dashboard.csv?area=D01&group_by=grid",
            &w.district.access,
        )
        .await;
    let text = res.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("G04,"))
        .unwrap_or_else(|| panic!("no line for the empty grid G04:\n{text}"));
    assert!(line.starts_with("G04,第四网格,0,0,"), "{line}");
}

#[tokio::test]
async fn rollups_kept_while_reports_change_equal_a_rebuild_from_raw() {
    let w = world().await;
    populate(&w).await;
    let db = &w.app.state.db;
    // What a reader sees: the stale rows marked by the changes, caught up.
    safegrid::dashboard::refresh_all_stale(db).await.unwrap();
    let kept = rollup::snapshot(db).await.unwrap();
    assert!(!kept.is_empty());
    let summary = safegrid::dashboard::rebuild(db).await.unwrap();
    assert!(summary.own_rows > 0 && summary.subtree_rows > 0);
    let rebuilt = rollup::snapshot(db).await.unwrap();
    assert_eq!(kept, rebuilt);
}

#[tokio::test]
async fn concurrent_changes_on_two_instances_keep_the_rollups_exact() {
    let w = world().await;
    let second = spawn_second_instance(&w.app).await;
    let app = &w.app;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(submit(app, &w.resident, "sanitation", 31.205, 121.405).await);
    }
    // The same rollup key (G01, today, sanitation) changes from both instances at once.
    let mut tasks = Vec::new();
    let worker = &w.worker;
    for (i, id) in ids.iter().enumerate() {
        let target = if i % 2 == 0 { app } else { &second };
        tasks.push(async move {
            let res = target.act(worker, id, json!({ "action": "accept" })).await;
            assert_eq!(res.status(), 200);
            let res = target
                .act(worker, id, json!({ "action": "resolve", "note": "并发" }))
                .await;
            assert_eq!(res.status(), 200);
        });
    }
    futures_util::future::join_all(tasks).await;
    let db = &app.state.db;
    assert_caught_up_rollups_equal_a_rebuild(db).await;
    let d = dashboard(app, &w.district, "area=D01").await;
    assert_eq!(d["totals"]["handled"], 6);
}

/// The database's tallies of a key (`dashboard::count`), in one page and in many, against the
/// same reports counted one by one with `Counts::add`, the rules' reference: every status,
/// durations on both sides of each histogram edge, deadlines at `now` and at the close,
/// suspended clocks, ratings and rework, in one key.
#[tokio::test]
async fn a_key_counted_by_the_database_equals_its_reports_counted_one_by_one() {
    use entity::enums::Source;
    use safegrid::dashboard::count;
    use safegrid::dashboard::histogram::thresholds_ms;
    use safegrid::reports::status::ReportStatus;
    use sea_orm::sea_query::{Alias, Expr};
    use sea_orm::{ColumnTrait, QueryFilter};
    use std::collections::HashMap;
    let w = world().await;
    let app = &w.app;
    let db = &app.state.db;
    let first = submit(app, &w.resident, "sanitation", 31.205, 121.405).await;
    let template = entity::reports::Entity::find_by_id(first)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let key = rollup::Key::of(&template);
    let day_start = rollup::day_start_ms(key.day);
    let now = day_start + 20 * 3_600_000;
    let mut durations: Vec<i64> = vec![-5_000, 0, 1, i64::from(i32::MAX) * 40];
    for edge in thresholds_ms() {
        durations.extend([edge - 1, edge]);
    }
    // A fixed xorshift: the same mix on every run and backend.
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |n: usize| -> usize {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut facts = Vec::new();
    let mut sources = Vec::new();
    for i in 0..400 {
        let status = ReportStatus::ALL[i % ReportStatus::ALL.len()];
        // Every 10th at one millisecond: more than a small page shares it.
        let submitted_at = match i % 10 {
            0 => day_start + 3_600_000,
            _ => day_start + (next(20 * 60) as i64) * 60_000,
        };
        let pick = |k: usize| durations[k % durations.len()];
        let accepted_at = (next(4) > 0).then(|| submitted_at + pick(next(1_000)));
        let closed_at = match next(5) {
            0 => None,
            _ => Some(submitted_at + pick(next(1_000))),
        };
        let deadline = match next(6) {
            0 => None,
            1 => Some(now),
            2 => Some(now - 1),
            3 => closed_at.or(Some(now + 1)),
            4 => closed_at.map(|c| c - 1),
            _ => Some(submitted_at + pick(next(1_000))),
        };
        let suspended_at = match next(4) {
            0 => None,
            1 => deadline,
            2 => deadline.map(|d| d - 1),
            _ => Some(submitted_at + 3_600_000),
        };
        let mut row = entity::reports::ActiveModel::from(template.clone()).reset_all();
        row.id = Set(format!("count-{i:04}"));
        row.case_no = Set(format!("R-COUNT-{i:04}"));
        row.status = Set(status);
        row.submitted_at = Set(submitted_at);
        row.accepted_at = Set(accepted_at);
        row.deadline = Set(deadline);
        row.suspended_at = Set(suspended_at);
        row.closed_at = Set(closed_at);
        row.rework_count = Set(next(3) as i32);
        row.rating = Set([None, Some(1), Some(3), Some(4), Some(5)][next(5)]);
        row.source = Set(Source::ALL[next(Source::ALL.len())]);
        // On-site fixes (resolved at submission), disputes and follow-ups on both sides of
        // `now` and of their due dates.
        row.resolved_at = Set(match next(3) {
            0 => None,
            1 => Some(submitted_at),
            _ => Some(submitted_at + 1 + pick(next(1_000)).abs()),
        });
        let mediated_at = (next(3) > 0).then_some(submitted_at + 60_000);
        row.mediated_at = Set(mediated_at);
        row.mediation_outcome = Set(mediated_at
            .map(|_| ["agreed", "partly_agreed", "failed", "court"][next(4)].to_string()));
        let follow_up_due = match next(6) {
            0 => None,
            1 => Some(now),
            2 => Some(now + 1),
            3 => Some(now - 1),
            _ => Some(now - 86_400_000 + pick(next(1_000)).abs() % (2 * 86_400_000)),
        };
        row.follow_up_due = Set(follow_up_due);
        row.follow_up_at = Set(match next(3) {
            0 => None,
            1 => follow_up_due,
            _ => follow_up_due.map(|due| due + 1),
        });
        let inserted = row.insert(db).await.unwrap();
        facts.push(Fact::from(&inserted));
        sources.push(inserted.source);
    }
    facts.push(Fact::from(&template));
    sources.push(template.source);

    let mut expected = Counts::default();
    let mut expected_next = None::<i64>;
    for fact in &facts {
        if let Some(d) = expected.add(fact, now) {
            expected_next = Some(expected_next.map_or(d, |n: i64| n.min(d)));
        }
    }
    // At once, in pages of 7 (ties at one millisecond across page ends included) and at the
    // upkeep's pace.
    for (page, pace) in [
        (None, count::Pace::AtOnce),
        (Some(7), count::Pace::AtOnce),
        (Some(count::PAGE), count::Pace::Spread),
    ] {
        let counted = count::count_key_in_pages(db, &key.cohort(), now, pace, page)
            .await
            .unwrap();
        assert_eq!(
            counted,
            (expected, expected_next),
            "{pace:?} in pages of {page:?}"
        );
    }
    // Split by source (a dashboard's source groups), the cancelled left out as the
    // dashboard's cohort does.
    let mut by_source: HashMap<String, Counts> = HashMap::new();
    for (fact, source) in facts.iter().zip(&sources) {
        if fact.status != ReportStatus::Cancelled {
            by_source
                .entry(source.as_str().to_owned())
                .or_default()
                .add(fact, now);
        }
    }
    let col = |c: &str| Expr::col(Alias::new(c));
    let cohort = col("grid_code")
        .eq(key.area_code.as_str())
        .and(col("status").ne(ReportStatus::Cancelled.as_str()));
    let counted = count::count_by(db, cohort, "source", now).await.unwrap();
    assert_eq!(counted, by_source);
    assert_eq!(by_source.len(), Source::ALL.len());
    // The mix exercised what it claims to.
    assert!(expected.open_overdue > 0 && expected.closed_late > 0 && expected.closed_on_time > 0);
    assert!(expected.to_accept.0.iter().filter(|&&n| n > 0).count() > 30);
    assert_eq!(expected_next, Some(now));
    let s = expected.sources;
    assert!(s.resolved_on_site > 0 && s.mediation_agreed > 0 && s.mediated > s.mediation_agreed);
    assert!(s.follow_ups_due > s.follow_ups_on_time && s.follow_ups_on_time > 0);
    assert!(facts
        .iter()
        .any(|f| f.origin.follow_up_pending(now).is_some()));
    // Follow-ups alone set when the key next changes: those still ahead, made or not.
    let mut follow_ups_only = Counts::default();
    let mut next_follow_up = None::<i64>;
    for fact in &facts {
        let fact = Fact {
            deadline: None,
            ..fact.clone()
        };
        if let Some(d) = follow_ups_only.add(&fact, now) {
            next_follow_up = Some(next_follow_up.map_or(d, |n: i64| n.min(d)));
        }
    }
    assert_eq!(next_follow_up, Some(now), "the follow-up due at now + 1");
    // The database agrees once no deadline masks it.
    entity::reports::Entity::update_many()
        .col_expr(
            entity::reports::Column::Deadline,
            Expr::value(Option::<i64>::None),
        )
        .filter(entity::reports::Column::GridCode.eq(key.area_code.as_str()))
        .exec(db)
        .await
        .unwrap();
    let counted = count::count_key(db, &key.cohort(), now, count::Pace::AtOnce)
        .await
        .unwrap();
    assert_eq!(counted, (follow_ups_only, next_follow_up));
}

/// What a reader sees (the stale rows marked by the changes, caught up) is what a rebuild
/// from the raw reports writes.
async fn assert_caught_up_rollups_equal_a_rebuild(db: &sea_orm::DatabaseConnection) {
    safegrid::dashboard::refresh_all_stale(db).await.unwrap();
    assert_rollups_equal_a_rebuild(db).await;
}

#[tokio::test]
async fn a_change_landing_while_a_refresh_counts_neither_waits_nor_is_lost() {
    let w = world().await;
    let app = &w.app;
    let db = &app.state.db;
    let key = one_report_counted(&w).await;
    // A second report into the same key arrives after the count and before the refresh
    // writes: its mark must not wait for the refresh (it would never finish here), and
    // the refresh must leave the row stale so the next one counts it.
    let mid_count = async {
        let submitted = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            submit(app, &w.resident, "sanitation", 31.2051, 121.4051),
        )
        .await;
        assert!(submitted.is_ok(), "the submission waited for the refresh");
    };
    rollup::refresh_key_then(db, &key, mid_count).await.unwrap();
    assert_caught_up_rollups_equal_a_rebuild(db).await;
    let d = dashboard(app, &w.community, "area=G01").await;
    assert_eq!(d["totals"]["submitted"], 2, "{d}");
}

/// The rollups as they stand, without refreshing anything, against a rebuild.
async fn assert_rollups_equal_a_rebuild(db: &sea_orm::DatabaseConnection) {
    let kept = rollup::snapshot(db).await.unwrap();
    safegrid::dashboard::rebuild(db).await.unwrap();
    assert_eq!(kept, rollup::snapshot(db).await.unwrap());
}

/// One report counted and the rollups caught up; its key.
async fn one_report_counted(w: &World) -> rollup::Key {
    let db = &w.app.state.db;
    let first = submit(&w.app, &w.resident, "sanitation", 31.205, 121.405).await;
    safegrid::dashboard::refresh_all_stale(db).await.unwrap();
    let report = entity::reports::Entity::find_by_id(first)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    rollup::Key::of(&report)
}

#[tokio::test]
async fn a_refresh_overtaken_by_a_newer_one_does_not_write_its_older_count_last() {
    let w = world().await;
    let app = &w.app;
    let db = &app.state.db;
    let key = one_report_counted(&w).await;
    // The older refresh counts one report; a second report lands, and a newer refresh
    // (a dashboard reader's) counts both and writes before the older one writes.
    let overtaken = async {
        submit(app, &w.resident, "sanitation", 31.2051, 121.4051).await;
        rollup::refresh_key(db, &key).await.unwrap();
    };
    rollup::refresh_key_then(db, &key, overtaken).await.unwrap();
    // Nothing refreshed since: what a read finds now is what the two writes left.
    assert_rollups_equal_a_rebuild(db).await;
    let d = dashboard(app, &w.community, "area=G01").await;
    assert_eq!(d["totals"]["submitted"], 2, "{d}");
}

#[tokio::test]
async fn an_older_count_written_while_a_newer_refresh_counts_leaves_the_row_stale() {
    let w = world().await;
    let app = &w.app;
    let db = &app.state.db;
    let key = one_report_counted(&w).await;
    let (counted_tx, counted_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let newer = {
        let (db, key) = (db.clone(), key.clone());
        let paused = async move {
            counted_tx.send(()).unwrap();
            go_rx.await.unwrap();
        };
        async move { rollup::refresh_key_then(&db, &key, paused).await }
    };
    // The older refresh counts one report. Then a second report lands and marks the row; the
    // newer refresh starts (erasing the mark's 0 with its own -1), counts two and waits.
    let mut newer_task = None;
    let second_and_newer = async {
        submit(app, &w.resident, "sanitation", 31.2051, 121.4051).await;
        newer_task = Some(tokio::spawn(newer));
        counted_rx.await.unwrap();
    };
    rollup::refresh_key_then(db, &key, second_and_newer)
        .await
        .unwrap();
    // The older count is in the row, the newer not yet: a read now must not take the row for
    // fresh, or it would show one report where two were submitted and marked before it.
    let d = dashboard(app, &w.community, "area=G01").await;
    assert_eq!(d["totals"]["submitted"], 2, "{d}");
    go_tx.send(()).unwrap();
    newer_task.unwrap().await.unwrap().unwrap();
    assert_rollups_equal_a_rebuild(db).await;
}

#[tokio::test]
async fn refreshes_racing_changes_and_each_other_keep_the_rollups_exact() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let w = world().await;
    let second = spawn_second_instance(&w.app).await;
    let app = &w.app;
    let done = AtomicBool::new(false);
    // Two refreshers, one per instance, count the hot key (G01, today, sanitation) over and
    // over while both instances submit into it and move its reports: marks land while a
    // count runs, and counts overlap each other.
    let refresher = |db: &sea_orm::DatabaseConnection| {
        let done = &done;
        let db = db.clone();
        async move {
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) {
                safegrid::dashboard::refresh_all_stale(&db).await.unwrap();
                rounds += 1;
                tokio::task::yield_now().await;
            }
            rounds
        }
    };
    let changes = async {
        let mut ids = Vec::new();
        for i in 0..10 {
            let target = if i % 2 == 0 { app } else { &second };
            ids.push(submit(target, &w.resident, "sanitation", 31.205, 121.405).await);
        }
        for (i, id) in ids.iter().enumerate() {
            let target = if i % 2 == 0 { &second } else { app };
            act(target, &w.worker, id, json!({ "action": "accept" })).await;
            if i % 3 != 0 {
                act(
                    target,
                    &w.worker,
                    id,
                    json!({ "action": "resolve", "note": "并发刷新" }),
                )
                .await;
            }
        }
        done.store(true, Ordering::Relaxed);
    };
    let (a, b, ()) = tokio::join!(
        refresher(&app.state.db),
        refresher(&second.state.db),
        changes
    );
    assert!(a > 0 && b > 0);
    let db = &app.state.db;
    assert_caught_up_rollups_equal_a_rebuild(db).await;
    let d = dashboard(app, &w.district, "area=D01").await;
    assert_eq!(d["totals"]["submitted"], 10, "{d}");
    assert_eq!(d["totals"]["accepted"], 10, "{d}");
    assert_eq!(d["totals"]["handled"], 6, "{d}");
}

#[tokio::test]
async fn admins_see_their_area_and_below_and_nothing_else() {
    let w = world().await;
    let app = &w.app;
    assert_eq!(
        app.get_auth("/api/v1/admin/dashboard?area=G01", &w.community.access)
            .await
            .status(),
        200
    );
    for area in ["S01", "D01", "C03"] {
        let res = app
            .get_auth(
                &format!("/api/v1/admin/dashboard?area={area}"),
                &w.community.access,
            )
            .await;
        assert_error(res, 403, "forbidden").await;
    }
    let res = app
        .get_auth("/api/v1/admin/dashboard.csv?area=C01", &w.west.access)
        .await;
    assert_error(res, 403, "forbidden").await;
    let res = app
        .get_auth("/api/v1/admin/dashboard", &w.resident.access)
        .await;
    assert_error(res, 403, "forbidden").await;
    let res = app
        .get_auth("/api/v1/admin/dashboard?area=NOPE", &w.district.access)
        .await;
    assert_error(res, 404, "not_found").await;
    for bad in [
        "from=2026-13-01",
        "from=2026-03-02&to=2026-03-01",
        "from=2024-01-01&to=2026-01-01",
        "group_by=street",
    ] {
        let res = app
            .get_auth(
                &format!("/api/v1/admin/dashboard?{bad}"),
                &w.district.access,
            )
            .await;
        assert_eq!(res.status(), 422, "{bad}: {}", res.text().await.unwrap());
    }
    // Default: the admin's own area, children as groups.
    let d = dashboard(app, &w.community, "").await;
    assert_eq!(d["area"]["code"], "C01");
    assert_eq!(d["group_by"], "child");
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|f| format!("{:.2}", f * 100.0))
        .unwrap_or_default()
}

/// Minutes as the CSV shows them: hours, two decimals.
fn hours(v: &Value) -> String {
    v.as_f64()
        .map(|f| format!("{:.2}", f / 60.0))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_csv_reads_back_as_the_same_numbers_as_the_json() {
    let w = world().await;
    populate(&w).await;
    let app = &w.app;
    for group_by in ["child", "grid", "category", "day"] {
        let q = format!("area=D01&group_by={group_by}");
        let json = dashboard(app, &w.district, &q).await;
        let res = app
            .get_auth(
                &format!("/api/v1/admin/dashboard.csv?{q}"),
                &w.district.access,
            )
            .await;
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let bytes = res.bytes().await.unwrap();
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        let rows = parse_csv(text);
        assert_eq!(rows[0][..4], ["编码", "名称", "上报数", "受理数"]);
        assert_eq!(rows[0].len(), safegrid::dashboard::CSV_HEADER.len());
        let check = |row: &Vec<String>, m: &Value| {
            assert_eq!(row[2], m["submitted"].to_string());
            assert_eq!(row[3], m["accepted"].to_string());
            assert_eq!(row[5], m["due"].to_string());
            assert_eq!(row[6], m["closed"].to_string());
            assert_eq!(row[9], m["overdue"].to_string());
            assert_eq!(row[11], pct(&m["closure_rate"]));
            assert_eq!(row[12], pct(&m["on_time_rate"]));
            assert_eq!(row[14], pct(&m["satisfaction_rate"]));
            assert_eq!(row[10], m["reworked"].to_string());
            assert_eq!(row[15], pct(&m["loop_closed_rate"]));
            assert_eq!(row[18], hours(&m["close_minutes_p50"]));
            assert_eq!(row[20], m["rated"].to_string());
            assert_eq!(row[21], m["wishes_submitted"].to_string());
            assert_eq!(row[22], m["wishes_claimed"].to_string());
            assert_eq!(row[23], m["wishes_fulfilled"].to_string());
        };
        assert_eq!(rows[1][1], "合计");
        check(&rows[1], &json["totals"]);
        let groups = json["groups"].as_array().unwrap();
        assert_eq!(rows.len() - 2, groups.len(), "{group_by}");
        for g in groups {
            let row = rows
                .iter()
                .find(|r| r[0] == g["key"].as_str().unwrap())
                .unwrap_or_else(|| panic!("{group_by}: no line for {}", g["key"]));
            assert_eq!(row[1], g["name"].as_str().unwrap());
            check(row, g);
        }
    }
}

#[tokio::test]
async fn a_report_passing_its_deadline_turns_due_and_overdue_without_any_action() {
    use sea_orm::{ColumnTrait, QueryFilter};
    let w = world().await;
    let app = &w.app;
    let id = submit(app, &w.resident, "sanitation", 31.205, 121.405).await;
    act(app, &w.worker, &id, json!({ "action": "accept" })).await;
    // Its deadline is about to pass (as if set so by an approved extension), and its rollup
    // row was refreshed with it, the way every change refreshes it.
    let soon = safegrid::util::now_ms() + 1_500;
    entity::reports::Entity::update_many()
        .col_expr(
            entity::reports::Column::Deadline,
            sea_orm::sea_query::Expr::value(soon),
        )
        .filter(entity::reports::Column::Id.eq(id.as_str()))
        .exec(&app.state.db)
        .await
        .unwrap();
    let report = entity::reports::Entity::find_by_id(id.clone())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    safegrid::dashboard::report_changed(&app.state.db, &report, None).await;
    let before = dashboard(app, &w.community, "area=C01").await;
    assert_eq!(before["totals"]["due"], 0);
    assert_eq!(before["totals"]["overdue"], 0);

    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    let after = dashboard(app, &w.community, "area=C01").await;
    assert_eq!(after["totals"]["due"], 1);
    assert_eq!(after["totals"]["overdue"], 1);
    assert_eq!(after["totals"]["on_time_rate"].as_f64(), Some(0.0));
    assert_eq!(
        after["totals"],
        naive(app, "/D01/S01/C01/", wishes(0, 0, 0), 30).await
    );
    // The rollups still equal a rebuild.
    safegrid::dashboard::refresh_all_stale(&app.state.db)
        .await
        .unwrap();
    let kept = rollup::snapshot(&app.state.db).await.unwrap();
    safegrid::dashboard::rebuild(&app.state.db).await.unwrap();
    assert_eq!(kept, rollup::snapshot(&app.state.db).await.unwrap());
}

/// A dashboard's raw-table figures run in a transaction that PostgreSQL plans for the
/// statements' own values (a cached generic plan cost a district's year seconds); the
/// setting ends with that transaction and never reaches the pooled connections that
/// serve the request path.
#[tokio::test]
async fn area_figures_are_planned_for_their_values_and_the_setting_stays_in_their_transaction() {
    use sea_orm::ConnectionTrait;
    let w = world().await;
    let db = &w.app.state.db;
    let backend = db.get_database_backend();
    let mode = |row: Option<sea_orm::QueryResult>| -> String {
        row.unwrap().try_get_by_index::<String>(0).unwrap()
    };
    let txn = safegrid::dashboard::service::planned_for_values(db)
        .await
        .unwrap();
    if backend == sea_orm::DatabaseBackend::Postgres {
        let inside = txn
            .query_one(sea_orm::Statement::from_string(
                backend,
                "SHOW plan_cache_mode",
            ))
            .await
            .unwrap();
        assert_eq!(mode(inside), "force_custom_plan");
    }
    txn.commit().await.unwrap();
    if backend == sea_orm::DatabaseBackend::Postgres {
        for _ in 0..5 {
            let after = db
                .query_one(sea_orm::Statement::from_string(
                    backend,
                    "SHOW plan_cache_mode",
                ))
                .await
                .unwrap();
            assert_eq!(mode(after), "auto");
        }
    }
    // On every backend the figures read through it answer (SQLite and MySQL plan each run).
    let d = dashboard(&w.app, &w.district, "area=D01").await;
    assert!(d["totals"]["submitted"].is_number(), "{d}");
}

#[tokio::test]
async fn an_agreement_s_follow_up_turns_due_on_its_date_without_any_action() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let w = world().await;
    let app = &w.app;
    let id = submit(app, &w.resident, "sanitation", 31.205, 121.405).await;
    // An agreement whose follow-up date is about to come, its rollup row refreshed with it.
    let now = safegrid::util::now_ms();
    let soon = now + 1_500;
    entity::reports::Entity::update_many()
        .col_expr(entity::reports::Column::MediatedAt, Expr::value(now))
        .col_expr(
            entity::reports::Column::MediationOutcome,
            Expr::value("agreed"),
        )
        .col_expr(entity::reports::Column::FollowUpDue, Expr::value(soon))
        .filter(entity::reports::Column::Id.eq(id.as_str()))
        .exec(&app.state.db)
        .await
        .unwrap();
    let report = entity::reports::Entity::find_by_id(id.clone())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    safegrid::dashboard::report_changed(&app.state.db, &report, None).await;
    let before = dashboard(app, &w.community, "area=C01").await;
    assert_eq!(
        (
            &before["totals"]["mediated"],
            &before["totals"]["mediation_agreed"],
            &before["totals"]["follow_ups_due"]
        ),
        (&json!(1), &json!(1), &json!(0))
    );
    assert_eq!(before["totals"]["follow_up_on_time_rate"], Value::Null);

    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    let after = dashboard(app, &w.community, "area=C01").await;
    assert_eq!(after["totals"]["follow_ups_due"], 1);
    assert_eq!(
        after["totals"]["follow_up_on_time_rate"].as_f64(),
        Some(0.0)
    );
    assert_eq!(
        after["totals"],
        naive(app, "/D01/S01/C01/", wishes(0, 0, 0), 30).await
    );
    assert_caught_up_rollups_equal_a_rebuild(&app.state.db).await;
}

/// A deployment upgraded from rollups without the source counters: the migration adds them
/// at 0 and marks every own row stale, so the first read (and the upkeep) fill them in.
#[tokio::test]
async fn rollups_from_before_the_source_counters_are_filled_in_after_the_migration() {
    use migration::MigratorTrait;
    let w = world().await;
    populate(&w).await;
    let app = &w.app;
    let db = &app.state.db;
    let day = today();
    let q = format!("area=D01&from={day}&to={day}&group_by=child");
    let expected = dashboard(app, &w.district, &q).await;
    assert_eq!(expected["totals"]["from_resident"], 7);
    safegrid::dashboard::refresh_all_stale(db).await.unwrap();

    migration::Migrator::down(db, Some(1)).await.unwrap();
    safegrid::infra::db::migrate(db).await.unwrap();
    let zeros = rollup::snapshot(db).await.unwrap();
    let from_resident = rollup::value_columns()
        .iter()
        .position(|c| c == "from_resident")
        .unwrap();
    assert!(zeros.iter().all(|(_, values)| values[from_resident] == 0));

    let read = dashboard(app, &w.district, &q).await;
    assert_eq!(read["totals"], expected["totals"]);
    assert_eq!(read["groups"], expected["groups"]);
    assert_caught_up_rollups_equal_a_rebuild(db).await;
}
