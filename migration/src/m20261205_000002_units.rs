//! Coordinated handling (DOMAIN.md §8): partner units, the areas they serve, their staff, and
//! each dispatch of a report to a unit (`report_units`, an assignment with its own states
//! beside the report's). Reports gain `lead_unit`, `supervised` and `return_count`; categories
//! name the unit kind that owns them, whether a grid worker may dispatch directly, and their
//! sign-for limit; invites may enrol unit staff.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// Columns added to existing tables, one ALTER each (SQLite takes one change per ALTER).
fn added_columns() -> Vec<(&'static str, ColumnDef)> {
    vec![
        ("reports", string_len_null(t("lead_unit"), 32)),
        (
            "reports",
            boolean(t("supervised")).default(false).to_owned(),
        ),
        ("reports", integer(t("return_count")).default(0).to_owned()),
        ("categories", string_len_null(t("owner_unit_kind"), 32)),
        (
            "categories",
            boolean(t("direct_dispatch")).default(false).to_owned(),
        ),
        ("categories", integer_null(t("sign_limit_hours"))),
        // A unit invite names its unit; its grid_code is '' (SQLite cannot relax NOT NULL
        // without rebuilding the table).
        ("invites", string_len_null(t("unit_code"), 32)),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(t("units"))
                .col(string_len(t("code"), 32).primary_key())
                .col(string_len(t("name"), 100))
                .col(string_len(t("kind"), 32))
                .col(boolean(t("active")).default(true))
                // The admin area that created it: admins at or above it manage the unit.
                .col(string_len(t("owner_path"), 512))
                .col(big_integer(t("created_at")))
                .col(big_integer(t("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(t("unit_areas"))
                .col(string_len(t("unit_code"), 32))
                .col(string_len(t("area_code"), 64))
                .col(string_len(t("area_path"), 512))
                .primary_key(Index::create().col(t("unit_code")).col(t("area_code")))
                .to_owned(),
        )
        .await?;
        index(m, "unit_areas", "idx_unit_areas_area", &["area_code"]).await?;
        m.create_table(
            Table::create()
                .table(t("unit_members"))
                .col(string_len(t("unit_code"), 32))
                .col(string_len(t("user_id"), 36))
                .col(string_len(t("role"), 16))
                .col(big_integer(t("created_at")))
                .primary_key(Index::create().col(t("unit_code")).col(t("user_id")))
                .to_owned(),
        )
        .await?;
        index(m, "unit_members", "idx_unit_members_user", &["user_id"]).await?;
        m.create_table(
            Table::create()
                .table(t("report_units"))
                .col(string_len(t("id"), 36).primary_key())
                .col(string_len(t("report_id"), 36))
                .col(string_len(t("unit_code"), 32))
                .col(string_len(t("role"), 8))
                .col(string_len(t("status"), 16))
                .col(string_len_null(t("instruction"), 2000))
                .col(string_len_null(t("dispatched_by"), 36))
                .col(big_integer(t("dispatched_at")))
                .col(big_integer(t("sign_deadline")))
                .col(big_integer(t("deadline")))
                .col(big_integer_null(t("signed_at")))
                .col(string_len_null(t("signed_by"), 36))
                .col(big_integer_null(t("returned_at")))
                .col(string_len_null(t("return_reason"), 500))
                .col(big_integer_null(t("resolved_at")))
                .col(big_integer(t("updated_at")))
                .to_owned(),
        )
        .await?;
        index(m, "report_units", "idx_report_units_report", &["report_id"]).await?;
        index(
            m,
            "report_units",
            "idx_report_units_unit",
            &["unit_code", "status", "dispatched_at"],
        )
        .await?;
        for (table, column) in added_columns() {
            m.alter_table(Table::alter().table(t(table)).add_column(column).to_owned())
                .await?;
        }
        index(m, "reports", "idx_reports_lead_unit", &["lead_unit"]).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_reports_lead_unit")
                .table(t("reports"))
                .to_owned(),
        )
        .await?;
        for (table, column) in added_columns().into_iter().rev() {
            let name = column.get_column_name();
            m.alter_table(
                Table::alter()
                    .table(t(table))
                    .drop_column(t(&name))
                    .to_owned(),
            )
            .await?;
        }
        for table in ["report_units", "unit_members", "unit_areas", "units"] {
            m.drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index(m: &SchemaManager<'_>, table: &str, name: &str, cols: &[&str]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(t(table));
    for col in cols {
        stmt.col(t(col));
    }
    m.create_index(stmt.to_owned()).await
}
