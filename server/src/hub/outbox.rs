//! One socket's bounded outbound queue: frames are queued without waiting, and a full
//! queue closes the socket as too slow.
//!
//! Every socket has one, idle or not, so it is kept small: a `VecDeque` that holds no
//! memory while it is empty, behind a lock that is only held to push or pop, and one
//! waker slot for the writer, which polls it by hand. (A tokio channel costs about 800
//! bytes per socket even when empty: its slots are allocated up front and its fields
//! padded to cache lines.)
//! It also notes when the client last sent a frame, for the node's keepalive
//! ([`super::Hub::keepalive`]), so that no socket needs a timer of its own.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, LazyLock, Mutex,
    },
    task::{Context, Poll},
    time::Instant,
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use common::protocol::{close, ServerMsg};
use futures_util::task::AtomicWaker;

use crate::metrics;

/// The sending half of one socket's bounded outbound queue.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// The writer's half: takes the frames out in order.
pub struct Frames {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Woken when there is something for the writer: a frame or a close.
    ready: AtomicWaker,
    /// When the client last sent a frame (a pong too), in [`now_ms`].
    last_read_ms: AtomicU64,
}

/// Milliseconds since this process started using the clock: a monotonic time that fits
/// an atomic.
pub fn now_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    START.elapsed().as_millis() as u64
}

struct Queue {
    frames: VecDeque<Message>,
    capacity: usize,
    /// A close frame that goes out before anything still queued: the node shuts down, or
    /// the queue overflowed (the client cannot keep up).
    closing: Option<Message>,
    /// The writer is gone: frames are dropped.
    closed: bool,
}

/// A close frame with `code` and `reason`, to queue like any frame: the writer sends it
/// and ends the socket.
pub fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Each change under the lock is one push or pop: the queue stays consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Outbox {
    /// A queue of at most `capacity` frames: its sending and its writer's half.
    pub fn new(capacity: usize) -> (Outbox, Frames) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                capacity,
                closing: None,
                closed: false,
            }),
            ready: AtomicWaker::new(),
            last_read_ms: AtomicU64::new(now_ms()),
        });
        (
            Outbox {
                shared: shared.clone(),
            },
            Frames { shared },
        )
    }

    /// Queues a frame without waiting. A full queue means the client cannot keep up:
    /// the socket is closed rather than left to grow memory.
    pub fn send(&self, msg: Message) {
        {
            let mut queue = self.shared.lock();
            if queue.closed || queue.closing.is_some() {
                return;
            }
            if queue.frames.len() >= queue.capacity {
                queue.closing = Some(close_frame(close::SLOW, "client too slow"));
            } else {
                queue.frames.push_back(msg);
            }
        }
        self.shared.ready.wake();
    }

    /// Closes the socket with `frame` before anything still queued (the first such close
    /// wins).
    pub fn close_now(&self, frame: Message) {
        {
            let mut queue = self.shared.lock();
            if queue.closed || queue.closing.is_some() {
                return;
            }
            queue.closing = Some(frame);
        }
        self.shared.ready.wake();
    }

    /// Notes that the client sent a frame now.
    pub fn touch(&self) {
        self.shared.last_read_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// When the client last sent a frame, in [`now_ms`].
    pub fn last_read_ms(&self) -> u64 {
        self.shared.last_read_ms.load(Ordering::Relaxed)
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

impl Frames {
    /// The next frame to send, or `Pending` until there is one (the writer is woken
    /// then); a close of [`Outbox::close_now`] comes before what is still queued.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Message> {
        // Registered before looking: a frame queued in between wakes the writer.
        self.shared.ready.register(cx.waker());
        match self.try_next() {
            Some(frame) => Poll::Ready(frame),
            None => Poll::Pending,
        }
    }

    /// The next frame to send, if there is one.
    pub fn try_next(&mut self) -> Option<Message> {
        if let Some(frame) = self.take_closing() {
            return Some(frame);
        }
        let mut queue = self.shared.lock();
        let frame = queue.frames.pop_front()?;
        if queue.frames.is_empty() {
            // An idle socket keeps no room for frames.
            queue.frames = VecDeque::new();
        }
        Some(frame)
    }

    /// A close of [`Outbox::close_now`] (or an overflow), if one waits; nothing more goes
    /// out after it.
    fn take_closing(&mut self) -> Option<Message> {
        let mut queue = self.shared.lock();
        let frame = queue.closing.take()?;
        queue.closed = true;
        queue.frames = VecDeque::new();
        Some(frame)
    }

    /// A close of [`Outbox::close_now`] (or an overflow), or `Pending` until one comes
    /// (the writer is woken then, as at a frame): for a send that waits on a client that
    /// does not read.
    pub fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<Message> {
        // Registered before looking: a close that comes in between wakes the writer.
        self.shared.ready.register(cx.waker());
        match self.take_closing() {
            Some(frame) => Poll::Ready(frame),
            None => Poll::Pending,
        }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.closed = true;
        queue.frames = VecDeque::new();
    }
}
