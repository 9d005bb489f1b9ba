//! A Rust client for the tictac-chat server (the `/ws` protocol of `docs/protocol.md`):
//! the bot chat, chat rooms and tic-tac-toe, with what every client otherwise writes by
//! hand: sessions, requests matched to their answers by `ref`, timeouts, and reconnects
//! with exponential backoff and full jitter over a list of nodes, after which every room
//! and game is joined again with `since` and what was missed arrives once and in order.
//!
//! ```no_run
//! # async fn run() -> Result<(), client::Error> {
//! let client = client::connect(client::Options::new(["http://127.0.0.1:8080"]).name("alice")).await?;
//! let mut events = client.events().expect("taken once");
//! let reply = client.bot_say("hello").await?;
//! client.join_room("lobby").await?;
//! client.say("lobby", "hi").await?;
//! while let Some(event) = events.recv().await {
//!     if let client::Event::RoomMessage(m) = event {
//!         println!("{}: {}", m.from, m.text);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! - [`connection`]: the task that owns the socket, reconnects and recovers.
//! - [`options`]: how to reach the service and as whom.
//! - [`event`]: what happens, in order, besides the answers to requests.
//! - [`error`]: what a request can end with besides its answer.
//! - [`socket`]: one WebSocket, frame by frame, for programs that speak the raw protocol.

pub mod connection;
pub mod error;
pub mod event;
pub mod options;
pub mod socket;

use std::{sync::Mutex, time::Duration};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

pub use error::Error;
pub use event::{Event, RoomMessage};
pub use options::Options;

/// A connected client; cheap to share by reference. Dropping it closes the connection.
pub struct Client {
    name: String,
    token: String,
    clock: connection::Clock,
    commands: mpsc::UnboundedSender<connection::Command>,
    events: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
    timeout: Duration,
}

/// Creates a session (or resumes `token`'s) and connects; resolves once a node said
/// `hello`.
pub async fn connect(options: Options) -> Result<Client, Error> {
    let (name, token) = connection::session(&options).await?;
    let connection::Started {
        commands,
        events,
        opened,
        clock,
    } = connection::start(options.clone(), token.clone());
    opened.await.map_err(|_| Error::Closed)??;
    Ok(Client {
        name,
        token,
        clock,
        commands,
        events: Mutex::new(Some(events)),
        timeout: options.request_timeout,
    })
}

impl Client {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keep it to resume the session (its seats, its bot history) with [`Options::token`].
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The time on the server's clock (ms since the Unix epoch): this machine's clock
    /// corrected by the node's `hello`. Compare a game's `turn_deadline` with it, so that a
    /// machine whose clock is off still shows how long the player has left.
    pub fn server_now_ms(&self) -> i64 {
        self.clock.server_now_ms()
    }

    /// How far the server's clock is ahead of this machine's, in ms (from the last
    /// `hello`; 0 from a node that does not send its time).
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock.offset_ms()
    }

    /// The events, in order; can be taken once.
    pub fn events(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Sends a request and waits for the frame that answers it.
    pub async fn request(&self, frame: Value) -> Result<Value, Error> {
        let (answer, answered) = oneshot::channel();
        self.commands
            .send(connection::Command::Request { frame, answer })
            .map_err(|_| Error::Closed)?;
        match tokio::time::timeout(self.timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Says `text` to the bot; resolves with its reply (`bot.reply`), also when the reply
    /// came while the connection was down (read back from the session's history).
    pub async fn bot_say(&self, text: &str) -> Result<Value, Error> {
        let ack = self
            .request(json!({"type": "bot.say", "text": text}))
            .await?;
        let id = ack["id"].as_str().unwrap_or_default().to_string();
        let (reply, replied) = oneshot::channel();
        self.commands
            .send(connection::Command::AwaitReply { id, reply })
            .map_err(|_| Error::Closed)?;
        match tokio::time::timeout(self.timeout * 3, replied).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Joins a room; resolves with its `room.joined` (history, members). From then on its
    /// messages arrive as [`Event::RoomMessage`], across reconnects.
    pub async fn join_room(&self, room: &str) -> Result<Value, Error> {
        self.request(json!({"type": "room.join", "room": room}))
            .await
    }

    /// Says `text` in a joined room; resolves with the stored message (with its `id`).
    pub async fn say(&self, room: &str, text: &str) -> Result<RoomMessage, Error> {
        let frame = self
            .request(json!({"type": "room.say", "room": room, "text": text}))
            .await?;
        serde_json::from_value(frame).map_err(|e| Error::Http(e.to_string()))
    }

    pub async fn leave_room(&self, room: &str) -> Result<(), Error> {
        self.request(json!({"type": "room.leave", "room": room}))
            .await
            .map(drop)
    }

    /// Tells the room's other members that this user is typing (not answered).
    pub fn typing(&self, room: &str) -> Result<(), Error> {
        self.commands
            .send(connection::Command::Send(
                json!({"type": "room.typing", "room": room}),
            ))
            .map_err(|_| Error::Closed)
    }

    /// From now on no socket of this session receives `name`'s room messages or typing,
    /// on any node, also after reconnects; room histories leave them out.
    pub async fn mute(&self, name: &str) -> Result<(), Error> {
        self.request(json!({"type": "user.mute", "name": name}))
            .await
            .map(drop)
    }

    /// Undoes [`Client::mute`].
    pub async fn unmute(&self, name: &str) -> Result<(), Error> {
        self.request(json!({"type": "user.unmute", "name": name}))
            .await
            .map(drop)
    }

    /// A new game (against the bot with `vs_bot`); resolves with its state.
    pub async fn create_game(&self, vs_bot: bool) -> Result<Value, Error> {
        self.game_request(json!({"type": "game.create", "vs_bot": vs_bot}))
            .await
    }

    /// Takes the free seat, the user's own seat back, or watches.
    pub async fn join_game(&self, id: &str) -> Result<Value, Error> {
        self.game_request(json!({"type": "game.join", "game": id}))
            .await
    }

    /// Pairs with the player waiting longest, or waits for the next one.
    pub async fn quick_match(&self) -> Result<Value, Error> {
        self.game_request(json!({"type": "game.quick"})).await
    }

    /// Plays `cell` (0–8); resolves with the new state.
    pub async fn play(&self, id: &str, cell: u8) -> Result<Value, Error> {
        self.game_request(json!({"type": "game.move", "game": id, "cell": cell}))
            .await
    }

    pub async fn leave_game(&self, id: &str) -> Result<Value, Error> {
        self.request(json!({"type": "game.leave", "game": id}))
            .await
    }

    async fn game_request(&self, frame: Value) -> Result<Value, Error> {
        let answer = self.request(frame).await?;
        Ok(answer["game"].clone())
    }

    /// Closes the connection; pending requests fail with [`Error::Closed`].
    pub fn close(&self) {
        let _ = self.commands.send(connection::Command::Close);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}
