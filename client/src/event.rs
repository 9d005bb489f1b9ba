//! What happens, in order, besides the answers to requests.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// A message of a room.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RoomMessage {
    pub room: String,
    pub id: String,
    pub from: String,
    pub text: String,
    pub timestamp: String,
}

/// What happens, in order, besides the answers to requests.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Connected to a node (its `NODE_ID`).
    Open {
        node: String,
    },
    /// The connection dropped; the next attempt comes after `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
    },
    /// The client stopped (closed, or its session expired).
    Closed,
    /// A room message, each once and in the room's order, across reconnects (also one's
    /// own, whose request resolves with it too).
    RoomMessage(RoomMessage),
    Presence {
        room: String,
        joined: Option<String>,
        left: Option<String>,
    },
    Typing {
        room: String,
        name: String,
    },
    /// A game's new state (the game object), each version once and in order; after a
    /// reconnect only the newest.
    GameState(Value),
    /// A bot reply (`bot.reply`).
    BotReply(Value),
    /// A room whose missed messages could no longer be recovered after a reconnect (they
    /// were trimmed): the client goes on from its newest ones.
    Unrecovered {
        room: String,
    },
}
