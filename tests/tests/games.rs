//! Tic-tac-toe across two nodes: full games, every error code, the move race, quick
//! match, spectators, rematch, reconnecting through the other node, abandonment (also
//! when a node dies), the bot opponent, the leaderboard and the player count.

use std::time::Duration;

use common::keys;
use e2e::{eventually, new_session, two_nodes, Server, Worker, Ws};
use fred::prelude::*;
use serde_json::{json, Value};

/// `GET /leaderboard` once `ready` holds for its `top` list: results are recorded right
/// after the change that ended a game is published, so they may trail that state briefly.
async fn leaderboard_when(base: &str, ready: impl Fn(&[Value]) -> bool) -> Value {
    eventually(
        Duration::from_secs(5),
        "the results on the leaderboard",
        || async {
            let board: Value = reqwest::get(format!("{base}/leaderboard"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            ready(board["top"].as_array()?).then_some(board)
        },
    )
    .await
}

struct Player {
    ws: Ws,
    token: String,
}

async fn player(node: &Server, name: &str) -> Player {
    let doc = new_session(&node.base, name).await;
    let token = doc["token"].as_str().unwrap().to_string();
    let (ws, _) = Ws::hello(&node.ws_url("/ws", &token)).await;
    Player { ws, token }
}

impl Player {
    async fn ask(&mut self, request: Value) -> Value {
        self.ws.send(request).await;
        self.next_answer().await
    }

    /// The next frame that is not a room or presence event.
    async fn next_answer(&mut self) -> Value {
        loop {
            let frame = self.ws.recv().await;
            if !frame["type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("room.")
            {
                return frame;
            }
        }
    }

    async fn state(&mut self) -> Value {
        let frame = self.ws.recv_type("game.state").await;
        frame["game"].clone()
    }
}

/// Alice (X, on `a`) creates, Bob (O, on `b`) joins; returns the game ID.
async fn start_game(alice: &mut Player, bob: &mut Player) -> String {
    let created = alice
        .ask(json!({"type": "game.create", "vs_bot": false, "ref": "c"}))
        .await;
    assert_eq!(created["type"], "game.state", "{created}");
    assert_eq!(created["ref"], "c");
    let game = created["game"].clone();
    assert_eq!(game["status"], "waiting");
    assert_eq!(game["players"]["O"], Value::Null);
    let id = game["id"].as_str().unwrap().to_string();
    let joined = bob
        .ask(json!({"type": "game.join", "game": id, "ref": "j"}))
        .await;
    assert_eq!(joined["ref"], "j", "{joined}");
    assert_eq!(joined["game"]["status"], "playing");
    let seen_by_alice = alice.state().await;
    assert_eq!(seen_by_alice, joined["game"]);
    id
}

async fn play(mover: &mut Player, other: &mut Player, id: &str, cell: u8) -> Value {
    let answer = mover
        .ask(json!({"type": "game.move", "game": id, "cell": cell, "ref": format!("m{cell}")}))
        .await;
    assert_eq!(answer["type"], "game.state", "move {cell}: {answer}");
    assert_eq!(answer["ref"], format!("m{cell}"));
    let theirs = other.state().await;
    assert_eq!(theirs, answer["game"], "both players see the same state");
    theirs
}

#[tokio::test]
async fn a_full_game_across_two_nodes_counts_on_the_leaderboard() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    let mut version = 2;
    for (cell, x_moves) in [(0, true), (3, false), (1, true), (4, false)] {
        let state = if x_moves {
            play(&mut alice, &mut bob, &id, cell).await
        } else {
            play(&mut bob, &mut alice, &id, cell).await
        };
        version += 1;
        assert_eq!(state["version"], version);
        assert_eq!(state["status"], "playing");
        assert_eq!(state["next"], if x_moves { "O" } else { "X" });
    }
    let end = play(&mut alice, &mut bob, &id, 2).await;
    assert_eq!(end["status"], "won");
    assert_eq!(end["winner"], "X");
    assert_eq!(end["line"], json!([0, 1, 2]));
    assert_eq!(end["next"], Value::Null);
    assert_eq!(
        end["board"],
        json!(["X", "X", "X", "O", "O", null, null, null, null])
    );

    let board = leaderboard_when(&b.base, |top| top.len() == 2).await;
    assert_eq!(
        board["top"][0],
        json!({"name": "alice", "wins": 1, "losses": 0, "draws": 0})
    );
    assert_eq!(
        board["top"][1],
        json!({"name": "bob", "wins": 0, "losses": 1, "draws": 0})
    );
    let count: Value = reqwest::get(format!("{}/players/count", a.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["estimated"], 2);
}

#[tokio::test]
async fn every_game_error_code_and_the_socket_stays_open() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let mut eve = player(&b, "eve").await;

    let err = alice
        .ask(json!({"type": "game.join", "game": "nosuchgame", "ref": "1"}))
        .await;
    assert_eq!(
        (
            err["type"].as_str(),
            err["code"].as_str(),
            err["ref"].as_str()
        ),
        (Some("error"), Some("not_found"), Some("1"))
    );
    let err = alice
        .ask(json!({"type": "game.join", "game": "bad id!", "ref": "2"}))
        .await;
    assert_eq!(err["code"], "bad_request");

    let created = alice.ask(json!({"type": "game.create"})).await;
    let id = created["game"]["id"].as_str().unwrap().to_string();
    let err = alice
        .ask(json!({"type": "game.move", "game": id, "cell": 4, "ref": "3"}))
        .await;
    assert_eq!(err["code"], "not_your_turn", "a move while waiting: {err}");

    bob.ask(json!({"type": "game.join", "game": id})).await;
    alice.state().await;
    let err = bob
        .ask(json!({"type": "game.move", "game": id, "cell": 4}))
        .await;
    assert_eq!(err["code"], "not_your_turn", "O cannot open: {err}");
    play(&mut alice, &mut bob, &id, 4).await;
    let err = bob
        .ask(json!({"type": "game.move", "game": id, "cell": 4}))
        .await;
    assert_eq!(err["code"], "cell_taken");
    let err = bob
        .ask(json!({"type": "game.move", "game": id, "cell": 9}))
        .await;
    assert_eq!(err["code"], "bad_request");

    let watching = eve.ask(json!({"type": "game.join", "game": id})).await;
    assert_eq!(
        watching["type"], "game.state",
        "a third player watches: {watching}"
    );
    let err = eve
        .ask(json!({"type": "game.move", "game": id, "cell": 0}))
        .await;
    assert_eq!(err["code"], "forbidden");
    let err = eve
        .ask(json!({"type": "game.join", "game": id, "play": true}))
        .await;
    assert_eq!(err["code"], "game_full");

    let left = bob
        .ask(json!({"type": "game.leave", "game": id, "ref": "l"}))
        .await;
    assert_eq!(left["game"]["status"], "abandoned");
    assert_eq!(left["game"]["winner"], "X");
    assert_eq!(left["game"]["left"], "O");
    assert_eq!(left["ref"], "l");
    assert_eq!(alice.state().await["status"], "abandoned");
    let err = alice
        .ask(json!({"type": "game.move", "game": id, "cell": 0}))
        .await;
    assert_eq!(err["code"], "game_over");
    let err = alice.ask(json!({"type": "game.rematch", "game": id})).await;
    assert_eq!(
        err["code"], "game_over",
        "no rematch with a player who left: {err}"
    );

    let ok = alice
        .ask(json!({"type": "game.create", "ref": "still-open"}))
        .await;
    assert_eq!(ok["ref"], "still-open");
}

#[tokio::test]
async fn two_simultaneous_moves_for_one_turn_through_two_nodes_apply_once() {
    // 25 games in a row by the same two players: far more frames than the default limits.
    let limits = [("RATE_PER_5S", "10000"), ("RATE_PER_MIN", "10000")];
    let (_redis, a, b) = two_nodes(&limits).await;
    let mut x_on_a = player(&a, "xavier").await;
    let (mut x_on_b, _) = Ws::hello(&b.ws_url("/ws", &x_on_a.token)).await;
    let mut o = player(&b, "olga").await;
    for round in 0..25 {
        let id = start_game(&mut x_on_a, &mut o).await;
        x_on_b
            .send(json!({"type": "game.join", "game": id, "ref": format!("seat{round}")}))
            .await;
        let seat = x_on_b.answer(&format!("seat{round}")).await;
        assert_eq!(seat["game"]["version"], 2);
        // The same player, through both nodes at once, for the same turn.
        let ra = format!("a{round}");
        let rb = format!("b{round}");
        tokio::join!(
            x_on_a
                .ws
                .send(json!({"type": "game.move", "game": id, "cell": 0, "ref": ra})),
            x_on_b.send(json!({"type": "game.move", "game": id, "cell": 8, "ref": rb})),
        );
        let (first, second) = tokio::join!(x_on_a.ws.answer(&ra), x_on_b.answer(&rb));
        let applied = [&first, &second]
            .iter()
            .filter(|f| f["type"] == "game.state")
            .count();
        let refused: Vec<&Value> = [&first, &second]
            .into_iter()
            .filter(|f| f["type"] == "error")
            .collect();
        assert_eq!(
            applied, 1,
            "round {round}: exactly one move applies: {first} / {second}"
        );
        assert_eq!(refused.len(), 1, "round {round}");
        assert_eq!(refused[0]["code"], "not_your_turn", "round {round}");
        let state = o.state().await;
        assert_eq!(state["version"], 3, "round {round}");
        let marks = state["board"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.is_string())
            .count();
        assert_eq!(marks, 1, "round {round}");
        // The applied move's state may still be on its way to x_on_a: wait for the answer.
        let leave = format!("l{round}");
        x_on_a
            .ws
            .send(json!({"type": "game.leave", "game": id, "ref": leave}))
            .await;
        let left = x_on_a.ws.answer(&leave).await;
        assert_eq!(left["game"]["status"], "abandoned");
        assert_eq!(o.state().await["status"], "abandoned");
    }
}

#[tokio::test]
async fn quick_match_pairs_players_on_different_nodes() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut carol = player(&a, "carol").await;
    let mut dave = player(&b, "dave").await;
    let waiting = carol.ask(json!({"type": "game.quick", "ref": "q1"})).await;
    assert_eq!(waiting["ref"], "q1");
    assert_eq!(waiting["game"]["status"], "waiting");
    let matched = dave.ask(json!({"type": "game.quick", "ref": "q2"})).await;
    assert_eq!(matched["ref"], "q2");
    assert_eq!(matched["game"]["status"], "playing");
    assert_eq!(
        matched["game"]["players"],
        json!({"X": "carol", "O": "dave"})
    );
    assert_eq!(carol.state().await, matched["game"]);

    // A player who disconnects leaves the queue.
    let mut erin = player(&a, "erin").await;
    let queued = erin.ask(json!({"type": "game.quick"})).await;
    assert_eq!(queued["game"]["status"], "waiting");
    drop(erin);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut frank = player(&b, "frank").await;
    let alone = frank.ask(json!({"type": "game.quick"})).await;
    assert_eq!(
        alone["game"]["status"], "waiting",
        "frank is not matched with erin, who left: {alone}"
    );
}

#[tokio::test]
async fn spectators_see_every_move_and_rematch_swaps_seats() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let mut sam = player(&a, "sam").await;
    let id = start_game(&mut alice, &mut bob).await;
    sam.ask(json!({"type": "game.join", "game": id})).await;
    let mut last = Value::Null;
    for (cell, x) in [(0, true), (3, false), (1, true), (4, false), (2, true)] {
        last = if x {
            play(&mut alice, &mut bob, &id, cell).await
        } else {
            play(&mut bob, &mut alice, &id, cell).await
        };
        assert_eq!(sam.state().await, last, "the spectator sees it too");
    }
    // The first to ask gets an ack, and everyone sees who asked.
    let (asked, offer) = ask_rematch(&mut alice, &id, "r1").await;
    assert_eq!(asked, json!({"type": "ack", "ref": "r1"}));
    assert_eq!(offer["rematch"], "X", "everyone sees that X asked: {offer}");
    assert_eq!(offer["status"], "won");
    assert_eq!(offer["version"], last["version"].as_u64().unwrap() + 1);
    assert_eq!(bob.state().await, offer);
    assert_eq!(sam.state().await, offer);
    // Asking again changes nothing.
    alice
        .ws
        .send(json!({"type": "game.rematch", "game": id, "ref": "r1b"}))
        .await;
    assert_eq!(alice.ws.answer("r1b").await["type"], "ack");
    let again = bob
        .ask(json!({"type": "game.rematch", "game": id, "ref": "r2"}))
        .await;
    let game = &again["game"];
    assert_eq!(again["ref"], "r2");
    assert_eq!(game["status"], "playing");
    assert_eq!(game["players"], json!({"X": "bob", "O": "alice"}));
    assert_eq!(
        game["board"],
        json!([null, null, null, null, null, null, null, null, null])
    );
    assert_eq!(game["next"], "X");
    assert_eq!(game["version"], offer["version"].as_u64().unwrap() + 1);
    assert!(game.get("rematch").is_none(), "no request is left: {game}");
    assert_eq!(alice.state().await, *game);
    assert_eq!(sam.state().await, *game);
    // Bob is X now.
    play(&mut bob, &mut alice, &id, 4).await;
}

