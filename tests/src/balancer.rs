//! Debian's nginx as the load balancer in front of server nodes, with the project's own
//! configuration (`deploy/nginx.local.conf.in` and `deploy/nginx-proxy.conf`, as
//! `scripts/run.sh` uses them), on a free port, owned by one test.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use crate::{
    procs::Server,
    util::{eventually, free_port, workspace_root, TempDir},
};

/// The nginx binary: `NGINX_BIN`, else Debian's.
fn nginx_bin() -> PathBuf {
    std::env::var_os("NGINX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// Stopped when dropped: SIGTERM lets nginx's master stop its workers too (a SIGKILL
/// would leave them running, holding the port).
pub struct Balancer {
    child: Child,
    pub port: u16,
    pub base: String,
    _dir: TempDir,
}

impl Balancer {
    /// Starts nginx in front of `nodes` and waits until `/health` answers through it.
    pub async fn start(nodes: &[&Server]) -> Balancer {
        let dir = TempDir::new("nginx");
        for sub in ["logs", "tmp"] {
            std::fs::create_dir_all(dir.0.join(sub)).expect("nginx folders");
        }
        let port = free_port();
        let root = workspace_root();
        let upstreams: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!(
                    "    server 127.0.0.1:{} max_fails=1 fail_timeout=5s;",
                    n.port
                )
            })
            .collect();
        let template = std::fs::read_to_string(root.join("deploy/nginx.local.conf.in"))
            .expect("deploy/nginx.local.conf.in");
        let conf = template
            .replace("@PREFIX@", &dir.0.to_string_lossy())
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@NODES@", &upstreams.join("\n"))
            .replace(
                "@PROXY_CONF@",
                &root.join("deploy/nginx-proxy.conf").to_string_lossy(),
            );
        let conf_path = dir.0.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let prefix = format!("{}/", dir.0.to_string_lossy());
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.0.join("logs/error.log"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nginx (is it installed? ./scripts/test.sh installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let health = format!("{base}/health");
        eventually(Duration::from_secs(10), "/health through nginx", || {
            let health = health.clone();
            async move {
                let resp = reqwest::get(&health).await.ok()?;
                (resp.status() == 200).then_some(())
            }
        })
        .await;
        Balancer {
            child,
            port,
            base,
            _dir: dir,
        }
    }

    /// `ws://…/PATH?token=TOKEN` through the balancer.
    pub fn ws_url(&self, path: &str, token: &str) -> String {
        format!("ws://127.0.0.1:{}{path}?token={token}", self.port)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
