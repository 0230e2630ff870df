//! The database pool, on SQLite, PostgreSQL or MySQL/MariaDB alike.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
    Statement,
};

/// The migration that added the source and dispute counters to the dashboard rollups: it
/// leaves every own row stale, which the upkeep and the first reads then recount.
const ROLLUP_SOURCE_COUNTERS: &str = "m20261206_000002_rollup_source_counters";

/// Runs the pending migrations (the server at its start, `safegrid migrate`), and tells the
/// operator what one of them leaves to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use migration::MigratorTrait;
    let pending: Vec<String> = migration::Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    migration::Migrator::up(db, None).await?;
    // A new database has no rollup rows to catch up with.
    let had_rollups = || async {
        use sea_orm::EntityTrait;
        entity::dashboard_rollups::Entity::find()
            .one(db)
            .await
            .map(|row| row.is_some())
    };
    if pending.iter().any(|name| name == ROLLUP_SOURCE_COUNTERS) && had_rollups().await? {
        tracing::warn!(
            "the dashboard rollups gained the source and dispute counters: every rollup row is \
             stale until recounted, which the upkeep does in the background and each dashboard \
             read does for its own area first (slow reads until caught up); \
             `safegrid dashboard rebuild` does it all at once"
        );
    }
    Ok(())
}

/// Opens the pool for `url`.
///
/// SQLite gets one connection: its writers serialise anyway, and a single connection avoids
/// `database is locked` failures when two transactions race to upgrade to writers.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_pool(url, DEFAULT_POOL_SIZE).await
}

/// The default of `SAFEGRID_DATABASE_POOL_SIZE`.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Opens the pool for `url` with at most `size` connections (SQLite: always one).
///
/// Connections are not pinged before each use (`test_before_acquire(false)`): that ping is a
/// full round trip per query; a dead connection surfaces as an error on first use and sqlx
/// drops it from the pool.
pub async fn connect_pool(url: &str, size: u32) -> Result<DatabaseConnection, DbErr> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let sqlite = url.starts_with("sqlite:");
    let size = size.max(1);
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(if sqlite { 1 } else { size })
        .min_connections(if sqlite { 1 } else { size.min(2) })
        .test_before_acquire(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .await?;
    }
    Ok(db)
}

/// A cheap round trip for readiness checks.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.query_one(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await
    .map(|_| ())
}

/// True when the error means the database could not be reached (answer 503, retry later).
pub fn is_connection_error(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        other => {
            let text = other.to_string().to_ascii_lowercase();
            [
                // sqlx's display of every I/O failure, e.g. "… got 0 bytes at EOF" when the
                // server went away between two statements.
                "error communicating with database",
                "connection refused",
                "broken pipe",
                "connection reset",
                "pool timed out",
                "io error",
                "terminating connection",
            ]
            .iter()
            .any(|needle| text.contains(needle))
        }
    }
}

/// True when the error is a unique-constraint violation (someone else inserted first).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// One HTTP worker's own PostgreSQL connections, for the sessions of the requests that worker
/// serves (on SQLite and MySQL, sessions run on the shared pool).
///
/// Why a pool per worker: a socket is driven by the reactor of the runtime that opened it,
/// whoever reads it. actix-web runs each worker on a single-threaded runtime of its own, so a
/// connection of the shared pool opened by one worker (or by the background runtime) and used
/// by another makes every reply cross threads: the opener's reactor wakes, then wakes the
/// worker that waits (issue 21's profile: ~18 % of the server's CPU during submissions was
/// the background runtime's threads parking and waking). This pool is built on the worker's
/// thread (the app factory runs there) and connects lazily from the worker's own tasks, so
/// every reply is read by the thread that waits for it.
///
/// Why not sqlx's pool: it pings every connection it takes back (a Sync and its
/// ReadyForQuery, a round trip per request). Here a connection goes back as it is; the ping
/// guarded against a statement cut off mid-way (a request dropped while it waited), and a
/// session marks its connection for that instead: one whose statement did not finish, or
/// failed outside the database (I/O, protocol), is closed rather than reused. A statement's
/// unread tail (its ReadyForQuery) is read by the next statement on the connection (sqlx
/// waits until the connection is ready before it sends).
///
/// It holds at most `ceil(size / workers)` connections (at least 2) beside the shared pool's
/// `size`, opens none until a request needs one and closes one idle for 5 minutes when it
/// next comes up.
#[derive(Clone)]
pub struct WorkerPool {
    shared: DatabaseConnection,
    own: Option<deadpool::managed::Pool<PgManager>>,
}

/// How long a connection may sit unused in a worker's pool before it is closed.
const WORKER_IDLE: Duration = Duration::from_secs(300);

