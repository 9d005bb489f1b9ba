//! One WebSocket to one node, frame by frame: text frames out, text frames and the way
//! the server ended it in. The [`Client`](crate::Client) runs on it; programs that need
//! the protocol's raw frames (the end-to-end tests, the load tool) use it directly, so the
//! workspace has one WebSocket client.

use std::net::{IpAddr, SocketAddr};

use futures_util::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    client_async_with_config,
    tungstenite::{protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::error::Error;

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a socket is opened. The default is what a browser does.
#[derive(Clone, Debug, Default)]
pub struct Dial {
    /// The local address to connect from: many sockets to one server port spread over
    /// 127.0.0.x do not run out of source ports.
    pub source: Option<IpAddr>,
    /// The kernel's receive buffer (`SO_RCVBUF`, bytes): a small one makes a client that
    /// stops reading look slow to the server after little traffic.
    pub recv_buffer: Option<u32>,
    /// Small read and write buffers, for a program that holds many thousands of sockets.
    pub small_buffers: bool,
}

/// What came from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    /// The server's close frame: its code and reason (`None` for a close frame without).
    Closed(Option<(u16, String)>),
    /// The connection ended without a close frame, or failed.
    Dropped,
}

fn socket_error(e: impl std::fmt::Display) -> Error {
    Error::Socket(e.to_string())
}

/// A WebSocket to a node.
pub struct Socket {
    stream: Stream,
}

impl Socket {
    /// Opens `url` (`ws://host:port/ws?token=…`).
    pub async fn open(url: &str, dial: &Dial) -> Result<Socket, Error> {
        let authority = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split('/').next())
            .ok_or_else(|| Error::Socket(format!("no host:port in {url}")))?;
        let addr = tokio::net::lookup_host(authority)
            .await
            .map_err(socket_error)?
            .next()
            .ok_or_else(|| Error::Socket(format!("{authority} has no address")))?;
        let tcp = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(socket_error)?;
        if let Some(source) = dial.source {
            tcp.bind(SocketAddr::new(source, 0)).map_err(socket_error)?;
        }
        if let Some(bytes) = dial.recv_buffer {
            tcp.set_recv_buffer_size(bytes).map_err(socket_error)?;
        }
        let stream = tcp.connect(addr).await.map_err(socket_error)?;
        stream.set_nodelay(true).map_err(socket_error)?;
        let config = dial.small_buffers.then(|| {
            WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0)
        });
        let (stream, _) = client_async_with_config(url, MaybeTlsStream::Plain(stream), config)
            .await
            .map_err(socket_error)?;
        Ok(Socket { stream })
    }

    /// Sends a text frame as it is (also one that is not JSON).
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        send_text(&mut self.stream, text).await
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: &Value) -> Result<(), Error> {
        self.send_text(&frame.to_string()).await
    }

    /// The next text frame, or how the socket ended.
    pub async fn next(&mut self) -> Incoming {
        next(&mut self.stream).await
    }

    /// Closes the socket (a close frame without a code).
    pub async fn close(&mut self) {
        let _ = self.stream.close(None).await;
    }

    /// A sending and a receiving half, for a sender and a reader that run apart.
    pub fn split(self) -> (Sender, Receiver) {
        let (sink, stream) = self.stream.split();
        (Sender { sink }, Receiver { stream })
    }
}

/// The sending half of a [`Socket`].
pub struct Sender {
    sink: SplitSink<Stream, Message>,
}

impl Sender {
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        send_text(&mut self.sink, text).await
    }

    pub async fn send(&mut self, frame: &Value) -> Result<(), Error> {
        self.send_text(&frame.to_string()).await
    }
}

/// The receiving half of a [`Socket`].
pub struct Receiver {
    stream: SplitStream<Stream>,
}

impl Receiver {
    pub async fn next(&mut self) -> Incoming {
        next(&mut self.stream).await
    }
}

async fn send_text<S>(sink: &mut S, text: &str) -> Result<(), Error>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    sink.send(Message::Text(text.into()))
        .await
        .map_err(socket_error)
}

async fn next<S>(stream: &mut S) -> Incoming
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => return Incoming::Text(text.to_string()),
            Some(Ok(Message::Close(frame))) => {
                return Incoming::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
            }
            // Pings are answered by the library; nothing else is sent by the server.
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Incoming::Dropped,
        }
    }
}
