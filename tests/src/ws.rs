//! A WebSocket client for tests that speaks JSON frames, on the client crate's socket.

use std::time::Duration;

use client::socket::{Dial, Incoming, Socket};
use serde_json::Value;

/// How long a test waits for one expected frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    socket: Socket,
    /// The URL's path (`/ws` or `/chat`), for the traffic record.
    endpoint: String,
}

/// The path of a WebSocket URL (`ws://host:port/ws?token=…` → `/ws`).
fn endpoint_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or("/").to_string()
}

/// What the server ended a socket with: its close frame's code and reason, or none.
#[derive(Debug)]
pub enum Ending {
    Closed(Option<(u16, String)>),
    Dropped,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        Ws::dial(url, &Dial::default()).await
    }

    async fn dial(url: &str, dial: &Dial) -> Ws {
        let socket = Socket::open(url, dial)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Ws {
            socket,
            endpoint: endpoint_of(url),
        }
    }

    /// Connects with a receive buffer of about `bytes` (the kernel's minimum if smaller),
    /// so that a client that stops reading is seen as slow after little traffic.
    pub async fn connect_small(url: &str, bytes: u32) -> Ws {
        let dial = Dial {
            recv_buffer: Some(bytes),
            ..Dial::default()
        };
        Ws::dial(url, &dial).await
    }

    /// Connects to `/ws` and reads the `hello` frame.
    pub async fn hello(url: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(url).await;
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "hello", "first frame: {hello}");
        (ws, hello)
    }

    /// Sends a text frame as it is; an error when the server has closed the socket.
    pub async fn try_send_text(&mut self, text: &str) -> Result<(), client::Error> {
        self.socket.send_text(text).await
    }

    pub async fn send_text(&mut self, text: &str) {
        self.try_send_text(text).await.expect("send frame");
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next text frame as JSON; panics on close or after [`FRAME_WAIT`].
    pub async fn recv(&mut self) -> Value {
        match self.next_text(FRAME_WAIT).await {
            Ok(v) => v,
            Err(ending) => panic!("expected a frame, got {ending:?}"),
        }
    }

    /// The next text frame within `limit`, or how the socket ended (`Dropped` on timeout too).
    pub async fn next_text(&mut self, limit: Duration) -> Result<Value, Ending> {
        match tokio::time::timeout(limit, self.socket.next()).await {
            Err(_) | Ok(Incoming::Dropped) => Err(Ending::Dropped),
            Ok(Incoming::Text(t)) => {
                let frame: Value =
                    serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON: {t}: {e}"));
                crate::traffic::frame(&self.endpoint, &frame);
                Ok(frame)
            }
            Ok(Incoming::Closed(frame)) => Err(Ending::Closed(frame)),
        }
    }

    /// Skips frames until the answer to the request sent with `reference` arrives.
    pub async fn answer(&mut self, reference: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["ref"] == reference {
                return frame;
            }
        }
    }

    /// Skips frames until one of type `kind` arrives, and returns it.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// No text frame arrives within `limit`.
    pub async fn assert_silent(&mut self, limit: Duration) {
        if let Ok(v) = self.next_text(limit).await {
            panic!("expected no frame, got {v}");
        }
    }

    /// Waits for the server's close frame and returns its code.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            match self.next_text(FRAME_WAIT).await {
                Ok(_) => continue,
                Err(Ending::Closed(Some((code, _)))) => return code,
                Err(other) => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}
