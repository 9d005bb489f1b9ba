//! Rate limits shared by every node: frames per token (`RATE_PER_5S`, `RATE_PER_MIN`) and
//! `POST /token` per client IP (`TOKEN_RATE_PER_MIN`). Each check is one script run in
//! Redis that counts and compares atomically, so a client that spreads its traffic over
//! several nodes meets the same limit.

use std::time::Duration;

use common::{keys, session::StoreError};
use fred::{prelude::*, types::scripts::Script};

/// One window of a limit: at most `limit` requests per `length`.
struct Window {
    key: String,
    limit: u64,
    length: Duration,
}

/// The limits of one node's configuration.
pub struct Limits {
    client: Client,
    script: Script,
    per_5s: u64,
    per_min: u64,
    tokens_per_min: u64,
}

impl Limits {
    pub fn new(client: Client, per_5s: u64, per_min: u64, tokens_per_min: u64) -> Self {
        Limits {
            client,
            script: Script::from_lua(include_str!("scripts/rate_limit.lua")),
            per_5s,
            per_min,
            tokens_per_min,
        }
    }

    /// Counts one frame of `token`. `Some(ms)` means it is over the limit: drop the frame;
    /// the client may send again in `ms`.
    pub async fn frame(&self, token: &str) -> Result<Option<u64>, StoreError> {
        self.check(&[
            Window {
                key: keys::rate_of_token(token, "5s"),
                limit: self.per_5s,
                length: Duration::from_secs(5),
            },
            Window {
                key: keys::rate_of_token(token, "1m"),
                limit: self.per_min,
                length: Duration::from_secs(60),
            },
        ])
        .await
    }

    /// Counts one `POST /token` from `ip`, as [`Limits::frame`] does.
    pub async fn new_token(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        self.check(&[Window {
            key: keys::rate_of_ip(ip),
            limit: self.tokens_per_min,
            length: Duration::from_secs(60),
        }])
        .await
    }

    async fn check(&self, windows: &[Window]) -> Result<Option<u64>, StoreError> {
        let keys: Vec<String> = windows.iter().map(|w| w.key.clone()).collect();
        let args: Vec<String> = windows
            .iter()
            .flat_map(|w| [w.limit.to_string(), w.length.as_millis().to_string()])
            .collect();
        let wait: u64 = self
            .script
            .evalsha_with_reload(&self.client, keys, args)
            .await?;
        Ok((wait > 0).then_some(wait))
    }
}
