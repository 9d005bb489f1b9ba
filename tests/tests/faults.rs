//! Faults: Redis restarted mid-conversation, and a node shut down under its sockets.

use std::time::Duration;

use e2e::{new_session, refresh, token, traffic::json_body, Cluster, Redis, Ws};
use fred::prelude::*;
use serde_json::{json, Value};

/// The texts of the human messages in a session document's history, in order.
fn human_texts(history: &Value) -> Vec<&str> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "human")
        .map(|m| m["msg"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn redis_restarted_mid_run_degrades_then_recovers_and_loses_nothing_acknowledged() {
    let redis = Redis::start_persistent().await;
    let mut c = Cluster::on(redis).await;
    let doc = new_session(&c.a.base, "steady").await;
    let t = token(&doc);
    let (mut on_a, _) = Ws::hello(&c.a.ws_url("/ws", &t)).await;
    let (mut on_b, _) = Ws::hello(&c.b.ws_url("/ws", &t)).await;

    on_a.send(json!({"type": "bot.say", "text": "before", "ref": "1"}))
        .await;
    let before = on_a.recv_type("ack").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        on_b.recv_type("bot.reply").await["in_reply_to"],
        before.as_str()
    );

    c.redis.stop().await;
    c.a.wait_health(503, Duration::from_secs(10)).await;
    c.b.wait_health(503, Duration::from_secs(10)).await;
    let (_, degraded) = json_body(
        "GET",
        reqwest::get(format!("{}/health", c.a.base)).await.unwrap(),
    )
    .await;
    assert_eq!(degraded["status"], "degraded");

    // The socket stays open and a request gets a clear error.
    on_a.send(json!({"type": "bot.say", "text": "during", "ref": "2"}))
        .await;
    let err = on_a.recv_type("error").await;
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(err["ref"], "2");
    assert_eq!(err["code"], "unavailable");

    c.redis.restart().await;
    c.a.wait_health(200, Duration::from_secs(15)).await;
    c.b.wait_health(200, Duration::from_secs(15)).await;

    on_a.send(json!({"type": "bot.say", "text": "after", "ref": "3"}))
        .await;
    let after = on_a.recv_type("ack").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        on_b.recv_type("bot.reply").await["in_reply_to"],
        after.as_str()
    );

    let (status, history) = refresh(&c.b.base, &t).await;
    assert_eq!(status, 200);
    let texts = human_texts(&history);
    assert!(
        texts.contains(&"before") && texts.contains(&"after"),
        "{texts:?}"
    );
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        2 * texts.len()
    );
}

#[tokio::test]
async fn games_and_rooms_carry_on_across_nodes_after_a_redis_restart() {
    let redis = Redis::start_persistent().await;
    let mut c = Cluster::on(redis).await;
    let alice_doc = new_session(&c.a.base, "alice").await;
    let bob_doc = new_session(&c.b.base, "bob").await;
    let (mut alice, _) = Ws::hello(&c.a.ws_url("/ws", &token(&alice_doc))).await;
    let (mut bob, _) = Ws::hello(&c.b.ws_url("/ws", &token(&bob_doc))).await;
    let id = e2e::create_game(&mut alice).await;
    bob.send(json!({"type": "game.join", "game": id})).await;
    assert_eq!(
        bob.recv_type("game.state").await["game"]["status"],
        "playing"
    );
    assert_eq!(
        alice.recv_type("game.state").await["game"]["status"],
        "playing"
    );

    c.redis.restart().await;
    c.a.wait_health(200, Duration::from_secs(15)).await;
    c.b.wait_health(200, Duration::from_secs(15)).await;
    // The nodes re-subscribed by themselves: a move and a chat line cross nodes again.
    let mut moved = None;
    for _ in 0..50 {
        alice
            .send(json!({"type": "game.move", "game": id, "cell": 4, "ref": "m"}))
            .await;
        let answer = loop {
            let frame = alice.recv().await;
            if frame["ref"] == "m" {
                break frame;
            }
        };
        if answer["type"] == "game.state" {
            moved = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let moved = moved.expect("the move is accepted once Redis is back");
    assert_eq!(moved["game"]["board"][4], "X");
    let seen = bob.recv_type("game.state").await;
    assert_eq!(seen["game"]["version"], moved["game"]["version"]);
    let room = format!("game:{id}");
    bob.send(json!({"type": "room.say", "room": room, "text": "still here"}))
        .await;
    let line = alice.recv_type("room.message").await;
    assert_eq!(line["text"], "still here");
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1001() {
    let mut c = Cluster::start().await;
    let doc = new_session(&c.a.base, "leaver").await;
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &token(&doc))).await;
    let (mut chat,) = (Ws::connect(&c.a.ws_url("/chat", &token(&doc))).await,);
    let stopping = tokio::spawn(async move { c.a.proc.terminate().await });
    assert_eq!(ws.close_code().await, 1001);
    assert_eq!(chat.close_code().await, 1001);
    let status = stopping.await.unwrap().expect("node exits");
    assert!(status.success());
}

#[tokio::test]
async fn a_full_redis_refuses_writes_clearly_loses_nothing_and_recovers_when_freed() {
    use fred::prelude::*;
    let mut c = Cluster::start().await;
    let doc = new_session(&c.a.base, "frugal").await;
    let t = token(&doc);
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &t)).await;
    ws.send(json!({"type": "bot.say", "text": "before", "ref": "1"}))
        .await;
    let before = ws.recv_type("ack").await["id"].clone();
    assert_eq!(ws.recv_type("bot.reply").await["in_reply_to"], before);

    // Redis reaches its maxmemory with the policy to run with, noeviction: 4 MB of other
    // data, then a limit 1 MB below what is used.
    let admin = c.redis.client().await;
    let chunk = "x".repeat(256 * 1024);
    for i in 0..16 {
        let _: () = admin
            .set(format!("filler:{i}"), chunk.as_str(), None, None, false)
            .await
            .unwrap();
    }
    let info: String = admin
        .info(Some(fred::types::InfoKind::Memory))
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let limit = (used - 1024 * 1024).to_string();
    c.redis
        .on_every_node(&[
            "config",
            "set",
            "maxmemory",
            &limit,
            "maxmemory-policy",
            "noeviction",
        ])
        .await;

    ws.send(json!({"type": "bot.say", "text": "during", "ref": "2"}))
        .await;
    let refused = ws.answer("2").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    let resp = reqwest::Client::new()
        .post(format!("{}/token?name=newcomer", c.a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);

    let fillers: Vec<String> = (0..16).map(|i| format!("filler:{i}")).collect();
    let _: i64 = admin.del(fillers).await.unwrap();
    ws.send(json!({"type": "bot.say", "text": "after", "ref": "3"}))
        .await;
    let after = ws.answer("3").await;
    assert_eq!(after["type"], "ack", "{after}");
    assert_eq!(ws.recv_type("bot.reply").await["in_reply_to"], after["id"]);
    let (_, history) = refresh(&c.b.base, &t).await;
    let texts = human_texts(&history);
    assert_eq!(
        texts,
        ["before", "after"],
        "nothing acknowledged lost, nothing refused stored"
    );
    assert!(c.a.proc.exited().is_none(), "the node is still running");
    assert!(
        c.worker.proc.exited().is_none(),
        "the worker is still running"
    );
}

