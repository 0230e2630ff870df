//! The load driver of the realistic mix (issue 21): oha sends one body with one token, this
//! sends a list of them round robin — `[{"token": "…", "body": {…}}, …]`, as `safegrid
//! bench-data --tokens` writes under `mix` — over keep-alive HTTP/1.1 connections, closed loop
//! (as fast as answers come) or open loop (`-q RATE`: each request has its due time and its
//! latency counts from then, so a stalled server cannot hide its queue). It prints oha's JSON
//! shape (summary.requestsPerSec, latencyPercentiles, statusCodeDistribution,
//! errorDistribution) so benches/load_report.py reads both alike.
//!
//!     mix URL REQUESTS.json -c 64 -s 10 [-q 400]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    url: String,
    requests: String,
    connections: usize,
    seconds: f64,
    rate: Option<f64>,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        url: String::new(),
        requests: String::new(),
        connections: 64,
        seconds: 10.0,
        rate: None,
    };
    let mut positional = Vec::new();
    while let Some(x) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match x.as_str() {
            "-c" => a.connections = value().parse().expect("-c N"),
            "-s" => a.seconds = value().parse().expect("-s SECONDS"),
            "-q" => a.rate = Some(value().parse().expect("-q RATE")),
            _ => positional.push(x),
        }
    }
    assert!(
        positional.len() == 2,
        "usage: mix URL REQUESTS.json [-c N] [-s S] [-q RATE]"
    );
    a.url = positional[0].clone();
    a.requests = positional[1].clone();
    a
}

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    statuses: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let rest = a.url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&a.requests).expect("the requests file"))
            .expect("a JSON list");
    assert!(!list.is_empty(), "no requests in {}", a.requests);
    let wire: Arc<Vec<Vec<u8>>> = Arc::new(
        list.iter()
            .map(|r| {
                let body = serde_json::to_vec(&r["body"]).expect("a body");
                let token = r["token"].as_str().expect("a token");
                let mut req = format!(
                    "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                req.extend_from_slice(&body);
                req
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(a.seconds);
    let mut tasks = Vec::new();
    for conn in 0..a.connections {
        let (wire, next, tally, host) =
            (wire.clone(), next.clone(), tally.clone(), host.to_string());
        let (rate, conns) = (a.rate, a.connections);
        tasks.push(tokio::spawn(async move {
            let mut local = Tally::default();
            let mut stream: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut k = 0usize;
            loop {
                // Open loop: this connection's k-th request is due at (k·C + conn) / rate.
                let due = match rate {
                    Some(r) => start + Duration::from_secs_f64((k * conns + conn) as f64 / r),
                    None => Instant::now(),
                };
                if due >= stop {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                k += 1;
                let i = next.fetch_add(1, Ordering::Relaxed) % wire.len();
                if stream.is_none() {
                    match TcpStream::connect(&host).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            stream = Some(s)
                        }
                        Err(e) => {
                            *local.errors.entry(e.to_string()).or_default() += 1;
                            continue;
                        }
                    }
                }
                let s = stream.as_mut().expect("connected");
                match exchange(s, &wire[i], &mut buf).await {
                    Ok(status) => {
                        local.latencies.push(due.elapsed().as_secs_f64());
                        *local.statuses.entry(status.to_string()).or_default() += 1;
                    }
                    Err(e) => {
                        *local.errors.entry(e).or_default() += 1;
                        stream = None;
                    }
                }
            }
            let mut t = tally.lock().expect("tally");
            t.latencies.extend(local.latencies);
            for (k, v) in local.statuses {
                *t.statuses.entry(k).or_default() += v;
            }
            for (k, v) in local.errors {
                *t.errors.entry(k).or_default() += v;
            }
        }));
    }
    for t in tasks {
        t.await.expect("a connection task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *tally.lock().expect("tally"));
    t.latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> Option<f64> {
        (!t.latencies.is_empty())
            .then(|| t.latencies[((t.latencies.len() - 1) as f64 * p).round() as usize])
    };
    let doc = serde_json::json!({
        "summary": {
            "requestsPerSec": t.latencies.len() as f64 / elapsed,
            "total": elapsed,
        },
        "latencyPercentiles": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99) },
        "statusCodeDistribution": t.statuses,
        "errorDistribution": t.errors,
    });
    println!("{doc}");
}

/// Sends one request and reads its answer (Content-Length or chunked); the status code.
async fn exchange(s: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Result<u16, String> {
    s.write_all(request).await.map_err(|e| e.to_string())?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status line")?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &buf[head_end..];
        let done = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => true,
        };
        if done {
            return Ok(status);
        }
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
