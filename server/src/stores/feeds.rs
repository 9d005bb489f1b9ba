//! What this node has delivered of each room channel it follows, and the events held back
//! while a gap is filled ([`catch_up`](crate::node::catch_up) does the filling).

use std::{collections::HashMap, sync::Mutex};

use common::{game::model::Origin, protocol::RoomMessage};
use serde::Deserialize;

use crate::hub::{stream_position, Position};

/// A published room event: a message (with the one before it), or presence.
#[derive(Deserialize)]
pub struct RoomEvent {
    pub origin: Option<Origin>,
    /// The ID of the room's message before this one.
    #[serde(default)]
    pub prev: Option<String>,
    pub message: Option<RoomMessage>,
    pub joined: Option<String>,
    pub left: Option<String>,
    /// A member typing (not stored, so never fetched again).
    #[serde(default)]
    pub typing: Option<String>,
    /// A message an operator removed from the room's log.
    #[serde(default)]
    pub deleted: Option<String>,
}

impl RoomEvent {
    pub fn logged((message, origin): (RoomMessage, Option<Origin>)) -> RoomEvent {
        RoomEvent {
            origin,
            prev: None,
            message: Some(message),
            joined: None,
            left: None,
            typing: None,
            deleted: None,
        }
    }

    pub fn position(&self) -> Option<Position> {
        stream_position(&self.message.as_ref()?.id)
    }
}

/// What this node has delivered of one room channel.
#[derive(Default)]
pub struct Feed {
    pub last: Option<Position>,
    /// `Some` while a gap is being filled: the events that came meanwhile.
    pub waiting: Option<Vec<RoomEvent>>,
}

/// Every room channel's feed on this node.
#[derive(Default)]
pub struct Feeds {
    feeds: Mutex<HashMap<String, Feed>>,
}

impl Feeds {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Feed>> {
        // Nothing in the map is left half-changed by a panic elsewhere.
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a channel this node no longer follows.
    pub fn forget(&self, channel: &str) {
        self.lock().remove(channel);
    }

    /// Holds the channel's live events back for a catch-up; returns where the catch-up
    /// starts, or `None` when one is already running.
    pub fn hold(&self, channel: &str, low: Option<Position>) -> Option<Option<Position>> {
        let mut feeds = self.lock();
        let feed = feeds.entry(channel.to_string()).or_default();
        if feed.waiting.is_some() {
            return None;
        }
        feed.waiting = Some(Vec::new());
        Some(feed.last.or(low))
    }
}
