//! The bot's side of games against it: reads `bot_turns` through the consumer group
//! `workers` (so one worker plays each turn), picks a perfect move (at random among the
//! equally good ones, so games differ) and plays it through the same atomic move script
//! as a human, which publishes the new state to the players' nodes.

use std::time::Duration;

use common::{
    game::{
        model::BOT_TOKEN,
        rules::{best_moves, Mark},
        store::{Answer, Games},
    },
    keys,
    streams::{self, Entries},
};
use fred::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::retry;

const BATCH: u64 = 16;
const BLOCK_MS: u64 = 2_000;

/// The bot player of one worker process.
pub struct Player {
    pub redis: Client,
    pub reader: Client,
    pub games: Games,
    pub name: String,
}

/// Any of `moves`, drawn at random.
fn pick(moves: &[usize]) -> Option<usize> {
    if moves.is_empty() {
        return None;
    }
    let r = uuid::Uuid::new_v4().as_u128();
    Some(moves[(r % moves.len() as u128) as usize])
}

impl Player {
    /// Plays turns until `shutdown` is cancelled; the turns already read are played
    /// first (the blocking read is ended in Redis, so none is handed over meanwhile).
    pub async fn run(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let read = streams::read_group(
                &self.reader,
                &self.redis,
                keys::BOT_TURNS,
                &self.name,
                BATCH,
                BLOCK_MS,
                shutdown.cancelled(),
            );
            let entries: Entries = match read.await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %e, "reading bot_turns failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            for (stream_id, fields) in entries {
                let played =
                    retry::with_backoff(&shutdown, "the bot's move", || self.take_turn(&fields));
                if !played.await {
                    continue;
                }
                let _: Result<i64, _> = self
                    .redis
                    .xack(keys::BOT_TURNS, keys::WORKER_GROUP, stream_id.as_str())
                    .await;
            }
        }
    }

    async fn take_turn(
        &self,
        fields: &std::collections::HashMap<String, String>,
    ) -> Result<(), anyhow::Error> {
        let Some(id) = fields.get("game") else {
            return Ok(());
        };
        let Some(game) = self.games.load(id).await? else {
            return Ok(());
        };
        let version: u64 = fields
            .get("version")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if game.version != version || !game.bots_turn() {
            return Ok(());
        }
        let mark = game.bot.unwrap_or(Mark::O);
        let Some(cell) = pick(&best_moves(&game.board, mark)) else {
            return Ok(());
        };
        match self.games.play(id, BOT_TOKEN, cell as i64, None).await? {
            Answer::Refused(code, message) => {
                tracing::debug!(?code, %message, "the bot's move was refused")
            }
            _ => tracing::debug!(game = %id, cell, "the bot moved"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn picks_only_among_the_given_moves_and_varies() {
        assert_eq!(pick(&[]), None);
        let seen: std::collections::HashSet<usize> =
            (0..200).filter_map(|_| pick(&[1, 5, 7])).collect();
        assert_eq!(seen, [1, 5, 7].into_iter().collect());
    }
}