/// X (`x`) takes cells 0, 1, 2 while O (`o`) takes 3 and 4; returns the final state.
async fn x_wins_the_top_row(x: &mut Player, o: &mut Player, id: &str) -> Value {
    let mut last = Value::Null;
    for (cell, x_moves) in [(0, true), (3, false), (1, true), (4, false), (2, true)] {
        last = if x_moves {
            play(x, o, id, cell).await
        } else {
            play(o, x, id, cell).await
        };
    }
    last
}

/// Asks for a rematch that the other player has not asked for yet: the ack and the
/// published state, in whichever order they arrive.
async fn ask_rematch(player: &mut Player, id: &str, reference: &str) -> (Value, Value) {
    player
        .ws
        .send(json!({"type": "game.rematch", "game": id, "ref": reference}))
        .await;
    let (mut ack, mut state) = (None, None);
    while ack.is_none() || state.is_none() {
        let frame = player.next_answer().await;
        match frame["type"].as_str() {
            Some("ack") if frame["ref"] == reference => ack = Some(frame),
            Some("game.state") => state = Some(frame["game"].clone()),
            _ => panic!("unexpected while asking for a rematch: {frame}"),
        }
    }
    (ack.unwrap(), state.unwrap())
}

#[tokio::test]
async fn a_player_who_leaves_a_finished_game_withdraws_its_rematch_request_and_shows_as_left() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    x_wins_the_top_row(&mut alice, &mut bob, &id).await;
    let (_, offer) = ask_rematch(&mut bob, &id, "r").await;
    assert_eq!(offer["rematch"], "O");
    assert_eq!(alice.state().await, offer);
    let left = bob
        .ask(json!({"type": "game.leave", "game": id, "ref": "bye"}))
        .await;
    assert_eq!(left["ref"], "bye");
    let withdrawn = alice.state().await;
    assert!(withdrawn.get("rematch").is_none(), "{withdrawn}");
    assert_eq!(withdrawn["left"], "O", "alice sees that bob left");
    assert_eq!(withdrawn["status"], "won", "the result stands");
    assert_eq!(withdrawn["winner"], "X");
    let err = alice
        .ask(json!({"type": "game.rematch", "game": id, "ref": "again"}))
        .await;
    assert_eq!(err["code"], "game_over", "{err}");
}

