//! The test harness: starts a real Redis with RedisJSON on a free port, the real `server`
//! and `worker` binaries as separate processes, and talks to them over HTTP and WebSocket
//! the way clients do.
//!
//! The binaries must be built first (`cargo build --workspace --bins`, which the README's
//! test command does). The RedisJSON module is found through `REJSON_MODULE`, or in
//! `.deps/` where the set-up script installs it.

pub mod balancer;
pub mod cluster;
pub mod procs;
pub mod redis;
pub mod ws;

use std::{
    net::TcpListener,
    path::PathBuf,
    time::{Duration, Instant},
};

pub use balancer::Balancer;
pub use cluster::RedisCluster;
pub use procs::{Server, Worker};
pub use redis::Redis;
pub use ws::Ws;

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A fresh folder under the system's temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit` naming `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `x` creates a game and `o` joins it; returns its ID once both see it `playing`.
pub async fn start_game(x: &mut Ws, o: &mut Ws) -> String {
    x.send(serde_json::json!({"type": "game.create", "ref": "new"}))
        .await;
    let id = x.answer("new").await["game"]["id"]
        .as_str()
        .expect("a game ID")
        .to_string();
    o.send(serde_json::json!({"type": "game.join", "game": id, "ref": "join"}))
        .await;
    assert_eq!(o.answer("join").await["game"]["status"], "playing");
    assert_eq!(x.recv_type("game.state").await["game"]["status"], "playing");
    id
}

/// The token of a session document.
/// Checks that the room message `frame` comes after the one before it (`last`, its stream
/// position), so messages are seen once each and in stream order; moves `last` on.
pub fn assert_after(last: &mut Option<(u64, u64)>, frame: &serde_json::Value) {
    let id = frame["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {frame}"));
    let (ms, seq) = id
        .split_once('-')
        .unwrap_or_else(|| panic!("not a stream ID: {id}"));
    let position = (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
    assert!(
        *last < Some(position),
        "{frame} after {last:?}: out of order or twice"
    );
    *last = Some(position);
}

pub fn token(doc: &serde_json::Value) -> String {
    doc["token"].as_str().expect("a token").to_string()
}

/// `POST /token?name=…` on `base`; returns the session document.
pub async fn new_session(base: &str, name: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}/token"))
        .query(&[("name", name)])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(resp.status(), 200, "POST /token for {name:?}");
    resp.json().await.expect("session JSON")
}

/// `GET /refresh_token?token=…` on `base`: the status and the JSON body.
pub async fn refresh(base: &str, token: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("{base}/refresh_token?token={token}"))
        .await
        .expect("GET /refresh_token");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// A Redis, two server nodes and one worker: the topology most tests need.
pub struct Cluster {
    pub redis: Redis,
    pub a: Server,
    pub b: Server,
    pub worker: Worker,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let redis = Redis::start().await;
        Cluster::on(redis).await
    }

    pub async fn on(redis: Redis) -> Cluster {
        let url = redis.url();
        let (a, b, worker) = tokio::join!(
            Server::start(&url, &[("NODE_ID", "node-a")]),
            Server::start(&url, &[("NODE_ID", "node-b")]),
            Worker::start(&url, &[]),
        );
        Cluster {
            redis,
            a,
            b,
            worker,
        }
    }
}
