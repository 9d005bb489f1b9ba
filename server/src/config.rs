//! The server's settings, from flags or the environment (same names, see `--help`).

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

/// One stateless WebSocket node of the game and chat service.
#[derive(Parser, Debug, Clone)]
#[command(name = "server", version, about)]
pub struct Config {
    /// Redis with RedisJSON: redis://[user:pass@]host:port, or redis-cluster://h1:p1,h2:p2
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0:3000")]
    pub bind_addr: SocketAddr,

    /// Names this node in /health, /kpi and logs [default: host name and a short random suffix]
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,

    /// Lifetime of a session without activity, in seconds.
    #[arg(long, env = "SESSION_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub session_ttl_secs: u64,

    /// The most messages a session's history keeps; the oldest are dropped as new ones come.
    #[arg(long, env = "HISTORY_MAX", default_value_t = common::session::HISTORY_MAX, value_parser = clap::value_parser!(u64).range(2..))]
    pub history_max: u64,

    /// Largest accepted WebSocket frame, in bytes; larger ones get `too_large`.
    #[arg(long, env = "MAX_FRAME_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(64..=16 * 1024 * 1024))]
    pub max_frame_bytes: u64,

    /// A socket from which nothing (not even a pong) came for this long is closed with
    /// 4000. The node pings each socket every half of it, at most every 25 s.
    #[arg(long, env = "IDLE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..))]
    pub idle_secs: u64,

    /// A seated player whose sockets are all gone this long loses the game (abandoned).
    #[arg(long, env = "ABANDON_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub abandon_secs: u64,

    /// In a game between people, the player to move loses by `timeout` after this long
    /// without moving. 0: no turn clock.
    #[arg(long, env = "TURN_SECS", default_value_t = 60)]
    pub turn_secs: u64,

    /// The most names one token may mute.
    #[arg(long, env = "MUTE_MAX", default_value_t = 100)]
    pub mute_max: u64,

    /// Connections open at once on this node, WebSockets included; past it new ones are
    /// closed at once. 0: the process's open-files limit less 64.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Connections open at once from one client address (not applied with
    /// TRUST_FORWARDED_FOR, where they all come from the balancer); 0: no such limit.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 1000, value_parser = clap::value_parser!(usize))]
    pub max_connections_per_ip: usize,

    /// Seconds a client has to send a request's head (also the longest a kept-alive HTTP
    /// connection waits for its next request).
    #[arg(long, env = "HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,

    /// Rooms (game chats included) one socket may follow at once; past it `room.join` is
    /// refused with `limit_reached`. 0: no limit.
    #[arg(long, env = "MAX_ROOMS_PER_SOCKET", default_value_t = 100, value_parser = clap::value_parser!(usize))]
    pub max_rooms_per_socket: usize,

    /// Presence entries (a name on each node that holds its sockets) past which a room is
    /// large: its arrivals and departures are no longer announced (`room.presence`) and
    /// `room.joined` lists this many members of it, with `member_count`. 0: no limit.
    /// Set alike on every node.
    #[arg(long, env = "PRESENCE_MAX", default_value_t = 200, value_parser = clap::value_parser!(u64))]
    pub presence_max: u64,

    /// Sockets one token may hold on this node at once; a socket past it is closed with
    /// 4029. 0: no limit.
    #[arg(long, env = "MAX_SOCKETS_PER_TOKEN", default_value_t = 20, value_parser = clap::value_parser!(usize))]
    pub max_sockets_per_token: usize,

    /// Games not over that one token may have opened (created or queued for) through its
    /// sockets on this node; past it `game.create` and `game.quick` are refused with
    /// `limit_reached`. 0: no limit.
    #[arg(long, env = "MAX_OPEN_GAMES_PER_TOKEN", default_value_t = 10, value_parser = clap::value_parser!(usize))]
    pub max_open_games_per_token: usize,

    /// How long a room's messages are kept after its last message, in seconds (a game's
    /// chat: a day, as its game).
    #[arg(long, env = "ROOM_RETENTION_SECS", default_value_t = 7 * 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub room_retention_secs: u64,

    /// Frames one token may send in 5 s, counted across all nodes.
    #[arg(long, env = "RATE_PER_5S", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_per_5s: u64,

    /// Frames one token may send in a minute, counted across all nodes.
    #[arg(long, env = "RATE_PER_MIN", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_per_min: u64,

    /// `POST /token` requests one client IP may make in a minute.
    #[arg(long, env = "TOKEN_RATE_PER_MIN", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_rate_per_min: u64,

    /// Take the client IP from `X-Forwarded-For` (set it only behind a load balancer that
    /// sets that header).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,

    /// The operators' key: `/admin` routes need `Authorization: Bearer KEY`. Unset: every
    /// `/admin` route answers 404.
    #[arg(long, env = "ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Folder of the browser client served at `/`.
    #[arg(long, env = "WEB_DIR", default_value = "web")]
    pub web_dir: PathBuf,
}

impl Config {
    /// The bounds on this node's connections.
    pub fn bounds(&self) -> crate::listen::Bounds {
        crate::listen::Bounds {
            max_connections: match self.max_connections {
                0 => crate::listen::default_max_connections(),
                n => n,
            },
            per_ip: (!self.trust_forwarded_for && self.max_connections_per_ip > 0)
                .then_some(self.max_connections_per_ip),
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
        }
    }

    /// The node ID to use: the configured one, or the host name with a random suffix.
    pub fn node_id(&self) -> String {
        if let Some(id) = self.node_id.as_deref().filter(|id| !id.trim().is_empty()) {
            return id.trim().to_string();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".to_string());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}", &suffix[..6])
    }
}
