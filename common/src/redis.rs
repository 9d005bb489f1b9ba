//! Connecting to Redis: one place that turns `REDIS_URL` into a fred client with a
//! reconnect policy and command timeouts, and checks that RedisJSON is loaded.
//!
//! `REDIS_URL` is `redis://[user:pass@]host:port` for one Redis, or
//! `redis-cluster://[user:pass@]h1:p1,h2:p2` for Redis Cluster (rewritten into fred's
//! `?node=` form here).

use std::time::Duration;

use fred::{clients::SubscriberClient, prelude::*};

/// How long a normal command may wait (including while Redis is being reconnected)
/// before the caller gets an error it can report.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest `BLOCK` a blocking reader may use, plus room for the answer: past this the
/// connection counts as dead and is replaced.
pub const BLOCKING_TIMEOUT: Duration = Duration::from_secs(8);

/// How long start-up waits for the first connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a program could not start on the given Redis.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid REDIS_URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Redis at {url} has no RedisJSON module (JSON.* commands are unknown): start it with --loadmodule rejson.so")]
    NoRedisJson { url: String },
}

/// What a client is used for: blocking readers (XREAD/XREADGROUP with BLOCK) get a
/// connection of their own and a longer command timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Commands,
    Blocking,
    /// A pub/sub subscriber: a deep buffer between its connection and the program, so a
    /// burst of messages is not dropped.
    Subscriber,
}

/// `url` with any password replaced by `***`, for logs and errors.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Rewrites `redis-cluster://u:p@h1:p1,h2:p2/` into `redis-cluster://u:p@h1:p1?node=h2:p2`.
fn fred_url(url: &str) -> String {
    let Some(rest) = url.strip_prefix("redis-cluster://") else {
        return url.to_string();
    };
    let (creds, hosts) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let hosts = hosts.trim_end_matches('/');
    let mut nodes = hosts.split(',').filter(|h| !h.is_empty());
    let first = nodes.next().unwrap_or_default();
    let extra: Vec<String> = nodes.map(|n| format!("node={n}")).collect();
    if extra.is_empty() {
        format!("redis-cluster://{creds}{first}")
    } else {
        format!("redis-cluster://{creds}{first}?{}", extra.join("&"))
    }
}

/// Whether `url` names a Redis Cluster.
pub fn is_cluster(url: &str) -> bool {
    url.starts_with("redis-cluster://")
}

/// A client builder for `url` with the project's reconnect policy and timeouts.
pub fn builder(url: &str, role: Role) -> Result<Builder, ConnectError> {
    let config = Config::from_url(&fred_url(url)).map_err(|e| ConnectError::Url {
        url: redacted(url),
        reason: e.details().to_string(),
    })?;
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_connection_config(|c| {
            c.connection_timeout = CONNECT_TIMEOUT;
            c.internal_command_timeout = COMMAND_TIMEOUT;
            c.max_command_attempts = 3;
            c.unresponsive.max_timeout = Some(match role {
                Role::Commands | Role::Subscriber => COMMAND_TIMEOUT,
                Role::Blocking => BLOCKING_TIMEOUT,
            });
            c.unresponsive.interval = Duration::from_millis(500);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = match role {
                Role::Commands | Role::Subscriber => COMMAND_TIMEOUT,
                Role::Blocking => BLOCKING_TIMEOUT,
            };
            if role == Role::Subscriber {
                p.broadcast_channel_capacity = 1 << 16;
            }
        });
    Ok(builder)
}

/// Connects to `url`, waits for the first connection and checks that RedisJSON is loaded.
/// The returned client reconnects by itself for the rest of the program's life.
pub async fn connect(url: &str, role: Role) -> Result<Client, ConnectError> {
    let client = builder(url, role)?.build().map_err(|e| ConnectError::Url {
        url: redacted(url),
        reason: e.details().to_string(),
    })?;
    let unreachable = |reason: String| ConnectError::Unreachable {
        url: redacted(url),
        reason,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, client.init()).await {
        Ok(Ok(_task)) => {}
        Ok(Err(e)) => return Err(unreachable(e.details().to_string())),
        Err(_) => {
            let _ = client.quit().await;
            return Err(unreachable(format!(
                "no connection within {CONNECT_TIMEOUT:?}"
            )));
        }
    }
    // JSON.TYPE of a missing key answers nil with RedisJSON and "unknown command" without.
    let probe: Result<Value, Error> = client
        .json_type(crate::keys::session("probe"), None::<String>)
        .await;
    if let Err(e) = probe {
        let _ = client.quit().await;
        return Err(
            if e.details().to_ascii_lowercase().contains("unknown command") {
                ConnectError::NoRedisJson { url: redacted(url) }
            } else {
                unreachable(e.details().to_string())
            },
        );
    }
    Ok(client)
}

/// A subscriber client for `url`. It does not re-subscribe by itself after a reconnect:
/// its user does, on each notice of `reconnect_rx` (fred's own re-subscription would race
/// with the user's, and it sends an empty `PSUBSCRIBE` that Redis refuses, whose error
/// then answers another command).
pub async fn connect_subscriber(url: &str) -> Result<SubscriberClient, ConnectError> {
    let client = builder(url, Role::Subscriber)?
        .build_subscriber_client()
        .map_err(|e| ConnectError::Url {
            url: redacted(url),
            reason: e.details().to_string(),
        })?;
    match tokio::time::timeout(CONNECT_TIMEOUT, client.init()).await {
        Ok(Ok(_task)) => {}
        Ok(Err(e)) => {
            return Err(ConnectError::Unreachable {
                url: redacted(url),
                reason: e.details().to_string(),
            })
        }
        Err(_) => {
            return Err(ConnectError::Unreachable {
                url: redacted(url),
                reason: format!("no connection within {CONNECT_TIMEOUT:?}"),
            })
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_become_fred_node_lists() {
        assert_eq!(fred_url("redis://h:1"), "redis://h:1");
        assert_eq!(
            fred_url("redis-cluster://u:p@h1:1,h2:2,h3:3"),
            "redis-cluster://u:p@h1:1?node=h2:2&node=h3:3"
        );
        assert_eq!(fred_url("redis-cluster://h1:1"), "redis-cluster://h1:1");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("redis://service:s3cret@h:1"),
            "redis://service:***@h:1"
        );
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
    }
}
