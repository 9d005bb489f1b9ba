//! The error of every Redis-backed store: sessions, games, streams.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("corrupt document in Redis: {0}")]
    Corrupt(#[from] serde_json::Error),
}
