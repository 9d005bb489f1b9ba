//! The Rust client library (`client/`) against real nodes: two clients on two nodes chat
//! (one mutes the other for a while) and play a whole game, the bot answers, a refused request carries its error code, and
//! the node under a client is killed: it carries on through the other node with every
//! room message once and in order.

use std::time::Duration;

use client::{Error, Event, Options};
use e2e::Cluster;
use tokio::sync::mpsc::UnboundedReceiver;

/// The next event that `pick` keeps, within 10 s.
async fn next<T>(
    events: &mut UnboundedReceiver<Event>,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.expect("the client's events go on");
            if let Some(kept) = pick(event) {
                return kept;
            }
        }
    })
    .await
    .expect("the event in time")
}

fn texts_of(event: Event) -> Option<String> {
    match event {
        Event::RoomMessage(m) => Some(m.text),
        _ => None,
    }
}

#[tokio::test]
async fn two_clients_on_two_nodes_chat_play_a_game_and_ask_the_bot() {
    let c = Cluster::start().await;
    let alice = client::connect(Options::new([c.a.base.as_str()]).name("alice"))
        .await
        .unwrap();
    let bob = client::connect(Options::new([c.b.base.as_str()]).name("bob"))
        .await
        .unwrap();
    let mut bob_events = bob.events().unwrap();
    alice.join_room("lobby").await.unwrap();
    bob.join_room("lobby").await.unwrap();
    let sent = alice.say("lobby", "hello bob").await.unwrap();
    assert_eq!((sent.from.as_str(), sent.room.as_str()), ("alice", "lobby"));
    assert_eq!(next(&mut bob_events, texts_of).await, "hello bob");
    bob.mute("alice").await.unwrap();
    alice.say("lobby", "not for bob").await.unwrap();
    bob.unmute("alice").await.unwrap();
    alice.say("lobby", "for bob again").await.unwrap();
    assert_eq!(
        next(&mut bob_events, texts_of).await,
        "for bob again",
        "a muted name's message is left out"
    );
    match bob.mute("bob").await {
        Err(Error::Refused { code, .. }) => assert_eq!(code, "bad_request"),
        other => panic!("muting oneself: {other:?}"),
    }

    let reply = alice.bot_say("hello bot").await.unwrap();
    assert_eq!(reply["type"], "bot.reply");
    assert!(!reply["msg"].as_str().unwrap().is_empty());

    let game = alice.create_game(false).await.unwrap();
    let id = game["id"].as_str().unwrap().to_string();
    assert_eq!(bob.join_game(&id).await.unwrap()["status"], "playing");
    for (cell, x) in [(0, true), (3, false), (1, true), (4, false), (2, true)] {
        let player = if x { &alice } else { &bob };
        player.play(&id, cell).await.unwrap();
    }
    let over = next(&mut bob_events, |e| match e {
        Event::GameState(g) if g["status"] == "won" => Some(g),
        _ => None,
    })
    .await;
    assert_eq!(over["winner"], "X");
    match bob.play(&id, 8).await {
        Err(Error::Refused { code, .. }) => assert_eq!(code, "game_over"),
        other => panic!("a move after the end: {other:?}"),
    }
    match alice.join_game("nosuchgame").await {
        Err(Error::Refused { code, .. }) => assert_eq!(code, "not_found"),
        other => panic!("joining no game: {other:?}"),
    }
}

#[tokio::test]
async fn a_client_whose_node_is_killed_carries_on_through_the_other_with_nothing_missed_or_twice() {
    let mut c = Cluster::start().await;
    let alice = client::connect(Options::new([c.a.base.as_str(), c.b.base.as_str()]).name("alice"))
        .await
        .unwrap();
    let mut alice_events = alice.events().unwrap();
    let bob = client::connect(Options::new([c.b.base.as_str()]).name("bob"))
        .await
        .unwrap();
    alice.join_room("desk").await.unwrap();
    bob.join_room("desk").await.unwrap();
    bob.say("desk", "before").await.unwrap();
    assert_eq!(next(&mut alice_events, texts_of).await, "before");

    c.a.proc.kill().await;
    let delay = next(&mut alice_events, |e| match e {
        Event::Reconnecting { delay, .. } => Some(delay),
        _ => None,
    })
    .await;
    eprintln!("alice comes back after {delay:?}");
    for i in 0..5 {
        bob.say("desk", &format!("while away {i}")).await.unwrap();
    }
    let node = next(&mut alice_events, |e| match e {
        Event::Open { node } => Some(node),
        _ => None,
    })
    .await;
    assert_eq!(node, "node-b");
    bob.say("desk", "after").await.unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("after") {
        seen.push(next(&mut alice_events, texts_of).await);
    }
    let expected: Vec<String> = (0..5)
        .map(|i| format!("while away {i}"))
        .chain(["after".to_string()])
        .collect();
    assert_eq!(seen, expected, "every message once, in order");
    // And alice's own requests go through the new node.
    alice.say("desk", "back").await.unwrap();
}

/// A machine whose clock is off still counts a turn clock down right: the client takes the
/// server's time from `hello`. The node here is a stand-in whose clock is ten minutes
/// ahead (it makes the session and says `hello`, nothing else), as no real node's clock
/// can be set apart from this machine's.
#[tokio::test]
async fn the_client_takes_the_servers_clock_from_hello() {
    use axum::{
        extract::ws::{Message, WebSocketUpgrade},
        routing::{get, post},
        Json, Router,
    };
    const AHEAD_MS: i64 = 600_000;
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let app = Router::new()
        .route(
            "/token",
            post(|| async { Json(serde_json::json!({"name": "alice", "token": "t-alice"})) }),
        )
        .route(
            "/ws",
            get(move |ws: WebSocketUpgrade| async move {
                ws.on_upgrade(move |mut socket| async move {
                    let hello = serde_json::json!({
                        "type": "hello", "node": "ahead", "name": "alice",
                        "session_start": "2026-12-04T00:00:00.000Z",
                        "server_time": now_ms() + AHEAD_MS,
                    });
                    let _ = socket.send(Message::Text(hello.to_string().into())).await;
                    while let Some(Ok(_)) = socket.recv().await {}
                })
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let alice = client::connect(Options::new([base.as_str()]).name("alice"))
        .await
        .expect("connected");
    let offset = alice.clock_offset_ms();
    assert!((offset - AHEAD_MS).abs() < 2_000, "offset {offset} ms");
    let ahead = alice.server_now_ms() - now_ms();
    assert!(
        (ahead - AHEAD_MS).abs() < 2_000,
        "server_now_ms is {ahead} ms ahead"
    );
}
