//! The admin page in a real headless browser (Debian's chromium, driven over the DevTools
//! protocol): log in, pick an area and a period, read the numbers, compare with the API,
//! and leave a screenshot under target/ for people to look at.

use serde_json::{json, Value};

use crate::browser::{chromium, Browser};
use crate::dashboard::{dashboard, populate, today, world};
use crate::helpers::spawn_app;

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|f| format!("{:.2}%", f * 100.0))
        .unwrap_or_else(|| "—".into())
}

#[tokio::test]
async fn an_admin_logs_in_and_the_page_shows_what_the_api_returns() {
    let Some(binary) = chromium() else { return };
    let w = world().await;
    populate(&w).await;
    let app = &w.app;
    let mut b = Browser::launch(binary).await;
    b.call(
        "Page.navigate",
        json!({ "url": app.url("/admin#/dashboard") }),
    )
    .await;
    // Visible once the script runs (a click before it would go unheard).
    b.wait_for(
        "the login form",
        "!!document.getElementById('login-box') && !document.getElementById('login-box').classList.contains('hidden')",
    )
    .await;
    b.eval(
        "document.getElementById('username').value = 'district';
         document.getElementById('password').value = 'Correct horse battery 9';
         document.getElementById('login').click(); true",
    )
    .await;
    b.wait_for(
        "the first dashboard",
        "(document.getElementById('board') || {getAttribute: () => null}).getAttribute('data-loaded')",
    )
    .await;

    // Pick street S01 and today.
    let day = today();
    b.eval(&format!(
        "document.getElementById('area').value = 'S01';
         document.getElementById('from').value = '{day}';
         document.getElementById('to').value = '{day}';
         document.getElementById('apply').click(); true"
    ))
    .await;
    let loaded = b
        .wait_for(
            "the street's dashboard",
            &format!(
                "document.getElementById('board').getAttribute('data-loaded') === 'S01|{day}|{day}'"
            ),
        )
        .await;
    assert_eq!(loaded, json!(true));
    let shown = b
        .eval(
            "JSON.stringify(Object.fromEntries([...document.querySelectorAll('[data-metric]')]
               .map((e) => [e.dataset.metric, e.textContent])))",
        )
        .await;
    let shown: Value = serde_json::from_str(shown.as_str().unwrap()).unwrap();
    let api = dashboard(app, &w.district, &format!("area=S01&from={day}&to={day}")).await;
    let t = &api["totals"];
    assert_eq!(t["submitted"], 6, "the street has reports to show");
    for key in ["submitted", "due", "closed", "overdue"] {
        assert_eq!(shown[key], t[key].to_string(), "{key}");
    }
    for key in [
        "closure_rate",
        "on_time_rate",
        "rework_rate",
        "satisfaction_rate",
        "loop_closed_rate",
        "patrol_coverage_rate",
        "mediation_success_rate",
        "follow_up_on_time_rate",
    ] {
        assert_eq!(shown[key].as_str().unwrap(), pct(&t[key]), "{key}");
    }
    for key in ["resolved_on_site", "patrols", "mediated"] {
        assert_eq!(shown[key], t[key].to_string(), "{key}");
    }
    let sources: Vec<String> = [
        "from_resident",
        "from_patrol",
        "from_visit",
        "from_hotline",
        "from_device",
        "from_open311",
    ]
    .iter()
    .map(|k| t[*k].to_string())
    .collect();
    assert_eq!(shown["sources"], sources.join("/"));
    assert_eq!(
        shown["wishes"],
        format!(
            "{}/{}/{}",
            t["wishes_submitted"], t["wishes_claimed"], t["wishes_fulfilled"]
        )
    );
    let close = t["close_minutes_p50"]
        .as_f64()
        .expect("closed reports have a time");
    assert_eq!(
        shown["close_minutes_p50"],
        format!("{:.1} 小时", close / 60.0)
    );
    // The ranking lists the same child areas in the same (worst-first) order.
    let ranked = b
        .eval(
            "[...document.querySelectorAll('#ranking tr')].slice(1).map((r) => r.cells[0].textContent)",
        )
        .await;
    let expected: Vec<Value> = api["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].clone())
        .collect();
    assert_eq!(ranked, Value::Array(expected));
    // A trend line was drawn.
    assert_eq!(
        b.eval("document.querySelectorAll('#trend polyline').length")
            .await,
        json!(2)
    );

    // Drawn from the grids' polygons: one shape per grid of the street, coloured by band.
    let shapes = b
        .wait_for(
            "the grid map",
            "document.querySelectorAll('#choropleth polygon').length",
        )
        .await;
    assert!(shapes.as_u64().unwrap() > 0);
    b.screenshot("dashboard-admin-page").await;

    // Drill down: the street's first community, then its first grid, each row a click.
    for level in ["community", "grid"] {
        let key = b
            .eval("document.querySelector('#ranking tr.clickable').dataset.key")
            .await;
        let key = key.as_str().expect("a drillable row").to_owned();
        b.eval("document.querySelector('#ranking tr.clickable').click(); true")
            .await;
        b.wait_for(
            level,
            &format!(
                "(document.getElementById('board').getAttribute('data-loaded') || '').startsWith('{key}|')"
            ),
        )
        .await;
        let api = dashboard(app, &w.district, &format!("area={key}&from={day}&to={day}")).await;
        let shown = b
            .eval("document.querySelector('[data-metric=submitted]').textContent")
            .await;
        assert_eq!(
            shown,
            json!(api["totals"]["submitted"].to_string()),
            "{level} {key}"
        );
        let crumbs = b
            .eval("document.getElementById('crumbs').textContent")
            .await;
        assert!(crumbs
            .as_str()
            .unwrap()
            .contains(api["area"]["name"].as_str().unwrap()));
        if level == "grid" {
            break;
        }
    }
}

#[tokio::test]
async fn the_console_is_served_by_the_binary_under_a_strict_policy() {
    let app = spawn_app().await;
    for path in ["/admin", "/admin/assets/app.js", "/admin/assets/app.css"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let body = res.text().await.unwrap();
        // Nothing is fetched from another host (intranets have no internet).
        for outside in ["https://", "http://cdn", "//cdn", "googleapis"] {
            assert!(!body.contains(outside), "{path} refers to {outside}");
        }
        if path == "/admin" {
            // No inline code: the policy would block it.
            assert!(
                !body.contains("<script>") && !body.contains("style=\""),
                "{body}"
            );
            assert!(body.contains("管理台"));
        }
    }
    // Pages, not API operations: the OpenAPI document does not list them.
    let doc: Value = serde_json::from_str(&safegrid::openapi::document_json()).unwrap();
    assert!(doc["paths"].get("/admin").is_none());
}
