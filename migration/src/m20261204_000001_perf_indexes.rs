//! Indexes tuned by the load benchmark (BENCHMARKS.md, issue 9).
//!
//! - The duplicate-nearby check on submit filters category, open status and a latitude band;
//!   `(category, submitted_at)` made it walk a week of the category's reports. It becomes
//!   `(category, status, lat)`, which reaches the open reports of the band directly.
//! - The outbox's pending index covered every row ever published, and each publish rewrote its
//!   key. On PostgreSQL and SQLite it becomes partial (`WHERE published_at IS NULL`): only the
//!   few pending rows, so the relay's scan and the submit's insert stay small. MySQL/MariaDB
//!   has no partial indexes and keeps `(published_at, id)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

async fn drop_index(m: &SchemaManager<'_>, table: &str, name: &str) -> Result<(), DbErr> {
    m.drop_index(Index::drop().name(name).table(t(table)).to_owned())
        .await
}

async fn create_index(
    m: &SchemaManager<'_>,
    table: &str,
    name: &str,
    cols: &[&str],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(t(table));
    for col in cols {
        stmt.col(t(col));
    }
    m.create_index(stmt.to_owned()).await
}

fn partial_indexes(m: &SchemaManager<'_>) -> bool {
    m.get_database_backend() != DbBackend::MySql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, "reports", "idx_reports_dupe").await?;
        create_index(
            m,
            "reports",
            "idx_reports_nearby",
            &["category", "status", "lat"],
        )
        .await?;
        if partial_indexes(m) {
            drop_index(m, "outbox", "idx_outbox_pending").await?;
            m.get_connection()
                .execute_unprepared(
                    "CREATE INDEX idx_outbox_pending ON outbox (id) WHERE published_at IS NULL",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if partial_indexes(m) {
            drop_index(m, "outbox", "idx_outbox_pending").await?;
            create_index(m, "outbox", "idx_outbox_pending", &["published_at", "id"]).await?;
        }
        drop_index(m, "reports", "idx_reports_nearby").await?;
        create_index(
            m,
            "reports",
            "idx_reports_dupe",
            &["category", "submitted_at"],
        )
        .await
    }
}
