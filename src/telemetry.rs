//! Logs, request ids and Prometheus metrics.
//!
//! Every request gets an id (the caller's `X-Request-Id` when it is a sane token, else a new
//! one) that is echoed in the response header, attached to every log line of the request and
//! written into error bodies. Logs never carry query strings, bodies, tokens or phone numbers.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
    static PEER_IP: String;
}

/// The address the request being served came from (the TCP peer; behind a proxy, the
/// proxy), or "" outside a request. For the audit trail.
pub fn current_peer_ip() -> String {
    PEER_IP.try_with(Clone::clone).unwrap_or_default()
}

/// The id of the request being served on this task, or "" outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Installs the JSON log subscriber once per process (later calls are no-ops).
pub fn init_logging(filter: &str) {
    // actix logs every malformed request line from a client as an ERROR: client noise, not
    // ours, and it would drown real errors at 3 a.m.
    let filter = if filter.contains("actix_http") {
        filter.to_string()
    } else {
        format!("{filter},actix_http::h1::dispatcher=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .try_init();
}

/// The process's Prometheus metrics.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub events_published: IntCounter,
    pub events_delivered: IntCounter,
    pub notifications_sent: IntCounter,
    pub notifications_retried: IntCounter,
    pub notifications_dead: IntCounter,
    pub outbox_lag: IntGauge,
    /// Closed cases whose exact point, address and photos the retention job took.
    pub retention_cases: IntCounter,
    /// Photo files the retention job deleted.
    pub retention_photos: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "safegrid_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "safegrid_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric definition");
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric definition");
        let metrics = Metrics {
            registry,
            requests,
            latency,
            events_published: counter(
                "safegrid_events_published_total",
                "Outbox events published to the bus",
            ),
            events_delivered: counter(
                "safegrid_events_delivered_total",
                "Events written to live SSE clients",
            ),
            notifications_sent: counter(
                "safegrid_notifications_sent_total",
                "Subscribe messages sent",
            ),
            notifications_retried: counter(
                "safegrid_notifications_retried_total",
                "Subscribe message retries",
            ),
            notifications_dead: counter(
                "safegrid_notifications_dead_lettered_total",
                "Subscribe messages given up",
            ),
            outbox_lag: IntGauge::new("safegrid_outbox_lag", "Outbox rows not yet published")
                .expect("valid metric definition"),
            retention_cases: counter(
                "safegrid_retention_cases_total",
                "Closed cases reduced to their grid after the retention period",
            ),
            retention_photos: counter(
                "safegrid_retention_photos_deleted_total",
                "Photos of closed cases deleted after the retention period",
            ),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(metrics.requests.clone()),
            Box::new(metrics.latency.clone()),
            Box::new(metrics.events_published.clone()),
            Box::new(metrics.events_delivered.clone()),
            Box::new(metrics.notifications_sent.clone()),
            Box::new(metrics.notifications_retried.clone()),
            Box::new(metrics.notifications_dead.clone()),
            Box::new(metrics.outbox_lag.clone()),
            Box::new(metrics.retention_cases.clone()),
            Box::new(metrics.retention_photos.clone()),
        ];
        for c in collectors {
            metrics
                .registry
                .register(c)
                .expect("metric names are unique");
        }
        metrics
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        buf
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id_from(req: &ServiceRequest) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(crate::util::new_id)
}

/// Request id, access log and metrics for every request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id_from(&req);
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let result = REQUEST_ID
        .scope(id.clone(), PEER_IP.scope(peer, next.call(req)))
        .instrument(span.clone())
        .await;
    let mut res = match result {
        Ok(res) => res,
        Err(e) => return Err(e),
    };
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(m) = metrics {
        m.requests
            .with_label_values(&[&method, &route, &status.to_string()])
            .inc();
        m.latency
            .with_label_values(&[&method, &route])
            .observe(elapsed.as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    span.in_scope(|| {
        tracing::info!(%method, %route, status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request");
    });
    Ok(res)
}
