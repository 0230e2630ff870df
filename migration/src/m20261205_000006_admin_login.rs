//! Strong admin login (DOMAIN.md §10): a password an operator set must be changed first;
//! failed logins are counted on the user row (shared by every instance on the database) and
//! lock the account for a while; a TOTP second factor (RFC 6238) with the last step used, so
//! a code cannot be replayed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// Columns added to `users`, one ALTER each (SQLite takes one change per ALTER).
fn added_columns() -> Vec<ColumnDef> {
    vec![
        boolean(t("must_change_password")).default(false).to_owned(),
        integer(t("failed_logins")).default(0).to_owned(),
        big_integer_null(t("locked_until")),
        // Base32 secrets: 20 random bytes are 32 characters.
        string_len_null(t("totp_secret"), 64),
        string_len_null(t("totp_pending_secret"), 64),
        big_integer_null(t("totp_last_step")),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in added_columns() {
            m.alter_table(
                Table::alter()
                    .table(t("users"))
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in added_columns().into_iter().rev() {
            let name = column.get_column_name();
            m.alter_table(
                Table::alter()
                    .table(t("users"))
                    .drop_column(t(&name))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
