//! Micro-wishes: the fulfilment note on `wishes`, indexes for the wish wall and the
//! claimant's list, and `volunteer_requests` (self-registration an admin approves).

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
        // One column per ALTER: SQLite accepts nothing else.
        m.alter_table(
            Table::alter()
                .table(t("wishes"))
                .add_column(text_null(t("fulfil_note")))
                .to_owned(),
        )
        .await?;
        // The wall: published wishes, newest publication first.
        m.create_index(
            Index::create()
                .name("idx_wishes_published")
                .table(t("wishes"))
                .col(t("status"))
                .col(t("approved_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_wishes_claimant")
                .table(t("wishes"))
                .col(t("claimant_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_wishes_grid_status")
                .table(t("wishes"))
                .col(t("grid_code"))
                .col(t("status"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(t("volunteer_requests"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("user_id"), 36))
                .col(string_len(t("unit"), 200))
                .col(string_len(t("area_code"), 64))
                .col(string_len(t("area_path"), 512))
                // pending | approved
                .col(string_len(t("status"), 16))
                .col(string_len_null(t("decided_by"), 36))
                .col(big_integer_null(t("decided_at")))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_volunteer_requests_user")
                .table(t("volunteer_requests"))
                .col(t("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_volunteer_requests_area")
                .table(t("volunteer_requests"))
                .col(t("status"))
                .col(t("area_path"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(t("volunteer_requests")).to_owned())
            .await?;
        for name in [
            "idx_wishes_grid_status",
            "idx_wishes_claimant",
            "idx_wishes_published",
        ] {
            m.drop_index(Index::drop().name(name).table(t("wishes")).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(t("wishes"))
                .drop_column(t("fulfil_note"))
                .to_owned(),
        )
        .await
    }
}
