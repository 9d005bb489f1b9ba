//! The sockets this node holds, by token, so that a bot reply read from `response_channel`
//! reaches every socket of its token here. Nothing in it is needed by another node.
//!
//! A std `Mutex` guards the map: it is held only for a lookup and a few non-blocking
//! `try_send`s, never across an `.await`.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use axum::extract::ws::{Message, Utf8Bytes};
use common::protocol::{ChatMessage, ServerMsg};
use tokio::sync::{mpsc, Notify};

/// Which endpoint a socket came through; it decides the shape of a bot reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `/chat`: a reply is the bare message object.
    Chat,
    /// `/ws`: a reply is a `bot.reply` frame.
    Ws,
}

/// The sending half of one socket's bounded outbound queue.
#[derive(Clone)]
pub struct Outbox {
    /// Boxed frames: the channel allocates its slots up front, and a pointer per slot
    /// keeps an idle socket's queue small.
    tx: mpsc::Sender<Box<Message>>,
    /// Notified when the queue is full: the writer then closes the socket as too slow.
    kick: Arc<Notify>,
}

impl Outbox {
    pub fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Box<Message>>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(capacity);
        let kick = Arc::new(Notify::new());
        (
            Outbox {
                tx,
                kick: kick.clone(),
            },
            rx,
            kick,
        )
    }

    /// Queues a frame without waiting. A full queue means the client cannot keep up:
    /// the socket is closed rather than left to grow memory.
    pub fn send(&self, msg: Message) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(Box::new(msg)) {
            self.kick.notify_one();
        }
    }

    pub fn send_json(&self, msg: &ServerMsg) {
        self.send(Message::Text(msg.to_json().into()));
    }
}

struct Entry {
    id: u64,
    kind: SocketKind,
    outbox: Outbox,
}

/// Sockets of this node by token.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    by_token: Mutex<HashMap<String, Vec<Entry>>>,
}

/// Removes its socket from the hub when dropped.
pub struct Registration<'a> {
    hub: &'a Hub,
    token: String,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut map = self.hub.by_token.lock().expect("hub lock");
        if let Some(entries) = map.get_mut(&self.token) {
            entries.retain(|e| e.id != self.id);
            if entries.is_empty() {
                map.remove(&self.token);
            }
        }
    }
}

impl Hub {
    pub fn register(&self, token: &str, kind: SocketKind, outbox: Outbox) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut map = self.by_token.lock().expect("hub lock");
        map.entry(token.to_string())
            .or_default()
            .push(Entry { id, kind, outbox });
        Registration {
            hub: self,
            token: token.to_string(),
            id,
        }
    }

    /// Hands a bot reply to every socket of `token` on this node.
    pub fn deliver_reply(&self, token: &str, msg: &ChatMessage) {
        let map = self.by_token.lock().expect("hub lock");
        let Some(entries) = map.get(token) else {
            return;
        };
        let mut chat: Option<Utf8Bytes> = None;
        let mut ws: Option<Utf8Bytes> = None;
        for entry in entries {
            let text = match entry.kind {
                SocketKind::Chat => chat
                    .get_or_insert_with(|| {
                        serde_json::to_string(msg)
                            .expect("message serializes")
                            .into()
                    })
                    .clone(),
                SocketKind::Ws => ws
                    .get_or_insert_with(|| ServerMsg::bot_reply(msg.clone()).to_json().into())
                    .clone(),
            };
            entry.outbox.send(Message::Text(text));
        }
    }

    /// Number of sockets held.
    pub fn sockets(&self) -> usize {
        self.by_token
            .lock()
            .expect("hub lock")
            .values()
            .map(Vec::len)
            .sum()
    }
}
