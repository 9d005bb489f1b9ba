//! The task that owns the socket: it matches answers to requests by `ref`, keeps where
//! each room and game stands (the last message ID, the last version), and when the socket
//! drops it reconnects (exponential backoff with full jitter, through the next URL), joins
//! every room and game again with `since`, and hands on only what is new, so each message
//! and state arrives once and in order.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::Error,
    event::{Event, RoomMessage},
    options::Options,
    socket::{Dial, Incoming, Socket},
};

/// What the [`Client`](crate::Client) asks of the task.
pub enum Command {
    Request {
        frame: Value,
        answer: oneshot::Sender<Result<Value, Error>>,
    },
    /// A frame that has no answer (`room.typing`).
    Send(Value),
    /// Resolve with the bot's reply to message `id`.
    AwaitReply {
        id: String,
        reply: oneshot::Sender<Value>,
    },
    Close,
}

/// `POST /token` for a name, or `GET /refresh_token` for a token: the name and token.
pub async fn session(options: &Options) -> Result<(String, String), Error> {
    let http = reqwest::Client::new();
    let http_error = |e: reqwest::Error| Error::Http(e.to_string());
    let mut last = Error::Http("no URL to connect to".into());
    for base in &options.urls {
        let sent = match (&options.token, &options.name) {
            (Some(token), _) => {
                http.get(format!("{base}/refresh_token"))
                    .query(&[("token", token)])
                    .send()
                    .await
            }
            (None, Some(name)) => {
                http.post(format!("{base}/token"))
                    .query(&[("name", name)])
                    .send()
                    .await
            }
            (None, None) => return Err(Error::Http("a name or a token is needed".into())),
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                last = http_error(e);
                continue;
            }
        };
        let status = resp.status();
        let doc: Value = resp.json().await.map_err(http_error)?;
        if !status.is_success() {
            let code = doc["error"]["code"].as_str().unwrap_or("http").to_string();
            if code == "session_not_found" {
                return Err(Error::SessionExpired);
            }
            return Err(Error::Refused {
                message: doc["error"]["message"].as_str().unwrap_or_default().into(),
                retry_after_ms: doc["error"]["retry_after_ms"].as_u64(),
                code,
            });
        }
        let text = |field: &str| doc[field].as_str().unwrap_or_default().to_string();
        return Ok((text("name"), text("token")));
    }
    Err(last)
}

/// How far the server's clock is ahead of this machine's, in ms: set from each `hello`'s
/// `server_time` (0 before the first, and after one from a node that does not send it).
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    pub fn offset_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The time on the server's clock (ms since the Unix epoch).
    pub fn server_now_ms(&self) -> i64 {
        local_now_ms() + self.offset_ms()
    }

    fn set(&self, server_time: Option<i64>) {
        let offset = server_time.map_or(0, |t| t - local_now_ms());
        self.0.store(offset, Ordering::Relaxed);
    }
}

/// This machine's clock, in ms since the Unix epoch.
fn local_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What [`start`] hands back.
pub struct Started {
    /// The task's command queue.
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
    /// What the first connection came to.
    pub opened: oneshot::Receiver<Result<(), Error>>,
    /// The server's clock, as the nodes tell it.
    pub clock: Clock,
}

/// Starts the task.
pub fn start(options: Options, token: String) -> Started {
    let (commands, rx) = mpsc::unbounded_channel();
    let (events, events_rx) = mpsc::unbounded_channel();
    let (opened, opened_rx) = oneshot::channel();
    let clock = Clock::default();
    let task = Task {
        options,
        token,
        clock: clock.clone(),
        events,
        rooms: HashMap::new(),
        games: HashMap::new(),
        pending: HashMap::new(),
        replies: HashMap::new(),
        early_replies: HashMap::new(),
        waiting: Vec::new(),
        next_ref: 0,
    };
    tokio::spawn(task.run(rx, opened));
    Started {
        commands,
        events: events_rx,
        opened: opened_rx,
        clock,
    }
}

