//! Events: the outbox relay, the bus (Redis or in-process) and the SSE feed.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::grids::import_demo_tree;
use crate::helpers::{
    spawn_app, spawn_app_with, spawn_second_instance, test_redis_url, Session, TestApp,
};

/// One SSE frame: its `id:`, its JSON data, and the frame as sent.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: String,
    pub data: Value,
    pub raw: String,
}

/// Connects to the worker feed and forwards frames to a channel.
pub async fn connect(
    app: &TestApp,
    who: &Session,
    last_event_id: Option<&str>,
) -> mpsc::UnboundedReceiver<Frame> {
    let mut req = app
        .http
        .get(app.url("/api/v1/worker/events"))
        .bearer_auth(&who.access);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.send().await.expect("connect");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = res.bytes_stream();
        let mut buf = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).ok();
                    }
                }
                if let (Some(id), Some(data)) = (id, data) {
                    if tx
                        .send(Frame {
                            id,
                            data,
                            raw: block,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Frames that arrive within `wait`, stopping early once `want` have come.
pub async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Frame>,
    want: usize,
    wait: Duration,
) -> Vec<Frame> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while out.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(f)) => out.push(f),
            _ => break,
        }
    }
    out
}

async fn setup(app: &TestApp) -> (Session, Session) {
    import_demo_tree(app).await;
    let admin = app.admin("district", "D01").await;
    let worker = app.enrolled("openid-worker", "G01", "worker", &admin).await;
    let resident = app.login_wechat("openid-resident").await;
    (worker, resident)
}

#[tokio::test]
async fn a_new_report_reaches_the_grid_worker_live_and_no_one_else() {
    let app = spawn_app().await;
    let (worker, resident) = setup(&app).await;
    let admin = app.admin("district2", "D01").await;
    let other = app.enrolled("openid-other", "G05", "worker", &admin).await;
    let mut mine = connect(&app, &worker, None).await;
    let mut theirs = connect(&app, &other, None).await;
    let report = app.report_at(&resident, 31.205, 121.405).await;
    let frames = collect(&mut mine, 1, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].data["kind"], "report_submitted");
    assert_eq!(frames[0].data["subject_id"], report["id"]);
    assert!(collect(&mut theirs, 1, Duration::from_millis(500))
        .await
        .is_empty());
}

#[tokio::test]
async fn a_reconnecting_worker_gets_exactly_what_it_missed() {
    let app = spawn_app().await;
    let (worker, resident) = setup(&app).await;
    let mut rx = connect(&app, &worker, None).await;
    app.report_at(&resident, 31.205, 121.405).await;
    let first = collect(&mut rx, 1, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 1);
    drop(rx);
    let missed_a = app.report_at(&resident, 31.205, 121.405).await;
    let missed_b = app.report_at(&resident, 31.205, 121.405).await;
    // Let the relay publish them while nobody listens.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut again = connect(&app, &worker, Some(&first[0].id)).await;
    let frames = collect(&mut again, 3, Duration::from_secs(2)).await;
    let ids: Vec<&Value> = frames.iter().map(|f| &f.data["subject_id"]).collect();
    assert_eq!(ids, [&missed_a["id"], &missed_b["id"]]);
}

#[tokio::test]
async fn an_event_caused_on_one_instance_reaches_a_client_of_another() {
    let a = spawn_app().await;
    let (worker, resident) = setup(&a).await;
    if test_redis_url().is_none() {
        // Without Redis there is one process: the in-process bus carries the same behaviour.
        let mut rx = connect(&a, &worker, None).await;
        a.report_at(&resident, 31.205, 121.405).await;
        assert_eq!(collect(&mut rx, 1, Duration::from_secs(5)).await.len(), 1);
        return;
    }
    let b = spawn_second_instance(&a).await;
    b.state.router.refresh(&b.state.db, true).await.unwrap();
    let mut on_b = connect(&b, &worker, None).await;
    let report = a.report_at(&resident, 31.205, 121.405).await;
    let frames = collect(&mut on_b, 1, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].data["subject_id"], report["id"]);
}

/// A Redis server of this test's own on a free port, stopped when dropped.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some(OwnRedis { child, port })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_redis(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server on port {port} did not start");
}

