//! Games in Redis: every change is one run of `game.lua` on the game's own keys, which
//! also publishes the new state on the game's channel. After a change this module does the
//! follow-ups that live on other keys: results to the leaderboard when the change ended
//! the game, and a bot turn on `bot_turns` when the bot is to move (asked for again in the
//! background while Redis refuses it).

use fred::{
    prelude::*,
    types::{scripts::Script, sorted_sets::Ordering},
};

use super::{
    model::{Game, Origin},
    results::Results,
    rules::Mark,
};
use crate::{
    clock,
    deadlines::{self, Claims},
    error::StoreError,
    keys,
    protocol::ErrorCode,
};
use std::time::Duration;

/// How many times, a second apart, a bot's turn that Redis refused is asked for again:
/// longer than a Redis Cluster failover takes.
const BOT_ASK_RETRIES: u32 = 120;

/// What a game operation answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Changed and published to everyone in the game.
    Changed(Game),
    /// Unchanged; the state for the requester, and its seat if it has one. Also the answer
    /// to a change asked for again (`game.lua`'s `again`), once what follows a change is
    /// done.
    Unchanged(Game, Option<Mark>),
    /// Nothing to show (e.g. a rematch the other player has not asked for yet).
    Ack,
    /// The turn clock has not run out: it does at this time (ms).
    Wait(i64),
    Refused(ErrorCode, String),
}

/// What the check of a game's overdue seats found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// The game, when the check changed it (a player gone too long).
    pub changed: Option<Game>,
    /// Results noted in the game's keys and not counted yet (see
    /// [`Results::record_noted_results`]).
    pub noted_results: usize,
    /// The tokens whose seats need no more checks: gone, or in a game no seat can change
    /// any more (over, and left by a player), also seats not due yet. The others showed a
    /// sign of life in time.
    pub forget: Vec<String>,
}

/// Game storage on one Redis client.
#[derive(Clone)]
pub struct Games {
    client: Client,
    script: Script,
    quick: Script,
    claims: Claims,
    publish: &'static str,
    /// The turn clock (ms) of games between people; 0 for none.
    turn_ms: u64,
    /// The leaderboard and the players of the day.
    pub results: Results,
}

/// Member of the seat index and the match queue: `GAME \x1f TOKEN`.
fn seat_member(id: &str, token: &str) -> String {
    format!("{id}\x1f{token}")
}

fn parse<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(raw)?)
}

/// A seat as the game's script names it (`X`, `O`, or `''` for none).
fn seat(raw: &str) -> Option<Mark> {
    match raw {
        "X" => Some(Mark::X),
        "O" => Some(Mark::O),
        _ => None,
    }
}

impl Games {
    /// `sharded`: publish with SPUBLISH (Redis Cluster) instead of PUBLISH.
    pub fn new(client: Client, sharded: bool) -> Self {
        Games {
            results: Results::new(client.clone()),
            client,
            script: Script::from_lua(include_str!("game.lua")),
            quick: Script::from_lua(include_str!("quick_match.lua")),
            claims: Claims::default(),
            publish: if sharded { "SPUBLISH" } else { "PUBLISH" },
            turn_ms: 0,
        }
    }

