//! The order of a rollup row's refreshes (issue 21): `refresh_seq` is the number the latest
//! refresh to start on the row took, `counted_seq` the number of the refresh whose count the
//! row holds. A refresh writes only a count newer than the row's, so of two refreshes that
//! overlapped the older one can no longer write last (see `safegrid::dashboard::rollup`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["refresh_seq", "counted_seq"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("dashboard_rollups"))
                    .add_column(big_integer(Alias::new(column)).default(0))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("dashboard_rollups"))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