#[tokio::test]
async fn a_bot_game_goes_on_when_redis_refused_the_bots_turn_for_a_moment() {
    // Redis makes the move but refuses, for a moment, the bot's turn that follows it on
    // another key (here the turns' stream is replaced by a key of another type; in a
    // Redis Cluster, a failover of the stream's shard): the move is answered, not
    // `unavailable`, and the bot moves once Redis takes its turn.
    let redis = Redis::start().await;
    let a = e2e::Server::start(&redis.url(), &[]).await;
    let _worker = e2e::Worker::start(&redis.url(), &[]).await;
    let client = redis.client().await;
    let doc = new_session(&a.base, "patient").await;
    let (mut ws, _) = Ws::hello(&a.ws_url("/ws", &token(&doc))).await;
    ws.send(json!({"type": "game.create", "vs_bot": true, "ref": "c"}))
        .await;
    let id = ws.answer("c").await["game"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let turns = common::keys::BOT_TURNS;
    let _: i64 = client.del(turns).await.unwrap();
    let _: () = client
        .set(turns, "in the way", None, None, false)
        .await
        .unwrap();
    ws.send(json!({"type": "game.move", "game": id, "cell": 4, "ref": "m"}))
        .await;
    let moved = ws.answer("m").await;
    assert_eq!(moved["type"], "game.state", "the move is answered: {moved}");
    assert_eq!(moved["game"]["next"], "O");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _: i64 = client.del(turns).await.unwrap();

    let version = moved["game"]["version"].as_u64().unwrap();
    let bots = loop {
        let state = ws.recv_type("game.state").await["game"].clone();
        if state["version"].as_u64() > Some(version) {
            break state;
        }
    };
    assert_eq!(bots["version"].as_u64(), Some(version + 1));
    assert_eq!(bots["next"], "X", "the bot moved: {bots}");
}

#[tokio::test]
async fn a_move_whose_answer_was_lost_on_the_way_back_is_made_once_and_answered() {
    // Node A reaches Redis through a proxy that cuts the connection carrying the move
    // instead of passing its answer on: Redis made the move, and A's Redis client sends it
    // again once it has reconnected. The mover gets the game with its ref, the other
    // player sees the move once, and the game went one version further, not two.
    let redis = Redis::start().await;
    let url = redis.url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = e2e::lossy::LossyProxy::start(port, "lost-on-the-way").await;
    let through = url.replace(&format!(":{port}"), &format!(":{}", proxy.port));
    let a = e2e::Server::start(&through, &[]).await;
    let b = e2e::Server::start(&url, &[]).await;
    let mut alice = e2e::players::player(&a, "alice").await;
    let mut bob = e2e::players::player(&b, "bob").await;
    let id = e2e::players::start_game(&mut alice, &mut bob).await;

    alice
        .ws
        .send(json!({"type": "game.move", "game": id, "cell": 4, "ref": "lost-on-the-way"}))
        .await;
    // The state with the ref also comes through pub/sub, so the node's own answer is what
    // this checks: a socket's requests are answered in order, so every frame up to the
    // answer of the next request must be free of a refusal.
    alice
        .ws
        .send(json!({"type": "game.join", "game": id, "ref": "after"}))
        .await;
    let mut states = 0;
    loop {
        let frame = alice.ws.recv().await;
        assert_ne!(
            frame["type"], "error",
            "the move sent again was refused: {frame}"
        );
        if frame["ref"] == "after" {
            assert_eq!(frame["game"]["version"], 3, "made once: {frame}");
            break;
        }
        if frame["ref"] == "lost-on-the-way" {
            assert_eq!(frame["game"]["version"], 3, "{frame}");
            states += 1;
        }
    }
    assert!(states >= 1, "the move was answered");
    assert!(proxy.lost(), "the proxy lost the move's answer");
    assert_eq!(bob.state().await["version"], 3);
    let next = bob
        .ask(json!({"type": "game.move", "game": id, "cell": 0, "ref": "b"}))
        .await;
    assert_eq!(
        next["game"]["version"], 4,
        "bob saw the first move once: {next}"
    );
}
