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
        // SQLite keeps its one connection and MySQL its pool: a worker's sessions run on the
        // shared pool, so a temporary table made through one is seen through the other.
        assert_eq!(worker.capacity(), 0);
        shared
            .execute_unprepared("CREATE TEMPORARY TABLE seen (id INT)")
            .await
            .unwrap();
        let rows = worker
            .session()
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
        worker.session().query_one(sql(backend, "SELECT 2 AS two")),
    )
    .await
    .expect("the worker's pool opened a connection of its own")
    .unwrap();
    assert!(answered.is_some());
    // The budget: the shared pool's size split across the workers, at least two each.
    let cap = |size, workers| WorkerPool::for_this_worker(&shared, size, workers).capacity();
    assert_eq!(cap(16, 2), 8);
    assert_eq!(cap(16, 3), 6);
    assert_eq!(cap(1, 4), 2);
}

async fn backend_pid(session: &Session<'_>) -> i32 {
    let row = session
        .query_one(sql(DbBackend::Postgres, "SELECT pg_backend_pid() AS pid"))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "pid").unwrap()
}

/// A worker pool takes its connections back without sqlx's ping; what the ping guarded
/// against, a statement cut off mid-way, closes the connection instead of reusing it.
#[tokio::test]
async fn a_worker_pool_reuses_a_clean_connection_and_closes_a_cut_off_one() {
    let dir = tempfile::tempdir().unwrap();
    let shared = connect_pool(&fresh_database(dir.path()).await, 1)
        .await
        .unwrap();
    if shared.get_database_backend() != DbBackend::Postgres {
        return; // no worker pools off PostgreSQL (the test above)
    }
    let worker = WorkerPool::for_this_worker(&shared, 1, 1);

    // Released clean, after a failed statement answered by the database too, the next session
    // gets the same connection and it is in step.
    let first = worker.session();
    let pid = backend_pid(&first).await;
    let clash = first
        .execute(sql(DbBackend::Postgres, "SELECT 1 / 0"))
        .await
        .unwrap_err();
    assert!(clash.to_string().contains("division by zero"), "{clash}");
    // A row read with the statement's tail (CommandComplete, ReadyForQuery) still unread.
    first
        .query_one(sql(
            DbBackend::Postgres,
            "SELECT generate_series(1, 3) AS n",
        ))
        .await
        .unwrap();
    drop(first);
    let second = worker.session();
    assert_eq!(
        backend_pid(&second).await,
        pid,
        "the clean connection was reused"
    );

    // Cut off mid-statement (the request went away while it waited): not reused.
    let cut = tokio::time::timeout(
        Duration::from_millis(100),
        second.query_one(sql(DbBackend::Postgres, "SELECT pg_sleep(2) AS slept")),
    )
    .await;
    assert!(cut.is_err(), "the statement was cut off");
    drop(second);
    let third = worker.session();
    let fresh = backend_pid(&third).await;
    assert_ne!(fresh, pid, "a cut-off connection came back into use");
    // And the fresh one works like any other.
    let row = third
        .query_one(sql(DbBackend::Postgres, "SELECT 40 + 2 AS answer"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i32>("", "answer").unwrap(), 42);
}
