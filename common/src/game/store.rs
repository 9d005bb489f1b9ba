//! Games in Redis: every change is one run of `game.lua` on the game's own keys, which
//! also publishes the new state on the game's channel. After a change this module does the
//! follow-ups that live on other keys: results to the leaderboard when the change ended
//! the game, and a bot turn on `bot_turns` when the bot is to move.

use std::collections::HashMap;

use fred::{prelude::*, types::scripts::Script};
use serde::{Deserialize, Serialize};

use super::rules::Mark;
use crate::{clock, keys, protocol::ErrorCode, session::StoreError};

/// How a game stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Waiting,
    Playing,
    Won,
    Draw,
    Abandoned,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Players {
    #[serde(rename = "X")]
    pub x: Option<String>,
    #[serde(rename = "O")]
    pub o: Option<String>,
}

/// The game object of PROTOCOL.md (`bot` is added: the bot's mark in a game against it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    pub id: String,
    pub board: [Option<Mark>; 9],
    pub next: Option<Mark>,
    pub players: Players,
    pub status: Status,
    pub winner: Option<Mark>,
    pub line: Option<[usize; 3]>,
    pub version: u64,
    pub vs_bot: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<Mark>,
    /// The seat that asked for a rematch while the other has not yet (games between people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rematch: Option<Mark>,
    /// The seat whose player left the game or was gone too long (games between people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Mark>,
}

impl Game {
    pub fn name_of(&self, mark: Mark) -> Option<&str> {
        match mark {
            Mark::X => self.players.x.as_deref(),
            Mark::O => self.players.o.as_deref(),
        }
    }

    /// Whether the game has ended (won, drawn or abandoned).
    pub fn is_over(&self) -> bool {
        !matches!(self.status, Status::Waiting | Status::Playing)
    }

    /// Whether the bot is to move.
    pub fn bots_turn(&self) -> bool {
        self.vs_bot
            && self.status == Status::Playing
            && self.next.is_some()
            && self.next == self.bot
    }
}

/// Who asked for a change: the published state carries it, so the node holding that
/// socket adds the request's `ref` to its copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub node: String,
    pub conn: u64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What a game operation answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Changed and published to everyone in the game.
    Changed(Game),
    /// Unchanged; the state for the requester, and its seat if it has one.
    Unchanged(Game, Option<Mark>),
    /// Nothing to show (e.g. a rematch the other player has not asked for yet).
    Ack,
    /// The seat is still alive (abandonment check).
    Fresh,
    Refused(ErrorCode, String),
}

/// One player's line of the leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub name: String,
    pub wins: u64,
    pub losses: u64,
    pub draws: u64,
}

/// Field of a game's seats hash that notes a result to count: `result:VERSION`.
const RESULT_PREFIX: &str = "result:";

/// The token that holds the bot's seat.
pub const BOT_TOKEN: &str = "@bot";

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

/// Game storage on one Redis client.
#[derive(Clone)]
pub struct Games {
    client: Client,
    script: Script,
    record: Script,
    quick: Script,
    publish: &'static str,
    counted: std::sync::Arc<std::sync::Mutex<CountedToday>>,
}

/// Member of the seat index and the match queue: `GAME \x1f TOKEN`.
fn seat_member(id: &str, token: &str) -> String {
    format!("{id}\x1f{token}")
}

fn parse<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(raw)?)
}

impl Games {
    /// `sharded`: publish with SPUBLISH (Redis Cluster) instead of PUBLISH.
    pub fn new(client: Client, sharded: bool) -> Self {
        Games {
            client,
            script: Script::from_lua(include_str!("game.lua")),
            record: Script::from_lua(include_str!("record_result.lua")),
            quick: Script::from_lua(include_str!("quick_match.lua")),
            publish: if sharded { "SPUBLISH" } else { "PUBLISH" },
            counted: Default::default(),
        }
    }

