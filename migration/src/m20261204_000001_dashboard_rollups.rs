//! Dashboard rollups: counters and duration histograms per area × grain × day × category,
//! kept exact by the dashboard module and rebuilt from the raw tables on demand.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// The counters, in the order of `safegrid::dashboard::metrics::Counts`.
pub const COUNTERS: &[&str] = &[
    "submitted",
    "accepted",
    "handled",
    "closed",
    "closed_on_time",
    "closed_late",
    "open",
    "open_overdue",
    "reworked",
    "rated",
    "satisfied",
];

/// Buckets of each duration histogram (see `safegrid::dashboard::histogram`).
pub const BUCKETS: usize = 40;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(t("dashboard_rollups"))
            // A grid (or the area a report fell in when it was in no grid).
            .col(string_len(t("area_code"), 64))
            // g: the area's own reports, recomputed from raw; d: subtree by day;
            // m: subtree by month (category '').
            .col(string_len(t("grain"), 1))
            // Asia/Shanghai day YYYY-MM-DD (first day of the month for grain m).
            .col(string_len(t("day"), 10))
            .col(string_len(t("category"), 64))
            .col(string_len(t("parent_code"), 64).default(""))
            .col(string_len(t("area_level"), 16).default(""))
            .col(string_len(t("area_path"), 512).default(""))
            // Grain g: the earliest deadline of an open report still within its limit;
            // the row's overdue figures change when the clock passes it.
            .col(big_integer_null(t("next_deadline")))
            .col(big_integer(t("refreshed_at")).default(0))
            .primary_key(
                Index::create()
                    .col(t("area_code"))
                    .col(t("grain"))
                    .col(t("day"))
                    .col(t("category")),
            );
        for c in COUNTERS {
            table.col(big_integer(t(c)).default(0));
        }
        for h in ["ta", "tc"] {
            for i in 0..BUCKETS {
                table.col(big_integer(t(&format!("{h}_{i:02}"))).default(0));
            }
        }
        m.create_table(table.to_owned()).await?;
        for (name, cols) in [
            ("idx_rollups_stale", &["grain", "next_deadline"][..]),
            ("idx_rollups_parent", &["grain", "parent_code", "day"][..]),
            (
                "idx_rollups_path",
                &["grain", "area_level", "area_path", "day"][..],
            ),
        ] {
            let mut stmt = Index::create();
            stmt.name(name).table(t("dashboard_rollups"));
            for c in cols {
                stmt.col(t(c));
            }
            m.create_index(stmt.to_owned()).await?;
        }
        // The dashboard counts wishes straight from their table, by cohort.
        m.create_index(
            Index::create()
                .name("idx_wishes_path_time")
                .table(t("wishes"))
                .col(t("queue_path"))
                .col(t("submitted_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_wishes_path_time")
                .table(t("wishes"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(t("dashboard_rollups")).to_owned())
            .await
    }
}
