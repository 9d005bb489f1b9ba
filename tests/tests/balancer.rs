//! Traffic through the load balancer (Debian's nginx with the project's configuration) in
//! front of two nodes: sessions, bot chat and a game, and a node killed mid-game while the
//! players carry on through the balancer.

use e2e::{new_session, start_game, token, Balancer, Redis, Server, Worker, Ws};
use serde_json::{json, Value};

/// `mover` plays `cell` in `game`; both players see the new state. Returns it.
async fn play(mover: &mut Ws, other: &mut Ws, game: &str, cell: u8) -> Value {
    let reference = format!("move-{cell}");
    mover
        .send(json!({"type": "game.move", "game": game, "cell": cell, "ref": reference}))
        .await;
    let state = mover.answer(&reference).await;
    assert_eq!(state["type"], "game.state", "{state}");
    let seen = other.recv_type("game.state").await;
    assert_eq!(seen["game"]["version"], state["game"]["version"]);
    state["game"].clone()
}

/// Reconnects through the balancer and takes the seat back; returns the socket, the node
/// it reached and the game as it is now.
async fn come_back(lb: &Balancer, token: &str, game: &str) -> (Ws, String, Value) {
    let (mut ws, hello) = Ws::hello(&lb.ws_url("/ws", token)).await;
    ws.send(json!({"type": "game.join", "game": game, "ref": "back"}))
        .await;
    let state = ws.answer("back").await;
    assert_eq!(state["type"], "game.state", "{state}");
    (
        ws,
        hello["node"].as_str().unwrap().to_string(),
        state["game"].clone(),
    )
}

#[tokio::test]
async fn players_through_the_balancer_carry_on_when_a_node_is_killed() {
    let redis = Redis::start().await;
    let url = redis.url();
    let behind_a = [("NODE_ID", "node-a"), ("TRUST_FORWARDED_FOR", "true")];
    let behind_b = [("NODE_ID", "node-b"), ("TRUST_FORWARDED_FOR", "true")];
    let (mut a, mut b, _worker) = tokio::join!(
        Server::start(&url, &behind_a),
        Server::start(&url, &behind_b),
        Worker::start(&url, &[]),
    );
    let lb = Balancer::start(&[&a, &b]).await;
    let alice = token(&new_session(&lb.base, "alice").await);
    let bob = token(&new_session(&lb.base, "bob").await);
    let (mut x, x_hello) = Ws::hello(&lb.ws_url("/ws", &alice)).await;
    let (mut o, o_hello) = Ws::hello(&lb.ws_url("/ws", &bob)).await;

    x.send(json!({"type": "bot.say", "text": "hello", "ref": "hi"}))
        .await;
    assert_eq!(x.answer("hi").await["type"], "ack");
    x.recv_type("bot.reply").await;

    let id = start_game(&mut x, &mut o).await;
    play(&mut x, &mut o, &id, 0).await;
    play(&mut o, &mut x, &id, 3).await;

    // Alice's node dies; Bob's socket may have been on it too.
    let killed = x_hello["node"].as_str().unwrap().to_string();
    if killed == "node-a" {
        a.proc.kill().await;
    } else {
        b.proc.kill().await;
    }
    let (mut x, x_node, game) = come_back(&lb, &alice, &id).await;
    assert_ne!(x_node, killed, "the balancer skips the dead node");
    assert_eq!(
        game["board"][0], "X",
        "Alice has her seat and the board back"
    );
    assert_eq!(game["board"][3], "O");
    if o_hello["node"] == killed.as_str() {
        let (again, o_node, _) = come_back(&lb, &bob, &id).await;
        assert_ne!(o_node, killed);
        o = again;
    }

    play(&mut x, &mut o, &id, 1).await;
    play(&mut o, &mut x, &id, 4).await;
    let end = play(&mut x, &mut o, &id, 2).await;
    assert_eq!(end["status"], "won");
    assert_eq!(end["winner"], "X");
    assert_eq!(end["line"], json!([0, 1, 2]));
}