impl WorkerPool {
    /// Builds this thread's pool: call on the worker's own thread, inside its runtime.
    pub fn for_this_worker(shared: &DatabaseConnection, size: u32, workers: usize) -> WorkerPool {
        if shared.get_database_backend() != DbBackend::Postgres {
            return WorkerPool {
                shared: shared.clone(),
                own: None,
            };
        }
        let options = shared.get_postgres_connection_pool().connect_options();
        let per_worker = size.div_ceil(workers.max(1) as u32).max(2) as usize;
        let own = deadpool::managed::Pool::builder(PgManager {
            options: (*options).clone(),
        })
        .max_size(per_worker)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .expect("a pool with a runtime and timeouts builds");
        WorkerPool {
            shared: shared.clone(),
            own: Some(own),
        }
    }

    /// A session on this worker's connections (the shared pool off PostgreSQL).
    pub fn session(&self) -> Session<'_> {
        Session {
            pool: &self.shared,
            source: match &self.own {
                Some(own) => Source::Worker(own),
                None => Source::Shared,
            },
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// At most how many connections of its own this pool opens (none off PostgreSQL).
    pub fn capacity(&self) -> usize {
        self.own.as_ref().map_or(0, |own| own.status().max_size)
    }
}

/// Opens and vets a worker pool's connections.
pub struct PgManager {
    options: sea_orm::sqlx::postgres::PgConnectOptions,
}

/// A worker pool's connection, with what the session saw of its last statement.
pub struct WorkerConnection {
    conn: sea_orm::sqlx::PgConnection,
    /// A statement started and did not end with an answer from the database.
    interrupted: bool,
}

impl deadpool::managed::Manager for PgManager {
    type Type = WorkerConnection;
    type Error = sea_orm::sqlx::Error;

    async fn create(&self) -> Result<WorkerConnection, sea_orm::sqlx::Error> {
        use sea_orm::sqlx::ConnectOptions;
        Ok(WorkerConnection {
            conn: self.options.connect().await?,
            interrupted: false,
        })
    }

    async fn recycle(
        &self,
        conn: &mut WorkerConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<sea_orm::sqlx::Error> {
        if conn.interrupted {
            return Err(deadpool::managed::RecycleError::message(
                "a statement on it was cut off",
            ));
        }
        if metrics.last_used() > WORKER_IDLE {
            return Err(deadpool::managed::RecycleError::message("idle too long"));
        }
        Ok(())
    }
}

/// One pooled PostgreSQL connection held across a stretch of statements that belong together
/// (a submission's writes, a queue page's reads), released when the session is dropped.
///
/// Why: sqlx tests every connection on its way back to its pool with a ping (a Sync message
/// and its ReadyForQuery: a full round trip), so each statement run on the pool costs two
/// round trips. A submission ran four statements and a queue page five; on one session each
/// pays one checkout (issue 21: the yardstick checks out one connection per request), and a
/// [`WorkerPool`]'s session no ping at all.
///
/// The connection is taken at the first statement, so a session never used costs nothing.
/// Rules: hold a session only where every statement in its scope is visible, and never take a
/// second connection (a transaction, a call given the pool) while it holds one: a request
/// holding one connection while waiting for another can starve the pool under load. Call
/// [`Session::release`] first. MySQL and SQLite run each statement on the pool as before.
pub struct Session<'a> {
    pool: &'a DatabaseConnection,
    source: Source<'a>,
    held: tokio::sync::Mutex<Option<Held>>,
}

/// Where a session's connection comes from.
enum Source<'a> {
    /// The shared pool (`pool`).
    Shared,
    /// A worker's own.
    Worker(&'a deadpool::managed::Pool<PgManager>),
}

enum Held {
    Shared(PgPoolConnection),
    Worker(deadpool::managed::Object<PgManager>),
}

type PgPoolConnection = sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>;

impl<'a> Session<'a> {
    /// A session on the shared pool (a request's handler uses its worker's:
    /// [`WorkerPool::session`]).
    pub fn new(pool: &'a DatabaseConnection) -> Session<'a> {
        Session {
            pool,
            source: Source::Shared,
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// The pool behind the session, for what must not run on the held connection.
    pub fn pool(&self) -> &'a DatabaseConnection {
        self.pool
    }

    /// Returns the held connection to its pool now (the next statement takes one again).
    pub async fn release(&self) {
        self.held.lock().await.take();
    }

    fn pins(&self) -> bool {
        self.pool.get_database_backend() == DbBackend::Postgres
    }

    async fn with_connection<T>(
        &self,
        run: impl for<'c> FnOnce(
            &'c mut sea_orm::sqlx::PgConnection,
        ) -> futures_util::future::BoxFuture<'c, Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let mut held = self.held.lock().await;
        if held.is_none() {
            *held = Some(match self.source {
                Source::Shared => {
                    let pool = self.pool.get_postgres_connection_pool();
                    Held::Shared(pool.acquire().await.map_err(acquire_error)?)
                }
                Source::Worker(own) => Held::Worker(own.get().await.map_err(worker_error)?),
            });
        }
        match held.as_mut().expect("a connection was just taken") {
            // sqlx's pool pings it on the way back.
            Held::Shared(conn) => run(conn).await,
            Held::Worker(conn) => {
                // Stays set if this future is dropped before the statement ends.
                conn.interrupted = true;
                let result = run(&mut conn.conn).await;
                conn.interrupted = result.as_ref().is_err_and(|e| !answered(e));
                result
            }
        }
    }
}

/// Whether a failed statement got its answer from the database and the connection is still in
/// step (a constraint, a syntax error), as opposed to I/O or protocol trouble or the server
/// ending the connection ("terminating connection due to administrator command", sent as a
/// database error when PostgreSQL shuts down: the next statement on it would fail at EOF).
fn answered(e: &DbErr) -> bool {
    matches!(
        e,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
            sea_orm::sqlx::Error::Database(_)
        )) | DbErr::Query(sea_orm::RuntimeErr::SqlxError(
            sea_orm::sqlx::Error::Database(_)
        ))
    ) && !is_connection_error(e)
}

