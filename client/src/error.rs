//! What a request can end with besides its answer.

/// Why a request or a connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server refused the request: `code` is the protocol's error code (`bad_request`,
    /// `forbidden`, `not_your_turn`, …); `retry_after_ms` comes with `rate_limited`.
    #[error("{code}: {message}")]
    Refused {
        code: String,
        message: String,
        retry_after_ms: Option<u64>,
    },
    /// No answer within the request timeout.
    #[error("no answer in time")]
    Timeout,
    /// The connection dropped while the request was in flight: it is not sent again (it
    /// may have taken effect; if it did, its effect arrives through the recovery).
    #[error("the connection was lost before the answer came")]
    ConnectionLost,
    /// The token is unknown or expired (close code 1008): the client stops.
    #[error("the session expired")]
    SessionExpired,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// `POST /token` or `GET /refresh_token` failed.
    #[error("http: {0}")]
    Http(String),
    /// Opening a socket, or sending on it, failed.
    #[error("socket: {0}")]
    Socket(String),
}
