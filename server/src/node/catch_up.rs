//! Room events in order, with nothing skipped: what this node has delivered of each room
//! channel it follows, and the filling of gaps.
//!
//! Each published room message names the one before it (`prev`). A node that sees a `prev`
//! newer than the last message it delivered on that channel has missed some (its
//! subscription was lost for a moment: a reconnect, a failover): it holds the channel's
//! later events back, fetches what it missed from the room's stream, and delivers all of
//! it in stream order. After a reconnect the same happens for every room, from the last
//! message delivered, so messages said while the node was not listening arrive even when
//! nothing is said after them. The sockets' cursors then drop what each has already seen,
//! and a message fetched from the stream carries its request's `ref` to its sender as the
//! published one does.

use std::time::Duration;

use common::protocol::ServerMsg;

use super::state::AppState;
use crate::{
    hub::{stream_position, Position},
    stores::feeds::RoomEvent,
};

/// Most attempts at fetching a gap (about 30 s, with backoff) before what came meanwhile
/// is delivered without it.
const FETCH_ATTEMPTS: u32 = 40;

/// A room event from pub/sub: delivered at once, held while a gap is filled, or the start
/// of filling one.
pub fn on_event(state: &AppState, channel: &str, room: &str, event: RoomEvent) {
    let Some(position) = event.position() else {
        // Presence: nothing to order.
        deliver(state, channel, room, event);
        return;
    };
    if !state.hub.has_followers(channel) {
        return;
    }
    let prev = event.prev.as_deref().and_then(stream_position);
    let mut feeds = state.feeds.lock();
    let feed = feeds.entry(channel.to_string()).or_default();
    if let Some(waiting) = feed.waiting.as_mut() {
        waiting.push(event);
        return;
    }
    if let (Some(last), Some(prev)) = (feed.last, prev) {
        if prev > last {
            tracing::info!(%channel, "missed room messages; fetching them");
            feed.waiting = Some(vec![event]);
            drop(feeds);
            let (state, channel, room) = (state.clone(), channel.to_string(), room.to_string());
            tokio::spawn(async move { fill(&state, &channel, &room, Some(last)).await });
            return;
        }
    }
    feed.last = feed.last.max(Some(position));
    // Under the feeds' lock, so that a gap being closed cannot interleave with it.
    deliver(state, channel, room, event);
}

/// After a reconnect: delivers what the room's followers here missed, from the last
/// message delivered (or the oldest any of them has seen).
pub async fn catch_up(state: &AppState, channel: &str, room: &str) {
    let low = state.hub.low_position(channel);
    if let Some(after) = state.feeds.hold(channel, low) {
        fill(state, channel, room, after).await;
    }
}

/// Fetches the messages after `after` and delivers them with the events held meanwhile,
/// in stream order, then lets live events through again.
async fn fill(state: &AppState, channel: &str, room: &str, after: Option<Position>) {
    let mut delay = Duration::from_millis(50);
    let mut fetched = Vec::new();
    for attempt in 1..=FETCH_ATTEMPTS {
        match state.rooms.messages_after(room, after).await {
            Ok(messages) => {
                fetched = messages;
                break;
            }
            Err(e) if attempt < FETCH_ATTEMPTS && !state.shutdown.is_cancelled() => {
                tracing::warn!(room, error = %e, "fetching missed room messages failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                tracing::warn!(room, error = %e, "fetching missed room messages failed; going on without them");
                break;
            }
        }
    }
    let mut feeds = state.feeds.lock();
    let feed = feeds.entry(channel.to_string()).or_default();
    let mut events: Vec<RoomEvent> = fetched.into_iter().map(RoomEvent::logged).collect();
    events.extend(feed.waiting.take().unwrap_or_default());
    // Stable: of two copies of one message, the fetched one (with its origin) comes first.
    events.sort_by_key(RoomEvent::position);
    for event in events {
        feed.last = feed.last.max(event.position());
        deliver(state, channel, room, event);
    }
}

/// Hands a room event to this node's followers of `channel`.
fn deliver(state: &AppState, channel: &str, room: &str, event: RoomEvent) {
    if let Some(message) = event.message {
        let Some(position) = stream_position(&message.id) else {
            return;
        };
        let reference = event.origin.as_ref().and_then(|o| o.reference.clone());
        let plain = ServerMsg::RoomMessage {
            reference: None,
            message: message.clone(),
        };
        state.hub.publish(
            channel,
            position,
            &state.node_id,
            event.origin.as_ref(),
            Some(&message.from),
            &plain,
            || ServerMsg::RoomMessage {
                reference: reference.clone(),
                message: message.clone(),
            },
        );
    }
    for (name, joined) in [(event.joined, true), (event.left, false)] {
        if let Some(name) = name {
            let frame = ServerMsg::RoomPresence {
                room: room.to_string(),
                joined: joined.then(|| name.clone()),
                left: (!joined).then(|| name.clone()),
            };
            state.hub.presence(channel, &name, &frame, false);
        }
    }
    if let Some(name) = event.typing {
        let frame = ServerMsg::RoomTyping {
            room: room.to_string(),
            name: name.clone(),
        };
        state.hub.presence(channel, &name, &frame, true);
    }
    if let Some(id) = event.deleted {
        let frame = ServerMsg::RoomDeleted {
            room: room.to_string(),
            id,
        };
        state.hub.to_followers(channel, &frame);
    }
}