/// A worker pool's failed checkout, mapped as sea-orm maps sqlx's.
fn worker_error(e: deadpool::managed::PoolError<sea_orm::sqlx::Error>) -> DbErr {
    use deadpool::managed::PoolError;
    use sea_orm::ConnAcquireErr;
    match e {
        PoolError::Backend(e) => acquire_error(e),
        PoolError::Timeout(_) => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        PoolError::Closed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(sea_orm::RuntimeErr::Internal(other.to_string())),
    }
}

/// sea-orm's mapping of a failed checkout, so `is_connection_error` reads it the same way.
fn acquire_error(e: sea_orm::sqlx::Error) -> DbErr {
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    match e {
        sea_orm::sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sea_orm::sqlx::Error::PoolClosed => {
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
        }
        other => DbErr::Conn(RuntimeErr::SqlxError(other)),
    }
}

/// The statement's text with its values moved into sqlx's arguments (a submission binds 77:
/// taking them, not copying them).
fn bound(
    sql: &str,
    values: Option<sea_orm::Values>,
) -> sea_orm::sqlx::query::Query<'_, sea_orm::sqlx::Postgres, sea_query_binder::SqlxValues> {
    let values = values.unwrap_or(sea_orm::Values(Vec::new()));
    sea_orm::sqlx::query_with(sql, sea_query_binder::SqlxValues(values))
}

/// sea-orm's own mapping of a failed statement, so `sql_err()` reads it the same way.
fn exec_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
}

fn query_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
}

#[async_trait::async_trait]
impl ConnectionTrait for Session<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        if !self.pins() {
            return self.pool.execute(stmt).await;
        }
        self.with_connection(|conn| {
            Box::pin(async move {
                bound(&stmt.sql, stmt.values)
                    .execute(conn)
                    .await
                    .map(Into::into)
                    .map_err(exec_error)
            })
        })
        .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        if !self.pins() {
            return self.pool.execute_unprepared(sql).await;
        }
        let sql = sql.to_owned();
        self.with_connection(|conn| {
            Box::pin(async move {
                use sea_orm::sqlx::Executor;
                conn.execute(sql.as_str())
                    .await
                    .map(Into::into)
                    .map_err(exec_error)
            })
        })
        .await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        if !self.pins() {
            return self.pool.query_one(stmt).await;
        }
        self.with_connection(|conn| {
            Box::pin(async move {
                bound(&stmt.sql, stmt.values)
                    .fetch_optional(conn)
                    .await
                    .map(|row| row.map(Into::into))
                    .map_err(query_error)
            })
        })
        .await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        if !self.pins() {
            return self.pool.query_all(stmt).await;
        }
        self.with_connection(|conn| {
            Box::pin(async move {
                bound(&stmt.sql, stmt.values)
                    .fetch_all(conn)
                    .await
                    .map(|rows| rows.into_iter().map(Into::into).collect())
                    .map_err(query_error)
            })
        })
        .await
    }
}

/// Where plain statements go: straight to the pool, or onto a [`Session`]'s one connection.
/// `Copy`, so the case services' `Env` can carry it; it is `Pool` unless a handler opened a
/// session for the request (`Env::on`).
#[derive(Clone, Copy)]
pub enum Conn<'a> {
    Pool(&'a DatabaseConnection),
    Session(&'a Session<'a>),
}

impl Conn<'_> {
    /// Gives a session's held connection back to the pool (nothing to do for the pool): call
    /// before anything that takes a connection of its own or waits on something else.
    pub async fn release(&self) {
        if let Conn::Session(session) = self {
            session.release().await;
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Pool(db) => db.get_database_backend(),
            Conn::Session(s) => s.get_database_backend(),
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        match self {
            Conn::Pool(db) => db.execute(stmt).await,
            Conn::Session(s) => s.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        match self {
            Conn::Pool(db) => db.execute_unprepared(sql).await,
            Conn::Session(s) => s.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        match self {
            Conn::Pool(db) => db.query_one(stmt).await,
            Conn::Session(s) => s.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        match self {
            Conn::Pool(db) => db.query_all(stmt).await,
            Conn::Session(s) => s.query_all(stmt).await,
        }
    }
}
