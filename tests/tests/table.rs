//! At the table, across two nodes: the turn clock (a player who does not move loses by
//! `timeout`, also when its node is dead; a move in time starts a new clock) and muting a
//! name (on every node, after a reconnect, in histories, undone, bounded).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{
    players::{leaderboard_when, play, player, start_game, Player},
    refresh, two_nodes, Server, Ws,
};
use serde_json::{json, Value};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Two nodes with a turn clock of two seconds and abandonment far off.
async fn clocked_nodes() -> (e2e::Redis, Server, Server) {
    two_nodes(&[("TURN_SECS", "2"), ("ABANDON_SECS", "60")]).await
}

/// The deadline a game state carries, checked to be about `TURN_SECS` (2 s) from now.
fn deadline(game: &Value) -> i64 {
    let at = game["turn_deadline"]
        .as_i64()
        .unwrap_or_else(|| panic!("a game in play carries turn_deadline: {game}"));
    let left = at - now_ms();
    assert!(
        (1_000..=2_100).contains(&left),
        "{left} ms left of a 2 s clock"
    );
    at
}

/// Alice (X, on node A) and Bob (O, on node B) in a game between people that has just
/// started on clocked nodes: its ID and its first deadline, as Bob sees it.
struct Table {
    _redis: e2e::Redis,
    a: Server,
    b: Server,
    alice: Player,
    bob: Player,
    id: String,
    deadline: i64,
}

async fn started_game() -> Table {
    let (_redis, a, b) = clocked_nodes().await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    let started = bob
        .ask(json!({"type": "game.join", "game": id, "ref": "again"}))
        .await;
    let deadline = deadline(&started["game"]);
    Table {
        _redis,
        a,
        b,
        alice,
        bob,
        id,
        deadline,
    }
}

/// The next state `player` sees: X lost on time, within 1.5 s of the deadline `at`.
async fn timed_out_for_x(player: &mut Player, at: i64) -> Value {
    let ended = player.state().await;
    let late = now_ms() - at;
    assert!(
        (0..1_500).contains(&late),
        "ended {late} ms after the deadline"
    );
    assert_eq!(ended["status"], "timeout", "{ended}");
    assert_eq!(ended["winner"], "O");
    ended
}

#[tokio::test]
async fn a_player_who_never_moves_loses_on_time_and_the_result_counts_once() {
    // Every part is bound, so that the nodes and Redis live until the test ends.
    let Table {
        _redis,
        a,
        b,
        mut alice,
        mut bob,
        id,
        deadline: at,
    } = started_game().await;

    // Alice (X, to move) does nothing.
    let ended = timed_out_for_x(&mut bob, at).await;
    assert_eq!(ended["next"], Value::Null);
    assert!(ended.get("turn_deadline").is_none(), "{ended}");
    assert_eq!(alice.state().await, ended, "both players see it");

    let board = leaderboard_when(&a.base, |top| top.len() == 2).await;
    let expected = json!([
        {"name": "bob", "wins": 1, "losses": 0, "draws": 0},
        {"name": "alice", "wins": 0, "losses": 1, "draws": 0}
    ]);
    assert_eq!(board["top"], expected);
    // Both nodes sweep the clocks: still counted once a while later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = leaderboard_when(&b.base, |top| top.len() == 2).await;
    assert_eq!(again["top"], expected, "counted once");
    let late_move = alice
        .ask(json!({"type": "game.move", "game": id, "cell": 0, "ref": "late"}))
        .await;
    assert_eq!(late_move["code"], "game_over", "{late_move}");
}

