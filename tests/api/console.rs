//! The staff console through the real UI in headless Chromium: a community admin logs in,
//! filters the case list, hands an escalated case down, checks a resolved one, dispatches to
//! a unit, approves a volunteer, revokes an invite, imports a GeoJSON with a bad feature; the
//! page's numbers equal the API's; another community's case is refused on the page as in the
//! API; the docs render with every non-loopback host refused. Screenshots land in target/.

use serde_json::{json, Value};

use crate::browser::{chromium, Browser};
use crate::grids::import_demo_tree;
use crate::helpers::{spawn_app, Session, TestApp};

const PASSWORD: &str = "Correct horse battery 9";

/// The login box is visible: the script runs and its buttons listen.
const LOGIN_READY: &str = "!!document.getElementById('login-box') && !document.getElementById('login-box').classList.contains('hidden')";

struct Desk {
    app: TestApp,
    community: Session,
    worker: Session,
    resident: Session,
}

async fn desk() -> Desk {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let community = app.admin("community", "C01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let resident = app.login_wechat("openid-resident").await;
    Desk {
        app,
        community,
        worker,
        resident,
    }
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn report(d: &Desk, lat: f64, lng: f64) -> Value {
    d.app.report_at(&d.resident, lat, lng).await
}

async fn act(d: &Desk, who: &Session, id: &str, body: Value) {
    let res = d.app.act(who, id, body).await;
    ok(res).await;
}

async fn get(d: &Desk, who: &Session, path: &str) -> Value {
    ok(d.app.get_auth(path, &who.access).await).await
}

async fn login(b: &mut Browser, app: &TestApp, username: &str, hash: &str) {
    b.open(&app.url(&format!("/admin{hash}")), LOGIN_READY)
        .await;
    b.eval(&format!(
        "document.getElementById('username').value = '{username}';
         document.getElementById('password').value = '{PASSWORD}';
         document.getElementById('login').click(); true"
    ))
    .await;
}

/// Opens a case by its hash and waits for it to render.
async fn open_case(b: &mut Browser, id: &str) {
    b.eval(&format!("location.hash = '#/case/{id}'; true"))
        .await;
    b.wait_for(
        "the case page",
        &format!(
            "(document.getElementById('case-view') || {{}}).getAttribute && \
             (document.getElementById('case-view').getAttribute('data-loaded') || '').startsWith('{id}|')"
        ),
    )
    .await;
}

/// Picks `value` in the form's select once its options have arrived, then submits.
async fn submit_action(
    b: &mut Browser,
    action: &str,
    selects: &[(&str, &str)],
    texts: &[(&str, &str)],
) {
    for (name, value) in selects {
        b.wait_for(
            &format!("option {value} of {name}"),
            &format!(
                "!!document.querySelector('form[data-action={action}] [name={name}] option[value=\"{value}\"]')"
            ),
        )
        .await;
        b.eval(&format!(
            "document.querySelector('form[data-action={action}] [name={name}]').value = '{value}'; true"
        ))
        .await;
    }
    for (name, value) in texts {
        b.eval(&format!(
            "document.querySelector('form[data-action={action}] [name={name}]').value = '{value}'; true"
        ))
        .await;
    }
    b.eval(&format!(
        "document.querySelector('form[data-action={action}] button[type=submit]').click(); true"
    ))
    .await;
}

/// Submits an action's form and waits until `done` (a JavaScript expression) holds.
async fn act_on_page(
    b: &mut Browser,
    action: &str,
    selects: &[(&str, &str)],
    texts: &[(&str, &str)],
    done: &str,
) {
    submit_action(b, action, selects, texts).await;
    b.wait_for(action, done).await;
}

/// The case page shows `status`.
fn status_is(status: &str) -> String {
    format!(
        "(document.getElementById('case-status') || {{dataset: {{}}}}).dataset.status === '{status}'"
    )
}

const NOTICE_SHOWN: &str = "!!document.getElementById('notice').textContent";

#[tokio::test]
async fn a_community_admin_works_cases_in_the_console() {
    let Some(binary) = chromium() else { return };
    let d = desk().await;
    // R1 waits in G01; R2 was escalated by the worker to the community; R3 was resolved and
    // waits for its check; R4 stays in the list for the filters.
    let r1 = report(&d, 31.205, 121.405).await;
    let r2 = report(&d, 31.205, 121.405).await;
    let r3 = report(&d, 31.205, 121.415).await;
    report(&d, 31.205, 121.435).await;
    let (r1_id, r2_id, r3_id) = (
        r1["id"].as_str().unwrap(),
        r2["id"].as_str().unwrap(),
        r3["id"].as_str().unwrap(),
    );
    act(&d, &d.worker, r2_id, json!({ "action": "accept" })).await;
    act(
        &d,
        &d.worker,
        r2_id,
        json!({ "action": "escalate", "reason": "需要社区协调" }),
    )
    .await;
    let g2 = d
        .app
        .enrolled("openid-w2", "G02", "worker", &d.community)
        .await;
    act(&d, &g2, r3_id, json!({ "action": "accept" })).await;
    act(
        &d,
        &g2,
        r3_id,
        json!({ "action": "resolve", "note": "已清理" }),
    )
    .await;
    ok(d
        .app
        .post_json(
            "/api/v1/admin/units",
            Some(&d.community.access),
            &json!({ "code": "WY1", "name": "幸福物业", "kind": "property", "area_codes": ["C01"] }),
        )
        .await)
    .await;

    let mut b = Browser::launch(binary).await;
    login(&mut b, &d.app, "community", "").await;
    b.wait_for(
        "the case list",
        "(document.getElementById('cases-view') || {getAttribute: () => null}).getAttribute('data-loaded') !== null",
    )
    .await;
    // The counts on the page are the API's.
    let api = get(&d, &d.community, "/api/v1/admin/reports?limit=100").await;
    assert_eq!(api["total"], 4);
    for light in ["red", "yellow", "green"] {
        let shown = b
            .eval(&format!(
                "document.getElementById('count-{light}').getAttribute('data-count')"
            ))
            .await;
        assert_eq!(shown, json!(api["lights"][light].to_string()), "{light}");
    }
    assert_eq!(
        b.eval("document.querySelectorAll('#cases tr[data-id]').length")
            .await,
        json!(4)
    );
    // Case numbers and Chinese names, never raw codes or id prefixes.
    let first_row = b
        .eval("document.querySelector('#cases tr[data-id]').innerText")
        .await;
    let first_row = first_row.as_str().unwrap();
    assert!(first_row.contains("R2"), "{first_row}");
    assert!(
        !first_row.contains("submitted") && !first_row.contains("in_progress"),
        "{first_row}"
    );
    b.resize(1366, 768).await;
    b.screenshot("console-cases").await;
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(
        b.eval(fits).await,
        json!(true),
        "no sideways scrolling at 1366×768"
    );

    // Search by case number.
    let case_no = r1["case_no"].as_str().unwrap();
    b.eval(&format!(
        "document.getElementById('f-q').value = '{case_no}';
         document.getElementById('f-apply').click(); true"
    ))
    .await;
    b.wait_for(
        "the search",
        "(document.getElementById('cases-view').getAttribute('data-loaded') || '').includes('q=')",
    )
    .await;
    let found = b
        .eval("[...document.querySelectorAll('#cases tr[data-id]')].map((r) => r.dataset.caseNo)")
        .await;
    assert_eq!(found, json!([case_no]));

    // Hand the escalated case down to G02.
    open_case(&mut b, r2_id).await;
    b.screenshot("console-case").await;
    assert_eq!(
        b.eval(fits).await,
        json!(true),
        "the case page fits 1366×768"
    );
    // A tablet held upright: still no sideways scrolling (tables scroll inside their box).
    b.resize(768, 1024).await;
    assert_eq!(
        b.eval(fits).await,
        json!(true),
        "the case page fits a tablet"
    );
    b.screenshot("console-case-tablet").await;
    b.resize(1366, 768).await;
    assert_eq!(
        b.eval("document.querySelectorAll('#case-svg polygon').length")
            .await
            .as_u64()
            .map(|n| n > 0),
        Some(true),
        "the case is drawn on its grid"
    );
    act_on_page(
        &mut b,
        "hand_down",
        &[("grid_code", "G02")],
        &[("reason", "请第二网格处理")],
        NOTICE_SHOWN,
    )
    .await;
    let after = get(&d, &d.community, &format!("/api/v1/reports/{r2_id}")).await;
    assert_eq!(after["queue"]["code"], "G02", "{after}");

    // A refused action shows the server's Chinese message on the form.
    open_case(&mut b, r1_id).await;
    submit_action(&mut b, "reject", &[], &[]).await;
    let error = b
        .wait_for(
            "the refusal",
            "document.querySelector('form[data-action=reject] .form-error').textContent",
        )
        .await;
    let error = error.as_str().unwrap();
    assert!(!error.is_ascii(), "a Chinese message: {error}");

    // Dispatch R1 to the unit.
    act_on_page(
        &mut b,
        "dispatch",
        &[("lead_unit", "WY1")],
        &[("instruction", "请物业清理楼道")],
        "document.getElementById('notice').textContent.includes('派单')",
    )
    .await;
    let after = get(&d, &d.community, &format!("/api/v1/reports/{r1_id}")).await;
    assert_eq!(after["units"][0]["code"], "WY1", "{after}");

    // Check the resolved case: closed.
    open_case(&mut b, r3_id).await;
    act_on_page(&mut b, "confirm", &[], &[], &status_is("closed")).await;
    let after = get(&d, &d.community, &format!("/api/v1/reports/{r3_id}")).await;
    assert_eq!(after["status"], "closed");
}

#[tokio::test]
async fn people_areas_and_import_through_the_console() {
    let Some(binary) = chromium() else { return };
    let d = desk().await;
    let applicant = d.app.login_wechat("openid-applicant").await;
    let application = ok(d
        .app
        .post_json(
            "/api/v1/me/volunteer",
            Some(&applicant.access),
            &json!({ "unit": "幸福社区志愿队", "area_code": "C01" }),
        )
        .await)
    .await;
    let mut b = Browser::launch(binary).await;
    login(&mut b, &d.app, "community", "#/people").await;
    b.wait_for(
        "the team of G01",
        "(document.getElementById('team') || {getAttribute: () => null}).getAttribute('data-loaded') === 'G01'",
    )
    .await;
    let members = b
        .eval(
            "[...document.querySelectorAll('#team-members tr[data-user]')].map((r) => r.innerText)",
        )
        .await;
    assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
    assert!(members[0].as_str().unwrap().contains("专职网格员"));

    // An invite, created and revoked on the page, is refused to whoever tries it.
    b.eval("document.getElementById('invite-create').click(); true")
        .await;
    let code = b
        .wait_for(
            "the new invite",
            "(document.querySelector('#team-invites [data-revoke]') || {dataset: {}}).dataset.revoke",
        )
        .await;
    let code = code.as_str().unwrap().to_string();
    b.eval(&format!(
        "document.querySelector('[data-revoke=\"{code}\"]').click(); true"
    ))
    .await;
    b.wait_for(
        "the revoked invite",
        &format!("(document.querySelector('tr[data-invite=\"{code}\"]') || {{}}).innerText?.includes('已撤销')"),
    )
    .await;
    let joiner = d.app.login_wechat("openid-joiner").await;
    let res = d
        .app
        .post_json(
            "/api/v1/me/enrolments",
            Some(&joiner.access),
            &json!({ "invite_code": code }),
        )
        .await;
    crate::helpers::assert_error(res, 410, "invite_revoked").await;

    // Approve the volunteer.
    let id = application["id"].as_str().unwrap();
    b.wait_for(
        "the application",
        &format!("!!document.querySelector('[data-approve=\"{id}\"]')"),
    )
    .await;
    b.screenshot("console-people").await;
    b.eval(&format!(
        "document.querySelector('[data-approve=\"{id}\"]').click(); true"
    ))
    .await;
    b.wait_for(
        "the approval",
        "document.getElementById('notice').textContent.includes('已通过')",
    )
    .await;
    let approved = get(&d, &d.community, "/api/v1/admin/volunteers?status=approved").await;
    assert_eq!(approved["items"][0]["id"], id);

    // Import a GeoJSON whose second feature has no name: refused, the feature named.
    b.eval("location.hash = '#/areas'; true").await;
    b.wait_for(
        "the area tree",
        "!!document.querySelector('#area-tree li[data-area=C01]')",
    )
    .await;
    let file = tempfile::Builder::new()
        .suffix(".geojson")
        .tempfile()
        .unwrap();
    let doc = json!({
        "type": "FeatureCollection",
        "features": [
            { "type": "Feature", "properties": { "code": "G06", "name": "第六网格", "level": "grid", "parent_code": "C01" },
              "geometry": { "type": "Polygon", "coordinates": [[[121.42, 31.20], [121.43, 31.20], [121.43, 31.21], [121.42, 31.21], [121.42, 31.20]]] } },
            { "type": "Feature", "properties": { "code": "G07", "level": "grid", "parent_code": "C01" },
              "geometry": { "type": "Polygon", "coordinates": [[[121.43, 31.21], [121.44, 31.21], [121.44, 31.22], [121.43, 31.22], [121.43, 31.21]]] } }
        ]
    });
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let root = b.call("DOM.getDocument", json!({})).await;
    let node = b
        .call(
            "DOM.querySelector",
            json!({ "nodeId": root["root"]["nodeId"], "selector": "#import-file" }),
        )
        .await;
    b.call(
        "DOM.setFileInputFiles",
        json!({ "nodeId": node["nodeId"], "files": [file.path().to_str().unwrap()] }),
    )
    .await;
    b.eval("document.getElementById('import-run').click(); true")
        .await;
    b.wait_for(
        "the refused import",
        "(document.getElementById('import-result').getAttribute('data-outcome') || '') === 'refused'",
    )
    .await;
    let problems = b
        .eval("[...document.querySelectorAll('#import-problems tr[data-index]')].map((r) => [r.dataset.index, r.innerText])")
        .await;
    let problems = problems.as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p[0] == "1" && p[1].as_str().unwrap().contains("G07")),
        "the second feature is named: {problems:?}"
    );
    b.screenshot("console-import").await;
    // Nothing was written.
    let res = d
        .app
        .get_auth("/api/v1/areas/G06", &d.community.access)
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn another_communitys_case_is_refused_on_the_page_as_in_the_api() {
    let Some(binary) = chromium() else { return };
    let d = desk().await;
    let mine = report(&d, 31.205, 121.405).await;
    // G05 lies in C03, another street.
    let theirs = report(&d, 31.205, 121.605).await;
    let theirs_id = theirs["id"].as_str().unwrap();
    let res = d
        .app
        .get_auth(&format!("/api/v1/reports/{theirs_id}"), &d.community.access)
        .await;
    let api_status = res.status().as_u16();
    assert!(matches!(api_status, 403 | 404), "{api_status}");

    let mut b = Browser::launch(binary).await;
    login(&mut b, &d.app, "community", "").await;
    b.wait_for(
        "the case list",
        "(document.getElementById('cases-view') || {getAttribute: () => null}).getAttribute('data-loaded') !== null",
    )
    .await;
    let listed = b
        .eval("[...document.querySelectorAll('#cases tr[data-id]')].map((r) => r.dataset.id)")
        .await;
    assert_eq!(listed, json!([mine["id"]]), "only the community's own case");
    b.eval(&format!("location.hash = '#/case/{theirs_id}'; true"))
        .await;
    let refused = b
        .wait_for(
            "the refusal",
            "(document.getElementById('case-view') || {getAttribute: () => null}).getAttribute('data-refused')",
        )
        .await;
    assert_eq!(refused, json!(api_status.to_string()));
    let text = b.eval("document.getElementById('error').textContent").await;
    assert!(!text.as_str().unwrap().is_empty());
    // Asking the list for the other street's grid is refused too.
    let res = d
        .app
        .get_auth("/api/v1/admin/reports?grid=G05", &d.community.access)
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_docs_render_with_every_other_host_refused() {
    let Some(binary) = chromium() else { return };
    let app = spawn_app().await;
    let mut b = Browser::launch_with(
        binary,
        &["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
    )
    .await;
    b.call("Network.enable", json!({})).await;
    b.open(
        &app.url("/docs/"),
        "(document.querySelector('.swagger-ui .info .title') || {}).textContent?.includes('SafeGrid')",
    )
    .await;
    let operations = b
        .wait_for(
            "the operations",
            "document.querySelectorAll('.opblock').length",
        )
        .await;
    assert!(operations.as_u64().unwrap() > 50, "{operations}");
    b.screenshot("docs-offline").await;
    let base = app.url("");
    let outside: Vec<String> = b
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter_map(|e| e["params"]["request"]["url"].as_str())
        .filter(|u| !u.starts_with(&base) && !u.starts_with("data:"))
        .map(str::to_owned)
        .collect();
    assert!(outside.is_empty(), "requests to other hosts: {outside:?}");
}

#[tokio::test]
async fn development_login_signs_in_the_demo_people_and_is_gone_when_off() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/dev-login",
            None,
            &json!({ "openid": "demo-worker" }),
        )
        .await;
    let token = ok(res).await["access_token"].as_str().unwrap().to_string();
    let me = ok(app.get_auth("/api/v1/me", &token).await).await;
    assert_eq!(me["roles"], json!(["resident"]));
    let listed = ok(app.get("/api/v1/auth/dev-login").await).await;
    assert_eq!(listed["users"][0]["openid"], "demo-worker");
    let res = app
        .post_json("/api/v1/auth/dev-login", None, &json!({ "openid": "a b" }))
        .await;
    crate::helpers::assert_error(res, 422, "validation_failed").await;

    let off = crate::helpers::spawn_app_with(vec![("SAFEGRID_DEV_LOGIN", "false".into())]).await;
    let res = off
        .post_json(
            "/api/v1/auth/dev-login",
            None,
            &json!({ "openid": "demo-worker" }),
        )
        .await;
    crate::helpers::assert_error(res, 404, "not_found").await;
    assert_eq!(off.get("/api/v1/auth/dev-login").await.status(), 404);
}

#[tokio::test]
async fn a_new_admin_changes_the_password_and_enrols_a_second_factor_in_the_console() {
    let Some(binary) = chromium() else { return };
    let app = crate::helpers::spawn_app_with(vec![("SAFEGRID_ADMIN_MFA", "required".into())]).await;
    import_demo_tree(&app).await;
    let db = app.db().await;
    safegrid::auth::service::create_admin_requiring_change(
        &db,
        "chen",
        "Set-by-operator-2026",
        "C01",
    )
    .await
    .unwrap();
    let mut b = Browser::launch(binary).await;
    // The login box shows once the script is running (a click before it would go unheard).
    b.open(&app.url("/admin"), LOGIN_READY).await;
    b.eval(
        "document.getElementById('username').value = 'chen';
         document.getElementById('password').value = 'Set-by-operator-2026';
         document.getElementById('login').click(); true",
    )
    .await;
    b.wait_for(
        "the password form",
        "!document.getElementById('password-box').classList.contains('hidden')",
    )
    .await;
    b.eval(
        "document.getElementById('old-password').value = 'Set-by-operator-2026';
         document.getElementById('new-password').value = 'Lantern-harbour-77';
         document.getElementById('change-password').click(); true",
    )
    .await;
    b.wait_for(
        "the QR code",
        "document.getElementById('mfa-box').getAttribute('data-ready') === '1' && document.getElementById('mfa-qr').naturalWidth > 0",
    )
    .await;
    b.screenshot("console-mfa").await;
    let uri = b
        .eval("document.getElementById('mfa-uri').textContent")
        .await;
    let secret = safegrid::auth::totp::secret_from_uri(uri.as_str().unwrap()).expect("a secret");
    let key = safegrid::auth::totp::decode_secret(&secret).unwrap();
    let code = safegrid::auth::totp::code_at(&key, chrono::Utc::now().timestamp());
    b.eval(&format!(
        "document.getElementById('mfa-code').value = '{code}';
         document.getElementById('mfa-confirm').click(); true"
    ))
    .await;
    b.wait_for(
        "the case list",
        "(document.getElementById('cases-view') || {getAttribute: () => null}).getAttribute('data-loaded') !== null",
    )
    .await;
    // From now on the password alone is not enough.
    let res = app
        .post_json(
            "/api/v1/auth/password-login",
            None,
            &json!({ "username": "chen", "password": "Lantern-harbour-77" }),
        )
        .await;
    crate::helpers::assert_error(res, 401, "mfa_required").await;
}

#[tokio::test]
async fn a_grid_team_shows_each_member_with_a_masked_phone_inside_the_admins_area_only() {
    let d = desk().await;
    let code = d.app.wechat.issue_phone_code("13812345678");
    let res = d
        .app
        .post_json(
            "/api/v1/me/phone",
            Some(&d.worker.access),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The admin cannot join the team by their own invite (nobody grants themselves a role).
    let invite = ok(d
        .app
        .post_json(
            "/api/v1/admin/invites",
            Some(&d.community.access),
            &json!({ "grid_code": "G01", "role": "worker" }),
        )
        .await)
    .await;
    let res = d
        .app
        .post_json(
            "/api/v1/me/enrolments",
            Some(&d.community.access),
            &json!({ "invite_code": invite["invite_code"] }),
        )
        .await;
    crate::helpers::assert_error(res, 403, "self_grant").await;
    let team = get(&d, &d.community, "/api/v1/admin/grids/G01/team").await;
    assert_eq!(team["grid_name"], "第一网格");
    let members = team["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{team}");
    assert_eq!(members[0]["role"], "worker");
    // Stored encrypted, shown masked: never the number, never the ciphertext.
    assert_eq!(members[0]["phone_masked"], "138****5678");
    assert_eq!(
        team["invites"][0]["status"], "pending",
        "the refused one stays unused"
    );
    assert_eq!(team["invites"][1]["status"], "used");
    let west = d.app.admin("west", "S02").await;
    let res = d
        .app
        .get_auth("/api/v1/admin/grids/G01/team", &west.access)
        .await;
    assert_eq!(res.status(), 403);
    let res = d
        .app
        .get_auth("/api/v1/admin/grids/NOPE/team", &d.community.access)
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_newcomer_signs_in_as_the_demo_worker_and_accepts_a_case_without_wechat() {
    let Some(binary) = chromium() else { return };
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    app.enrolled("demo-worker", "G01", "worker", &district)
        .await;
    let resident = app.login_wechat("openid-resident").await;
    let r = app.report_at(&resident, 31.205, 121.405).await;
    let id = r["id"].as_str().unwrap();
    let mut b = Browser::launch(binary).await;
    b.open(
        &app.url("/admin"),
        "!!document.querySelector('[data-openid=\"demo-worker\"]')",
    )
    .await;
    b.eval("document.querySelector('[data-openid=\"demo-worker\"]').click(); true")
        .await;
    b.wait_for(
        "the worker's queue",
        "(document.getElementById('cases-view') || {getAttribute: () => null}).getAttribute('data-loaded') === 'mine'",
    )
    .await;
    let rows = b
        .eval("[...document.querySelectorAll('#cases tr[data-id]')].map((r) => r.dataset.id)")
        .await;
    assert_eq!(rows, json!([id]));
    open_case(&mut b, id).await;
    act_on_page(&mut b, "accept", &[], &[], &status_is("accepted")).await;
    b.screenshot("console-worker").await;
}
