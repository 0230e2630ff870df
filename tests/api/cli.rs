//! The `safegrid` command line, run as a newcomer would.

use std::io::Write;
use std::process::{Command, Stdio};

fn safegrid(db_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_safegrid"))
        .args(args)
        .env("SAFEGRID_DATABASE_URL", db_url)
        .env("SAFEGRID_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run safegrid");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("safegrid exits")
}

#[tokio::test]
async fn demo_then_admin_create_then_a_rejected_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::fresh_database(dir.path()).await;
    let out = safegrid(&db, &["demo"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("30 grids"));

    let out = safegrid(
        &db,
        &[
            "admin",
            "create",
            "--username",
            "li",
            "--password-stdin",
            "--area",
            "S01",
        ],
        Some("Tide-pool-42-lantern\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = safegrid(
        &db,
        &[
            "admin",
            "create",
            "--username",
            "wang",
            "--password-stdin",
            "--area",
            "NOPE",
        ],
        Some("Tide-pool-42-lantern\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("import the area tree first"));

    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"G99","name":"x","level":"grid","parent_code":"MISSING"},"geometry":{"type":"Point","coordinates":[121.4,31.2]}}]}"#).unwrap();
    let out = safegrid(&db, &["areas", "import", bad.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("feature 0 G99"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
}

#[test]
fn openapi_prints_the_document_without_a_database() {
    let out = safegrid("sqlite:///nonexistent/dir/x.db", &["openapi"], None);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "SafeGrid API");
}

#[test]
fn a_malformed_setting_stops_the_server_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_safegrid"))
        .arg("serve")
        .env("SAFEGRID_BIND", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SAFEGRID_BIND"));
}
