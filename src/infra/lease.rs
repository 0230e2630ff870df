//! Leases in the `job_leases` table: work that must run on one instance at a time (the
//! outbox relay, the once-across-instances jobs) takes one, so several instances on one
//! database behave as one system.

use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

/// Tries to hold the lease `name` for `ttl`; true when this instance holds it now.
pub async fn acquire(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, sea_orm::DbErr> {
    use entity::job_leases as l;
    let now = crate::util::now_ms();
    let until = now + ttl.as_millis() as i64;
    // Create the row if it has never existed; a conflict means someone created it first.
    l::Entity::insert(l::ActiveModel {
        name: Set(name.into()),
        holder: Set(String::new()),
        expires_at: Set(0),
    })
    // A no-op update rather than DO NOTHING, which sea-query renders invalid for MySQL.
    .on_conflict(
        OnConflict::column(l::Column::Name)
            .update_column(l::Column::Name)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let won = l::Entity::update_many()
        .col_expr(l::Column::Holder, Expr::value(holder))
        .col_expr(l::Column::ExpiresAt, Expr::value(until))
        .filter(l::Column::Name.eq(name))
        .filter(
            l::Column::ExpiresAt
                .lt(now)
                .or(l::Column::Holder.eq(holder)),
        )
        .exec(db)
        .await?
        .rows_affected;
    Ok(won == 1)
}
