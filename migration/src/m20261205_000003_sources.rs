//! Where cases come from (DOMAIN.md §9): every report records its `source`; a hotline order
//! or a device alarm its `external_ref` (unique: the same order or alarm again is the same
//! case); a worker's report the patrol it was found on; a hotline case the caller's phone.
//! Disputes keep their latest mediation and follow-up on the report (the timeline keeps
//! every one). Patrols and their check-ins; device integrations and their secrets.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// Columns added to `reports`, one ALTER each (SQLite takes one change per ALTER).
fn added_columns() -> Vec<ColumnDef> {
    vec![
        string_len(t("source"), 16).default("resident").to_owned(),
        string_len_null(t("external_ref"), 200),
        string_len_null(t("patrol_id"), 36),
        string_len_null(t("caller_phone"), 32),
        string_len_null(t("mediation_tier"), 16),
        string_len_null(t("mediation_outcome"), 16),
        big_integer_null(t("mediated_at")),
        big_integer_null(t("follow_up_due")),
        string_len_null(t("follow_up_result"), 16),
        big_integer_null(t("follow_up_at")),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in added_columns() {
            m.alter_table(
                Table::alter()
                    .table(t("reports"))
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        index(
            m,
            "reports",
            "idx_reports_external_ref",
            &["external_ref"],
            true,
        )
        .await?;
        index(
            m,
            "reports",
            "idx_reports_follow_up",
            &["follow_up_due"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(t("patrols"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("worker_id"), 36))
                .col(string_len(t("grid_code"), 64))
                .col(string_len(t("grid_path"), 512))
                .col(big_integer(t("started_at")))
                .col(big_integer_null(t("ended_at")))
                .col(integer(t("checkins")).default(0))
                .col(integer(t("outside")).default(0))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "patrols",
            "idx_patrols_grid",
            &["grid_code", "started_at"],
            false,
        )
        .await?;
        index(
            m,
            "patrols",
            "idx_patrols_path",
            &["grid_path", "started_at"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(t("patrol_checkins"))
                .col(string_len(t("patrol_id"), 36))
                .col(string_len(t("client_id"), 64))
                .col(double(t("lat")))
                .col(double(t("lng")))
                .col(big_integer(t("at")))
                .col(boolean(t("outside")).default(false))
                .col(big_integer(t("received_at")))
                .primary_key(Index::create().col(t("patrol_id")).col(t("client_id")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(t("integrations"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("name"), 100))
                .col(string_len(t("secret"), 128))
                .col(string_len(t("owner_path"), 512))
                .col(text(t("kind_map")))
                .col(boolean(t("active")).default(true))
                .col(big_integer(t("created_at")))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["integrations", "patrol_checkins", "patrols"] {
            m.drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        for name in ["idx_reports_follow_up", "idx_reports_external_ref"] {
            m.drop_index(Index::drop().name(name).table(t("reports")).to_owned())
                .await?;
        }
        for column in added_columns().into_iter().rev() {
            m.alter_table(
                Table::alter()
                    .table(t("reports"))
                    .drop_column(t(&column.get_column_name()))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

async fn index(
    m: &SchemaManager<'_>,
    table: &str,
    name: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(t(table));
    for col in cols {
        stmt.col(t(col));
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt.to_owned()).await
}