    /// A new short game ID.
    pub fn new_id() -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
        let mut n = uuid::Uuid::new_v4().as_u128();
        (0..8)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u128) as usize] as char;
                n /= ALPHABET.len() as u128;
                c
            })
            .collect()
    }

    async fn run(
        &self,
        id: &str,
        op: &str,
        origin: Option<&Origin>,
        args: Vec<String>,
    ) -> Result<Answer, StoreError> {
        let origin = match origin {
            Some(o) => serde_json::to_string(o)?,
            None => String::new(),
        };
        let mut argv = vec![
            op.to_string(),
            clock::now_millis().to_string(),
            self.publish.to_string(),
            keys::game_channel(id),
            origin,
        ];
        argv.extend(args);
        let reply: Vec<String> = self
            .script
            .evalsha_with_reload(
                &self.client,
                vec![keys::game(id), keys::game_seats(id)],
                argv,
            )
            .await?;
        let part = |i: usize| reply.get(i).map(String::as_str).unwrap_or_default();
        let answer = match part(0) {
            "state" => {
                let game: Game = parse(part(1))?;
                self.follow_up(&game, part(2) == "ended").await?;
                Answer::Changed(game)
            }
            "view" => {
                let seat = match part(2) {
                    "X" => Some(Mark::X),
                    "O" => Some(Mark::O),
                    _ => None,
                };
                Answer::Unchanged(parse(part(1))?, seat)
            }
            "ack" => Answer::Ack,
            "fresh" => Answer::Fresh,
            _ => {
                let code = serde_json::from_value(serde_json::Value::String(part(1).to_string()))
                    .unwrap_or(ErrorCode::BadRequest);
                Answer::Refused(code, part(2).to_string())
            }
        };
        Ok(answer)
    }

    /// What a change leads to outside the game's own keys.
    async fn follow_up(&self, game: &Game, ended: bool) -> Result<(), StoreError> {
        if ended {
            // The change is made and published; a result not counted now stays noted in
            // the game's keys and a sweeper counts it later.
            if let Err(e) = self.record_result(game).await {
                tracing::warn!(game = %game.id, error = %e, "counting a result failed; left to the sweeper");
            }
        }
        if game.bots_turn() {
            let _: String = self
                .client
                .xadd(
                    keys::BOT_TURNS,
                    false,
                    ("MAXLEN", "~", keys::BOT_TURNS_MAXLEN),
                    "*",
                    vec![
                        ("game", game.id.clone()),
                        ("version", game.version.to_string()),
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// Creates a game with the creator as X. `quiet`: store it without publishing (a
    /// quick-match game that may be dropped if a match is found at once).
    pub async fn create(
        &self,
        id: &str,
        token: &str,
        name: &str,
        vs_bot: bool,
        quiet: bool,
        origin: Option<&Origin>,
    ) -> Result<Answer, StoreError> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        self.run(
            id,
            "create",
            origin,
            vec![
                id.to_string(),
                token.to_string(),
                name.to_string(),
                flag(vs_bot),
                flag(quiet),
            ],
        )
        .await
    }

    /// Takes the free seat, gives a seated player its seat back, or lets the caller watch
    /// (unless `want_seat`: then `game_full`).
    pub async fn join(
        &self,
        id: &str,
        token: &str,
        name: &str,
        want_seat: bool,
        origin: Option<&Origin>,
    ) -> Result<Answer, StoreError> {
        let want = if want_seat { "1" } else { "0" };
        self.run(
            id,
            "join",
            origin,
            vec![token.to_string(), name.to_string(), want.to_string()],
        )
        .await
    }

    pub async fn play(
        &self,
        id: &str,
        token: &str,
        cell: i64,
        origin: Option<&Origin>,
    ) -> Result<Answer, StoreError> {
        self.run(
            id,
            "move",
            origin,
            vec![token.to_string(), cell.to_string()],
        )
        .await
    }

    pub async fn rematch(
        &self,
        id: &str,
        token: &str,
        origin: Option<&Origin>,
    ) -> Result<Answer, StoreError> {
        self.run(id, "rematch", origin, vec![token.to_string()])
            .await
    }

    pub async fn leave(
        &self,
        id: &str,
        token: &str,
        origin: Option<&Origin>,
    ) -> Result<Answer, StoreError> {
        self.run(id, "leave", origin, vec![token.to_string()]).await
    }

    /// Abandons the game for the seat of `token` if it has shown no sign of life for
    /// `abandon_ms`.
    pub async fn expire(
        &self,
        id: &str,
        token: &str,
        abandon_ms: u64,
    ) -> Result<Answer, StoreError> {
        self.run(
            id,
            "expire",
            None,
            vec![token.to_string(), abandon_ms.to_string()],
        )
        .await
    }

    /// A sign of life from the seated `token` (its node still holds a socket of it), and
    /// its new deadline in the index that every node's sweeper reads.
    pub async fn heartbeat(
        &self,
        id: &str,
        token: &str,
        abandon_ms: u64,
    ) -> Result<(), StoreError> {
        let now = clock::now_millis();
        let seats = keys::game_seats(id);
        let _: () = self
            .client
            .hset(&seats, (format!("seen:{token}"), now))
            .await?;
        self.set_deadline(id, token, now + abandon_ms as i64).await
    }

    /// Puts `token`'s seat in `id` into the swept deadline index before a request that may
    /// seat it runs, so the seat is checked even if this node dies before its first
    /// heartbeat. A token that did not get the seat is dropped from the index by the sweep.
    pub async fn reserve_deadline(
        &self,
        id: &str,
        token: &str,
        abandon_ms: u64,
    ) -> Result<(), StoreError> {
        self.set_deadline(id, token, clock::now_millis() + abandon_ms as i64)
            .await
    }

    async fn set_deadline(
        &self,
        id: &str,
        token: &str,
        deadline_ms: i64,
    ) -> Result<(), StoreError> {
        let _: () = self
            .client
            .zadd(
                keys::SEAT_DEADLINES,
                None,
                None,
                false,
                false,
                (deadline_ms as f64, seat_member(id, token)),
            )
            .await?;
        Ok(())
    }

    /// Seats whose deadline has passed: `(game, token)`.
    pub async fn overdue_seats(&self, limit: i64) -> Result<Vec<(String, String)>, StoreError> {
        let now = clock::now_millis() as f64;
        let members: Vec<String> = self
            .client
            .zrangebyscore(keys::SEAT_DEADLINES, "-inf", now, false, Some((0, limit)))
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| m.split_once('\x1f'))
            .map(|(g, t)| (g.to_string(), t.to_string()))
            .collect())
    }

    /// Forgets a seat's deadline (the game ended or the seat was abandoned).
    pub async fn forget_seat(&self, id: &str, token: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .client
            .zrem(keys::SEAT_DEADLINES, seat_member(id, token))
            .await?;
        Ok(())
    }

    /// Puts a waiting quick-match game in the queue, or takes the oldest one waiting
    /// there (of another token) instead, atomically: two players who ask at once are
    /// paired, never both left waiting.
    pub async fn quick_match(&self, id: &str, token: &str) -> Result<Option<String>, StoreError> {
        let other: Option<String> = self
            .quick
            .evalsha_with_reload(
                &self.client,
                vec![keys::MATCH_QUEUE],
                vec![seat_member(id, token), token.to_string()],
            )
            .await?;
        Ok(other.and_then(|entry| entry.split_once('\x1f').map(|(g, _)| g.to_string())))
    }

    /// Takes a waiting game out of the quick-match queue.
    pub async fn unqueue(&self, id: &str, token: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .client
            .lrem(keys::MATCH_QUEUE, 0, seat_member(id, token))
            .await?;
        Ok(())
    }

    /// Drops a quiet game that was never shown to anyone.
    pub async fn discard(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .client
            .del(vec![keys::game(id), keys::game_seats(id)])
            .await?;
        Ok(())
    }

    /// The current state, if the game exists.
    pub async fn load(&self, id: &str) -> Result<Option<Game>, StoreError> {
        let raw: Option<String> = self
            .client
            .json_get(
                keys::game(id),
                None::<String>,
                None::<String>,
                None::<String>,
                "$",
            )
            .await?;
        match raw {
            Some(raw) => Ok(parse::<Vec<Game>>(&raw)?.pop()),
            None => Ok(None),
        }
    }

    /// Counts the results noted in game `id` and not yet cleared (left by a node that died
    /// or lost Redis between finishing the game and counting it); a result already counted
    /// is not counted again.
    pub async fn record_noted_results(&self, id: &str) -> Result<usize, StoreError> {
        let fields: HashMap<String, String> = self.client.hgetall(keys::game_seats(id)).await?;
        let mut counted = 0;
        for (field, json) in fields {
            if field.starts_with(RESULT_PREFIX) {
                self.record_result(&parse::<Game>(&json)?).await?;
                counted += 1;
            }
        }
        Ok(counted)
    }

    /// Counts a finished game for both players (the bot is not ranked), once, and clears
    /// its note in the game's keys.
    async fn record_result(&self, game: &Game) -> Result<(), StoreError> {
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