#[tokio::test]
async fn a_move_in_time_is_made_and_starts_a_new_clock() {
    let Table {
        _redis,
        a: _a,
        b: _b,
        mut alice,
        mut bob,
        id,
        deadline: first_deadline,
    } = started_game().await;

    // Alice moves 1.3 s into her 2 s, Bob 1.3 s into his: past the first deadline.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let after_x = play(&mut alice, &mut bob, &id, 4).await;
    assert_eq!(after_x["status"], "playing", "{after_x}");
    let second_deadline = deadline(&after_x);
    assert!(second_deadline > first_deadline + 1_000);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let after_o = play(&mut bob, &mut alice, &id, 0).await;
    assert_eq!(after_o["status"], "playing", "{after_o}");
    assert!(now_ms() > first_deadline + 500, "past the first deadline");
    deadline(&after_o);

    // Then Alice lets her clock run out.
    let ended = bob.state().await;
    assert_eq!(ended["status"], "timeout");
    assert_eq!(ended["winner"], "O");
}

#[tokio::test]
async fn the_clock_runs_out_while_the_node_of_the_player_to_move_is_dead() {
    let Table {
        _redis,
        mut a,
        b: _b,
        alice: _alice,
        mut bob,
        id: _,
        deadline: at,
    } = started_game().await;
    // Alice's node (which ran the change that started the clock) dies at once.
    a.proc.kill().await;
    timed_out_for_x(&mut bob, at).await;
}

#[tokio::test]
async fn games_against_the_bot_and_waiting_games_have_no_clock() {
    let (_redis, a, _b) = clocked_nodes().await;
    let mut alice = player(&a, "alice").await;
    let created = alice
        .ask(json!({"type": "game.create", "vs_bot": true, "ref": "c"}))
        .await;
    assert_eq!(created["game"]["status"], "playing");
    assert!(created["game"].get("turn_deadline").is_none(), "{created}");
    let waiting = alice
        .ask(json!({"type": "game.create", "vs_bot": false, "ref": "w"}))
        .await;
    assert_eq!(waiting["game"]["status"], "waiting");
    assert!(waiting["game"].get("turn_deadline").is_none(), "{waiting}");
}

/// Sends `request` and waits for its answer.
async fn ask(ws: &mut Ws, request: Value) -> Value {
    let reference = request["ref"].as_str().unwrap().to_string();
    ws.send(request).await;
    ws.answer(&reference).await
}

/// A socket of `token` on `node`, in room `lobby`.
async fn in_lobby(node: &Server, token: &str) -> Ws {
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", token)).await;
    ws.send(json!({"type": "room.join", "room": "lobby", "ref": "j"}))
        .await;
    let joined = ws.recv_type("room.joined").await;
    assert_eq!(joined["ref"], "j");
    ws
}

async fn session(node: &Server, name: &str) -> String {
    let doc = e2e::new_session(&node.base, name).await;
    doc["token"].as_str().unwrap().to_string()
}

/// Says `text` in the lobby and waits for the sender's own copy.
async fn say(ws: &mut Ws, text: &str) {
    ws.send(json!({"type": "room.say", "room": "lobby", "text": text, "ref": text}))
        .await;
    ws.answer(text).await;
}

