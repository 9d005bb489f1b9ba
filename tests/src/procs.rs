//! The real `server` and `worker` binaries as child processes. Their logs go to the
//! test's stderr (shown when a test fails).

use std::{path::PathBuf, process::ExitStatus, time::Duration};

use tokio::process::{Child, Command};

use crate::util::{eventually, free_port, workspace_root};

/// Path of a built binary of this workspace (`CARGO_TARGET_DIR` respected).
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{path:?} is missing: run `cargo build --workspace --bins` first"
    );
    path
}

/// A child process that is killed when dropped.
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    pub fn spawn(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(bin(name));
        cmd.args(args)
            .current_dir(workspace_root())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Proc {
            child: Some(cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"))),
        }
    }

    /// Exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, without waiting for the exit.
    pub async fn signal_term(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
    }

    /// SIGTERM, then waits up to 15 s for the exit.
    pub async fn terminate(&mut self) -> Option<ExitStatus> {
        self.signal_term().await;
        let mut child = self.child.take()?;
        tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .ok()?
            .ok()
    }

    /// SIGKILL: the process dies without any clean-up, as in a crash.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// One `server` node.
pub struct Server {
    pub proc: Proc,
    pub port: u16,
    pub base: String,
}

impl Server {
    /// Starts a node on a free port (held for this test: see [`free_port`]) and waits
    /// until `/health` answers 200. A node that exits at start (its port was taken
    /// meanwhile by a process outside the tests) is started again on another port.
    pub async fn start(redis_url: &str, envs: &[(&str, &str)]) -> Server {
        for _ in 0..5 {
            let port = free_port();
            let bind = format!("127.0.0.1:{port}");
            let mut all = vec![("REDIS_URL", redis_url), ("BIND_ADDR", bind.as_str())];
            all.extend_from_slice(envs);
            let mut proc = Proc::spawn("server", &[], &all);
            let base = format!("http://127.0.0.1:{port}");
            if Server::healthy(&mut proc, &base).await {
                return Server { proc, port, base };
            }
        }
        panic!("the server exited during start-up on five ports");
    }

    /// Waits until `/health` answers 200 (true), or the process exits (false).
    async fn healthy(proc: &mut Proc, base: &str) -> bool {
        let health = format!("{base}/health");
        let http = reqwest::Client::new();
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = proc.exited() {
                eprintln!("server exited during start-up: {status}");
                return false;
            }
            if let Ok(resp) = http.get(&health).send().await {
                if resp.status() == 200 {
                    return true;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "server did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `ws://…/PATH?token=TOKEN` on this node.
    pub fn ws_url(&self, path: &str, token: &str) -> String {
        format!("ws://127.0.0.1:{}{path}?token={token}", self.port)
    }

    /// The status code of `GET /health`.
    pub async fn health_status(&self) -> u16 {
        match reqwest::get(format!("{}/health", self.base)).await {
            Ok(resp) => resp.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Waits until `/health` answers `status`.
    pub async fn wait_health(&self, status: u16, limit: Duration) {
        eventually(
            limit,
            &format!("/health to answer {status}"),
            || async move { (self.health_status().await == status).then_some(()) },
        )
        .await
    }
}

/// One `worker` process.
pub struct Worker {
    pub proc: Proc,
}

impl Worker {
    pub async fn start(redis_url: &str, envs: &[(&str, &str)]) -> Worker {
        let mut all = vec![("REDIS_URL", redis_url)];
        all.extend_from_slice(envs);
        Worker {
            proc: Proc::spawn("worker", &[], &all),
        }
    }
}