#[tokio::test]
async fn reports_submitted_while_redis_is_down_arrive_exactly_once_after_it_returns() {
    let port = free_port();
    let Some(mut redis) = OwnRedis::start(port) else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server must be installed in CI"
        );
        eprintln!("redis-server is not installed; the Redis outage test needs it");
        return;
    };
    wait_for_redis(port).await;
    let app = spawn_app_with(vec![(
        "SAFEGRID_REDIS_URL",
        format!("redis://127.0.0.1:{port}/"),
    )])
    .await;
    let (worker, resident) = setup(&app).await;
    let mut rx = connect(&app, &worker, None).await;
    app.report_at(&resident, 31.205, 121.405).await;
    assert_eq!(collect(&mut rx, 1, Duration::from_secs(5)).await.len(), 1);

    redis.stop();
    let mut submitted = Vec::new();
    for _ in 0..3 {
        submitted.push(app.report_at(&resident, 31.205, 121.405).await["id"].clone());
    }
    assert!(collect(&mut rx, 1, Duration::from_millis(500))
        .await
        .is_empty());

    let _redis = OwnRedis::start(redis.port).expect("restart redis");
    wait_for_redis(port).await;
    let frames = collect(&mut rx, 4, Duration::from_secs(10)).await;
    let ids: Vec<Value> = frames
        .iter()
        .map(|f| f.data["subject_id"].clone())
        .collect();
    assert_eq!(ids, submitted, "each event exactly once, in order");
}

/// Submits an anonymous report at G01 as `who`; returns its id.
async fn anonymous_report(app: &TestApp, who: &Session) -> String {
    let res = app
        .post_json(
            "/api/v1/reports",
            Some(&who.access),
            &serde_json::json!({
                "category": "dispute",
                "description": "邻里噪音纠纷",
                "location": { "lat": 31.205, "lng": 121.405, "coord": "gcj02" },
                "anonymous": true,
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Takes `id` through accept, resolve and confirm.
async fn accept_resolve_confirm(app: &TestApp, worker: &Session, resident: &Session, id: &str) {
    for (who, body) in [
        (worker, serde_json::json!({ "action": "accept" })),
        (
            worker,
            serde_json::json!({ "action": "resolve", "note": "已调解" }),
        ),
        (resident, serde_json::json!({ "action": "confirm" })),
    ] {
        assert_eq!(app.act(who, id, body).await.status(), 200);
    }
}

fn assert_no_user(frames: &[Frame], user_id: &str) {
    for f in frames {
        assert!(f.data.get("notify_user").is_none(), "{}", f.raw);
        assert!(
            !f.raw.contains(user_id),
            "the reporter's id went out: {}",
            f.raw
        );
    }
}

#[tokio::test]
async fn a_workers_stream_never_carries_the_reporters_id_live_or_resumed() {
    let app = spawn_app().await;
    let (worker, resident) = setup(&app).await;
    let mut live = connect(&app, &worker, None).await;
    let id = anonymous_report(&app, &resident).await;
    let submitted = collect(&mut live, 1, Duration::from_secs(5)).await;
    assert_eq!(submitted.len(), 1);
    accept_resolve_confirm(&app, &worker, &resident, &id).await;
    let frames = collect(&mut live, 3, Duration::from_secs(5)).await;
    let kinds: Vec<&Value> = frames.iter().map(|f| &f.data["kind"]).collect();
    assert_eq!(
        kinds,
        ["report_accepted", "report_resolved", "report_closed"]
    );
    assert_no_user(&frames, &resident.user_id);

    // The backlog (Last-Event-ID) renders the same events from the streams.
    drop(live);
    let mut resumed = connect(&app, &worker, Some(&submitted[0].id)).await;
    let backlog = collect(&mut resumed, 3, Duration::from_secs(2)).await;
    assert_eq!(backlog.len(), 3);
    assert_no_user(&backlog, &resident.user_id);
}

#[tokio::test]
async fn an_event_has_the_documented_fields_and_its_time_in_rfc_3339_shanghai() {
    let app = spawn_app().await;
    let (worker, resident) = setup(&app).await;
    let mut rx = connect(&app, &worker, None).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let report = app.report_at(&resident, 31.205, 121.405).await;
    let frames = collect(&mut rx, 1, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1);
    let data = &frames[0].data;
    assert_eq!(data["case_no"], report["case_no"]);
    assert!(data["case_no"].as_str().is_some_and(|n| n.starts_with('R')));
    let at = data["at"].as_str().expect("`at` is a string");
    let at = chrono::DateTime::parse_from_rfc3339(at).expect("`at` is RFC 3339");
    assert_eq!(at.offset().local_minus_utc(), 8 * 3600, "Asia/Shanghai");
    assert!(at >= before && at <= chrono::Utc::now() + chrono::Duration::seconds(2));
    let mut fields: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "at",
            "case_no",
            "id",
            "kind",
            "queue_code",
            "status",
            "subject_id"
        ]
    );
}
