//! The admin console's people screens: an invite can be revoked before it is used (the row
//! stays, so the team page and the audit trail still show it), and a volunteer application
//! can be rejected with a reason the applicant is told.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn added() -> Vec<(&'static str, ColumnDef)> {
    vec![
        ("invites", big_integer_null(t("revoked_at"))),
        ("invites", string_len_null(t("revoked_by"), 64)),
        (
            "volunteer_requests",
            string_len_null(t("decision_reason"), 500),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER per column: SQLite takes one change per ALTER.
        for (table, column) in added() {
            m.alter_table(Table::alter().table(t(table)).add_column(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in added().into_iter().rev() {
            let name = column.get_column_name();
            m.alter_table(
                Table::alter()
                    .table(t(table))
                    .drop_column(t(&name))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
