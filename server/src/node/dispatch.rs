//! The node's router of events: subscription changes applied in batches, each pub/sub
//! event handed to the sockets that follow its channel through the [`Hub`](crate::hub::Hub),
//! and the resync after a reconnect.
//!
//! Subscription changes go through one task, in batches confirmed by one round trip each,
//! so a subscribe and an unsubscribe for the same channel can never overtake each other.
//! After a reconnect (or if this node fell behind reading), it re-subscribes and then
//! fetches from each game's document and each room's stream what changed meanwhile
//! ([`catch_up`](super::catch_up) keeps room messages in order through that); the sockets'
//! cursors drop what they have already seen. Every node also follows the news of muted
//! names (and reads them again after a reconnect) and operators' disconnections.

use std::collections::HashSet;

use common::{
    game::model::{Game, Origin},
    keys,
    protocol::{close, ServerMsg},
};
use fred::prelude::*;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{catch_up, state::AppState};
use crate::hub::close_frame;
use crate::stores::{feeds::RoomEvent, operations::Target, users::MutedEvent};
use futures_util::StreamExt;

/// Most subscription changes applied in one batch.
const BATCH: usize = 1024;

/// Applies subscription changes in batches: every change waiting when the previous batch
/// is done goes out at once and one round trip confirms them all, so a burst of new games
/// costs one round trip, not one each, and no request waits behind a queue of them. A
/// channel's change is decided by whether a local socket follows it when its batch goes
/// out, so a subscribe and an unsubscribe of one channel can never overtake each other.
pub async fn run_subscriptions(
    state: AppState,
    mut rx: mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>,
) {
    let mut subscribed = HashSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut seen = HashSet::new();
        let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
        for (channel, _) in &batch {
            if !seen.insert(channel.as_str()) {
                continue;
            }
            match (
                state.hub.has_followers(channel),
                subscribed.contains(channel),
            ) {
                (true, false) => subscribe.push(channel.clone()),
                (false, true) => unsubscribe.push(channel.clone()),
                _ => {}
            }
        }
        tracing::debug!(
            subscribe = subscribe.len(),
            unsubscribe = unsubscribe.len(),
            "subscription sync"
        );
        let failed = state.bus.apply(&subscribe, &unsubscribe).await;
        for (channel, e) in &failed {
            tracing::warn!(%channel, error = %e, "changing a subscription failed; the resync after reconnecting repairs it");
        }
        let failed: HashSet<&String> = failed.iter().map(|(c, _)| c).collect();
        for channel in subscribe.iter().filter(|c| !failed.contains(c)) {
            subscribed.insert(channel.clone());
        }
        for channel in unsubscribe.iter().filter(|c| !failed.contains(c)) {
            subscribed.remove(channel);
            state.feeds.forget(channel);
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(());
        }
    }
}

#[derive(Deserialize)]
struct GameEvent {
    origin: Option<Origin>,
    game: Game,
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
    if keys::game_of_channel(channel).is_some() {
        match serde_json::from_str::<GameEvent>(payload) {
            Ok(event) => deliver_game(state, channel, event.game, event.origin.as_ref()),
            Err(e) => tracing::warn!(%channel, error = %e, "bad game event"),
        }
    } else if let Some(room) = keys::room_of_channel(channel) {
        match serde_json::from_str::<RoomEvent>(payload) {
            Ok(event) => catch_up::on_event(state, channel, room, event),
            Err(e) => tracing::warn!(%channel, error = %e, "bad room event"),
        }
    } else if channel == keys::MUTES_CHANNEL {
        match serde_json::from_str::<MutedEvent>(payload) {
            Ok(event) => state.hub.set_muted(&event.token, event.muted),
            Err(e) => tracing::warn!(%channel, error = %e, "bad mute event"),
        }
    } else if channel == keys::DISCONNECT_CHANNEL {
        match serde_json::from_str::<Target>(payload) {
            Ok(target) => {
                let (token, name) = target.parts();
                let closed = state.hub.close_sockets(token, name, &operator_close());
                tracing::info!(closed, "sockets disconnected by an operator");
            }
            Err(e) => tracing::warn!(%channel, error = %e, "bad disconnect event"),
        }
    }
}

/// The close frame of a socket an operator disconnected (or banned).
pub fn operator_close() -> axum::extract::ws::Message {
    close_frame(close::BY_OPERATOR, "disconnected by an operator")
}

/// The channels every node follows from its start, whatever its sockets follow.
fn node_channels() -> [String; 2] {
    [
        keys::MUTES_CHANNEL.to_string(),
        keys::DISCONNECT_CHANNEL.to_string(),
    ]
}

/// Follows the news of muted names and of disconnections (every node does, from its
/// start).
pub async fn follow_users(state: &AppState) {
    for (channel, e) in state.bus.apply(&node_channels(), &[]).await {
        tracing::warn!(%channel, error = %e, "following a node channel failed; retried at the next resync");
    }
}

fn deliver_game(state: &AppState, channel: &str, game: Game, origin: Option<&Origin>) {
    state.hub.game_over(channel, &game.id, game.is_over());
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
        None,
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

/// Reads again the muted names of every token with sockets here: a change announced
/// while this node was not listening is not missed.
async fn reload_mutes(state: &AppState) {
    let loads = state.hub.tokens().into_iter().map(|token| async move {
        let muted = state.sessions.profile(&token).await;
        (token, muted)
    });
    let mut loads = futures_util::stream::iter(loads).buffer_unordered(32);
    while let Some((token, muted)) = loads.next().await {
        match muted {
            Ok(profile) => state
                .hub
                .set_muted(&token, profile.map(|p| p.muted).unwrap_or_default()),
            Err(e) => tracing::warn!(error = %e, "reloading muted names failed"),
        }
    }
}

/// Re-subscribes every followed channel and delivers what changed while this node was
/// not listening: each game's current state, each room's messages after the last one
/// delivered ([`catch_up::catch_up`]).
pub async fn resync(state: AppState) {
    let mut channels = state.hub.channels();
    channels.extend(node_channels());
    for (channel, e) in state.bus.apply(&channels, &[]).await {
        tracing::warn!(%channel, error = %e, "re-subscribing failed");
    }
    reload_mutes(&state).await;
    for channel in channels {
        if let Some(id) = keys::game_of_channel(&channel) {
            match state.games.load(id).await {
                Ok(Some(game)) => deliver_game(&state, &channel, game, None),
                Ok(None) => {}
                Err(e) => tracing::warn!(game = id, error = %e, "resync of a game failed"),
            }
        } else if let Some(room) = keys::room_of_channel(&channel) {
            catch_up::catch_up(&state, &channel, room).await;
        }
    }
}
