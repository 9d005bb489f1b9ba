//! A node's connections are bounded: a request head has a deadline (half-sent requests and
//! silent connections are closed while the node keeps serving), at most MAX_CONNECTIONS
//! are open at once and MAX_CONNECTIONS_PER_IP from one address; the excess is closed at
//! once.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use e2e::{Redis, Server};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// A TCP connection to `node` from the loopback address `from`.
async fn connect(node: &Server, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), node.port);
    socket.connect(to).await.expect("connect")
}

/// Whether the node closes `conn` within `limit` (end of stream or a reset).
async fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close: keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

async fn health(node: &Server) -> u16 {
    match reqwest::get(format!("{}/health", node.base)).await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn half_sent_requests_and_silent_connections_are_closed_within_the_deadline() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("HEADER_TIMEOUT_SECS", "1")]).await;
    let mut conns = Vec::new();
    for i in 0..300 {
        let mut conn = connect(&node, Ipv4Addr::LOCALHOST).await;
        if i % 2 == 0 {
            conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        conns.push(conn);
    }
    assert_eq!(health(&node).await, 200, "the node serves meanwhile");
    for (i, conn) in conns.iter_mut().enumerate() {
        assert!(
            closed_within(conn, Duration::from_secs(4)).await,
            "connection {i} still open"
        );
    }
    assert_eq!(health(&node).await, 200);
}

#[tokio::test]
async fn past_max_connections_a_new_connection_is_closed_at_once() {
    let redis = Redis::start().await;
    let node = Server::start(
        &redis.url(),
        &[("MAX_CONNECTIONS", "20"), ("HEADER_TIMEOUT_SECS", "30")],
    )
    .await;
    // Let the start-up health checks' connections close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect(&node, Ipv4Addr::LOCALHOST).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect(&node, Ipv4Addr::LOCALHOST).await;
    assert!(
        closed_within(&mut extra, Duration::from_millis(500)).await,
        "the connection past the bound is closed at once"
    );
    assert_eq!(health(&node).await, 0, "refused while full");
    held.truncate(10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(health(&node).await, 200, "served again once some closed");
    let metrics = reqwest::get(format!("{}/metrics", node.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("connections_refused_total{bound=\"node\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn past_max_connections_per_ip_that_address_is_refused_and_others_are_not() {
    let redis = Redis::start().await;
    let node = Server::start(
        &redis.url(),
        &[
            ("MAX_CONNECTIONS_PER_IP", "10"),
            ("HEADER_TIMEOUT_SECS", "30"),
        ],
    )
    .await;
    let busy = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect(&node, busy).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect(&node, busy).await;
    assert!(closed_within(&mut extra, Duration::from_millis(500)).await);
    let mut other = connect(&node, Ipv4Addr::new(127, 0, 0, 3)).await;
    assert!(
        !closed_within(&mut other, Duration::from_millis(500)).await,
        "another address is served"
    );
    assert_eq!(health(&node).await, 200);
}
