//! The SSE fan-out client of `benches/sse.sh` (`SSE_CLIENT=rust`): SSE_CLIENTS connections to
//! `GET /api/v1/worker/events`, spread over the instances in SSE_BASES (comma-separated), then
//! SSE_EVENTS reports submitted open-loop at SSE_RATE per second (each submission on its own
//! task, so a slow answer never delays the next one). Prints one JSON line: deliveries,
//! missing, duplicates, and submit-to-receipt latency percentiles.
//!
//! It exists because a Python client reading 1,000 sockets saturates near 28,000 frames/s,
//! far below the 200 reports/s × 1,000 clients the notification target speaks of.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

/// The subject id of a `report_submitted` data line, without decoding the whole JSON.
fn submitted_subject(line: &[u8]) -> Option<&str> {
    if !line.starts_with(b"data: ") {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    if !text.contains("\"report_submitted\"") {
        return None;
    }
    let start = text.find("\"subject_id\":\"")? + "\"subject_id\":\"".len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// Per client, every (subject id, arrival) in arrival order. Collected without hashing during
/// the run: the client shares two cores with the servers it measures, so it must stay cheap.
type Receipts = Arc<Vec<Mutex<Vec<(Box<str>, Duration)>>>>;

#[tokio::main]
async fn main() {
    let bases: Vec<String> = required("SSE_BASES")
        .split(',')
        .map(str::to_owned)
        .collect();
    let worker = required("SSE_TOKEN");
    let resident = required("SSE_RESIDENT");
    let body = std::fs::read(required("SSE_BODY")).expect("SSE_BODY is readable");
    let clients: usize = setting("SSE_CLIENTS", 1000);
    let events: usize = setting("SSE_EVENTS", 1000);
    let rate: f64 = setting("SSE_RATE", 200.0);
    let settle = Duration::from_secs_f64(setting("SSE_SETTLE", 5.0));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .expect("http client");
    let epoch = Instant::now();
    let receipts: Receipts = Arc::new((0..clients).map(|_| Mutex::default()).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for i in 0..clients {
        let (http, base, token) = (http.clone(), bases[i % bases.len()].clone(), worker.clone());
        let (receipts, connected) = (receipts.clone(), connected.clone());
        readers.push(tokio::spawn(async move {
            let res = http
                .get(format!("{base}/api/v1/worker/events"))
                .bearer_auth(token)
                .header("Accept", "text/event-stream")
                .send()
                .await
                .expect("connect");
            assert_eq!(res.status(), 200, "client {i}");
            let mut stream = res.bytes_stream();
            let mut pending: Vec<u8> = Vec::new();
            let mut counted = false;
            while let Some(Ok(chunk)) = stream.next().await {
                let at = epoch.elapsed();
                pending.extend_from_slice(&chunk);
                let mut start = 0;
                let mut got = receipts[i].lock().unwrap();
                while let Some(len) = pending[start..].iter().position(|&b| b == b'\n') {
                    let line = &pending[start..start + len];
                    start += len + 1;
                    if !counted && line.starts_with(b": connected") {
                        counted = true;
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(id) = submitted_subject(line) {
                        got.push((id.into(), at));
                    }
                }
                drop(got);
                pending.drain(..start);
            }
        }));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) < clients {
        assert!(
            Instant::now() < deadline,
            "only {}/{clients} clients connected",
            connected.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{clients} clients connected to {} instance(s)", bases.len());

    // Open loop: submission e starts at e / rate seconds, whatever the earlier ones are doing.
    let sent: Arc<Mutex<HashMap<String, Duration>>> = Arc::default();
    let begin = tokio::time::Instant::now();
    let mut submitters = Vec::new();
    for e in 0..events {
        tokio::time::sleep_until(begin + Duration::from_secs_f64(e as f64 / rate)).await;
        let (http, base, token, body, sent) = (
            http.clone(),
            bases[e % bases.len()].clone(),
            resident.clone(),
            body.clone(),
            sent.clone(),
        );
        submitters.push(tokio::spawn(async move {
            let at = epoch.elapsed();
            let res = http
                .post(format!("{base}/api/v1/reports"))
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .expect("submit");
            assert_eq!(res.status(), 201, "submit");
            let report: serde_json::Value = res.json().await.expect("report json");
            let id = report["id"].as_str().expect("report id").to_owned();
            sent.lock().unwrap().insert(id, at);
        }));
    }
    for s in submitters {
        s.await.expect("submitter");
    }
    let submit_span = begin.elapsed();
    tokio::time::sleep(settle).await;
    for r in &readers {
        r.abort();
    }

    let sent = sent.lock().unwrap();
    let (mut latencies, mut missing, mut duplicates) = (Vec::new(), 0usize, 0usize);
    for got in receipts.iter() {
        let mut by_id: HashMap<&str, Vec<Duration>> = HashMap::new();
        let list = got.lock().unwrap();
        for (id, at) in list.iter() {
            by_id.entry(id).or_default().push(*at);
        }
        let got = by_id;
        for (id, at) in sent.iter() {
            match got.get(id.as_str()) {
                None => missing += 1,
                Some(times) => {
                    duplicates += times.len() - 1;
                    latencies.push(times[0].saturating_sub(*at));
                }
            }
        }
        duplicates += got
            .iter()
            .filter(|(id, _)| !sent.contains_key(**id))
            .map(|(_, t)| t.len())
            .sum::<usize>();
    }
    latencies.sort();
    let pct = |q: f64| {
        latencies
            .get(((q * latencies.len() as f64) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "clients": clients,
            "instances": bases.len(),
            "events": sent.len(),
            "submit_rate_per_s": (sent.len() as f64 / submit_span.as_secs_f64() * 10.0).round() / 10.0,
            "deliveries": latencies.len(),
            "expected": clients * sent.len(),
            "missing": missing,
            "duplicates": duplicates,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": latencies.last().map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
        })
    );
}