/// A stream ID as two numbers, which order the messages of a room.
fn position(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// A random wait up to `min(max, base × 2^attempt)` (full jitter).
fn backoff(options: &Options, attempt: u32) -> Duration {
    let ceiling = options
        .reconnect_base
        .saturating_mul(1 << attempt.min(16))
        .min(options.reconnect_max);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let share = (hasher.finish() % 10_000) as f64 / 10_000.0;
    ceiling.mul_f64(share)
}

struct Task {
    options: Options,
    token: String,
    clock: Clock,
    events: mpsc::UnboundedSender<Event>,
    /// Rooms joined, with the last message ID handed on.
    rooms: HashMap<String, Option<String>>,
    /// Games followed, with the last version handed on.
    games: HashMap<String, u64>,
    /// Requests sent on the current socket, by `ref`.
    pending: HashMap<String, oneshot::Sender<Result<Value, Error>>>,
    /// Bot replies awaited, by the ID of the message they answer.
    replies: HashMap<String, oneshot::Sender<Value>>,
    /// Replies that came before anyone awaited them (a reply may overtake nothing, but the
    /// caller registers after its ack), kept briefly.
    early_replies: HashMap<String, Value>,
    /// Requests made while no socket was open.
    waiting: Vec<(Value, oneshot::Sender<Result<Value, Error>>)>,
    next_ref: u64,
}

/// How one socket ended.
enum Ending {
    /// Try again (dropped, node shutting down, too many sockets there).
    Retry,
    /// Stop: closed by the caller, or the session is gone.
    Stop(Error),
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        opened: oneshot::Sender<Result<(), Error>>,
    ) {
        let mut opened = Some(opened);
        let mut attempt: u32 = 0;
        let mut url = 0;
        loop {
            let base = self.options.urls[url % self.options.urls.len()].clone();
            url += 1;
            let ending = match self.open(&base).await {
                Ok(socket) => {
                    attempt = 0;
                    if let Some(opened) = opened.take() {
                        let _ = opened.send(Ok(()));
                    }
                    self.serve(socket, &mut commands).await
                }
                Err(ending) => ending,
            };
            for (_, answer) in self.pending.drain() {
                let _ = answer.send(Err(Error::ConnectionLost));
            }
            if let Ending::Stop(error) = ending {
                if let Some(opened) = opened.take() {
                    let _ = opened.send(Err(error.clone()));
                }
                for (_, answer) in self.waiting.drain(..) {
                    let _ = answer.send(Err(error.clone()));
                }
                let _ = self.events.send(Event::Closed);
                return;
            }
            let delay = backoff(&self.options, attempt);
            let _ = self.events.send(Event::Reconnecting { attempt, delay });
            attempt += 1;
            // Meanwhile requests wait (up to their timeout) and a close is obeyed.
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = commands.recv() => match command {
                        None | Some(Command::Close) => {
                            let _ = self.events.send(Event::Closed);
                            return;
                        }
                        Some(Command::Request { frame, answer }) => self.waiting.push((frame, answer)),
                        Some(Command::AwaitReply { id, reply }) => self.await_reply(id, reply),
                        Some(Command::Send(_)) => {}
                    }
                }
            }
        }
    }

    /// Connects, reads `hello` (then [`Event::Open`]), and joins every room and game
    /// again, handing on what was missed.
    async fn open(&mut self, base: &str) -> Result<Socket, Ending> {
        let url = format!(
            "{}/ws?token={}",
            base.replacen("http", "ws", 1).trim_end_matches('/'),
            self.token
        );
        let dial = Dial::default();
        let connecting = Socket::open(&url, &dial);
        let Ok(Ok(mut socket)) =
            tokio::time::timeout(self.options.request_timeout, connecting).await
        else {
            return Err(Ending::Retry);
        };
        let hello = match tokio::time::timeout(self.options.request_timeout, socket.next()).await {
            Ok(Incoming::Text(text)) => serde_json::from_str::<Value>(&text).ok(),
            Ok(Incoming::Closed(Some((1008, _)))) => {
                return Err(Ending::Stop(Error::SessionExpired))
            }
            _ => None,
        };
        let node = match hello {
            Some(hello) if hello["type"] == "hello" => {
                self.clock.set(hello["server_time"].as_i64());
                hello["node"].as_str().unwrap_or_default().to_string()
            }
            _ => return Err(Ending::Retry),
        };
        let _ = self.events.send(Event::Open { node });
        self.resync(&mut socket).await?;
        // Bot replies that came while no socket was open are in the session's history.
        if !self.replies.is_empty() {
            self.replies_from_history(base).await;
        }
        Ok(socket)
    }

    /// Joins every room with `since` and every game again; hands on what is new.
    async fn resync(&mut self, socket: &mut Socket) -> Result<(), Ending> {
        let mut asked = HashMap::new();
        for (game, _) in self.games.clone() {
            let since = self.rooms.get(&format!("game:{game}")).cloned().flatten();
            let mut frame = json!({"type": "game.join", "game": game});
            if let Some(since) = since {
                frame["since"] = json!(since);
            }
            asked.insert(self.send_tagged(socket, frame).await?, ());
        }
        for (room, since) in self.rooms.clone() {
            if room
                .strip_prefix("game:")
                .is_some_and(|g| self.games.contains_key(g))
            {
                continue; // joined with its game
            }
            let mut frame = json!({"type": "room.join", "room": room});
            if let Some(since) = since {
                frame["since"] = json!(since);
            }
            asked.insert(self.send_tagged(socket, frame).await?, ());
        }
        // Until every rejoin is answered, frames are handled as usual.
        while !asked.is_empty() {
            let frame =
                match tokio::time::timeout(self.options.request_timeout, socket.next()).await {
                    Ok(Incoming::Text(text)) => match serde_json::from_str::<Value>(&text) {
                        Ok(frame) => frame,
                        Err(_) => continue,
                    },
                    _ => return Err(Ending::Retry),
                };
            if let Some(reference) = frame["ref"].as_str() {
                if asked.remove(reference).is_some() {
                    self.deliver(&frame, true);
                    continue;
                }
            }
            self.handle(frame);
        }
        Ok(())
    }

    async fn send_tagged(
        &mut self,
        socket: &mut Socket,
        mut frame: Value,
    ) -> Result<String, Ending> {
        self.next_ref += 1;
        let reference = format!("c{}", self.next_ref);
        frame["ref"] = json!(reference);
        socket.send(&frame).await.map_err(|_| Ending::Retry)?;
        Ok(reference)
    }

    /// Runs one socket until it ends.
    async fn serve(
        &mut self,
        mut socket: Socket,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Ending {
        for (frame, answer) in std::mem::take(&mut self.waiting) {
            match self.send_tagged(&mut socket, frame).await {
                Ok(reference) => {
                    self.pending.insert(reference, answer);
                }
                Err(ending) => {
                    let _ = answer.send(Err(Error::ConnectionLost));
                    return ending;
                }
            }
        }
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Close) => {
                        socket.close().await;
                        return Ending::Stop(Error::Closed);
                    }
                    Some(Command::Request { frame, answer }) => match self.send_tagged(&mut socket, frame).await {
                        Ok(reference) => {
                            self.pending.insert(reference, answer);
                        }
                        Err(ending) => {
                            let _ = answer.send(Err(Error::ConnectionLost));
                            return ending;
                        }
                    },
                    Some(Command::Send(frame)) => {
                        if socket.send(&frame).await.is_err() {
                            return Ending::Retry;
                        }
                    }
                    Some(Command::AwaitReply { id, reply }) => self.await_reply(id, reply),
                },
                frame = socket.next() => match frame {
                    Incoming::Text(text) => {
                        if let Ok(frame) = serde_json::from_str::<Value>(&text) {
                            self.handle(frame);
                        }
                    }
                    Incoming::Closed(Some((1008, _))) => return Ending::Stop(Error::SessionExpired),
                    Incoming::Closed(_) | Incoming::Dropped => return Ending::Retry,
                },
            }
        }
    }

    /// One frame from the server: an answer, an event, or both.
    fn handle(&mut self, frame: Value) {
        if let Some(answer) = frame["ref"]
            .as_str()
            .and_then(|reference| self.pending.remove(reference))
        {
            if frame["type"] == "error" {
                let _ = answer.send(Err(Error::Refused {
                    code: frame["code"].as_str().unwrap_or_default().into(),
                    message: frame["message"].as_str().unwrap_or_default().into(),
                    retry_after_ms: frame["retry_after_ms"].as_u64(),
                }));
                return;
            }
            self.deliver(&frame, false);
            let _ = answer.send(Ok(frame));
            return;
        }
        self.deliver(&frame, false);
    }

    /// Hands a frame's news on as events, dropping what was handed on before.
    fn deliver(&mut self, frame: &Value, rejoin: bool) {
        match frame["type"].as_str().unwrap_or_default() {
            "room.joined" => {
                let room = frame["room"].as_str().unwrap_or_default().to_string();
                let history = frame["history"].as_array().cloned().unwrap_or_default();
                let known = self.rooms.get(&room).cloned().flatten();
                if known.is_some() && frame["recovered"] != true {
                    let _ = self.events.send(Event::Unrecovered { room: room.clone() });
                }
                let newest = history
                    .last()
                    .and_then(|m| m["id"].as_str())
                    .map(String::from);
                if known.is_some() || rejoin {
                    for message in &history {
                        self.room_message(message);
                    }
                } else {
                    // A first join: its history is the answer, not news.
                    self.rooms.insert(room.clone(), newest.clone());
                }
                self.rooms.entry(room).or_insert(newest);
            }
            "room.message" => self.room_message(frame),
            "room.presence" => {
                let _ = self.events.send(Event::Presence {
                    room: frame["room"].as_str().unwrap_or_default().into(),
                    joined: frame["joined"].as_str().map(String::from),
                    left: frame["left"].as_str().map(String::from),
                });
            }
            "room.typing" => {
                let _ = self.events.send(Event::Typing {
                    room: frame["room"].as_str().unwrap_or_default().into(),
                    name: frame["name"].as_str().unwrap_or_default().into(),
                });
            }
            "game.state" => {
                let game = &frame["game"];
                let id = game["id"].as_str().unwrap_or_default().to_string();
                let version = game["version"].as_u64().unwrap_or(0);
                let last = self.games.get(&id).copied();
                if last.is_none_or(|last| version > last) {
                    self.games.insert(id, version);
                    let _ = self.events.send(Event::GameState(game.clone()));
                }
            }
            "bot.reply" => {
                let asked = frame["in_reply_to"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                match self.replies.remove(&asked) {
                    Some(reply) => {
                        let _ = reply.send(frame.clone());
                    }
                    None => {
                        if self.early_replies.len() > 1000 {
                            self.early_replies.clear();
                        }
                        self.early_replies.insert(asked, frame.clone());
                    }
                }
                let _ = self.events.send(Event::BotReply(frame.clone()));
            }
            _ => {}
        }
    }

    /// A room message, handed on if it comes after the last one of its room.
    fn room_message(&mut self, message: &Value) {
        let Ok(message) = serde_json::from_value::<RoomMessage>(message.clone()) else {
            return;
        };
        let last = self.rooms.get(&message.room).cloned().flatten();
        if last
            .as_deref()
            .and_then(position)
            .is_some_and(|last| position(&message.id).is_none_or(|p| p <= last))
        {
            return;
        }
        self.rooms
            .insert(message.room.clone(), Some(message.id.clone()));
        let _ = self.events.send(Event::RoomMessage(message));
    }

    fn await_reply(&mut self, id: String, reply: oneshot::Sender<Value>) {
        match self.early_replies.remove(&id) {
            Some(frame) => {
                let _ = reply.send(frame);
            }
            None => {
                self.replies.insert(id, reply);
            }
        }
    }

    /// Resolves the awaited replies that are in the session's history.
    async fn replies_from_history(&mut self, base: &str) {
        let Ok(resp) = reqwest::Client::new()
            .get(format!("{base}/refresh_token"))
            .query(&[("token", &self.token)])
            .send()
            .await
        else {
            return;
        };
        let Ok(doc) = resp.json::<Value>().await else {
            return;
        };
        for message in doc["messages"].as_array().into_iter().flatten() {
            let Some(asked) = message["in_reply_to"].as_str() else {
                continue;
            };
            if let Some(reply) = self.replies.remove(asked) {
                let frame = json!({
                    "type": "bot.reply",
                    "id": message["id"],
                    "msg": message["msg"],
                    "timestamp": message["timestamp"],
                    "in_reply_to": asked,
                });
                let _ = self.events.send(Event::BotReply(frame.clone()));
                let _ = reply.send(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_waits_a_random_time_up_to_the_growing_ceiling() {
        let mut options = Options::new(["http://x"]);
        options.reconnect_base = Duration::from_millis(100);
        options.reconnect_max = Duration::from_secs(1);
        for (attempt, ceiling) in [(0, 100), (1, 200), (3, 800), (4, 1000), (30, 1000)] {
            let waits: Vec<Duration> = (0..2000).map(|_| backoff(&options, attempt)).collect();
            let ceiling = Duration::from_millis(ceiling);
            assert!(waits.iter().all(|w| *w <= ceiling), "attempt {attempt}");
            let mean = waits.iter().sum::<Duration>() / waits.len() as u32;
            assert!(
                mean > ceiling.mul_f64(0.4) && mean < ceiling.mul_f64(0.6),
                "attempt {attempt}: mean {mean:?} of up to {ceiling:?}"
            );
        }
    }

    #[test]
    fn stream_ids_order_as_two_numbers() {
        assert!(position("1700000000000-10") > position("1700000000000-9"));
        assert!(position("1700000000001-0") > position("1700000000000-99"));
        assert_eq!(position("nope"), None);
    }
}
