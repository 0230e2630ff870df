//! Uploads: the type by content, size limits, signed URLs, and who may attach them.

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{assert_error, spawn_app, Session, TestApp};

pub const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
];

pub async fn upload(
    app: &TestApp,
    who: &Session,
    bytes: Vec<u8>,
    name: &str,
    declared: &str,
) -> reqwest::Response {
    let part = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(declared)
        .unwrap();
    app.http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&who.access)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_png_uploads_and_its_signed_url_serves_it() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let res = upload(
        &app,
        &s,
        PNG.to_vec(),
        "../../etc/passwd",
        "application/octet-stream",
    )
    .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["content_type"], "image/png");
    let url = body["url"].as_str().unwrap();
    let served = app.http.get(url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    // The client's name is never used: the one stored file has a generated name.
    let stored: Vec<_> = std::fs::read_dir(&app.settings.upload_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].to_string_lossy().ends_with(".png"));
}

#[tokio::test]
async fn an_altered_missing_or_expired_signature_is_403() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let body: Value = upload(&app, &s, PNG.to_vec(), "a.png", "image/png")
        .await
        .json()
        .await
        .unwrap();
    let url = body["url"].as_str().unwrap().to_string();
    // Change the signature's last hex digit (to another digit: it may already be '0').
    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    assert_error(
        app.http.get(&tampered).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let unsigned = url.split('?').next().unwrap().to_string();
    assert_error(
        app.http.get(&unsigned).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let expired = url.replace("exp=", "exp=1").replace("&sig", "0&sig");
    assert_error(
        app.http.get(&expired).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_script_named_jpg_is_415() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let res = upload(
        &app,
        &s,
        b"#!/bin/sh\nrm -rf /\n".to_vec(),
        "photo.jpg",
        "image/jpeg",
    )
    .await;
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_upload_over_ten_megabytes_is_413() {
    let app = spawn_app().await;
    let s = app.login_wechat("openid-a").await;
    let mut big = PNG.to_vec();
    big.resize(10 * 1024 * 1024 + 10, 0);
    let res = upload(&app, &s, big, "big.png", "image/png").await;
    assert_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn photos_attach_to_a_report_and_only_once() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let s = app.login_wechat("openid-a").await;
    let photo: Value = upload(&app, &s, PNG.to_vec(), "a.png", "image/png")
        .await
        .json()
        .await
        .unwrap();
    let body = json!({
        "category": "sanitation", "description": "垃圾", "location": { "lat": 31.205, "lng": 121.405 },
        "photo_ids": [photo["id"]],
    });
    let res = app
        .post_json("/api/v1/reports", Some(&s.access), &body)
        .await;
    assert_eq!(res.status(), 201);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["photos"][0]["id"], photo["id"]);
    // The same photo cannot be attached again, nor by someone else.
    let again = app
        .post_json("/api/v1/reports", Some(&s.access), &body)
        .await;
    assert_error(again, 422, "validation_failed").await;
    let other = app.login_wechat("openid-b").await;
    let fresh: Value = upload(&app, &s, PNG.to_vec(), "b.png", "image/png")
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&other.access),
            &json!({ "category": "sanitation", "description": "垃圾", "location": { "lat": 31.205, "lng": 121.405 }, "photo_ids": [fresh["id"]] }),
        )
        .await;
    assert_error(res, 422, "validation_failed").await;
}
