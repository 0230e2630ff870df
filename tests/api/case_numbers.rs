//! Case numbers (API.md, "Case numbers"): every report and wish carries a short, unique,
//! increasing `case_no`, shown wherever the case is read — and two instances creating at
//! once never hand out the same one.

use serde_json::Value;

use crate::grids::import_demo_tree;
use crate::helpers::{spawn_app, spawn_second_instance};
use crate::wishes::wish_at;

fn today_in_shanghai() -> String {
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    now.format("%Y%m%d").to_string()
}

/// `R20261205-00042` → ("R", "20261205", 42).
fn parts(case_no: &str) -> (String, String, u64) {
    let (head, counter) = case_no.split_once('-').expect("a dash");
    assert_eq!(head.len(), 9, "{case_no}");
    assert!(counter.len() >= 5, "{case_no}");
    (
        head[..1].to_string(),
        head[1..].to_string(),
        counter.parse().expect("digits"),
    )
}

#[tokio::test]
async fn reports_and_wishes_get_increasing_numbers_shown_in_every_view() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let resident = app.login_wechat("openid-resident").await;

    let mut last = 0;
    let mut numbers = Vec::new();
    for _ in 0..3 {
        let r = app.report_at(&resident, 31.205, 121.405).await;
        let case_no = r["case_no"].as_str().expect("case_no").to_string();
        let (kind, day, n) = parts(&case_no);
        assert_eq!(kind, "R");
        assert_eq!(day, today_in_shanghai());
        assert!(n > last, "{case_no} after {last}");
        last = n;
        numbers.push((r["id"].as_str().unwrap().to_string(), case_no));
    }
    let (id, case_no) = &numbers[0];
    let one: Value = app
        .get_auth(&format!("/api/v1/reports/{id}"), &resident.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(&one["case_no"], case_no);
    let mine: Value = app
        .get_auth("/api/v1/me/reports", &resident.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| numbers.iter().any(|(_, n)| r["case_no"] == n.as_str())));
    let tasks: Value = app
        .get_auth("/api/v1/worker/tasks", &worker.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["items"].as_array().unwrap().len(), 3);
    assert!(tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["case_no"].as_str().is_some_and(|n| n.starts_with('R'))));

    let wish = wish_at(&app, &resident, 31.205, 121.405).await;
    let (kind, day, _) = parts(wish["case_no"].as_str().expect("wish case_no"));
    assert_eq!((kind.as_str(), day), ("W", today_in_shanghai()));
}

#[tokio::test]
async fn two_instances_creating_at_once_never_share_a_number() {
    let a = spawn_app().await;
    import_demo_tree(&a).await;
    let b = spawn_second_instance(&a).await;
    let alice = a.login_wechat("openid-alice").await;
    let bob = b.login_wechat("openid-bob").await;
    let mut submissions = Vec::new();
    for i in 0..12 {
        let (app, who) = if i % 2 == 0 { (&a, &alice) } else { (&b, &bob) };
        submissions.push(app.report_at(who, 31.205, 121.405));
    }
    let reports = futures_util::future::join_all(submissions).await;
    let mut numbers: Vec<String> = reports
        .iter()
        .map(|r| r["case_no"].as_str().expect("case_no").to_string())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 12, "{numbers:?}");
}
