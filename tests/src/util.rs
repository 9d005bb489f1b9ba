//! What every part of the harness needs: the workspace's folder, free ports, temporary
//! folders, and waiting for a condition.

use std::{
    fs::{File, OpenOptions},
    net::TcpListener,
    ops::Range,
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Ports this test's process holds: their lock files stay locked until it exits.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// A port nobody listens on right now and no other test of this run takes while this
/// one runs. It lies below the range the system picks outgoing connections' ports from
/// (32768 and up here), so no connection takes it before a process binds it, and a lock
/// file held until this test's process exits keeps other tests (each in its own process)
/// from picking it too: a node that lost its port to another test's node would otherwise
/// be taken for healthy through that node's `/health`.
pub fn free_port() -> u16 {
    reserve_port(10_000..32_768, &[0])
}

/// A port in `range` that is free together with `port + offset` for every offset, all
/// of them held for this test (see [`free_port`]).
pub fn reserve_port(range: Range<u16>, offsets: &[u16]) -> u16 {
    let dir = std::env::temp_dir().join("e2e-ports");
    std::fs::create_dir_all(&dir).expect("create the ports' lock folder");
    let span = u128::from(range.end - range.start);
    loop {
        let port = range.start + (uuid::Uuid::new_v4().as_u128() % span) as u16;
        let mut locks = Vec::new();
        let all_free = offsets.iter().all(|offset| {
            let candidate = port + offset;
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(candidate.to_string()))
                .expect("open a port's lock file");
            if lock.try_lock().is_err() {
                return false;
            }
            locks.push(lock);
            TcpListener::bind(("127.0.0.1", candidate)).is_ok()
        });
        if all_free {
            HELD.lock().expect("held ports").extend(locks);
            return port;
        }
    }
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
