//! What the server sends the tests, recorded for the contract check: with
//! `E2E_TRAFFIC_DIR` set, every WebSocket frame a [`Ws`](crate::ws::Ws) reads and every
//! HTTP body read through [`json_body`] is appended, one JSON record a line, to a file of
//! this test process in that folder. `scripts/test.sh` then validates every record against
//! `docs/asyncapi.yaml` and `docs/openapi.yaml` (`docs/check/check-traffic.mjs`), so a
//! field, message or status the contract does not describe fails the run.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    sync::{Mutex, OnceLock},
};

use serde_json::{json, Value};

fn file() -> Option<&'static Mutex<File>> {
    static FILE: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::var_os("E2E_TRAFFIC_DIR")?;
        std::fs::create_dir_all(&dir).expect("create E2E_TRAFFIC_DIR");
        let path = std::path::Path::new(&dir).join(format!(
            "{}-{}.jsonl",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path:?}: {e}"));
        Some(Mutex::new(file))
    })
    .as_ref()
}

fn record(record: Value) {
    if let Some(file) = file() {
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(file, "{record}").expect("write a traffic record");
    }
}

/// A text frame the server sent on `endpoint` (`/ws` or `/chat`).
pub fn frame(endpoint: &str, frame: &Value) {
    record(json!({"ws": endpoint, "dir": "in", "frame": frame}));
}

/// Reads a response's JSON body, recording it with its route and status.
pub async fn json_body(method: &str, resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let path = resp.url().path().to_string();
    let body: Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} answered {status} without JSON: {e}"));
    record(json!({"http": {"method": method, "path": path, "status": status, "body": body}}));
    (status, body)
}