#[tokio::test]
async fn a_player_who_reconnects_through_the_other_node_gets_the_seat_back() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    play(&mut alice, &mut bob, &id, 0).await;
    let token = alice.token.clone();
    drop(alice);
    let (ws, _) = Ws::hello(&b.ws_url("/ws", &token)).await;
    let mut alice = Player { ws, token };
    let back = alice
        .ask(json!({"type": "game.join", "game": id, "ref": "back"}))
        .await;
    assert_eq!(back["ref"], "back");
    assert_eq!(back["game"]["version"], 3, "the current state, unchanged");
    assert_eq!(back["game"]["board"][0], "X");
    play(&mut bob, &mut alice, &id, 4).await;
    play(&mut alice, &mut bob, &id, 8).await;
}

#[tokio::test]
async fn game_join_with_since_brings_back_exactly_the_game_chat_missed() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    let room = format!("game:{id}");
    let say = |text: &str| json!({"type": "room.say", "room": room, "text": text, "ref": text});
    alice.ws.send(say("seen")).await;
    let seen = alice.ws.answer("seen").await;
    let token = alice.token.clone();
    drop(alice);
    for text in ["missed one", "missed two"] {
        bob.ws.send(say(text)).await;
        bob.ws.answer(text).await;
    }
    let (ws, _) = Ws::hello(&b.ws_url("/ws", &token)).await;
    let mut alice = Player { ws, token };
    alice
        .ws
        .send(json!({"type": "game.join", "game": id, "since": seen["id"], "ref": "back"}))
        .await;
    let back = alice.ws.answer("back").await;
    assert_eq!(
        back["game"]["players"]["X"], "alice",
        "the seat back: {back}"
    );
    let joined = alice.ws.recv_type("room.joined").await;
    assert_eq!(joined["room"], room);
    assert_eq!(joined["recovered"], true);
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["missed one", "missed two"]);
}

