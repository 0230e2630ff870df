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
            let name = format!("t_mig_{nanos}_{}", std::process::id());
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
