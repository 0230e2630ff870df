//! The source and dispute counters in the rollups (issue 21): every dashboard read counted
//! them from the raw reports of its area and period, 0.17 s for a district's month and 0.42 s
//! for its year, when the rollups answer the rest in a few milliseconds. They are additive
//! like every other counter (see `safegrid::dashboard::metrics::COUNTERS`).
//!
//! The new columns start at 0, so every own (`g`) row is marked stale: the upkeep and the
//! first reads recount them, and each recount moves the day and month rows above by its
//! difference, which fills them in too. `safegrid dashboard rebuild` does it all at once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 11] = [
    "from_resident",
    "from_patrol",
    "from_visit",
    "from_hotline",
    "from_device",
    "from_open311",
    "resolved_on_site",
    "mediated",
    "mediation_agreed",
    "follow_ups_due",
    "follow_ups_on_time",
];

fn rollups() -> Alias {
    Alias::new("dashboard_rollups")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(rollups())
                    .add_column(big_integer(Alias::new(column)).default(0))
                    .to_owned(),
            )
            .await?;
        }
        let stale = Query::update()
            .table(rollups())
            .value(Alias::new("next_deadline"), 0i64)
            .and_where(Expr::col(Alias::new("grain")).eq("g"))
            .to_owned();
        m.get_connection()
            .execute(m.get_database_backend().build(&stale))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(rollups())
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