#[tokio::test]
async fn a_player_who_starts_another_game_has_moved_on_from_the_finished_one() {
    // Alice does not leave the game she won but creates another: her socket stops
    // following the old game and its chat (bob sees her leave the chat at once), and her
    // seat there is no longer kept alive, so after ABANDON_SECS bob sees her as gone.
    let (_redis, a, b) = two_nodes(&[("ABANDON_SECS", "2")]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let old = start_game(&mut alice, &mut bob).await;
    x_wins_the_top_row(&mut alice, &mut bob, &old).await;
    let created = alice
        .ask(json!({"type": "game.create", "ref": "next"}))
        .await;
    assert_eq!(created["ref"], "next", "{created}");
    let old_room = format!("game:{old}");
    let left_chat = bob.ws.recv_type("room.presence").await;
    assert_eq!(left_chat["room"], old_room.as_str(), "{left_chat}");
    assert_eq!(left_chat["left"], "alice", "{left_chat}");
    let gone = bob.state().await;
    assert_eq!(gone["id"], old.as_str());
    assert_eq!(gone["left"], "X", "{gone}");
    assert_eq!(gone["winner"], "X", "the result stands");
    // Alice hears nothing more of the old game.
    bob.ws
        .send(json!({"type": "room.say", "room": old_room, "text": "gg?"}))
        .await;
    bob.ws.recv_type("room.message").await;
    while let Ok(frame) = alice.ws.next_text(Duration::from_millis(500)).await {
        assert!(
            frame["game"]["id"] != old.as_str() && frame["room"] != old_room.as_str(),
            "alice still hears the old game: {frame}"
        );
    }
}

#[tokio::test]
async fn a_player_gone_longer_than_abandon_secs_loses() {
    let (_redis, a, b) = two_nodes(&[("ABANDON_SECS", "2")]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    start_game(&mut alice, &mut bob).await;
    drop(bob);
    let started = std::time::Instant::now();
    let state = alice.state().await;
    assert_eq!(state["status"], "abandoned");
    assert_eq!(state["winner"], "X");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "not before ABANDON_SECS"
    );
    let board = leaderboard_when(&a.base, |top| !top.is_empty()).await;
    assert_eq!(board["top"][0]["name"], "alice");
    assert_eq!(board["top"][0]["wins"], 1);
}

#[tokio::test]
async fn a_result_its_node_did_not_count_is_counted_by_a_sweeper_and_only_once() {
    let (redis, a, b) = two_nodes(&[("ABANDON_SECS", "1")]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    let end = x_wins_the_top_row(&mut alice, &mut bob, &id).await;
    assert_eq!(end["status"], "won");
    leaderboard_when(&a.base, |top| top.len() == 2).await;
    let seats = keys::game_seats(&id);
    let note = format!("result:{}", end["version"]);
    let admin = redis.client().await;
    let noted = |admin: &fred::prelude::Client| {
        let (admin, seats, note) = (admin.clone(), seats.clone(), note.clone());
        async move {
            let there: bool = admin.hexists(&seats, &note).await.unwrap();
            there
        }
    };
    assert!(!noted(&admin).await, "a counted result leaves no note");

    // What a node leaves that died after ending the game and before counting it: the
    // result noted in the game's keys, nothing on the leaderboard.
    let _: () = admin
        .hset(&seats, (note.as_str(), end.to_string()))
        .await
        .unwrap();
    let _: i64 = admin
        .del(vec![
            keys::LEADERBOARD.to_string(),
            keys::RESULTS_COUNTED.to_string(),
            keys::player_stats("alice"),
            keys::player_stats("bob"),
        ])
        .await
        .unwrap();
    // Once alice's seat shows no sign of life for ABANDON_SECS, a sweeper visits the game.
    drop(alice);
    let board = leaderboard_when(&b.base, |top| top.len() == 2).await;
    assert_eq!(
        board["top"],
        json!([
            {"name": "alice", "wins": 1, "losses": 0, "draws": 0},
            {"name": "bob", "wins": 0, "losses": 1, "draws": 0}
        ])
    );
    eventually(Duration::from_secs(5), "the note cleared", || async {
        (!noted(&admin).await).then_some(())
    })
    .await;

    // A node that died after counting and before clearing the note: counted once only.
    let _: () = admin
        .hset(&seats, (note.as_str(), end.to_string()))
        .await
        .unwrap();
    drop(bob);
    eventually(Duration::from_secs(5), "the note cleared again", || async {
        (!noted(&admin).await).then_some(())
    })
    .await;
    let again: Value = reqwest::get(format!("{}/leaderboard", a.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["top"], board["top"], "not counted twice");
}

#[tokio::test]
async fn a_player_whose_node_dies_loses_after_abandon_secs() {
    let (_redis, a, mut b) = two_nodes(&[("ABANDON_SECS", "2")]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    start_game(&mut alice, &mut bob).await;
    b.proc.kill().await;
    let state = alice.state().await;
    assert_eq!(state["status"], "abandoned");
    assert_eq!(state["winner"], "X");
}

#[tokio::test]
async fn the_bot_answers_within_a_second_and_a_naive_player_never_wins() {
    let (redis, a, _b) = two_nodes(&[]).await;
    let _worker = Worker::start(&redis.url(), &[]).await;
    let mut alice = player(&a, "alice").await;
    for round in 0..3 {
        let created = alice
            .ask(json!({"type": "game.create", "vs_bot": true}))
            .await;
        let mut game = created["game"].clone();
        assert_eq!(game["status"], "playing");
        assert_eq!(game["players"], json!({"X": "alice", "O": "bot"}));
        let id = game["id"].as_str().unwrap().to_string();
        while game["status"] == "playing" {
            // Naive: the first free cell.
            let cell = game["board"]
                .as_array()
                .unwrap()
                .iter()
                .position(|c| c.is_null())
                .unwrap();
            let mine = alice
                .ask(json!({"type": "game.move", "game": id, "cell": cell}))
                .await;
            game = mine["game"].clone();
            if game["status"] != "playing" {
                break;
            }
            let asked = std::time::Instant::now();
            game = alice.state().await;
            assert!(
                asked.elapsed() < Duration::from_secs(1),
                "the bot took {:?}",
                asked.elapsed()
            );
        }
        assert!(
            game["status"] == "won" || game["status"] == "draw",
            "round {round}: {game}"
        );
        assert_ne!(
            game["winner"], "X",
            "round {round}: the naive player won: {game}"
        );
    }
    let played = |p: &Value| {
        p["wins"].as_u64().unwrap_or(0)
            + p["losses"].as_u64().unwrap_or(0)
            + p["draws"].as_u64().unwrap_or(0)
    };
    let board = leaderboard_when(&a.base, |top| top.iter().map(played).sum::<u64>() >= 3).await;
    let names: Vec<&str> = board["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alice"], "the bot is not ranked");
    let record = &board["top"][0];
    assert_eq!(
        record["losses"].as_u64().unwrap() + record["draws"].as_u64().unwrap(),
        3
    );

    alice
        .ws
        .send(json!({"type": "bot.say", "text": "what are my results?"}))
        .await;
    let reply = alice.ws.recv_type("bot.reply").await;
    let expected = format!("0 wins, {} ", record["losses"]);
    assert!(
        reply["msg"].as_str().unwrap().contains(&expected),
        "the bot knows alice's results: {reply}"
    );
}
