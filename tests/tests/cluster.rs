//! On a Redis Cluster (three masters, three replicas): the master that owns a game's slot
//! fails mid-game, its replica takes over, and the game, its chat and the bot chat go on
//! across two nodes with nothing acknowledged lost. (The other suites run on a cluster too,
//! with `E2E_REDIS=cluster`; see scripts/test.sh.)

use std::time::Duration;

use e2e::{eventually, new_session, refresh, start_game, token, RedisCluster, Server, Worker, Ws};
use serde_json::{json, Value};

/// Sends `request` until it is not refused as `unavailable` (the cluster may be moving a
/// slot to the promoted replica), and returns the answer.
async fn until_served(ws: &mut Ws, request: Value) -> Value {
    for attempt in 0..75 {
        let reference = format!("try{attempt}");
        let mut request = request.clone();
        request["ref"] = json!(reference);
        ws.send(request).await;
        let frame = ws.answer(&reference).await;
        if frame["code"] != "unavailable" {
            return frame;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("still unavailable after 15 s");
}

#[tokio::test]
async fn a_game_and_both_chats_go_on_when_the_games_master_fails_over() {
    let mut cluster = RedisCluster::start().await;
    let url = cluster.url();
    let (a, b, _worker) = tokio::join!(
        Server::start(&url, &[("NODE_ID", "node-a")]),
        Server::start(&url, &[("NODE_ID", "node-b")]),
        Worker::start(&url, &[]),
    );
    let alice = token(&new_session(&a.base, "alice").await);
    let bob = token(&new_session(&b.base, "bob").await);
    let (mut x, _) = Ws::hello(&a.ws_url("/ws", &alice)).await;
    let (mut o, _) = Ws::hello(&b.ws_url("/ws", &bob)).await;

    let id = start_game(&mut x, &mut o).await;
    x.send(json!({"type": "game.move", "game": id, "cell": 0, "ref": "m0"}))
        .await;
    assert_eq!(x.answer("m0").await["type"], "game.state");
    o.recv_type("game.state").await;
    let room = format!("game:{id}");
    o.send(json!({"type": "room.say", "room": room, "text": "before", "ref": "r0"}))
        .await;
    assert_eq!(o.answer("r0").await["type"], "room.message");
    assert_eq!(x.recv_type("room.message").await["text"], "before");
    x.send(json!({"type": "bot.say", "text": "hello before", "ref": "b0"}))
        .await;
    let acked_before = x.answer("b0").await["id"].as_str().unwrap().to_string();
    x.recv_type("bot.reply").await;

    cluster.fail_over(&format!("game:{{{id}}}")).await;

    let moved = until_served(&mut o, json!({"type": "game.move", "game": id, "cell": 4})).await;
    assert_eq!(moved["type"], "game.state", "{moved}");
    assert_eq!(
        moved["game"]["board"][0], "X",
        "the game survived the failover"
    );
    assert_eq!(moved["game"]["board"][4], "O");
    let seen = x.recv_type("game.state").await;
    assert_eq!(seen["game"]["version"], moved["game"]["version"]);

    let said = until_served(
        &mut x,
        json!({"type": "room.say", "room": room, "text": "after"}),
    )
    .await;
    assert_eq!(said["type"], "room.message", "{said}");
    assert_eq!(o.recv_type("room.message").await["text"], "after");

    let acked = until_served(&mut x, json!({"type": "bot.say", "text": "hello after"})).await;
    assert_eq!(acked["type"], "ack", "{acked}");
    let reply = x.recv_type("bot.reply").await;
    assert_eq!(reply["in_reply_to"], acked["id"]);

    // Nothing acknowledged is lost: both messages and their replies are in the history.
    let history = eventually(Duration::from_secs(10), "the whole history", || async {
        let (status, doc) = refresh(&b.base, &alice).await;
        (status == 200 && doc["messages"].as_array()?.len() == 4).then_some(doc)
    })
    .await;
    let ids: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&acked_before.as_str()));
    assert!(ids.contains(&acked["id"].as_str().unwrap()));
}
