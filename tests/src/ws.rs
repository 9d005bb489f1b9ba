//! A WebSocket client for tests, on tokio-tungstenite, that speaks JSON frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{protocol::CloseFrame, Message},
    MaybeTlsStream, WebSocketStream,
};

/// How long a test waits for one expected frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The URL's path (`/ws` or `/chat`), for the traffic record.
    endpoint: String,
}

/// The path of a WebSocket URL (`ws://host:port/ws?token=…` → `/ws`).
fn endpoint_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or("/").to_string()
}

/// What the server ended a socket with.
#[derive(Debug)]
pub enum Ending {
    Closed(Option<CloseFrame>),
    Dropped,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        let (stream, _) = connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Ws {
            stream,
            endpoint: endpoint_of(url),
        }
    }

    /// Connects with a receive buffer of about `bytes` (the kernel's minimum if smaller),
    /// so that a client that stops reading is seen as slow after little traffic.
    pub async fn connect_small(url: &str, bytes: u32) -> Ws {
        let authority = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("host:port in the URL");
        let addr = tokio::net::lookup_host(authority)
            .await
            .expect("resolve")
            .next()
            .expect("an address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let tcp = socket.connect(addr).await.expect("connect");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .unwrap_or_else(|e| panic!("upgrade {url}: {e}"));
        Ws {
            stream,
            endpoint: endpoint_of(url),
        }
    }

    /// Connects to `/ws` and reads the `hello` frame.
    pub async fn hello(url: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(url).await;
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "hello", "first frame: {hello}");
        (ws, hello)
    }

    /// The underlying stream, for frames the helpers do not cover.
    pub fn inner(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.stream
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send frame");
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
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Err(_) => return Err(Ending::Dropped),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ending::Dropped),
                Ok(Some(Ok(Message::Text(t)))) => {
                    let frame: Value =
                        serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON: {t}: {e}"));
                    crate::traffic::frame(&self.endpoint, &frame);
                    return Ok(frame);
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Err(Ending::Closed(frame)),
                Ok(Some(Ok(_))) => continue,
            }
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
                Err(Ending::Closed(Some(frame))) => return frame.code.into(),
                Err(other) => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}
