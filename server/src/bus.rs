//! Pub/sub between nodes for games and rooms: a node subscribes to a game's or room's
//! channel only while it holds a socket following it, and hands each event to those
//! sockets through the [`Hub`](crate::hub::Hub).
//!
//! Subscription changes go through one task, in order, so a subscribe and an unsubscribe
//! for the same channel can never overtake each other. After a reconnect (or if this node
//! fell behind reading), it re-subscribes and then fetches from each game's document and
//! each room's stream what changed meanwhile; the sockets' cursors drop what they have
//! already seen. With `sharded`, SSUBSCRIBE/SPUBLISH are used (Redis Cluster), and the
//! rest of the node does not change.

use common::{
    game::store::{Game, Origin},
    protocol::{RoomMessage, ServerMsg},
};
use fred::{clients::SubscriberClient, prelude::*};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::{hub::stream_position, rooms, state::AppState};

/// The node's pub/sub connection and the queue of subscription changes.
pub struct Bus {
    pub client: SubscriberClient,
    pub sharded: bool,
    requests: mpsc::UnboundedSender<(String, oneshot::Sender<()>)>,
}

impl Bus {
    pub fn new(
        client: SubscriberClient,
        sharded: bool,
    ) -> (Bus, mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>) {
        let (requests, rx) = mpsc::unbounded_channel();
        (
            Bus {
                client,
                sharded,
                requests,
            },
            rx,
        )
    }

    /// Brings the subscription of `channel` in line with whether a local socket follows
    /// it, and waits until that is done.
    pub async fn sync(&self, channel: &str) {
        let (done, wait) = oneshot::channel();
        if self.requests.send((channel.to_string(), done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Returns once Redis has processed the subscription, so that a publish made after
    /// this returns reaches this node.
    async fn subscribe(&self, channel: &str) -> Result<(), Error> {
        if self.sharded {
            // fred hands SSUBSCRIBE's confirmation to the caller (to follow MOVED
            // redirections), so this returns once the shard has subscribed the node.
            self.client.ssubscribe(channel).await?;
        } else {
            // fred returns from SUBSCRIBE without waiting for the confirmation; a round
            // trip on the same connection after it does: once the PING is answered, Redis
            // has processed the SUBSCRIBE sent before it.
            self.client.subscribe(channel).await?;
            let _: Value = self.client.ping(None).await?;
        }
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), Error> {
        if self.sharded {
            self.client.sunsubscribe(channel).await
        } else {
            self.client.unsubscribe(channel).await
        }
    }
}

/// Applies subscription changes one at a time.
pub async fn run_subscriptions(
    state: AppState,
    mut rx: mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>,
) {
    let mut subscribed = std::collections::HashSet::new();
    while let Some((channel, done)) = rx.recv().await {
        let wanted = state.hub.has_followers(&channel);
        tracing::debug!(%channel, wanted, "subscription sync");
        let result = match (wanted, subscribed.contains(&channel)) {
            (true, false) => state.bus.subscribe(&channel).await.map(|_| {
                subscribed.insert(channel.clone());
            }),
            (false, true) => state.bus.unsubscribe(&channel).await.map(|_| {
                subscribed.remove(&channel);
            }),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(%channel, error = %e, "changing a subscription failed; the resync after reconnecting repairs it");
        }
        let _ = done.send(());
    }
}

#[derive(Deserialize)]
struct GameEvent {
    origin: Option<Origin>,
    game: Game,
}

#[derive(Deserialize)]
struct RoomEvent {
    origin: Option<Origin>,
    message: Option<RoomMessage>,
    joined: Option<String>,
    left: Option<String>,
}

/// Reads pub/sub messages and reconnect notices until the node stops.
pub async fn run_dispatch(state: AppState) {
    let mut messages = state.bus.client.message_rx();
    let mut reconnects = state.bus.client.reconnect_rx();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            msg = messages.recv() => match msg {
                Ok(msg) => {
                    let channel = msg.channel.to_string();
                    match msg.value.as_string() {
                        Some(payload) => dispatch(&state, &channel, &payload),
                        None => tracing::warn!(%channel, "a pub/sub message that is not text"),
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "fell behind reading pub/sub; resyncing");
                    tokio::spawn(resync(state.clone()));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            server = reconnects.recv() => {
                if server.is_ok() {
                    tracing::info!("pub/sub reconnected; resyncing games and rooms");
                    tokio::spawn(resync(state.clone()));
                }
            }
        }
    }
}

/// Hands one pub/sub event to the local sockets that follow its channel.
pub fn dispatch(state: &AppState, channel: &str, payload: &str) {
    if channel.starts_with("game:") {
        match serde_json::from_str::<GameEvent>(payload) {
            Ok(event) => deliver_game(state, channel, event.game, event.origin.as_ref()),
            Err(e) => tracing::warn!(%channel, error = %e, "bad game event"),
        }
    } else if let Some(room) = rooms::room_of_channel(channel) {
        match serde_json::from_str::<RoomEvent>(payload) {
            Ok(event) => deliver_room(state, channel, room, event),
            Err(e) => tracing::warn!(%channel, error = %e, "bad room event"),
        }
    }
}

fn deliver_game(state: &AppState, channel: &str, game: Game, origin: Option<&Origin>) {
    let position = u128::from(game.version);
    let reference = origin.and_then(|o| o.reference.clone());
    let plain = ServerMsg::GameState {
        reference: None,
        game,
    };
    state.hub.publish(
        channel,
        position,
        &state.node_id,
        origin,
        &plain,
        || match &plain {
            ServerMsg::GameState { game, .. } => ServerMsg::GameState {
                reference: reference.clone(),
                game: game.clone(),
            },
            other => other.clone(),
        },
    );
}

fn deliver_room(state: &AppState, channel: &str, room: &str, event: RoomEvent) {
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
            state.hub.presence(channel, &name, &frame);
        }
    }
}

/// Re-subscribes every followed channel and delivers what changed while this node was
/// not listening: each game's current state, each room's messages after the oldest
/// position its sockets have seen.
pub async fn resync(state: AppState) {
    for channel in state.hub.channels() {
        if let Err(e) = state.bus.subscribe(&channel).await {
            tracing::warn!(%channel, error = %e, "re-subscribing failed");
        }
        if let Some(id) = channel
            .strip_prefix("game:{")
            .and_then(|c| c.strip_suffix("}:events"))
        {
            match state.games.load(id).await {
                Ok(Some(game)) => deliver_game(&state, &channel, game, None),
                Ok(None) => {}
                Err(e) => tracing::warn!(game = id, error = %e, "resync of a game failed"),
            }
        } else if let Some(room) = rooms::room_of_channel(&channel) {
            let since = state.hub.low_position(&channel);
            match rooms::messages_after(&state, room, since).await {
                Ok(messages) => {
                    for message in messages {
                        let event = RoomEvent {
                            origin: None,
                            message: Some(message),
                            joined: None,
                            left: None,
                        };
                        deliver_room(&state, &channel, room, event);
                    }
                }
                Err(e) => tracing::warn!(room, error = %e, "resync of a room failed"),
            }
        }
    }
}
