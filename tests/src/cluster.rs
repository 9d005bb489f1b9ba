//! A real Redis Cluster for one test: three masters and three replicas on loopback ports,
//! each with RedisJSON and the project's ACL file, joined with `redis-cli --cluster create`.
//! The programs connect as `service` through `redis-cluster://…`; replicas follow their
//! masters as `admin`. A master can be killed to see its replica take over.

use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use crate::{
    redis_files::{rejson_module, render_acl},
    util::{eventually, reserve_port, TempDir},
};

const NODES: usize = 6;
/// How long a master may be unreachable before its replica takes over.
const NODE_TIMEOUT_MS: &str = "1000";

struct Node {
    port: u16,
    child: Option<Child>,
}

pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: TempDir,
    admin_password: String,
    service_password: String,
}

/// A free port whose cluster bus port (port + 10000) is free too, both held for this test
/// (see [`free_port`](crate::util::free_port)).
fn free_cluster_port() -> u16 {
    reserve_port(10_000..22_768, &[0, 10_000])
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let dir = TempDir::new("redis-cluster");
        let admin_password = uuid::Uuid::new_v4().simple().to_string();
        let service_password = uuid::Uuid::new_v4().simple().to_string();
        render_acl(&dir.0.join("users.acl"), &admin_password, &service_password).await;
        let mut ports = Vec::new();
        for _ in 0..NODES {
            ports.push(free_cluster_port());
        }
        let mut cluster = RedisCluster {
            nodes: ports
                .into_iter()
                .map(|port| Node { port, child: None })
                .collect(),
            dir,
            admin_password,
            service_password,
        };
        for i in 0..NODES {
            cluster.spawn(i);
        }
        for i in 0..NODES {
            cluster.until_up(i).await;
        }
        let hosts: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(hosts.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = cluster
            .cli_command(cluster.nodes[0].port, &create)
            .output()
            .await
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster.wait_until_settled().await;
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let port = self.nodes[i].port;
        let node_dir = self.dir.0.join(port.to_string());
        std::fs::create_dir_all(&node_dir).expect("node folder");
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
            .args([
                "--masteruser",
                "admin",
                "--masterauth",
                &self.admin_password,
            ])
            .arg("--dir")
            .arg(&node_dir)
            .arg("--aclfile")
            .arg(self.dir.0.join("users.acl"))
            .arg("--loadmodule")
            .arg(rejson_module())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        self.nodes[i].child = Some(cmd.spawn().expect("start redis-server"));
    }

    /// Waits until node `i` answers. A node that exits first (its port was taken after
    /// all, by a process of another test) starts again on another port.
    async fn until_up(&mut self, i: usize) {
        for _ in 0..5 {
            let port = self.nodes[i].port;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                if self.cli(port, &["ping"]).await.as_deref() == Some("PONG") {
                    return;
                }
                let exited = match self.nodes[i].child.as_mut() {
                    Some(child) => !matches!(child.try_wait(), Ok(None)),
                    None => true,
                };
                if exited {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the cluster node on port {port} did not answer within 20 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.nodes[i].port = free_cluster_port();
            self.spawn(i);
        }
        panic!("cluster node {i} exited at start on five ports");
    }

    fn cli_command(&self, port: u16, args: &[&str]) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &port.to_string(), "--no-auth-warning"])
            .args(["--user", "admin", "--pass", &self.admin_password])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `redis-cli` as admin on one node; its trimmed output.
    async fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let out = self.cli_command(port, args).output().await.ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Every live node sees the cluster as ok, and every master has a synced replica.
    async fn wait_until_settled(&self) {
        let live: Vec<u16> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect();
        eventually(Duration::from_secs(30), "the cluster to settle", || async {
            let mut masters = 0;
            for port in &live {
                let info = self.cli(*port, &["cluster", "info"]).await?;
                if !info.contains("cluster_state:ok") {
                    return None;
                }
                // A master's replica is `state=online` once its first full copy is loaded;
                // before that a failover would lose the shard's data.
                let replication = self.cli(*port, &["info", "replication"]).await?;
                if replication.contains("role:master") {
                    masters += 1;
                    if !replication.contains("state=online") {
                        return None;
                    }
                } else if !replication.contains("master_link_status:up")
                    || !replication.contains("master_sync_in_progress:0")
                {
                    return None;
                }
            }
            (masters == NODES / 2).then_some(())
        })
        .await;
    }

    fn seeds(&self) -> String {
        self.nodes
            .iter()
            .take(3)
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `redis-cluster://service:…@h1:p1,h2:p2,h3:p3`, as the programs take it.
    pub fn url(&self) -> String {
        format!(
            "redis-cluster://service:{}@{}",
            self.service_password,
            self.seeds()
        )
    }

    /// The admin user's URL in the client library's form, for the tests' own checks.
    pub fn admin_url(&self) -> String {
        let live = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a live node");
        format!(
            "redis-cluster://admin:{}@127.0.0.1:{}",
            self.admin_password, live.port
        )
    }

    /// The admin user's plain URL of every live node, for commands to each one.
    pub fn admin_node_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| format!("redis://admin:{}@127.0.0.1:{}", self.admin_password, n.port))
            .collect()
    }

    /// The port of the master that owns `key`'s slot.
    pub async fn master_of(&self, key: &str) -> u16 {
        eventually(
            Duration::from_secs(10),
            "a master for the key's slot",
            || self.owner(key),
        )
        .await
    }

    /// The port of the live master that owns `key`'s slot, if one does right now.
    async fn owner(&self, key: &str) -> Option<u16> {
        let live = self.nodes.iter().find(|n| n.child.is_some())?.port;
        let slot: u16 = self
            .cli(live, &["cluster", "keyslot", key])
            .await?
            .parse()
            .ok()?;
        let nodes = self.cli(live, &["cluster", "nodes"]).await?;
        nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                return None;
            }
            let owns = fields[8..].iter().any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if lo <= slot && slot <= hi)
            });
            let addr = fields[1].split('@').next()?;
            owns.then(|| addr.rsplit(':').next()?.parse().ok()).flatten()
        })
    }

    /// Waits until the replica of the master on `port` has acknowledged everything the
    /// master had written when this was called: replication is asynchronous, and the test
    /// is about following a failover, not about losing the last instant's writes.
    async fn replica_caught_up(&self, port: u16) {
        let field = |info: &str, name: &str| -> Option<u64> {
            info.split(['\n', ','])
                .find_map(|part| part.trim().strip_prefix(name)?.parse().ok())
        };
        let info = self
            .cli(port, &["info", "replication"])
            .await
            .expect("INFO");
        let written = field(&info, "master_repl_offset:").expect("master_repl_offset");
        eventually(
            Duration::from_secs(10),
            "the replica to catch up",
            || async {
                let info = self.cli(port, &["info", "replication"]).await?;
                (field(&info, "offset=")? >= written).then_some(())
            },
        )
        .await;
    }

    /// Kills (SIGKILL) the master that owns `key`'s slot and waits until its replica has
    /// taken over and the cluster is ok again. Returns the old master's port.
    pub async fn fail_over(&mut self, key: &str) -> u16 {
        let port = self.master_of(key).await;
        self.replica_caught_up(port).await;
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("the master is one of ours");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill().await;
        }
        eventually(
            Duration::from_secs(30),
            "a replica to take over",
            || async {
                let now = self.master_of(key).await;
                (now != port).then_some(())
            },
        )
        .await;
        let live = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect::<Vec<_>>();
        eventually(
            Duration::from_secs(30),
            "the cluster to be ok again",
            || async {
                for p in &live {
                    let info = self.cli(*p, &["cluster", "info"]).await?;
                    if !info.contains("cluster_state:ok") {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await;
        port
    }
}
