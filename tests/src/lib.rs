//! The test harness: starts a real Redis with RedisJSON on a free port, the real `server`
//! and `worker` binaries as separate processes, and talks to them over HTTP and WebSocket
//! the way clients do.
//!
//! The binaries must be built first (`cargo build --workspace --bins`, which the README's
//! test command does). The RedisJSON module is found through `REJSON_MODULE`, or in
//! `.deps/` where the set-up script installs it.

pub mod balancer;
pub mod cluster;
pub mod flows;
pub mod lossy;
pub mod players;
pub mod procs;
pub mod redis;
pub mod redis_files;
pub mod traffic;
pub mod util;
pub mod ws;

pub use balancer::Balancer;
pub use cluster::RedisCluster;
pub use flows::{
    assert_after, create_game, new_session, refresh, say_to_bot, start_game, token, two_nodes,
    Cluster,
};
pub use procs::{Server, Worker};
pub use redis::Redis;
pub use util::{eventually, free_port, workspace_root, TempDir};
pub use ws::Ws;
