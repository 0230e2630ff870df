//! Every migration runs up, leaves nothing pending, goes down to an empty schema and up
//! again, on the backend named by SAFEGRID_TEST_DATABASE_URL (a temp SQLite file when unset).

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::SchemaManager;

async fn fresh_database() -> (DatabaseConnection, Option<tempfile_dir::Dir>) {
    match std::env::var("SAFEGRID_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => {
            let dir = tempfile_dir::Dir::new();
            let url = format!("sqlite://{}?mode=rwc", dir.path.join("m.db").display());
            (Database::connect(&url).await.expect("sqlite"), Some(dir))
        }
        Some(admin_url) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos();
            // Tests of one process run at once: the counter keeps two names apart even when
            // the clock reads the same for both (it did, on MariaDB in CI).
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("t_mig_{nanos}_{}_{n}", std::process::id());
            let admin = Database::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("SAFEGRID_TEST_DATABASE_URL is unreachable: {e}"));
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            let (base, _) = admin_url.rsplit_once('/').expect("URL ends with /dbname");
            (
                Database::connect(format!("{base}/{name}"))
                    .await
                    .expect("connect"),
                None,
            )
        }
    }
}

/// A minimal temp dir so this crate needs no extra dependency.
mod tempfile_dir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "safegrid-mig-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

const TABLES: &[&str] = &[
    "areas",
    "users",
    "reports",
    "wishes",
    "timeline_events",
    "outbox",
    "idempotency",
];

#[tokio::test]
async fn migrations_go_up_down_to_empty_and_up_again() {
    let (db, _dir) = fresh_database().await;
    Migrator::up(&db, None).await.expect("up");
    assert!(Migrator::get_pending_migrations(&db)
        .await
        .expect("pending")
        .is_empty());
    let schema = SchemaManager::new(&db);
    for t in TABLES {
        assert!(
            schema.has_table(*t).await.expect("has_table"),
            "{t} exists after up"
        );
    }

    Migrator::down(&db, None).await.expect("down");
    for t in TABLES {
        assert!(
            !schema.has_table(*t).await.expect("has_table"),
            "{t} is gone after down"
        );
    }
    assert_eq!(
        Migrator::get_pending_migrations(&db)
            .await
            .expect("pending")
            .len(),
        Migrator::migrations().len()
    );

    Migrator::up(&db, None).await.expect("up again");
    assert!(Migrator::get_pending_migrations(&db)
        .await
        .expect("pending")
        .is_empty());
}

#[tokio::test]
async fn existing_reports_are_numbered_in_creation_order_and_new_ones_follow() {
    use sea_orm_migration::sea_orm::sea_query::{Alias, Query};
    let (db, _dir) = fresh_database().await;
    let before_case_numbers = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261205_000001_case_numbers")
        .expect("the case-number migration") as u32;
    Migrator::up(&db, Some(before_case_numbers))
        .await
        .expect("up to the migration before case numbers");
    let backend = db.get_database_backend();
    // Inserted out of order: the later report first. 1796401800000 = 2026-12-05 00:30 Shanghai.
    for (id, at) in [
        ("b", 1_796_401_800_000_i64 + 60_000),
        ("a", 1_796_401_800_000),
    ] {
        let insert = Query::insert()
            .into_table(Alias::new("reports"))
            .columns(
                [
                    "id",
                    "reporter_id",
                    "category",
                    "description",
                    "lat",
                    "lng",
                    "coord_input",
                    "urgency",
                    "status",
                    "grid_code",
                    "queue_code",
                    "queue_path",
                    "submitted_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                id.into(),
                "u".into(),
                "sanitation".into(),
                "d".into(),
                31.2.into(),
                121.4.into(),
                "gcj02".into(),
                "normal".into(),
                "submitted".into(),
                "G01".into(),
                "G01".into(),
                "/D01/G01/".into(),
                at.into(),
                at.into(),
            ])
            .to_owned();
        db.execute(backend.build(&insert))
            .await
            .expect("insert report");
    }
    Migrator::up(&db, None).await.expect("up");
    let numbers = db
        .query_all(
            backend.build(
                Query::select()
                    .columns([Alias::new("id"), Alias::new("case_no")])
                    .from(Alias::new("reports"))
                    .order_by(Alias::new("id"), sea_orm_migration::prelude::Order::Asc),
            ),
        )
        .await
        .expect("select");
    let got: Vec<(String, String)> = numbers
        .iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "case_no").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a".to_string(), "R20261205-00001".to_string()),
            ("b".to_string(), "R20261205-00002".to_string()),
        ]
    );
    // The counter moved past them: the next value is block 2 (numbers 21..=40).
    let mut next = Query::insert()
        .into_table(Alias::new("report_numbers"))
        .or_default_values()
        .to_owned();
    let id: i64 = if backend == sea_orm_migration::sea_orm::DbBackend::Postgres {
        next.returning_col(Alias::new("id"));
        let row = db.query_one(backend.build(&next)).await.unwrap().unwrap();
        i64::from(row.try_get::<i32>("", "id").unwrap())
    } else {
        db.execute(backend.build(&next))
            .await
            .unwrap()
            .last_insert_id() as i64
    };
    assert_eq!(id, 2);
}
