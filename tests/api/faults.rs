//! A dependency that fails under load: PostgreSQL restarted while residents submit reports.
//!
//! The test runs a PostgreSQL cluster of its own (initdb on a free port in a temp dir) and
//! never touches the machine's shared server. It needs PostgreSQL's server binaries; under
//! `CI=true` their absence is a failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::spawn_app_on_database;

/// A PostgreSQL cluster of this test's own, stopped and removed when dropped.
struct OwnPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres_user: bool,
    _dir: tempfile::TempDir,
}

impl OwnPostgres {
    /// Creates and starts a cluster; None when PostgreSQL's server binaries are absent.
    fn start() -> Option<OwnPostgres> {
        let bin = server_bindir()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        // initdb and postgres refuse to run as root: hand the directory to `postgres`.
        let as_postgres_user = is_root();
        if as_postgres_user {
            run(Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path()));
        }
        let pg = OwnPostgres {
            bin,
            data,
            port: free_port(),
            as_postgres_user,
            _dir: dir,
        };
        run(pg.command("initdb").arg("-D").arg(&pg.data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]));
        pg.start_server();
        Some(pg)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn start_server(&self) {
        let dir = self.data.parent().unwrap();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            dir.display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["start", "-w", "-o", &options, "-l"])
            .arg(dir.join("postgres.log")));
    }

    /// A fast shutdown: open connections are terminated mid-query, as in a failover.
    fn stop_server(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-w", "-m", "fast"]));
    }

    /// A server binary, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate"])
            .output();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn server_bindir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What one submission attempt got.
#[derive(Debug)]
enum Outcome {
    Created(String),
    Unavailable,
    // Read through Debug, in the failure message.
    Other(#[allow(dead_code)] String),
}

async fn submit(http: &reqwest::Client, url: &str, token: &str, key: &str) -> Outcome {
    let res = http
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .timeout(Duration::from_secs(15))
        .json(&json!({
            "category": "sanitation",
            "description": "楼道堆放杂物",
            "location": { "lat": 31.205, "lng": 121.405 },
        }))
        .send()
        .await;
    let res = match res {
        Ok(res) => res,
        Err(e) => return Outcome::Other(format!("no answer: {e}")),
    };
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match status {
        201 => Outcome::Created(body["id"].as_str().unwrap_or_default().to_string()),
        503 if body["code"] == "dependency_unavailable" => Outcome::Unavailable,
        _ => Outcome::Other(format!("{status} {body}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_loses_no_acknowledged_report() {
    let Some(pg) = OwnPostgres::start() else {
        assert!(
            std::env::var("CI").is_err(),
            "PostgreSQL's server binaries (initdb, pg_ctl) must be installed in CI"
        );
        eprintln!("PostgreSQL server binaries not found; the restart test needs them");
        return;
    };
    let admin = Database::connect(pg.url("postgres")).await.unwrap();
    admin
        .execute_unprepared("CREATE DATABASE safegrid")
        .await
        .unwrap();
    admin.close().await.ok();
    let app = spawn_app_on_database(pg.url("safegrid"), Vec::new()).await;
    import_demo_tree(&app).await;
    let resident = app.login_wechat("openid-restart").await;

    // Eight residents' phones keep submitting, each attempt with a key of its own.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..8 {
        let (http, url, token, stop) = (
            app.http.clone(),
            app.url("/api/v1/reports"),
            resident.access.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("c{client}-{n}");
                n += 1;
                let started = Instant::now();
                let outcome = submit(&http, &url, &token, &key).await;
                outcomes.push((key, outcome, started.elapsed()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.stop_server();
    // While the database is down, readiness names it.
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["details"]["failing"], json!(["database"]), "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start_server();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let mut attempts: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for client in clients {
        for (key, outcome, took) in client.await.unwrap() {
            slowest = slowest.max(took);
            attempts.insert(key, outcome);
        }
    }
    let others: Vec<_> = attempts
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Other(_)))
        .collect();
    assert!(
        others.is_empty(),
        "every answer is a 201 or a clean 503: {others:?}"
    );
    let unavailable = attempts
        .values()
        .filter(|o| matches!(o, Outcome::Unavailable))
        .count();
    assert!(unavailable > 0, "the outage was never seen: {attempts:?}");
    assert!(
        slowest < Duration::from_secs(10),
        "an answer took {slowest:?}: waits must stay bounded"
    );

    // The server recovered by itself: ready again, and new submissions succeed.
    let mut ready = false;
    for _ in 0..100 {
        if app.get("/readyz").await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness did not come back after PostgreSQL did");

    // Every acknowledged report is stored.
    let acknowledged: Vec<&String> = attempts
        .values()
        .filter_map(|o| match o {
            Outcome::Created(id) => Some(id),
            _ => None,
        })
        .collect();
    assert!(!acknowledged.is_empty());
    eprintln!(
        "{} attempts: {} acknowledged, {unavailable} answered 503; slowest answer {slowest:?}",
        attempts.len(),
        acknowledged.len()
    );
    let db = app.db().await;
    let stored: std::collections::HashSet<String> = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM reports",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "id").unwrap())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(*id), "acknowledged report {id} was lost");
    }

    // The phones retry what failed with the same keys: each key ends as exactly one report.
    for (key, outcome) in &attempts {
        if matches!(outcome, Outcome::Unavailable) {
            let retried = submit(
                &app.http,
                &app.url("/api/v1/reports"),
                &resident.access,
                key,
            )
            .await;
            assert!(matches!(retried, Outcome::Created(_)), "{key}: {retried:?}");
        }
    }
    let count = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM reports",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        count as usize,
        attempts.len(),
        "one report per key, no more, no less"
    );
    db.close().await.ok();
}
