//! Retention of closed cases (DOMAIN.md §10): past the period a closed case keeps its grid but
//! not its exact point, address or photos; the dashboards do not move; the leased daily job
//! counts what it did in `/metrics`.

use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{json, Value};

use crate::dashboard::{dashboard, populate, world};
use crate::helpers::{spawn_app_with, Session, TestApp};
use safegrid::compliance::retention;

/// A closed report of `resident` in G01 with one photo; returns (report id, photo row).
async fn closed_with_photo(
    app: &TestApp,
    resident: &Session,
    worker: &Session,
) -> (String, entity::uploads::Model) {
    let png: Value = crate::uploads::upload(
        app,
        resident,
        crate::uploads::PNG.to_vec(),
        "a.png",
        "image/png",
    )
    .await
    .json()
    .await
    .unwrap();
    let report: Value = app
        .post_json(
            "/api/v1/reports",
            Some(&resident.access),
            &json!({ "category": "sanitation", "description": "门口垃圾", "address": "幸福路1号",
                     "location": { "lat": 31.2051, "lng": 121.4052 }, "photo_ids": [png["id"]] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = report["id"].as_str().unwrap().to_string();
    for (who, body) in [
        (worker, json!({ "action": "accept" })),
        (worker, json!({ "action": "resolve", "note": "已清理" })),
        (resident, json!({ "action": "confirm" })),
    ] {
        assert_eq!(app.act(who, &id, body).await.status(), 200);
    }
    let photo = entity::uploads::Entity::find_by_id(png["id"].as_str().unwrap().to_string())
        .one(&app.db().await)
        .await
        .unwrap()
        .unwrap();
    (id, photo)
}

#[tokio::test]
async fn closed_cases_lose_point_address_and_photos_and_the_dashboards_do_not_move() {
    let w = world().await;
    populate(&w).await;
    let app = &w.app;
    let (id, photo) = closed_with_photo(app, &w.resident, &w.worker).await;
    let open = app.report_at(&w.resident, 31.2052, 121.4053).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let photo_file = std::path::Path::new(&app.settings.upload_dir).join(&photo.stored_name);
    assert!(photo_file.exists());
    let queries = [
        "area=D01",
        "area=D01&group_by=grid",
        "area=C01&group_by=category",
    ];
    let mut before = Vec::new();
    for q in queries {
        before.push(dashboard(app, &w.district, q).await);
    }

    let db = app.db().await;
    let done = retention::apply(&db, &app.settings.upload_dir, 0, 2)
        .await
        .unwrap();
    assert!(done.cases >= 3, "{done:?}");
    assert_eq!(done.photos, 1);
    assert_eq!(
        retention::apply(&db, &app.settings.upload_dir, 0, 2)
            .await
            .unwrap(),
        Default::default(),
        "each case once"
    );

    // The case keeps its grid, at the grid's centroid; no address, no photo, no file.
    let row = entity::reports::Entity::find_by_id(id.clone())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.grid_code, "G01");
    assert!(row.retained_at.is_some() && row.address.is_none());
    assert!((row.lat - 31.2051).abs() > 1e-6 || (row.lng - 121.4052).abs() > 1e-6);
    assert!(entity::uploads::Entity::find_by_id(photo.id.clone())
        .one(&db)
        .await
        .unwrap()
        .is_none());
    assert!(!photo_file.exists());
    let view: Value = app
        .get_auth(&format!("/api/v1/reports/{id}"), &w.community.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["photos"], json!([]));
    // An open case is untouched.
    let kept = entity::reports::Entity::find_by_id(open)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(kept.retained_at.is_none() && (kept.lat - 31.2052).abs() < 1e-6);

    // The dashboards read the same, and so do they rebuilt from the raw reports.
    for (q, was) in queries.iter().zip(&before) {
        assert_eq!(&dashboard(app, &w.district, q).await, was, "{q}");
    }
    safegrid::dashboard::rebuild(&db).await.unwrap();
    for (q, was) in queries.iter().zip(&before) {
        assert_eq!(
            &dashboard(app, &w.district, q).await,
            was,
            "{q} after a rebuild"
        );
    }
}

#[tokio::test]
async fn the_leased_daily_job_reduces_old_cases_and_counts_them_in_metrics() {
    let app = spawn_app_with(vec![(
        "SAFEGRID_CLOSED_CASE_RETENTION_DAYS",
        "30".to_string(),
    )])
    .await;
    crate::grids::import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let resident = app.login_wechat("openid-r").await;
    let (old, _) = closed_with_photo(&app, &resident, &worker).await;
    let (recent, _) = closed_with_photo(&app, &resident, &worker).await;
    let db = app.db().await;
    let backend = db.get_database_backend();
    for sql in [
        format!(
            "UPDATE reports SET closed_at = closed_at - {} WHERE id = '{old}'",
            31_i64 * 86_400_000
        ),
        // The job already ran at start today: as if that was yesterday.
        "DELETE FROM settings WHERE \"key\" = 'case_retention_last_run'".to_string(),
    ] {
        let sql = if backend == sea_orm::DbBackend::MySql {
            sql.replace('"', "`")
        } else {
            sql
        };
        db.execute(Statement::from_string(backend, sql))
            .await
            .unwrap();
    }
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("safegrid_retention_cases_total 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("safegrid_retention_cases_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("safegrid_retention_photos_deleted_total 1"));
    let find = |id: String| {
        let db = db.clone();
        async move {
            entity::reports::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert!(find(old).await.retained_at.is_some());
    assert!(find(recent).await.retained_at.is_none());
}
