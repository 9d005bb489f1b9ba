//! One socket's bounded outbound queue: frames are queued without waiting, and a full
//! queue closes the socket as too slow.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use common::protocol::ServerMsg;
use tokio::sync::{mpsc, Notify};

use crate::metrics;

/// The sending half of one socket's bounded outbound queue.
#[derive(Clone)]
pub struct Outbox {
    /// Boxed frames: the channel allocates its slots up front, and a pointer per slot
    /// keeps an idle socket's queue small.
    tx: mpsc::Sender<Box<Message>>,
    /// Notified when the queue is full: the writer then closes the socket as too slow.
    kick: Arc<Notify>,
}

/// A close frame with `code` and `reason`, to queue like any frame: the writer sends it
/// and ends the socket.
pub fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
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
        if let ServerMsg::Error { code, .. } = msg {
            metrics::error(*code);
        }
        self.send_text(msg.kind(), &msg.to_json().into());
    }

    pub(super) fn send_text(&self, kind: &'static str, text: &Utf8Bytes) {
        metrics::frame_out(kind);
        self.send(Message::Text(text.clone()));
    }
}
