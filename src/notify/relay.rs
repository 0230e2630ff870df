//! The outbox relay: publishes committed outbox rows to the bus in id order and marks them.
//! One instance relays at a time (a lease); if the bus is down the rows wait, and nothing a
//! request did is lost. Appends are idempotent, so a crash between publish and mark only
//! repeats work, never events.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::outbox::Event;
use crate::state::AppState;
use entity::outbox;

const BATCH: u64 = 200;

/// Publishes one batch; returns how many rows went out.
pub async fn relay_once(state: &AppState) -> Result<usize, String> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(BATCH)
        .all(&state.db)
        .await
        .map_err(|e| e.to_string())?;
    let mut published = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in &rows {
        let mut event: Event = match serde_json::from_str(&row.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(outbox_id = row.id, error = %e, "unreadable outbox row skipped");
                published.push(row.id);
                continue;
            }
        };
        event.id = i64::from(row.id);
        if let Err(e) = state.bus.publish(&event).await {
            failure = Some(e);
            break;
        }
        let mut queued = Ok(());
        for job in super::subscribe::jobs_for(state, &event).await {
            queued = state.notify_jobs.enqueue(&job).await;
            if queued.is_err() {
                break;
            }
        }
        if let Err(e) = queued {
            failure = Some(e);
            break;
        }
        state.metrics.events_published.inc();
        published.push(row.id);
    }
    if !published.is_empty() {
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::PublishedAt,
                Expr::value(crate::util::now_ms()),
            )
            .filter(outbox::Column::Id.is_in(published.clone()))
            .exec(&state.db)
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Ok(lag) = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(&state.db)
        .await
    {
        state.metrics.outbox_lag.set(lag as i64);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(published.len()),
    }
}

/// The relay loop: wakes on a local nudge (a commit on this instance) or every 50 ms.
pub async fn run(state: actix_web::web::Data<AppState>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        tokio::select! {
            _ = state.relay_nudge.notified() => {}
            _ = tokio::time::sleep(backoff) => {}
        }
        let holder = state.instance_id.clone();
        match crate::jobs::acquire_lease(&state.db, "outbox_relay", &holder, Duration::from_secs(5))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                backoff = Duration::from_millis(500);
                continue;
            }
            Err(_) => {
                backoff = Duration::from_secs(1);
                continue;
            }
        }
        loop {
            match relay_once(&state).await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {
                    backoff = Duration::from_millis(50);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay paused: the bus is unavailable");
                    backoff = Duration::from_millis(500);
                    break;
                }
            }
        }
    }
}
