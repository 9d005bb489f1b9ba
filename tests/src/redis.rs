//! A real `redis-server` with the RedisJSON module, on a free port, owned by one test.
//!
//! It runs with the project's ACL file (`deploy/redis/users.acl.in`, rendered by
//! `scripts/render-acl.sh` with fresh passwords): the programs under test connect as the
//! restricted `service` user, which proves that its grant is enough; the tests' own
//! checks connect as `admin`. (A Redis without RedisJSON runs without it: the file grants
//! JSON commands, which such a Redis does not know.)

use std::{path::PathBuf, process::Stdio, time::Duration};

use fred::prelude::*;
use tokio::process::{Child, Command};

use crate::{
    cluster::RedisCluster,
    redis_files::{rejson_module, render_acl},
    util::{eventually, free_port, TempDir},
};

/// Whether `E2E_REDIS=cluster` asks for the suites to run on a Redis Cluster.
fn cluster_wanted() -> bool {
    std::env::var("E2E_REDIS").is_ok_and(|v| v == "cluster")
}

/// A Redis server process for one test; with `E2E_REDIS=cluster`, [`Redis::start`] gives a
/// Redis Cluster instead (three masters, three replicas), and the same suites run on it.
pub struct Redis {
    cluster: Option<RedisCluster>,
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    with_json: bool,
    persistent: bool,
    admin_password: String,
    service_password: String,
}

impl Redis {
    /// Redis with RedisJSON, keeping nothing on disk (a cluster with `E2E_REDIS=cluster`).
    pub async fn start() -> Redis {
        if cluster_wanted() {
            let mut redis = Redis::unstarted(true, false);
            redis.cluster = Some(RedisCluster::start().await);
            return redis;
        }
        Redis::launch(true, false).await
    }

    /// Whether this is a Redis Cluster (changes are published with SPUBLISH there).
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The cluster behind this Redis, with `E2E_REDIS=cluster`.
    pub fn cluster(&mut self) -> Option<&mut RedisCluster> {
        self.cluster.as_mut()
    }

    /// Redis with RedisJSON and AOF persistence as deployed (`appendfsync everysec`; a
    /// restart through SHUTDOWN writes everything out), so it can be restarted without
    /// losing anything.
    pub async fn start_persistent() -> Redis {
        Redis::launch(true, true).await
    }

    /// Redis without RedisJSON.
    pub async fn start_without_json() -> Redis {
        Redis::launch(false, false).await
    }

    fn unstarted(with_json: bool, persistent: bool) -> Redis {
        Redis {
            cluster: None,
            child: None,
            port: free_port(),
            dir: TempDir::new("redis"),
            with_json,
            persistent,
            admin_password: uuid::Uuid::new_v4().simple().to_string(),
            service_password: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    async fn launch(with_json: bool, persistent: bool) -> Redis {
        let mut redis = Redis::unstarted(with_json, persistent);
        if redis.with_json {
            render_acl(
                &redis.acl_file(),
                &redis.admin_password,
                &redis.service_password,
            )
            .await;
        }
        redis.spawn().await;
        redis
    }

    fn acl_file(&self) -> PathBuf {
        self.dir.0.join("users.acl")
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
        if self.with_json {
            cmd.arg("--aclfile").arg(self.acl_file());
        }
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "everysec"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.with_json {
            cmd.arg("--loadmodule").arg(rejson_module());
        }
        cmd.stdout(Stdio::null()).kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("start redis-server (is it installed?)"));
        let url = self.admin_url();
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

    /// The URL the programs under test use: the restricted `service` user.
    pub fn url(&self) -> String {
        if let Some(cluster) = &self.cluster {
            return cluster.url();
        }
        if !self.with_json {
            return format!("redis://127.0.0.1:{}", self.port);
        }
        format!(
            "redis://service:{}@127.0.0.1:{}",
            self.service_password, self.port
        )
    }

    /// The URL of the `admin` user, for the tests' own checks.
    pub fn admin_url(&self) -> String {
        if let Some(cluster) = &self.cluster {
            return cluster.admin_url();
        }
        if !self.with_json {
            return self.url();
        }
        format!(
            "redis://admin:{}@127.0.0.1:{}",
            self.admin_password, self.port
        )
    }

    /// Stops the server (SHUTDOWN, so an AOF is complete), keeping its data folder.
    pub async fn stop(&mut self) {
        assert!(self.cluster.is_none(), "stop() is for a single Redis");
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("redis-cli")
                .args(["-u", &self.admin_url(), "--no-auth-warning", "shutdown"])
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

    /// Runs one command as admin on the Redis (on every node of a cluster); returns each
    /// node's answer as `redis-cli` prints it.
    pub async fn on_every_node(&self, command: &[&str]) -> Vec<String> {
        let urls = match &self.cluster {
            Some(cluster) => cluster.admin_node_urls(),
            None => vec![self.admin_url()],
        };
        let mut answers = Vec::new();
        for url in urls {
            let out = Command::new("redis-cli")
                .args(["-u", &url, "--no-auth-warning"])
                .args(command)
                .output()
                .await
                .expect("redis-cli runs");
            assert!(out.status.success(), "{command:?} failed: {out:?}");
            answers.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        answers
    }

    /// Closes every pub/sub connection on the Redis (every node of a cluster), as a network
    /// blip or a failover would: the programs' subscribers reconnect by themselves.
    /// Returns how many it closed.
    pub async fn kill_pubsub_connections(&self) -> u64 {
        self.on_every_node(&["client", "kill", "type", "pubsub"])
            .await
            .iter()
            .map(|n| {
                n.parse::<u64>()
                    .unwrap_or_else(|_| panic!("CLIENT KILL answered {n:?}"))
            })
            .sum()
    }

    /// A plain client, for checking what the programs stored.
    pub async fn client(&self) -> Client {
        let client = Builder::from_config(Config::from_url(&self.admin_url()).expect("url"))
            .build()
            .expect("client");
        client.init().await.expect("connect to test redis");
        client
    }
}
