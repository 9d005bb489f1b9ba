//! Sessions and sockets as a client makes them: the client crate's socket, with small
//! buffers so that one load process can hold many thousands of sockets, from a chosen
//! loopback source address.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use client::socket::Dial;
pub use client::socket::{Incoming, Receiver, Sender, Socket};

/// `POST /token?name=…`: a new token.
pub async fn new_token(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let doc: serde_json::Value = http
        .post(format!("{base}/token"))
        .query(&[("name", name)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    doc["token"]
        .as_str()
        .map(String::from)
        .context("no token in the answer")
}

/// `host:port` of an `http://host:port` base URL.
pub fn addr_of(base: &str) -> anyhow::Result<SocketAddr> {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    hostport
        .parse()
        .with_context(|| format!("{base} must be http://IP:PORT"))
}

/// Opens `/ws?token=…` on `server` from the loopback source address `source`.
pub async fn open_ws(server: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Socket> {
    let dial = Dial {
        source: Some(source),
        small_buffers: true,
        ..Dial::default()
    };
    let url = format!("ws://{server}/ws?token={token}");
    Ok(Socket::open(&url, &dial).await?)
}

/// The `n`-th loopback source address of `spread` (127.0.0.1, 127.0.0.2, …), so that many
/// connections to one port do not run out of source ports.
pub fn source_ip(n: usize, spread: usize) -> IpAddr {
    let k = (n % spread.max(1)) as u32 + 1;
    IpAddr::V4(std::net::Ipv4Addr::from(0x7f00_0000 + k))
}
