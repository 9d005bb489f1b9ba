//! Results of finished games: the leaderboard, each player's standing and the count of
//! today's players (a HyperLogLog). A result is noted in the game's keys by `game.lua`
//! when the game ends and counted here once.

use std::collections::HashMap;

use fred::{prelude::*, types::scripts::Script};
use serde::Serialize;

use super::{
    model::{Game, Status},
    rules::Mark,
};
use crate::{clock, error::StoreError, keys};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub name: String,
    pub wins: u64,
    pub losses: u64,
    pub draws: u64,
}

/// Field of a game's seats hash that notes a result to count: `result:VERSION`.
const RESULT_PREFIX: &str = "result:";

/// Names this program has counted among today's players: each is added to the day's
/// HyperLogLog once, not at every game.
#[derive(Default)]
struct CountedToday {
    day: String,
    names: std::collections::HashSet<String>,
}

/// How long a day's count of players is kept.
const PLAYERS_OF_DAY_TTL_SECS: i64 = 8 * 86_400;

/// Most names remembered as counted today; past it, every game counts its players again
/// (the HyperLogLog does not mind).
const COUNTED_NAMES: usize = 100_000;

/// Results on one Redis client.
#[derive(Clone)]
pub struct Results {
    client: Client,
    record: Script,
    counted: std::sync::Arc<std::sync::Mutex<CountedToday>>,
}

impl Results {
    pub fn new(client: Client) -> Self {
        Results {
            client,
            record: Script::from_lua(include_str!("record_result.lua")),
            counted: Default::default(),
        }
    }

    /// or lost Redis between finishing the game and counting it); a result already counted
    /// is not counted again.
    pub async fn record_noted_results(&self, id: &str) -> Result<usize, StoreError> {
        let fields: HashMap<String, String> = self.client.hgetall(keys::game_seats(id)).await?;
        let mut counted = 0;
        for (field, json) in fields {
            if field.starts_with(RESULT_PREFIX) {
                self.record(&serde_json::from_str::<Game>(&json)?).await?;
                counted += 1;
            }
        }
        Ok(counted)
    }

    /// Counts a finished game for both players (the bot is not ranked), once, and clears
    /// its note in the game's keys.
    pub(super) async fn record(&self, game: &Game) -> Result<(), StoreError> {
        let mut ranked = Vec::new();
        for mark in [Mark::X, Mark::O] {
            if game.vs_bot && game.bot == Some(mark) {
                continue;
            }
            let Some(name) = game.name_of(mark) else {
                continue;
            };
            let field = match (game.status, game.winner) {
                (Status::Draw, _) => "draws",
                (_, Some(w)) if w == mark => "wins",
                (_, Some(_)) => "losses",
                _ => continue,
            };
            ranked.push((name.to_string(), field));
        }
        if !ranked.is_empty() {
            let mut keys_list = vec![
                keys::LEADERBOARD.to_string(),
                keys::RESULTS_COUNTED.to_string(),
            ];
            let mut args = vec![
                format!("{}:{}", game.id, game.version),
                clock::now_millis().to_string(),
            ];
            for (name, field) in ranked {
                keys_list.push(keys::player_stats(&name));
                args.push(name);
                args.push(field.to_string());
            }
            let _: i64 = self
                .record
                .evalsha_with_reload(&self.client, keys_list, args)
                .await?;
        }
        let _: i64 = self
            .client
            .hdel(
                keys::game_seats(&game.id),
                format!("{RESULT_PREFIX}{}", game.version),
            )
            .await?;
        Ok(())
    }

    /// One player's results (zeros for a name that never finished a game).
    pub async fn standing(&self, name: &str) -> Result<Standing, StoreError> {
        let (wins, losses, draws): (Option<u64>, Option<u64>, Option<u64>) = self
            .client
            .hmget(keys::player_stats(name), vec!["wins", "losses", "draws"])
            .await?;
        Ok(Standing {
            name: name.to_string(),
            wins: wins.unwrap_or(0),
            losses: losses.unwrap_or(0),
            draws: draws.unwrap_or(0),
        })
    }

    /// The top `n` players by wins.
    pub async fn leaderboard(&self, n: i64) -> Result<Vec<Standing>, StoreError> {
        let top: Vec<(String, f64)> = self
            .client
            .zrevrange(keys::LEADERBOARD, 0, n - 1, true)
            .await?;
        let mut standings = Vec::with_capacity(top.len());
        for (name, _) in top {
            let (wins, losses, draws): (Option<u64>, Option<u64>, Option<u64>) = self
                .client
                .hmget(keys::player_stats(&name), vec!["wins", "losses", "draws"])
                .await?;
            standings.push(Standing {
                name,
                wins: wins.unwrap_or(0),
                losses: losses.unwrap_or(0),
                draws: draws.unwrap_or(0),
            });
        }
        Ok(standings)
    }

    /// Counts `name` among today's players (once a day for each name this program has
    /// counted).
    pub async fn count_player(&self, name: &str) -> Result<(), StoreError> {
        let today = clock::today();
        {
            let counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
            if counted.day == today && counted.names.contains(name) {
                return Ok(());
            }
        }
        let key = keys::players_of_day(&today);
        let _: i64 = self.client.pfadd(&key, vec![name]).await?;
        let _: bool = self
            .client
            .expire(&key, PLAYERS_OF_DAY_TTL_SECS, None)
            .await?;
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        if counted.day != today {
            counted.day = today;
            counted.names.clear();
        }
        if counted.names.len() < COUNTED_NAMES {
            counted.names.insert(name.to_string());
        }
        Ok(())
    }

    /// About how many distinct names played today.
    pub async fn players_today(&self) -> Result<u64, StoreError> {
        Ok(self
            .client
            .pfcount(keys::players_of_day(&clock::today()))
            .await?)
    }
}