    /// Plays games between people with a turn clock of `turn_secs` (0: none).
    pub fn with_turn_clock(mut self, turn_secs: u64) -> Self {
        self.turn_ms = turn_secs * 1000;
        self
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

    /// Runs `op` of the game's script and returns its answer as it came.
    async fn call(
        &self,
        id: &str,
        op: &str,
        origin: Option<&Origin>,
        args: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
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
        Ok(self
            .script
            .evalsha_with_reload(
                &self.client,
                vec![keys::game(id), keys::game_seats(id)],
                argv,
            )
            .await?)
    }

    /// Runs `op` of the game's script, and what a change leads to outside the game's keys.
    async fn run(
        &self,
        id: &str,
        op: &str,
        origin: Option<&Origin>,
        args: Vec<String>,
    ) -> Result<Answer, StoreError> {
        let reply = self.call(id, op, origin, args).await?;
        let part = |i: usize| reply.get(i).map(String::as_str).unwrap_or_default();
        let answer = match part(0) {
            "state" => {
                let game: Game = parse(part(1))?;
                self.follow_up(&game, part(2) == "ended").await?;
                Answer::Changed(game)
            }
            "view" => Answer::Unchanged(parse(part(1))?, seat(part(2))),
            "again" => {
                // A change made before (a move, a rematch), asked for again: what follows a
                // change may not have happened (its first answer may have been lost), so it
                // happens now.
                let game: Game = parse(part(1))?;
                self.follow_up(&game, part(3) == "ended").await?;
                Answer::Unchanged(game, seat(part(2)))
            }
            "ack" => Answer::Ack,
            "wait" => Answer::Wait(part(1).parse().unwrap_or_default()),
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
            // The change is made and published, so its answer does not wait for these:
            // the result is counted and the turn clock dropped in the background, in one
            // round trip. A result not counted stays noted in the game's keys and a sweeper
            // counts it later; a clock left in the index is dropped by the sweep that finds
            // the game over.
            let (games, game) = (self.clone(), game.clone());
            tokio::spawn(async move { games.settle_ended(&game).await });
        }
        if game.bots_turn() {
            if let Err(e) = self.ask_bot(&game.id, game.version).await {
                // The move is made and published: its answer goes out, and the bot's turn
                // is asked for again until Redis takes it (e.g. through a failover).
                tracing::warn!(game = %game.id, error = %e, "asking the bot to move failed; asking again");
                let (games, id, version) = (self.clone(), game.id.clone(), game.version);
                tokio::spawn(async move { games.ask_bot_until_asked(&id, version).await });
            }
        }
        Ok(())
    }

    /// Counts an ended game's result and drops its turn clock (see [`Games::follow_up`]).
    async fn settle_ended(&self, game: &Game) {
        let forget_clock = async {
            if self.clocked(game) {
                let _: i64 = self.client.zrem(keys::TURN_DEADLINES, &game.id).await?;
            }
            Ok::<_, StoreError>(())
        };
        let (forgot, recorded) = tokio::join!(forget_clock, self.results.record(game));
        if let Err(e) = recorded {
            tracing::warn!(game = %game.id, error = %e, "counting a result failed; left to the sweeper");
        }
        if let Err(e) = forgot {
            tracing::debug!(game = %game.id, error = %e, "dropping a turn clock failed; left to the sweeper");
        }
    }

    /// Puts the bot's turn at `version` of game `id` on `bot_turns` for the workers (a
    /// worker plays it only while the game is still at that version).
    async fn ask_bot(&self, id: &str, version: u64) -> Result<(), StoreError> {
        let _: String = self
            .client
            .xadd(
                keys::BOT_TURNS,
                false,
                ("MAXLEN", "~", keys::BOT_TURNS_MAXLEN),
                "*",
                vec![("game", id.to_string()), ("version", version.to_string())],
            )
            .await?;
        Ok(())
    }

    /// [`Games::ask_bot`] once a second until it succeeds, for up to `BOT_ASK_RETRIES`
    /// seconds. Should the node stop first, the player coming back to the game (a `join`
    /// that gives the seat back) asks once more, as does the move sent again.
    async fn ask_bot_until_asked(&self, id: &str, version: u64) {
        for _ in 0..BOT_ASK_RETRIES {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match self.ask_bot(id, version).await {
                Ok(()) => {
                    tracing::info!(game = %id, "the bot's turn is asked for");
                    return;
                }
                Err(e) => tracing::debug!(game = %id, error = %e, "asking the bot to move failed"),
            }
        }
        tracing::warn!(game = %id, "gave up asking the bot to move");
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
        let answer = self
            .run(
                id,
                "join",
                origin,
                vec![
                    token.to_string(),
                    name.to_string(),
                    want.to_string(),
                    self.turn_ms.to_string(),
                ],
            )
            .await?;
        if let Answer::Unchanged(game, Some(_)) = &answer {
            if game.bots_turn() {
                // A player back in a game where the bot is to move: its turn is asked for
                // again, in case the node that made the player's move stopped before it
                // asked (the workers play a turn only at its version, so never twice).
                if let Err(e) = self.ask_bot(&game.id, game.version).await {
                    tracing::warn!(game = %game.id, error = %e, "asking the bot to move failed");
                }
            }
        }
        Ok(answer)
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
            vec![
                token.to_string(),
                cell.to_string(),
                self.turn_ms.to_string(),
            ],
        )
        .await
    }

