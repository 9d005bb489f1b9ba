//! Liveness that does not depend on any one node's memory. Every node:
//! - tells operators it is alive (its heartbeat, with its sockets);
//! - refreshes, for the players and room members it holds sockets of, their sign of life
//!   in Redis (the game's `seen:TOKEN`, the room's presence expiry) and their deadline in
//!   the shared indexes (`presence:seats`, `presence:rooms`);
//! - sweeps those indexes for deadlines that passed, whichever node set them: a seated
//!   player gone for `ABANDON_SECS` loses the game (checked atomically in the game's
//!   script), a result noted in a finished game but not yet counted (its node died in
//!   between) is counted, and presence left by a dead node is removed and announced as left;
//! - sweeps the turn clocks (`games:turn_deadlines`): a player to move whose time ran out
//!   loses the game (`timeout`), also when the nodes holding both players are gone.

use std::{collections::HashMap, time::Duration};

use common::game::store::Answer;
use futures_util::StreamExt;

use common::keys;

use super::state::AppState;
use crate::stores::operations;

const SWEEP_EVERY: Duration = Duration::from_millis(500);
const ROOM_REFRESH_EVERY: Duration = Duration::from_secs(10);
const SWEEP_BATCH: i64 = 100;
/// Batches one sweep of an index claims at most, one after the other while they come full:
/// a node sweeps up to 2,000 entries of each index a second.
const SWEEP_ROUNDS: usize = 10;
/// Checks of claimed entries in flight at once.
const SWEEP_IN_FLIGHT: usize = 16;
/// How long an entry a node claimed is left to it before another node's sweep may take it:
/// longer than a batch takes to check, short enough that an entry claimed by a node that
/// died is soon checked by another.
const SWEEP_LEASE: Duration = Duration::from_secs(2);

/// How often a seat's sign of life is refreshed: three times within `ABANDON_SECS`.
fn heartbeat_every(abandon_secs: u64) -> Duration {
    Duration::from_millis((abandon_secs * 1000 / 3).clamp(200, 10_000))
}

/// Refreshes in flight at once: a node's many seats and rooms are refreshed a few at a
/// time, so requests on the same Redis connection never wait behind all of them.
const REFRESHES_IN_FLIGHT: usize = 32;

/// Runs `refreshes`, [`REFRESHES_IN_FLIGHT`] at a time, and logs each failure as `what`.
async fn refresh_all<F>(refreshes: impl Iterator<Item = F>, what: &str)
where
    F: std::future::Future<Output = Result<(), common::error::StoreError>>,
{
    let mut running = futures_util::stream::iter(refreshes).buffer_unordered(REFRESHES_IN_FLIGHT);
    while let Some(result) = running.next().await {
        if let Err(e) = result {
            tracing::warn!(error = %e, "{what} failed");
        }
    }
}

/// Refreshes this node's seats and room presence until the node stops.
pub async fn run_heartbeat(state: AppState) {
    let abandon_ms = state.config.abandon_secs * 1000;
    let mut seats = tokio::time::interval(heartbeat_every(state.config.abandon_secs));
    let mut rooms_tick = tokio::time::interval(ROOM_REFRESH_EVERY);
    let mut node_tick = tokio::time::interval(Duration::from_secs(operations::BEAT_EVERY_SECS));
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = node_tick.tick() => {
                let sockets = state.hub.sockets();
                if let Err(e) = state.operations.beat(&state.node_id, sockets, state.started_ms).await {
                    tracing::debug!(error = %e, "node heartbeat failed");
                }
            }
            _ = seats.tick() => {
                let games = &state.games;
                let beats = state.hub.seats().into_iter().map(|(game, token)| async move {
                    games.heartbeat(&game, &token, abandon_ms).await
                });
                refresh_all(beats, "seat heartbeat").await;
            }
            _ = rooms_tick.tick() => {
                let (store, node) = (&state.rooms, state.node_id.as_str());
                let mut by_room: HashMap<String, Vec<String>> = HashMap::new();
                for (channel, name) in state.hub.room_names(|c| keys::room_of_channel(c).is_some()) {
                    if let Some(room) = keys::room_of_channel(&channel) {
                        by_room.entry(room.to_string()).or_default().push(name);
                    }
                }
                let refreshes = by_room.into_iter().map(|(room, names)| async move {
                    store.refresh(&room, node, &names).await
                });
                refresh_all(refreshes, "presence refresh").await;
            }
        }
    }
}

