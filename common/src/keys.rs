//! Every Redis key, stream, consumer group and cap used by the programs, named in one place.
//!
//! Keys that other programs rely on (`session:<token>`, `message_channel`,
//! `response_channel`) are part of the public contract in PROTOCOL.md and must not change.

/// Stream of human chat messages, read by the workers through [`WORKER_GROUP`].
pub const MESSAGE_CHANNEL: &str = "message_channel";

/// Stream of bot replies, read by every server node.
pub const RESPONSE_CHANNEL: &str = "response_channel";

/// Consumer group of the workers on [`MESSAGE_CHANNEL`].
pub const WORKER_GROUP: &str = "workers";

/// Approximate cap (`MAXLEN ~`) of [`MESSAGE_CHANNEL`] and [`RESPONSE_CHANNEL`].
pub const CHANNEL_MAXLEN: i64 = 100_000;

/// The RedisJSON session document of one token.
pub fn session(token: &str) -> String {
    format!("session:{token}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_key_matches_the_contract() {
        assert_eq!(super::session("abc"), "session:abc");
    }
}
