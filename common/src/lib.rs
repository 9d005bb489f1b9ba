//! What both binaries (`server` and `worker`) need, shared at compile time rather than copied.
//!
//! - [`keys`]: the one place that names every Redis key, stream and consumer group.
//! - [`protocol`]: the WebSocket wire types of docs/protocol.md (`ClientMsg`, `ServerMsg`, error codes).
//! - [`names`]: validation of player names.
//! - [`session`]: the RedisJSON session document and its atomic updates.
//! - [`redis`]: connecting to Redis (single or cluster) and checking for RedisJSON.
//! - [`streams`]: the public streams `message_channel` and `response_channel`.
//! - [`lifecycle`]: logging set-up and the shutdown signal.
//! - [`game`]: tic-tac-toe rules (pure).
//! - [`clock`]: RFC 3339 timestamps as the protocol writes them.
//! - [`error`]: the error of every Redis-backed store.

pub mod clock;
pub mod deadlines;
pub mod error;
pub mod game;
pub mod keys;
pub mod lifecycle;
pub mod names;
pub mod protocol;
pub mod redis;
pub mod session;
pub mod streams;