/// Sweeps one deadline index: claims [`SWEEP_BATCH`] due entries at a time with `claim`
/// (as checks that hold `entries` each), runs [`SWEEP_IN_FLIGHT`] checks at once with
/// `check`, and goes on for up to [`SWEEP_ROUNDS`] batches while they come full. `what`
/// names the index in the log.
async fn sweep_index<T, C, CF, K, KF>(what: &str, claim: C, entries: fn(&T) -> usize, check: K)
where
    C: Fn() -> CF,
    CF: std::future::Future<Output = Result<Vec<T>, common::error::StoreError>>,
    K: Fn(T) -> KF,
    KF: std::future::Future<Output = ()>,
{
    for _ in 0..SWEEP_ROUNDS {
        let due = match claim().await {
            Ok(due) => due,
            Err(e) => {
                tracing::debug!(error = %e, "{what} sweep failed");
                return;
            }
        };
        let full = due.iter().map(entries).sum::<usize>() as i64 == SWEEP_BATCH;
        futures_util::stream::iter(due)
            .for_each_concurrent(SWEEP_IN_FLIGHT, &check)
            .await;
        if !full {
            return;
        }
    }
}

/// Ends the games whose player to move has run out of time, whichever node holds them.
async fn sweep_clocks(state: &AppState) {
    let claim = || state.games.overdue_clocks(SWEEP_BATCH, SWEEP_LEASE);
    let check = |game: String| async move {
        match state.games.check_clock(&game).await {
            Ok(Answer::Changed(g)) => {
                tracing::info!(game = %g.id, winner = ?g.winner, "a player ran out of time")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%game, error = %e, "turn clock check failed"),
        }
    };
    sweep_index("turn clock", claim, |_| 1, check).await;
}

/// Checks the seats of one game whose deadlines passed, in one step: a player gone for
/// `ABANDON_SECS` loses (or is shown as gone from a finished game), and the seats that need
/// no more checks (with a finished game's other seat, once nothing can change it) leave the
/// index once every result noted in the game is counted; until then they are checked again
/// after [`SWEEP_LEASE`].
async fn sweep_game_seats(state: &AppState, game: String, tokens: Vec<String>, abandon_ms: u64) {
    let swept = match state.games.expire(&game, &tokens, abandon_ms).await {
        Ok(swept) => swept,
        Err(e) => {
            tracing::warn!(%game, error = %e, "abandonment check failed");
            return;
        }
    };
    if let Some(g) = &swept.changed {
        tracing::info!(game = %g.id, status = ?g.status, "a player was gone too long");
    }
    if swept.noted_results > 0 {
        match state.games.results.record_noted_results(&game).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(%game, results = n, "counted results left uncounted"),
            Err(e) => {
                tracing::warn!(%game, error = %e, "counting noted results failed");
                return;
            }
        }
    }
    if !swept.forget.is_empty() {
        let _ = state.games.forget_seats(&game, &swept.forget).await;
    }
}

/// Sweeps the seats whose deadline passed (see [`sweep_index`]), a game's at once.
async fn sweep_seats(state: &AppState, abandon_ms: u64) {
    let claim = || state.games.overdue_seats(SWEEP_BATCH, SWEEP_LEASE);
    let check = |(game, tokens)| sweep_game_seats(state, game, tokens, abandon_ms);
    sweep_index("seat", claim, |(_, tokens)| tokens.len(), check).await;
}

/// Removes the presence that dead nodes left (see [`Rooms::sweep`](crate::stores::rooms::Rooms::sweep)),
/// batch after batch while they come full.
async fn sweep_presence(state: &AppState) {
    for _ in 0..SWEEP_ROUNDS {
        match state.rooms.sweep(SWEEP_BATCH, SWEEP_LEASE).await {
            Ok(n) if n as i64 == SWEEP_BATCH => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "presence sweep failed");
                return;
            }
        }
    }
}

/// Sweeps the shared deadline indexes until the node stops.
pub async fn run_sweeper(state: AppState) {
    let abandon_ms = state.config.abandon_secs * 1000;
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        sweep_seats(&state, abandon_ms).await;
        sweep_clocks(&state).await;
        sweep_presence(&state).await;
    }
}
