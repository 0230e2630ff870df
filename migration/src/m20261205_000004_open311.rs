//! Open311 GeoReport v2 (DOMAIN.md §7): the partner clients and their keys (stored hashed,
//! shown once), the status updates they posted (idempotent by their `update_id`), and the
//! `media_url` a report filed through Open311 may carry (a link, never fetched).

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
                .table(t("open311_clients"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("name"), 100))
                .col(string_len(t("key_hash"), 64).unique_key())
                .col(string_len(t("owner_path"), 512))
                .col(boolean(t("active")).default(true))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(t("open311_updates"))
                .col(string_len(t("client_id"), 36))
                .col(string_len(t("update_id"), 100))
                .col(string_len(t("report_id"), 36))
                .col(string_len(t("status"), 16))
                .col(big_integer(t("created_at")))
                .primary_key(Index::create().col(t("client_id")).col(t("update_id")))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(t("reports"))
                .add_column(string_len_null(t("media_url"), 500))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(t("reports"))
                .drop_column(t("media_url"))
                .to_owned(),
        )
        .await?;
        for table in ["open311_updates", "open311_clients"] {
            m.drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
