//! Bot chat over `/chat` and `/ws` across two nodes and a worker: tokens, acks, replies,
//! cross-node delivery, order, history, and bad frames.

use std::time::Duration;

use e2e::{new_session, refresh, token, Cluster, Ws};
use serde_json::json;

#[tokio::test]
async fn bad_tokens_close_with_1008() {
    let c = Cluster::start().await;
    for path in ["/chat", "/ws"] {
        let mut missing = Ws::connect(&format!("ws://127.0.0.1:{}{path}", c.a.port)).await;
        assert_eq!(missing.close_code().await, 1008, "{path} without a token");
        let mut unknown = Ws::connect(&c.a.ws_url(path, "not-a-token")).await;
        assert_eq!(
            unknown.close_code().await,
            1008,
            "{path} with an unknown token"
        );
    }
}

#[tokio::test]
async fn plain_chat_gets_the_bots_reply_as_a_message_object() {
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "alice").await;
    let mut chat = Ws::connect(&c.a.ws_url("/chat", &token(&doc))).await;
    chat.send_text("hello").await;
    let reply = chat.recv().await;
    assert_eq!(reply["source"], "bot");
    assert!(
        reply["msg"].as_str().unwrap().contains("alice"),
        "greets by name: {reply}"
    );
    assert!(
        reply["id"].is_string()
            && reply["timestamp"].is_string()
            && reply["in_reply_to"].is_string()
    );
    let (_, history) = refresh(&c.a.base, &token(&doc)).await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["msg"], "hello");
    assert_eq!(messages[1], reply);
    assert_eq!(reply["in_reply_to"], messages[0]["id"]);
}

