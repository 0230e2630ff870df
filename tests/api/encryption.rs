//! Phone numbers at rest (DOMAIN.md §10): the columns hold ciphertexts, the API shows the
//! numbers where it did, lookups go through the keyed hash, plaintext left by an older release
//! is encrypted at start, keys rotate while a server serves, deletion leaves no number.

use safegrid::infra::crypto::{Keyring, Suite, CALLER_PHONE, USER_PHONE};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{
    assert_error, spawn_app, spawn_app_with, spawn_second_instance_with, Overrides, Session,
    TestApp,
};

const K1: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE="; // 32 × '1'
const K2: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI="; // 32 × '2'
const HASH_KEY: &str = "aGFzaGtleWhhc2hrZXloYXNoa2V5aGFzaGtleWhhc2g=";

fn keys(list: &str) -> Overrides {
    vec![
        ("SAFEGRID_DATA_KEYS", list.to_string()),
        ("SAFEGRID_PHONE_HASH_KEY", HASH_KEY.to_string()),
    ]
}

/// `(id, stored value, stored hash)` of every non-null number in `table.column`, raw.
async fn raw(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
) -> Vec<(String, String, Option<String>)> {
    let hash = format!("{column}_hash");
    let sql = format!(
        "SELECT id, {column} AS v, {hash} AS h FROM {table} WHERE {column} IS NOT NULL ORDER BY id"
    );
    db.query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "v").unwrap(),
                r.try_get("", "h").unwrap(),
            )
        })
        .collect()
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn bind_phone(app: &TestApp, s: &Session, phone: &str) {
    let code = app.wechat.issue_phone_code(phone);
    let res = app
        .post_json(
            "/api/v1/me/phone",
            Some(&s.access),
            &json!({ "code": code }),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn hotline(app: &TestApp, admin: &Session, order: &str, phone: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&admin.access),
            &json!({
                "category": "sanitation",
                "description": "热线来电",
                "location": { "lat": 31.205, "lng": 121.405, "coord": "gcj02" },
                "source": "hotline",
                "hotline_order_no": order,
                "caller_phone": phone,
            }),
        )
        .await;
    json_of(res, 201).await["id"].as_str().unwrap().to_string()
}

