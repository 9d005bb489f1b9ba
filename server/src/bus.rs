//! Pub/sub between nodes for games and rooms: a node subscribes to a game's or room's
//! channel only while it holds a socket following it, and hands each event to those
//! sockets through the [`Hub`](crate::hub::Hub).
//!
//! Subscription changes go through one task, in batches confirmed by one round trip each,
//! so a subscribe and an unsubscribe for the same channel can never overtake each other.
//! After a reconnect (or if this node fell behind reading), it re-subscribes and then
//! fetches from each game's document and each room's stream what changed meanwhile
//! ([`feeds`] keeps room messages in order through that); the sockets' cursors drop what
//! they have already seen. With `sharded`, SSUBSCRIBE/SPUBLISH are used (Redis Cluster),
//! and the rest of the node does not change.

use std::collections::HashSet;

use common::{
    game::store::{Game, Origin},
    protocol::ServerMsg,
};
use fred::{clients::SubscriberClient, prelude::*};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::{feeds, rooms, state::AppState};

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

    /// Subscribes `subscribe` and unsubscribes `unsubscribe`, in one go: returns once Redis
    /// has processed them, so that a publish made after this returns reaches this node.
    /// Returns the channels whose change failed.
    async fn apply(&self, subscribe: &[String], unsubscribe: &[String]) -> Vec<(String, Error)> {
        if self.sharded {
            // fred hands SSUBSCRIBE's confirmation to the caller (to follow MOVED
            // redirections), so each returns once its shard has subscribed the node. The
            // channels live on different shards: one command each, all at once.
            let subs = subscribe
                .iter()
                .map(|c| async move { (c, self.client.ssubscribe(c.as_str()).await) });
            let unsubs = unsubscribe
                .iter()
                .map(|c| async move { (c, self.client.sunsubscribe(c.as_str()).await) });
            let (subs, unsubs) = futures_util::future::join(
                futures_util::future::join_all(subs),
                futures_util::future::join_all(unsubs),
            )
            .await;
            return subs
                .into_iter()
                .chain(unsubs)
                .filter_map(|(c, r)| r.err().map(|e| (c.clone(), e)))
                .collect();
        }
        // fred returns from SUBSCRIBE without waiting for the confirmation; a round trip on
        // the same connection after it does: once the PING is answered, Redis has
        // processed every SUBSCRIBE sent before it. One command names all the channels.
        let failed = |channels: &[String], e: Error| {
            channels
                .iter()
                .map(|c| (c.clone(), e.clone()))
                .collect::<Vec<_>>()
        };
        let mut failures = Vec::new();
        if !unsubscribe.is_empty() {
            if let Err(e) = self.client.unsubscribe(unsubscribe.to_vec()).await {
                failures.extend(failed(unsubscribe, e));
            }
        }
        if !subscribe.is_empty() {
            let confirmed = async {
                self.client.subscribe(subscribe.to_vec()).await?;
                self.client.ping::<Value>(None).await
            };
            if let Err(e) = confirmed.await {
                failures.extend(failed(subscribe, e));
            }
        }
        failures
    }
}

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
    if channel.starts_with("game:") {
        match serde_json::from_str::<GameEvent>(payload) {
            Ok(event) => deliver_game(state, channel, event.game, event.origin.as_ref()),
            Err(e) => tracing::warn!(%channel, error = %e, "bad game event"),
        }
    } else if let Some(room) = rooms::room_of_channel(channel) {
        match serde_json::from_str::<feeds::RoomEvent>(payload) {
            Ok(event) => feeds::on_event(state, channel, room, event),
            Err(e) => tracing::warn!(%channel, error = %e, "bad room event"),
        }
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

/// Re-subscribes every followed channel and delivers what changed while this node was
/// not listening: each game's current state, each room's messages after the last one
/// delivered ([`feeds::catch_up`]).
pub async fn resync(state: AppState) {
    let channels = state.hub.channels();
    for (channel, e) in state.bus.apply(&channels, &[]).await {
        tracing::warn!(%channel, error = %e, "re-subscribing failed");
    }
    for channel in channels {
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
            feeds::catch_up(&state, &channel, room).await;
        }
    }
}