#[tokio::test]
async fn ws_says_hello_acks_after_storing_and_replies_on_every_node() {
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "bob").await;
    let t = token(&doc);
    let (mut on_a, hello) = Ws::hello(&c.a.ws_url("/ws", &t)).await;
    assert_eq!(hello["node"], "node-a");
    assert_eq!(hello["name"], "bob");
    assert_eq!(hello["session_start"], doc["session_start"]);
    let (mut on_b, hello_b) = Ws::hello(&c.b.ws_url("/ws", &t)).await;
    assert_eq!(hello_b["node"], "node-b");

    on_a.send(json!({"type": "bot.say", "text": "help", "ref": "r1"}))
        .await;
    let ack = on_a.recv().await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["ref"], "r1");
    let id = ack["id"].as_str().unwrap().to_string();
    // Acknowledged means stored: the history has it already.
    let (_, history) = refresh(&c.b.base, &t).await;
    assert!(history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == id.as_str()));

    for ws in [&mut on_a, &mut on_b] {
        let reply = ws.recv_type("bot.reply").await;
        assert_eq!(reply["in_reply_to"], id.as_str());
        assert!(
            reply["msg"].as_str().unwrap().contains("rules"),
            "help answer: {reply}"
        );
    }
    // A socket of another token on the same node gets nothing.
    let other = new_session(&c.b.base, "eve").await;
    let (mut eve, _) = Ws::hello(&c.b.ws_url("/ws", &token(&other))).await;
    on_b.send(json!({"type": "bot.say", "text": "hi"})).await;
    assert_eq!(on_b.recv().await["type"], "ack");
    on_b.recv_type("bot.reply").await;
    eve.assert_silent(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn fifteen_quick_messages_get_fifteen_replies_in_order() {
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "quick").await;
    let t = token(&doc);
    let (mut sender, _) = Ws::hello(&c.a.ws_url("/ws", &t)).await;
    let (mut watcher, _) = Ws::hello(&c.b.ws_url("/ws", &t)).await;
    for i in 0..15 {
        sender
            .send(json!({"type": "bot.say", "text": format!("message {i}"), "ref": i.to_string()}))
            .await;
    }
    let mut ids = Vec::new();
    let mut replies = Vec::new();
    while ids.len() < 15 || replies.len() < 15 {
        let frame = sender.recv().await;
        match frame["type"].as_str() {
            Some("ack") => {
                assert_eq!(frame["ref"], ids.len().to_string(), "acks come in order");
                ids.push(frame["id"].as_str().unwrap().to_string());
            }
            Some("bot.reply") => replies.push(frame["in_reply_to"].as_str().unwrap().to_string()),
            other => panic!("unexpected {other:?}: {frame}"),
        }
    }
    assert_eq!(
        replies, ids,
        "replies arrive in the order the messages were sent"
    );
    let mut seen = Vec::new();
    for _ in 0..15 {
        seen.push(
            watcher.recv_type("bot.reply").await["in_reply_to"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen, ids, "the other node delivers them in order too");

    let (_, history) = refresh(&c.b.base, &t).await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 30);
    for (i, pair) in messages.chunks(2).enumerate() {
        assert_eq!(pair[0]["source"], "human");
        assert_eq!(pair[0]["msg"], format!("message {i}"));
        assert_eq!(pair[1]["source"], "bot");
        assert_eq!(pair[1]["in_reply_to"], pair[0]["id"]);
    }
}

#[tokio::test]
async fn a_history_keeps_its_last_history_max_messages_and_says_how_many_were_dropped() {
    let redis = e2e::Redis::start().await;
    let url = redis.url();
    let cap = [("HISTORY_MAX", "6")];
    let (node, _worker) = tokio::join!(
        e2e::Server::start(&url, &cap),
        e2e::Worker::start(&url, &cap)
    );
    let doc = new_session(&node.base, "chatty").await;
    let t = token(&doc);
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &t)).await;
    for i in 0..5 {
        ws.send(json!({"type": "bot.say", "text": format!("message {i}")}))
            .await;
        let id = ws.recv_type("ack").await["id"].clone();
        assert_eq!(ws.recv_type("bot.reply").await["in_reply_to"], id);
    }
    let (_, history) = refresh(&node.base, &t).await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6, "{history}");
    assert_eq!(history["dropped"], 4, "{history}");
    for (pair, i) in messages.chunks(2).zip(2..) {
        assert_eq!(pair[0]["msg"], format!("message {i}"));
        assert_eq!(pair[1]["in_reply_to"], pair[0]["id"]);
    }
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_stays_open() {
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "fuzz").await;
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &token(&doc))).await;

    let cases = [
        ("not json".to_string(), None),
        ("[1,2]".to_string(), None),
        (json!({"type": "nope", "ref": "a"}).to_string(), Some("a")),
        (
            json!({"type": "bot.say", "ref": "b"}).to_string(),
            Some("b"),
        ),
        (
            json!({"type": "bot.say", "text": 7, "ref": "c"}).to_string(),
            Some("c"),
        ),
        (
            json!({"text": "no type", "ref": "d"}).to_string(),
            Some("d"),
        ),
        (
            json!({"type": "bot.say", "text": "   ", "ref": "e"}).to_string(),
            Some("e"),
        ),
        (
            json!({"type": "game.quick", "extra": 1, "ref": "f"}).to_string(),
            Some("f"),
        ),
    ];
    for (frame, reference) in &cases {
        ws.send_text(frame).await;
        let err = ws.recv().await;
        assert_eq!(err["type"], "error", "{frame}");
        assert_eq!(err["code"], "bad_request", "{frame}: {err}");
        assert_eq!(err["ref"].as_str(), *reference, "{frame}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let big = json!({"type": "bot.say", "text": "x".repeat(17 * 1024), "ref": "big"}).to_string();
    ws.send_text(&big).await;
    let err = ws.recv().await;
    assert_eq!(err["code"], "too_large", "{err}");

    // Still open and working; none of the bad frames reached the history.
    ws.send(json!({"type": "bot.say", "text": "still here", "ref": "ok"}))
        .await;
    assert_eq!(ws.recv().await["type"], "ack");
    ws.recv_type("bot.reply").await;
    let (_, history) = refresh(&c.a.base, &token(&doc)).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_frame_too_large_to_read_closes_with_1009() {
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "huge").await;
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &token(&doc))).await;
    let huge = "y".repeat(1024 * 1024);
    // The server may close before the whole frame is written.
    let _ = ws.try_send_text(&huge).await;
    assert_eq!(ws.close_code().await, 1009);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_4008() {
    let redis = e2e::Redis::start().await;
    let limits = [("RATE_PER_5S", "100000"), ("RATE_PER_MIN", "100000")];
    let node = e2e::Server::start(&redis.url(), &limits).await;
    let slow_doc = new_session(&node.base, "slow").await;
    let fast_doc = new_session(&node.base, "fast").await;
    let mut slow = Ws::connect_small(&node.ws_url("/ws", &token(&slow_doc)), 4096).await;
    slow.recv_type("hello").await;
    slow.send(json!({"type": "room.join", "room": "flood"}))
        .await;
    slow.recv_type("room.joined").await;
    let (mut fast, _) = Ws::hello(&node.ws_url("/ws", &token(&fast_doc))).await;
    fast.send(json!({"type": "room.join", "room": "flood"}))
        .await;
    fast.recv_type("room.joined").await;

    // The slow client reads nothing more while the room fills its queue; the node gives
    // up on it and says so (4008) behind the frames it could not deliver.
    let text = "x".repeat(1_900);
    let mut cut_off = false;
    for i in 0..10_000 {
        let frame =
            json!({"type": "room.say", "room": "flood", "text": text, "ref": i.to_string()});
        fast.send(frame).await;
        fast.recv_type("room.message").await;
        if i % 100 == 99 {
            let resp = reqwest::get(format!("{}/metrics", node.base))
                .await
                .unwrap();
            if resp
                .text()
                .await
                .unwrap()
                .contains("ws_closes_total{code=\"4008\"} 1")
            {
                cut_off = true;
                break;
            }
        }
    }
    assert!(cut_off, "the node closed the slow socket");
    assert_eq!(slow.close_code().await, 4008);
    fast.send(json!({"type": "room.say", "room": "flood", "text": "still here", "ref": "last"}))
        .await;
    assert_eq!(fast.recv_type("room.message").await["text"], "still here");
}