async fn lookup(app: &TestApp, admin: &Session, phone: &str) -> Vec<String> {
    let res = app
        .post_json(
            "/api/v1/admin/reports/caller-lookup",
            Some(&admin.access),
            &json!({ "caller_phone": phone }),
        )
        .await;
    json_of(res, 200).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn phone_columns_hold_ciphertext_and_the_api_still_shows_the_numbers() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let community = app.admin("community", "C01").await;
    let west = app.admin("west", "S02").await;
    let resident = app.login_wechat("openid-phone").await;
    bind_phone(&app, &resident, "13812345678").await;
    let first = hotline(&app, &community, "H-1", "138-0013-8000").await;
    let second = hotline(&app, &community, "H-2", "13800138000").await;
    hotline(&app, &community, "H-3", "13900000000").await;

    let db = app.db().await;
    let users = raw(&db, "users", "phone").await;
    assert_eq!(users.len(), 1);
    let (user_id, stored, hash) = &users[0];
    assert!(stored.starts_with("v1:dev:"), "{stored}");
    assert!(!stored.contains("12345678") && hash.as_deref().unwrap().len() == 64);
    for (_, stored, hash) in raw(&db, "reports", "caller_phone").await {
        assert!(
            stored.starts_with("v1:dev:") && !stored.contains("0013"),
            "{stored}"
        );
        assert!(hash.is_some());
    }
    // A ciphertext copied onto another row does not decrypt there (bound to its row).
    let dev = Keyring::development(Suite::Standard);
    assert_eq!(
        dev.decrypt(USER_PHONE, user_id, stored).unwrap(),
        "13812345678"
    );
    assert!(dev.decrypt(USER_PHONE, "someone-else", stored).is_err());

    // The views show what they showed before.
    let me = json_of(app.get_auth("/api/v1/me", &resident.access).await, 200).await;
    assert_eq!(me["phone_masked"], "138****5678");
    let view = json_of(
        app.get_auth(&format!("/api/v1/reports/{first}"), &community.access)
            .await,
        200,
    )
    .await;
    assert_eq!(view["caller_phone_masked"], "138****8000");
    let full = json_of(
        app.get_auth(
            &format!("/api/v1/admin/reports/{first}/caller-phone"),
            &community.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(full["caller_phone"], "138-0013-8000");

    // Lookups by number, however it is written; only the admin's own area.
    let mut found = lookup(&app, &community, "+86 13800138000").await;
    found.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(found, want);
    assert!(lookup(&app, &west, "13800138000").await.is_empty());
    assert!(lookup(&app, &community, "13700000000").await.is_empty());
    assert_error(
        app.post_json(
            "/api/v1/admin/reports/caller-lookup",
            Some(&community.access),
            &json!({ "caller_phone": "call me" }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.post_json(
            "/api/v1/admin/reports/caller-lookup",
            Some(&resident.access),
            &json!({ "caller_phone": "13800138000" }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn numbers_left_in_clear_by_an_older_release_are_encrypted_at_start() {
    let app = spawn_app_with(keys(&format!("k1:{K1}"))).await;
    import_demo_tree(&app).await;
    let community = app.admin("community", "C01").await;
    let resident = app.login_wechat("openid-old").await;
    let report = hotline(&app, &community, "H-OLD", "13800138000").await;
    // What a release before encryption wrote: numbers in clear, no hash.
    let db = app.db().await;
    for sql in [
        format!("UPDATE users SET phone = '13812345678', phone_hash = NULL WHERE id = '{}'", resident.user_id),
        format!("UPDATE reports SET caller_phone = '13800138000', caller_phone_hash = NULL WHERE id = '{report}'"),
    ] {
        db.execute(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap();
    }
    // The next start encrypts them before it serves.
    let next = spawn_second_instance_with(&app, keys(&format!("k1:{K1}"))).await;
    let users = raw(&db, "users", "phone").await;
    assert!(
        users[0].1.starts_with("v1:k1:") && users[0].2.is_some(),
        "{users:?}"
    );
    let reports = raw(&db, "reports", "caller_phone").await;
    assert!(reports[0].1.starts_with("v1:k1:") && reports[0].2.is_some());
    let me = json_of(next.get_auth("/api/v1/me", &resident.access).await, 200).await;
    assert_eq!(me["phone_masked"], "138****5678");
    assert_eq!(lookup(&next, &community, "13800138000").await, vec![report]);
}

#[tokio::test]
async fn keys_rotate_in_pages_while_a_server_serves() {
    let app = spawn_app_with(keys(&format!("k1:{K1}"))).await;
    import_demo_tree(&app).await;
    let community = app.admin("community", "C01").await;
    let mut reports = Vec::new();
    for i in 0..23 {
        reports.push(
            hotline(
                &app,
                &community,
                &format!("H-{i}"),
                &format!("1380013{i:04}"),
            )
            .await,
        );
    }
    let resident = app.login_wechat("openid-rot").await;
    bind_phone(&app, &resident, "13812345678").await;

    // Every server gets the new key first (k2 encrypts, k1 still decrypts), then the rotation
    // runs beside them while requests keep coming.
    let server = spawn_second_instance_with(&app, keys(&format!("k2:{K2},k1:{K1}"))).await;
    let rotating = Keyring::parse(
        Suite::Standard,
        Some(&format!("k2:{K2},k1:{K1}")),
        Some(HASH_KEY),
    )
    .unwrap();
    let db = server.db().await;
    let rotation = {
        let db = db.clone();
        let keys = rotating.clone();
        tokio::spawn(async move { safegrid::compliance::keys::rotate(&db, &keys, 5).await })
    };
    let mut served = 0;
    while !rotation.is_finished() || served < 10 {
        let i = served % reports.len();
        let full = json_of(
            server
                .get_auth(
                    &format!("/api/v1/admin/reports/{}/caller-phone", reports[i]),
                    &community.access,
                )
                .await,
            200,
        )
        .await;
        assert_eq!(full["caller_phone"], format!("1380013{i:04}"));
        assert_eq!(
            lookup(&server, &community, &format!("1380013{i:04}")).await,
            vec![reports[i].clone()]
        );
        reports.push(
            hotline(
                &server,
                &community,
                &format!("N-{served}"),
                &format!("1390013{served:04}"),
            )
            .await,
        );
        bind_phone(&server, &resident, &format!("1371234{served:04}")).await;
        served += 1;
        if served > 500 {
            break;
        }
    }
    let done = rotation.await.unwrap().unwrap();
    assert_eq!(done.users, 1, "{done:?}");
    assert!(done.reports >= 23, "{done:?}");

    // Everything is under k2 now: a keyring without k1 reads every number.
    let only_k2 =
        Keyring::parse(Suite::Standard, Some(&format!("k2:{K2}")), Some(HASH_KEY)).unwrap();
    let stored = raw(&db, "reports", "caller_phone").await;
    assert_eq!(stored.len(), reports.len());
    for (id, value, hash) in &stored {
        assert!(value.starts_with("v1:k2:"), "{value}");
        let plain = only_k2.decrypt(CALLER_PHONE, id, value).unwrap();
        assert_eq!(hash.as_deref(), Some(only_k2.phone_hash(&plain).as_str()));
    }
    let users = raw(&db, "users", "phone").await;
    let plain = only_k2
        .decrypt(USER_PHONE, &users[0].0, &users[0].1)
        .unwrap();
    assert_eq!(
        plain,
        format!("1371234{:04}", served - 1),
        "the last binding won"
    );
    // A second run finds nothing left to do.
    assert_eq!(
        safegrid::compliance::keys::rotate(&db, &rotating, 5)
            .await
            .unwrap(),
        Default::default()
    );
    let full = json_of(
        server
            .get_auth(
                &format!("/api/v1/admin/reports/{}/caller-phone", reports[0]),
                &community.access,
            )
            .await,
        200,
    )
    .await;
    assert_eq!(full["caller_phone"], "13800130000");
}

#[tokio::test]
async fn sm_mode_encrypts_with_sm4() {
    let k = "MTExMTExMTExMTExMTExMQ=="; // 16 × '1'
    let mut overrides = keys(&format!("s1:{k}"));
    overrides.push(("SAFEGRID_CRYPTO", "sm".into()));
    let app = spawn_app_with(overrides).await;
    let resident = app.login_wechat("openid-sm").await;
    bind_phone(&app, &resident, "13812345678").await;
    let users = raw(&app.db().await, "users", "phone").await;
    assert!(users[0].1.starts_with("s1:s1:"), "{users:?}");
    let me = json_of(app.get_auth("/api/v1/me", &resident.access).await, 200).await;
    assert_eq!(me["phone_masked"], "138****5678");
}

#[tokio::test]
async fn a_deleted_account_leaves_no_number_nor_its_hash() {
    let app = spawn_app().await;
    let resident = app.login_wechat("openid-leaving-phone").await;
    bind_phone(&app, &resident, "13812345678").await;
    let res = app
        .http
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&resident.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let db = app.db().await;
    assert!(raw(&db, "users", "phone").await.is_empty());
    let hashes = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM users WHERE phone_hash IS NOT NULL".to_string(),
        ))
        .await
        .unwrap();
    assert!(hashes.is_empty());
}

#[tokio::test]
async fn the_cli_rotates_the_keys() {
    let app = spawn_app_with(keys(&format!("k1:{K1}"))).await;
    let resident = app.login_wechat("openid-cli").await;
    bind_phone(&app, &resident, "13812345678").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_safegrid"))
        .args(["keys", "rotate", "--page", "2"])
        .env("SAFEGRID_DATABASE_URL", &app.db_url)
        .env("SAFEGRID_DATA_KEYS", format!("k2:{K2},k1:{K1}"))
        .env("SAFEGRID_PHONE_HASH_KEY", HASH_KEY)
        .env("SAFEGRID_LOG", "warn")
        .output()
        .expect("safegrid runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("key k2: 1 users, 0 reports"), "{stdout}");
    let users = raw(&app.db().await, "users", "phone").await;
    assert!(users[0].1.starts_with("v1:k2:"));
}
