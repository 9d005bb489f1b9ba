//! A node's connections are bounded: a request head has a deadline (half-sent requests and
//! silent connections are closed while the node keeps serving), at most MAX_CONNECTIONS
//! are open at once and MAX_CONNECTIONS_PER_IP from one address; the excess is closed at
//! once. A WebSocket silent for IDLE_SECS is closed with 4000.

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
    // A kept-alive connection that sends no next request is closed the same way.
    let mut kept = connect(&node, Ipv4Addr::LOCALHOST).await;
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    kept.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    conns.push(kept);
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
    let metrics = metrics(&node).await;
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

/// A `/ws` connection with the handshake done by hand, so that the test can send frames
/// no WebSocket library would.
async fn raw_ws(node: &Server, token: &str) -> TcpStream {
    let mut conn = connect(node, Ipv4Addr::LOCALHOST).await;
    let request = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte)
            .await
            .expect("the handshake's answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    conn
}

/// Reads server frames until a close frame; returns its code (`None` if the connection
/// ends without one).
async fn close_code(conn: &mut TcpStream) -> Option<u16> {
    loop {
        let mut head = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(5), conn.read_exact(&mut head))
            .await
            .expect("a frame within 5 s")
            .ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(conn.read_u16().await.ok()?),
            127 => conn.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        conn.read_exact(&mut payload).await.ok()?;
        if head[0] & 0x0f == 0x8 {
            return Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// The node's `/metrics` text.
async fn metrics(node: &Server) -> String {
    reqwest::get(format!("{}/metrics", node.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A client frame: `first` (FIN, RSV bits, opcode), masked with a zero key unless `unmasked`.
fn frame(first: u8, payload: &[u8], unmasked: bool) -> Vec<u8> {
    let mut bytes = vec![first];
    if unmasked {
        bytes.push(payload.len() as u8);
    } else {
        bytes.push(0x80 | payload.len() as u8);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
    }
    bytes.extend_from_slice(payload);
    bytes
}

#[tokio::test]
async fn websocket_protocol_errors_close_with_1002_and_invalid_utf8_with_1007() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;
    let token = e2e::token(&e2e::new_session(&node.base, "rude").await);
    let cases: [(&str, Vec<u8>, u16); 5] = [
        (
            "a text frame that is not UTF-8",
            frame(0x81, &[0xff, 0xfe], false),
            1007,
        ),
        ("an unmasked frame", frame(0x81, b"hi", true), 1002),
        ("a reserved bit", frame(0xC1, b"hi", false), 1002),
        ("a reserved opcode", frame(0x83, b"hi", false), 1002),
        ("a fragmented ping", frame(0x09, b"hi", false), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut conn = raw_ws(&node, &token).await;
        conn.write_all(&bytes).await.unwrap();
        assert_eq!(close_code(&mut conn).await, Some(code), "{what}");
    }
    assert_eq!(health(&node).await, 200);
}

#[tokio::test]
async fn a_socket_follows_at_most_max_rooms_per_socket_rooms() {
    use serde_json::json;
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("MAX_ROOMS_PER_SOCKET", "3")]).await;
    let token = e2e::token(&e2e::new_session(&node.base, "joiner").await);
    let (mut ws, _) = e2e::Ws::hello(&node.ws_url("/ws", &token)).await;
    for room in ["r1", "r2", "r3"] {
        ws.send(json!({"type": "room.join", "room": room, "ref": room}))
            .await;
        assert_eq!(ws.answer(room).await["type"], "room.joined");
    }
    ws.send(json!({"type": "room.join", "room": "r4", "ref": "r4"}))
        .await;
    let refused = ws.answer("r4").await;
    assert_eq!(refused["code"], "limit_reached", "{refused}");
    ws.send(json!({"type": "room.join", "room": "r2", "ref": "again"}))
        .await;
    assert_eq!(
        ws.answer("again").await["type"],
        "room.joined",
        "a room it follows"
    );
    ws.send(json!({"type": "room.leave", "room": "r1", "ref": "out"}))
        .await;
    assert_eq!(ws.answer("out").await["type"], "ack");
    ws.send(json!({"type": "room.join", "room": "r4", "ref": "now"}))
        .await;
    assert_eq!(
        ws.answer("now").await["type"],
        "room.joined",
        "room again once one is left"
    );
}

#[tokio::test]
async fn a_token_holds_at_most_max_sockets_per_token_sockets_on_a_node() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("MAX_SOCKETS_PER_TOKEN", "2")]).await;
    let token = e2e::token(&e2e::new_session(&node.base, "hoarder").await);
    let url = node.ws_url("/ws", &token);
    let (first, _) = e2e::Ws::hello(&url).await;
    let (_second, _) = e2e::Ws::hello(&url).await;
    let mut third = e2e::Ws::connect(&url).await;
    assert_eq!(third.close_code().await, 4029);
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_again, hello) = e2e::Ws::hello(&url).await;
    assert_eq!(hello["type"], "hello", "a socket again once one closed");
}

