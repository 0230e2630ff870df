//! `infra::db::Session`: a stretch of statements on one pooled connection, given back on
//! release or drop (issue 21: sqlx pings every connection it takes back, a round trip per
//! statement run on the pool).

use std::time::Duration;

use safegrid::infra::db::{connect_pool, is_unique_violation, Session, WorkerPool};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::fresh_database;

fn sql(backend: DbBackend, text: &str) -> Statement {
    Statement::from_string(backend, text)
}

#[tokio::test]
async fn a_session_holds_one_connection_until_it_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    // One connection in all, so "the pool has none left" is observable.
    let pool = connect_pool(&fresh_database(dir.path()).await, 1)
        .await
        .unwrap();
    let backend = pool.get_database_backend();
    let session = Session::new(&pool);
    if backend != DbBackend::Postgres {
        // MySQL and SQLite run each statement on the pool: nothing is held between them.
        let row = session
            .query_one(sql(backend, "SELECT 1 AS one"))
            .await
            .unwrap();
        assert!(row.is_some());
        let on_pool = pool
            .query_one(sql(backend, "SELECT 1 AS one"))
            .await
            .unwrap();
        assert!(on_pool.is_some());
        return;
    }
    // A temporary table lives on one connection: the second statement sees the first's.
    session
        .execute_unprepared("CREATE TEMPORARY TABLE held (id INT PRIMARY KEY)")
        .await
        .unwrap();
    session
        .execute(sql(backend, "INSERT INTO held VALUES (1)"))
        .await
        .unwrap();
    // A failed statement maps like sea-orm's own and leaves the connection usable.
    let clash = session
        .execute(sql(backend, "INSERT INTO held VALUES (1)"))
        .await
        .unwrap_err();
    assert!(is_unique_violation(&clash), "{clash}");
    let rows = session
        .query_all(sql(backend, "SELECT id FROM held"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);

    // While the session holds the only connection, the pool has none to give.
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        pool.query_one(sql(backend, "SELECT 1 AS one")),
    )
    .await;
    assert!(
        waited.is_err(),
        "the pool handed out the session's connection"
    );

    // Released, it goes back; the session takes one again at its next statement.
    session.release().await;
    let row = pool
        .query_one(sql(backend, "SELECT 1 AS one"))
        .await
        .unwrap();
    assert!(row.is_some());
    let again = session
        .query_one(sql(backend, "SELECT 2 AS two"))
        .await
        .unwrap();
    assert!(again.is_some());
    drop(session);
    // Dropped, the session gives its connection back too.
    let row = tokio::time::timeout(
        Duration::from_secs(5),
        pool.query_one(sql(backend, "SELECT 3 AS three")),
    )
    .await
    .expect("the dropped session's connection came back")
    .unwrap();
    assert!(row.is_some());
}

#[tokio::test]
async fn a_worker_pool_has_connections_of_its_own_on_postgres_only() {
    let dir = tempfile::tempdir().unwrap();
    let shared = connect_pool(&fresh_database(dir.path()).await, 1)
        .await
        .unwrap();
    let backend = shared.get_database_backend();
    let worker = WorkerPool::for_this_worker(&shared, 1, 1);
    if backend != DbBackend::Postgres {
        // SQLite keeps its one connection and MySQL its pool: the worker's pool is the shared
        // one, so a temporary table made through one is seen through the other.
        shared
            .execute_unprepared("CREATE TEMPORARY TABLE seen (id INT)")
            .await
            .unwrap();
        let rows = worker
            .db()
            .query_all(sql(backend, "SELECT id FROM seen"))
            .await
            .unwrap();
        assert!(rows.is_empty());
        return;
    }
    // The shared pool's only connection is held; the worker's pool still answers.
    let holder = Session::new(&shared);
    holder
        .query_one(sql(backend, "SELECT 1 AS one"))
        .await
        .unwrap();
    let answered = tokio::time::timeout(
        Duration::from_secs(2),
        Session::new(worker.db()).query_one(sql(backend, "SELECT 2 AS two")),
    )
    .await
    .expect("the worker's pool opened a connection of its own")
    .unwrap();
    assert!(answered.is_some());
    // The budget: the shared pool's size split across the workers, at least two each.
    let cap = |size, workers| {
        WorkerPool::for_this_worker(&shared, size, workers)
            .db()
            .get_postgres_connection_pool()
            .options()
            .get_max_connections()
    };
    assert_eq!(cap(16, 2), 8);
    assert_eq!(cap(16, 3), 6);
    assert_eq!(cap(1, 4), 2);
}