/// The text of the next room message `ws` receives.
async fn next_text(ws: &mut Ws) -> String {
    ws.recv_type("room.message").await["text"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_muted_name_reaches_no_socket_of_the_token_on_any_node_until_unmuted() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let (alice, bob, carol) = (
        session(&a, "alice").await,
        session(&b, "bob").await,
        session(&a, "carol").await,
    );
    let mut alice_a = in_lobby(&a, &alice).await;
    let mut alice_b = in_lobby(&b, &alice).await;
    let mut bob_b = in_lobby(&b, &bob).await;
    let mut carol_a = in_lobby(&a, &carol).await;
    say(&mut bob_b, "before").await;
    assert_eq!(next_text(&mut alice_a).await, "before");
    assert_eq!(next_text(&mut alice_b).await, "before");
    assert_eq!(next_text(&mut carol_a).await, "before");

    alice_a
        .send(json!({"type": "user.mute", "name": "bob", "ref": "m"}))
        .await;
    assert_eq!(
        alice_a.answer("m").await,
        json!({"type": "ack", "ref": "m"})
    );
    say(&mut bob_b, "muted").await;
    bob_b
        .send(json!({"type": "room.typing", "room": "lobby"}))
        .await;
    assert_eq!(
        next_text(&mut carol_a).await,
        "muted",
        "others still get it"
    );
    let typing = carol_a.recv_type("room.typing").await;
    assert_eq!(typing["name"], "bob");
    say(&mut carol_a, "after").await;
    for alice in [&mut alice_a, &mut alice_b] {
        // Carol's message comes next: Bob's message and typing are left out, on the node
        // that took the mute and on the other one.
        loop {
            let frame = alice.recv().await;
            assert_ne!(frame["type"], "room.typing", "{frame}");
            if frame["type"] == "room.message" {
                assert_eq!(frame["text"], "after", "{frame}");
                break;
            }
        }
    }

    // A new socket of the token, and its history: still left out.
    let mut alice_new = in_lobby(&b, &alice).await;
    say(&mut bob_b, "still muted").await;
    say(&mut carol_a, "later").await;
    for alice in [&mut alice_new, &mut alice_a, &mut alice_b] {
        assert_eq!(next_text(alice).await, "later");
    }
    alice_new
        .send(json!({"type": "room.join", "room": "lobby", "ref": "again"}))
        .await;
    let history = alice_new.answer("again").await;
    let texts: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    // Bob's earlier messages, said before the mute, are left out too.
    assert_eq!(texts, ["after", "later"], "{history}");
    let (status, doc) = refresh(&a.base, &alice).await;
    assert_eq!(status, 200);
    assert_eq!(doc["muted"], json!(["bob"]));

    alice_b
        .send(json!({"type": "user.unmute", "name": "bob", "ref": "u"}))
        .await;
    alice_b.answer("u").await;
    say(&mut bob_b, "heard again").await;
    for alice in [&mut alice_a, &mut alice_b, &mut alice_new] {
        assert_eq!(next_text(alice).await, "heard again");
    }
    let (_, doc) = refresh(&a.base, &alice).await;
    assert_eq!(doc["muted"], json!([]));
}

#[tokio::test]
async fn muting_refuses_oneself_a_bad_name_and_more_than_mute_max_names() {
    let (_redis, a, _b) = two_nodes(&[("MUTE_MAX", "2")]).await;
    let alice = session(&a, "alice").await;
    let (mut ws, _) = Ws::hello(&a.ws_url("/ws", &alice)).await;
    // Each request in turn, and what it must be answered with: an `ack` or an error code.
    let steps = [
        ("user.mute", "alice", "bad_request"),
        ("user.mute", "  ", "bad_request"),
        ("user.mute", "bob", "ack"),
        ("user.mute", "carol", "ack"),
        ("user.mute", "bob", "ack"),
        ("user.mute", "dave", "limit_reached"),
        ("user.unmute", "erin", "ack"),
    ];
    for (i, (kind, name, expected)) in steps.into_iter().enumerate() {
        let answer = ask(
            &mut ws,
            json!({"type": kind, "name": name, "ref": i.to_string()}),
        )
        .await;
        let got = answer["code"].as_str().or(answer["type"].as_str());
        assert_eq!(got, Some(expected), "{kind} {name:?}: {answer}");
    }
    let (_, doc) = refresh(&a.base, &alice).await;
    assert_eq!(doc["muted"], json!(["bob", "carol"]), "in the order muted");
    for (kind, name) in [("user.unmute", "bob"), ("user.mute", "dave")] {
        let answer = ask(&mut ws, json!({"type": kind, "name": name, "ref": name})).await;
        assert_eq!(answer["type"], "ack", "room again: {answer}");
    }
    let (_, doc) = refresh(&a.base, &alice).await;
    assert_eq!(doc["muted"], json!(["carol", "dave"]));
}
