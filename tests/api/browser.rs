//! A headless Chromium driven over the DevTools protocol (Debian's chromium; no driver
//! download), shared by the page tests: launch, evaluate, wait, screenshot.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const CHROMIUM: &str = "/usr/bin/chromium";

/// None when the browser is missing here (a loud skip), a failure under CI=true.
pub fn chromium() -> Option<&'static str> {
    if std::path::Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{CHROMIUM} is missing and CI=true: install it (apt-get install chromium)");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPING the admin page browser test: {CHROMIUM} is not installed \
         (apt-get install -y chromium). It fails instead under CI=true. !!!!!!!!\n"
    );
    None
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A DevTools session attached to one page.
pub struct Browser {
    /// Events the page sent (with `Network.enable`: every request it made).
    pub events: Vec<Value>,
    ws: Ws,
    next_id: u64,
    session: String,
    _process: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn launch(binary: &str) -> Browser {
        Browser::launch_with(binary, &[]).await
    }

    /// With extra command-line flags (e.g. a host resolver that refuses every other host).
    pub async fn launch_with(binary: &str, extra: &[&str]) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut process = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=1280,2000",
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        let stderr = process.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("chromium output") {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("chromium exited without a DevTools endpoint");
        })
        .await
        .expect("chromium announces its DevTools endpoint");
        // Keep draining chromium's stderr so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("DevTools websocket");
        let mut b = Browser {
            events: Vec::new(),
            ws,
            next_id: 0,
            session: String::new(),
            _process: process,
            _profile: profile,
        };
        let target = b
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = b
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        b.session = attached["sessionId"].as_str().expect("session").into();
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 1800, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        b
    }

    /// Sends one command (to the page once attached) and waits for its answer.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer"))
                .expect("open socket")
                .expect("frame");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).expect("json");
            if v["id"].is_null() && v["method"].is_string() {
                self.events.push(v);
                continue;
            }
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page (promises awaited) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            r["exceptionDetails"].is_null(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy.
    pub async fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        for _ in 0..150 {
            let v = self.eval(expression).await;
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let error = self
            .eval(
                "document.getElementById('error') && document.getElementById('error').textContent",
            )
            .await;
        panic!("timed out waiting for {what}; page error: {error}");
    }

    /// Opens `url` and waits until `ready` (a JavaScript expression) is truthy.
    pub async fn open(&mut self, url: &str, ready: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_for(url, ready).await;
    }

    /// Saves a full-page PNG as `target/<name>.png` and returns its path.
    pub async fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 png");
        assert!(png.starts_with(b"\x89PNG"));
        let dir = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// The viewport, for the narrow-screen checks (1366×768, a tablet).
    pub async fn resize(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }
}
