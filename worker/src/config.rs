//! The worker's settings, from flags or the environment (same names, see `--help`).

use clap::Parser;

/// The bot: answers chat messages from `message_channel` and writes replies to
/// `response_channel` and the session history.
#[derive(Parser, Debug, Clone)]
#[command(name = "worker", version, about)]
pub struct Config {
    /// Redis with RedisJSON: redis://[user:pass@]host:port, or redis-cluster://h1:p1,h2:p2
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// Name of this worker in the consumer group [default: host name and a random suffix]
    #[arg(long, env = "CONSUMER_NAME")]
    pub consumer_name: Option<String>,

    /// Lifetime of a session without activity, in seconds (extended by each reply).
    #[arg(long, env = "SESSION_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub session_ttl_secs: u64,

    /// The most messages a session's history keeps; the oldest are dropped as new ones come.
    #[arg(long, env = "HISTORY_MAX", default_value_t = common::session::HISTORY_MAX, value_parser = clap::value_parser!(u64).range(2..))]
    pub history_max: u64,

    /// A message pending this long on another worker is taken over (that worker is presumed dead).
    #[arg(long, env = "CLAIM_IDLE_MS", default_value_t = 15_000)]
    pub claim_idle_ms: u64,

    /// Base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1); unset: the built-in bot.
    #[arg(long, env = "LLM_URL")]
    pub llm_url: Option<String>,

    /// Model name sent to the LLM API.
    #[arg(long, env = "LLM_MODEL", default_value = "gpt-4o-mini")]
    pub llm_model: String,

    /// Bearer key for the LLM API.
    #[arg(long, env = "LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    /// How long one LLM answer may take before the built-in bot answers instead.
    #[arg(long, env = "LLM_TIMEOUT_MS", default_value_t = 15_000)]
    pub llm_timeout_ms: u64,
}

impl Config {
    pub fn consumer_name(&self) -> String {
        if let Some(name) = self
            .consumer_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
        {
            return name.trim().to_string();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".to_string());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}", &suffix[..6])
    }
}
