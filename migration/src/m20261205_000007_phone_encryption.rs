//! Encryption at rest of phone numbers (DOMAIN.md §10): `users.phone` and
//! `reports.caller_phone` hold ciphertexts (`v1:KID:NONCE:CT`, up to ~100 characters) instead
//! of numbers, so both widen to 255 on PostgreSQL and MySQL (SQLite does not enforce lengths);
//! a keyed hash of each number (`phone_hash`, `caller_phone_hash`: HMAC-SHA256, 64 hex) is what
//! lookups compare. The audit chain's hashes widen to 72 for the `sm3:` prefix of SM3 rows.
//!
//! Existing numbers are not converted here: the keys are the server's configuration, which
//! migrations do not read. The server encrypts every row still without a hash right after
//! migrating and before it binds its port (`compliance::keys::encrypt_plaintext`), so no
//! plaintext number survives a start; `safegrid keys rotate` does the same and more.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// `(table, encrypted column, hash column, index)`.
const PHONES: [(&str, &str, &str, &str); 2] = [
    ("users", "phone", "phone_hash", "idx_users_phone_hash"),
    (
        "reports",
        "caller_phone",
        "caller_phone_hash",
        "idx_reports_caller_phone_hash",
    ),
];

async fn widen(m: &SchemaManager<'_>, table: &str, column: ColumnDef) -> Result<(), DbErr> {
    if m.get_database_backend() == DbBackend::Sqlite {
        // SQLite cannot modify a column and never enforced its length.
        return Ok(());
    }
    m.alter_table(
        Table::alter()
            .table(t(table))
            .modify_column(column)
            .to_owned(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, column, hash, index) in PHONES {
            widen(m, table, string_len_null(t(column), 255)).await?;
            m.alter_table(
                Table::alter()
                    .table(t(table))
                    .add_column(string_len_null(t(hash), 64))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name(index)
                    .table(t(table))
                    .col(t(hash))
                    .to_owned(),
            )
            .await?;
        }
        for column in ["prev_hash", "hash"] {
            widen(m, "audit_log", string_len_null(t(column), 72)).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The widened columns stay wide: narrowing would fail on the ciphertexts they hold.
        for (table, _, hash, index) in PHONES {
            m.drop_index(Index::drop().name(index).table(t(table)).to_owned())
                .await?;
            m.alter_table(
                Table::alter()
                    .table(t(table))
                    .drop_column(t(hash))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