    pub async fn rematch(
        &self,
        id: &str,
        token: &str,
        origin: Option<&Origin>,
    ) -> Result<Answer, StoreError> {
        self.run(
            id,
            "rematch",
            origin,
            vec![token.to_string(), self.turn_ms.to_string()],
        )
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

    /// Checks the seats of `tokens` in game `id`, whose deadlines passed, in one step: each
    /// that has shown no sign of life for `abandon_ms` is abandoned (a game in play is lost,
    /// a finished one shows its player as gone).
    pub async fn expire(
        &self,
        id: &str,
        tokens: &[String],
        abandon_ms: u64,
    ) -> Result<Swept, StoreError> {
        let mut args = vec![abandon_ms.to_string()];
        args.extend(tokens.iter().cloned());
        let reply = self.call(id, "expire", None, args).await?;
        let mut parts = reply.into_iter();
        if parts.next().as_deref() != Some("swept") {
            // The game is gone: so are its seats.
            return Ok(Swept::default());
        }
        let (game, ended) = (parts.next().unwrap_or_default(), parts.next());
        let changed = match game.as_str() {
            "" => None,
            json => {
                let game: Game = parse(json)?;
                self.follow_up(&game, ended.as_deref() == Some("ended"))
                    .await?;
                Some(game)
            }
        };
        Ok(Swept {
            changed,
            noted_results: parts.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            forget: parts.collect(),
        })
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
        deadlines::set(
            &self.client,
            keys::SEAT_DEADLINES,
            seat_member(id, token),
            deadline_ms,
        )
        .await
    }

    /// Whether games like `game` are played with the turn clock.
    fn clocked(&self, game: &Game) -> bool {
        self.turn_ms > 0 && !game.vs_bot
    }

    /// Puts game `id` into the swept index of turn clocks before a request that may start
    /// its clock (a join that may take the free seat, a rematch), at the earliest the clock
    /// could run out, so the clock is checked even if this node dies right after the
    /// change. A sweep that finds the clock not run out (or not running) moves the game to
    /// its real deadline (or drops it).
    pub async fn reserve_clock(&self, id: &str) -> Result<(), StoreError> {
        if self.turn_ms == 0 {
            return Ok(());
        }
        let at = (clock::now_millis() + self.turn_ms as i64) as f64;
        // LT: an earlier check already planned stays.
        let _: Value = self
            .client
            .zadd(
                keys::TURN_DEADLINES,
                None,
                Some(Ordering::LessThan),
                false,
                false,
                (at, id),
            )
            .await?;
        Ok(())
    }

    /// Claims games whose turn clock is due for a check (see [`Claims`]).
    pub async fn overdue_clocks(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        self.claims
            .claim(&self.client, keys::TURN_DEADLINES, limit, lease)
            .await
    }

    /// Ends game `id` by `timeout` if its player to move has run out of time. On
    /// [`Answer::Wait`] the game's check is moved to its deadline; when there is no clock to
    /// check any more, the game leaves the index.
    pub async fn check_clock(&self, id: &str) -> Result<Answer, StoreError> {
        let answer = self.run(id, "clock", None, vec![]).await?;
        match answer {
            Answer::Wait(at) => {
                let _: Value = self
                    .client
                    .zadd(
                        keys::TURN_DEADLINES,
                        Some(SetOptions::XX),
                        None,
                        false,
                        false,
                        (at as f64, id),
                    )
                    .await?;
            }
            Answer::Changed(_) => {}
            _ => {
                let _: i64 = self.client.zrem(keys::TURN_DEADLINES, id).await?;
            }
        }
        Ok(answer)
    }

    /// Claims seats whose deadline has passed (see [`Claims`]), by game: `(game, tokens)`,
    /// the game with the longest overdue seat first.
    pub async fn overdue_seats(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let members = self
            .claims
            .claim(&self.client, keys::SEAT_DEADLINES, limit, lease)
            .await?;
        let mut games: Vec<(String, Vec<String>)> = Vec::new();
        for (game, token) in members.iter().filter_map(|m| m.split_once('\x1f')) {
            match games.iter_mut().find(|(g, _)| g == game) {
                Some((_, tokens)) => tokens.push(token.to_string()),
                None => games.push((game.to_string(), vec![token.to_string()])),
            }
        }
        Ok(games)
    }

    /// Forgets the deadlines of seats in game `id` (the game ended or the seats were
    /// abandoned).
    pub async fn forget_seats(&self, id: &str, tokens: &[String]) -> Result<(), StoreError> {
        let members: Vec<String> = tokens.iter().map(|t| seat_member(id, t)).collect();
        let _: i64 = self.client.zrem(keys::SEAT_DEADLINES, members).await?;
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
        match self.client.get::<Option<String>, _>(keys::game(id)).await {
            Ok(raw) => raw.map(|raw| parse(&raw)).transpose(),
            // Stored as a RedisJSON document by an earlier release (until its next change).
            Err(e) if e.details().starts_with("WRONGTYPE") => {
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
                Ok(raw
                    .map(|raw| parse::<Vec<Game>>(&raw))
                    .transpose()?
                    .and_then(|mut g| g.pop()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
