//! `GET /worker/events`: Server-Sent Events for a worker's grids (and an admin's area).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix_web::{get, web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::bus::{sse_frame, StreamId};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const HEARTBEAT: Duration = Duration::from_secs(15);
/// The most a connection gathers into one write when it has fallen behind.
const MAX_WRITE: usize = 64 * 1024;

#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// The same as the `Last-Event-ID` header, for clients that cannot set headers.
    pub last_event_id: Option<String>,
}

/// Live queue events for the caller's grids (workers), area (admins) or units (unit staff). Resumes after the
/// `Last-Event-ID` it is given, so a phone that lost signal gets what it missed.
#[utoipa::path(tag = "notifications", params(EventsQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = super::event::ClientEvent), (status = 403, body = crate::error::ErrorBody)))]
#[get("/worker/events")]
async fn events(
    state: web::Data<AppState>,
    who: Principal,
    req: HttpRequest,
    q: web::Query<EventsQuery>,
) -> ApiResult<HttpResponse> {
    let mut topics: Vec<String> = who.worker_grids().map(str::to_owned).collect();
    if let Some(area) = &who.admin_area {
        topics.push(area.code.clone());
    }
    topics.extend(who.unit_codes().map(super::event::unit_topic));
    if topics.is_empty() {
        return Err(ApiError::forbidden());
    }
    let last = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| q.last_event_id.clone())
        .and_then(|s| StreamId::parse(&s));
    // Subscribe before reading history so nothing falls between the two.
    let mut live = state.bus.subscribe();
    let backlog = match last {
        Some(after) => state
            .bus
            .history(&topics, after, 1_000)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "event history unavailable");
                ApiError::unavailable("the event stream")
            })?,
        None => Vec::new(),
    };
    let metrics = state.metrics.clone();
    let wanted: HashSet<String> = topics.into_iter().collect();
    let stream = async_stream::stream! {
        // Per topic, the last position sent from the backlog: the live channel may repeat
        // what the backlog already held (it was subscribed first), never anything older,
        // because each topic's landings are announced in stream order.
        let mut sent_up_to: HashMap<String, StreamId> = HashMap::new();
        yield Ok::<Bytes, actix_web::Error>(Bytes::from_static(b": connected\nretry: 3000\n\n"));
        for d in backlog {
            let high = sent_up_to.entry(d.topic.clone()).or_default();
            *high = (*high).max(d.position);
            metrics.events_delivered.inc();
            yield Ok(sse_frame(&d));
        }
        // One timer per connection, not one per event: every 15 s whatever the traffic.
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = live.recv() => match msg {
                    Ok(event) => {
                        // Everything already waiting goes out in one write: under load a
                        // connection catches up with one syscall instead of one per event.
                        let mut batch = BytesMut::new();
                        let mut next = Some(event);
                        while let Some(event) = next.take() {
                            for p in &event.placements {
                                if !wanted.contains(&p.topic)
                                    || sent_up_to.get(&p.topic).is_some_and(|high| p.position <= *high)
                                {
                                    continue;
                                }
                                metrics.events_delivered.inc();
                                batch.extend_from_slice(&p.frame);
                            }
                            if batch.len() < MAX_WRITE {
                                next = live.try_recv().ok();
                            }
                        }
                        if !batch.is_empty() {
                            yield Ok(batch.freeze());
                        }
                    }
                    // Too slow to keep up: the client reconnects with Last-Event-ID.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
                },
                _ = heartbeat.tick() => {
                    yield Ok(Bytes::from_static(b": heartbeat\n\n"));
                }
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(events).service(dead_letters);
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: i32,
    pub kind: String,
    pub error: String,
    pub attempts: i32,
    pub created_at: String,
}

/// Notifications that could not be delivered, newest first (admins).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses((status = 200, body = Vec<DeadLetter>), (status = 403, body = crate::error::ErrorBody)))]
#[get("/admin/dead-letters")]
async fn dead_letters(
    state: web::Data<AppState>,
    who: Principal,
) -> ApiResult<web::Json<Vec<DeadLetter>>> {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let rows = entity::dead_letters::Entity::find()
        .order_by_desc(entity::dead_letters::Column::Id)
        .limit(100)
        .all(&state.db)
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| DeadLetter {
                id: r.id,
                kind: r.kind,
                error: r.error,
                attempts: r.attempts,
                created_at: crate::util::rfc3339(r.created_at),
            })
            .collect(),
    ))
}
