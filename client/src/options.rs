//! How to reach the service and as whom.

use std::time::Duration;

/// How to reach the service and as whom.
#[derive(Clone, Debug)]
pub struct Options {
    /// Base URLs (`http://host:port`) of nodes or of a load balancer, tried in turn.
    pub urls: Vec<String>,
    /// A new session for this name, unless `token` resumes one.
    pub name: Option<String>,
    pub token: Option<String>,
    /// How long a request waits for its answer (also while reconnecting).
    pub request_timeout: Duration,
    /// Backoff between attempts: a random wait up to min(max, base × 2^attempt).
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
}

impl Options {
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Options {
        Options {
            urls: urls.into_iter().map(Into::into).collect(),
            name: None,
            token: None,
            request_timeout: Duration::from_secs(10),
            reconnect_base: Duration::from_millis(300),
            reconnect_max: Duration::from_secs(10),
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Options {
        self.name = Some(name.into());
        self
    }

    pub fn token(mut self, token: impl Into<String>) -> Options {
        self.token = Some(token.into());
        self
    }
}
