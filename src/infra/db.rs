//! The database pool, on SQLite, PostgreSQL or MySQL/MariaDB alike.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
    Statement,
};

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
