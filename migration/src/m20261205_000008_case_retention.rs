//! Retention of closed cases (DOMAIN.md §10, PIPL art. 19): `reports.retained_at` marks a
//! closed case whose exact point was replaced by its grid's centroid, whose address was cleared
//! and whose photos were deleted, so the daily job passes it by from then on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("reports"))
                .add_column(big_integer_null(Alias::new("retained_at")))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("reports"))
                .drop_column(Alias::new("retained_at"))
                .to_owned(),
        )
        .await
    }
}