#[tokio::test]
async fn a_token_opens_at_most_max_open_games_per_token_games_at_once() {
    use serde_json::json;
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("MAX_OPEN_GAMES_PER_TOKEN", "2")]).await;
    let token = e2e::token(&e2e::new_session(&node.base, "opener").await);
    let (mut ws, _) = e2e::Ws::hello(&node.ws_url("/ws", &token)).await;
    let mut ids = Vec::new();
    for reference in ["g1", "g2"] {
        ws.send(json!({"type": "game.create", "ref": reference}))
            .await;
        let created = ws.answer(reference).await;
        assert_eq!(created["type"], "game.state", "{created}");
        ids.push(created["game"]["id"].as_str().unwrap().to_string());
    }
    for (request, reference) in [("game.create", "g3"), ("game.quick", "q")] {
        ws.send(json!({"type": request, "ref": reference})).await;
        let refused = ws.answer(reference).await;
        assert_eq!(refused["code"], "limit_reached", "{request}: {refused}");
    }
    ws.send(json!({"type": "game.leave", "game": ids[0], "ref": "out"}))
        .await;
    ws.answer("out").await;
    ws.send(json!({"type": "game.create", "ref": "g4"})).await;
    assert_eq!(
        ws.answer("g4").await["type"],
        "game.state",
        "room for one again"
    );
}

#[tokio::test]
async fn with_a_full_history_of_the_largest_messages_no_redis_command_takes_over_5_ms() {
    use serde_json::json;
    // HISTORY_MAX messages of the largest size: the scripts look at the end of the
    // history only, so no command takes over 5 ms (SLOWLOG) for the next replies.
    let redis = Redis::start().await;
    let url = redis.url();
    let env = [
        ("HISTORY_MAX", "200"),
        ("RATE_PER_5S", "100000"),
        ("RATE_PER_MIN", "100000"),
    ];
    let (node, _worker) = tokio::join!(Server::start(&url, &env), e2e::Worker::start(&url, &env));
    let token = e2e::token(&e2e::new_session(&node.base, "talkative").await);
    let (mut ws, _) = e2e::Ws::hello(&node.ws_url("/ws", &token)).await;
    let big = "w".repeat(4000);
    for i in 0..110 {
        ws.send(json!({"type": "bot.say", "text": big, "ref": i.to_string()}))
            .await;
        ws.recv_type("bot.reply").await;
    }
    redis
        .on_every_node(&["config", "set", "slowlog-log-slower-than", "5000"])
        .await;
    redis.on_every_node(&["slowlog", "reset"]).await;
    for i in 0..10 {
        ws.send(json!({"type": "bot.say", "text": big, "ref": format!("late{i}")}))
            .await;
        ws.recv_type("bot.reply").await;
    }
    let slow = redis.on_every_node(&["slowlog", "len"]).await;
    if slow.iter().any(|n| n != "0") {
        let which = redis.on_every_node(&["slowlog", "get", "10"]).await;
        panic!("commands over 5 ms: {slow:?}: {}", which.join("\n"));
    }
    // Checked after the slow log: `/refresh_token` returns the whole document (about
    // 800 KB here), which takes as long as its size does.
    let (_, history) = e2e::refresh(&node.base, &token).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 200);
}

#[tokio::test]
async fn a_silent_socket_is_closed_with_4000_after_idle_secs_and_one_that_answers_pings_is_not() {
    // IDLE_SECS=2: the node pings every second and closes a socket silent for 2 s.
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("IDLE_SECS", "2")]).await;
    let silent = e2e::token(&e2e::new_session(&node.base, "silent").await);
    let awake = e2e::token(&e2e::new_session(&node.base, "awake").await);
    // The silent socket sends nothing, pongs included (it is read raw, after the fact).
    let mut conn = raw_ws(&node, &silent).await;
    let (mut ws, _) = e2e::Ws::hello(&node.ws_url("/ws", &awake)).await;
    // The other keeps reading, which answers the node's pings.
    ws.assert_silent(Duration::from_secs(4)).await;
    assert_eq!(close_code(&mut conn).await, Some(4000));
    ws.send(serde_json::json!({"type": "room.join", "room": "awake", "ref": "still"}))
        .await;
    assert_eq!(ws.answer("still").await["type"], "room.joined");
    let metrics = metrics(&node).await;
    assert!(
        metrics.contains("ws_closes_total{code=\"4000\"} 1"),
        "one socket closed for silence"
    );
}
