//! The audit trail (MLPS level 3, DOMAIN.md §10): an append-only table whose rows are chained
//! by hash once sealed, and the separated duties of `users.duty` (system, security, audit).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(t("audit_log"))
                .col(
                    ColumnDef::new(t("id"))
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(big_integer(t("at")))
                .col(string_len_null(t("actor_id"), 36))
                .col(string_len(t("actor_role"), 32))
                .col(string_len(t("action"), 64))
                .col(string_len_null(t("object"), 200))
                .col(string_len(t("result"), 16))
                .col(string_len_null(t("ip"), 64))
                .col(string_len_null(t("request_id"), 64))
                .col(text_null(t("detail")))
                .col(string_len_null(t("prev_hash"), 64))
                .col(string_len_null(t("hash"), 64))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_log_at")
                .table(t("audit_log"))
                .col(t("at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(t("users"))
                .add_column(string_len_null(t("duty"), 16))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(t("users"))
                .drop_column(t("duty"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(t("audit_log")).to_owned())
            .await?;
        Ok(())
    }
}
