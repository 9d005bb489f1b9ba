//! Tic-tac-toe across two nodes: full games, every error code, the move race, quick
//! match, spectators, rematch, the bot opponent, the leaderboard and the player count.
//! A seat over time (leaving, coming back, abandonment) is in `seats.rs`.

use std::time::Duration;

use e2e::{
    eventually,
    players::{ask_rematch, leaderboard_when, play, player, start_game, x_wins_the_top_row},
    two_nodes, Worker, Ws,
};
use fred::prelude::*;
use serde_json::{json, Value};

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
async fn two_players_joining_one_game_at_once_through_two_nodes_get_one_seat() {
    // Round after round, a new game and two players asking for its free seat at once, one
    // through each node: exactly one is seated (the creator sees that one arrive), the
    // other is refused with `game_full` and follows the game no further.
    let limits = [("RATE_PER_5S", "10000"), ("RATE_PER_MIN", "10000")];
    let (_redis, a, b) = two_nodes(&limits).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&a, "bob").await;
    let mut carol = player(&b, "carol").await;
    let mut seated = [0, 0];
    for round in 0..15 {
        let created = alice
            .ask(json!({"type": "game.create", "ref": format!("c{round}")}))
            .await;
        let id = created["game"]["id"].as_str().unwrap().to_string();
        let join = |who: &str| json!({"type": "game.join", "game": id, "play": true, "ref": format!("{who}{round}")});
        tokio::join!(bob.ws.send(join("b")), carol.ws.send(join("c")));
        let (bob_ref, carol_ref) = (format!("b{round}"), format!("c{round}"));
        let (for_bob, for_carol) =
            tokio::join!(bob.ws.answer(&bob_ref), carol.ws.answer(&carol_ref));
        let (winner, loser, refusal, name) =
            match (for_bob["type"].as_str(), for_carol["type"].as_str()) {
                (Some("game.state"), Some("error")) => (&mut bob, &mut carol, &for_carol, "bob"),
                (Some("error"), Some("game.state")) => (&mut carol, &mut bob, &for_bob, "carol"),
                _ => panic!("round {round}: one seat, one refusal: {for_bob} / {for_carol}"),
            };
        seated[usize::from(name == "carol")] += 1;
        assert_eq!(refusal["code"], "game_full", "round {round}: {refusal}");
        let joined = alice.state().await;
        assert_eq!(joined["version"], 2, "round {round}: one join");
        assert_eq!(joined["players"]["O"], name, "round {round}");
        // The game ends: the seated player sees it, the refused one does not.
        let leave = format!("l{round}");
        alice
            .ws
            .send(json!({"type": "game.leave", "game": id, "ref": leave}))
            .await;
        assert_eq!(alice.ws.answer(&leave).await["game"]["status"], "abandoned");
        assert_eq!(winner.state().await["status"], "abandoned", "round {round}");
        while let Ok(frame) = loser.ws.next_text(Duration::from_millis(100)).await {
            assert_ne!(
                frame["type"], "game.state",
                "round {round}: the refused player follows nothing: {frame}"
            );
        }
    }
    eprintln!("seats taken by bob and carol: {seated:?}");
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

#[tokio::test]
async fn a_game_stored_as_a_redisjson_document_by_an_earlier_release_plays_on() {
    let (redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    // As an earlier release kept it: a RedisJSON document under the same key.
    let admin = redis.client().await;
    let key = common::keys::game(&id);
    let json: String = admin.get(&key).await.unwrap();
    let _: i64 = admin.del(&key).await.unwrap();
    let _: String = admin
        .custom(fred::cmd!("JSON.SET"), vec![key.clone(), "$".into(), json])
        .await
        .unwrap();
    let state = play(&mut alice, &mut bob, &id, 4).await;
    assert_eq!(state["board"][4], "X");
    assert_eq!(state["version"], 3);
    let kind: String = admin
        .custom(fred::cmd!("TYPE"), vec![key.clone()])
        .await
        .unwrap();
    assert_eq!(kind, "string", "stored as a string from its next change on");
}

#[tokio::test]
async fn a_quick_match_that_cannot_reserve_its_seat_leaves_no_subscription_behind() {
    let (redis, a, _b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    // The seat's deadline cannot be written: the request fails half-way, after the node
    // followed the new game's channel for it.
    redis
        .on_every_node(&["acl", "setuser", "service", "-zadd"])
        .await;
    let refused = alice.ask(json!({"type": "game.quick", "ref": "q"})).await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    redis
        .on_every_node(&["acl", "setuser", "service", "+zadd"])
        .await;
    eventually(
        Duration::from_secs(5),
        "no game channel subscribed",
        || async {
            let plain = redis.on_every_node(&["pubsub", "channels", "game:*"]).await;
            let sharded = redis
                .on_every_node(&["pubsub", "shardchannels", "game:*"])
                .await;
            plain
                .iter()
                .chain(&sharded)
                .all(|n| n.is_empty())
                .then_some(())
        },
    )
    .await;
}

/// Sends `request` and returns the game of the `game.state` that answers it (its `ref`).
/// A node catching up after its subscription was lost may first deliver that same state
/// without the ref, or, to a socket that follows the game for this request, the state
/// before it (the contract allows both): any such copy is of the answered version or an
/// earlier one.
async fn answered(player: &mut e2e::players::Player, request: Value) -> Value {
    let reference = request["ref"].clone();
    player.ws.send(request).await;
    let mut plain: Vec<Value> = Vec::new();
    loop {
        let frame = player.next_answer().await;
        assert_eq!(frame["type"], "game.state", "{frame}");
        if frame["ref"] == reference {
            for copy in plain {
                let (version, answer) = (&copy["version"], &frame["game"]["version"]);
                assert!(version.as_u64() <= answer.as_u64(), "{copy} before {frame}");
                if version == answer {
                    assert_eq!(copy, frame["game"], "a copy of the answer");
                }
            }
            return frame["game"].clone();
        }
        plain.push(frame["game"].clone());
    }
}

/// X (`x`) creates a game, O (`o`) joins it and they play it to X's win on the top row;
/// each request is answered with its ref, and the other player sees each change once.
async fn a_game_through_faults(x: &mut e2e::players::Player, o: &mut e2e::players::Player) {
    let created = answered(
        x,
        json!({"type": "game.create", "vs_bot": false, "ref": "c"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    let joined = answered(o, json!({"type": "game.join", "game": id, "ref": "j"})).await;
    assert_eq!(x.state().await, joined, "X sees O join");
    for (cell, x_moves) in [(0, true), (3, false), (1, true), (4, false), (2, true)] {
        let (mover, other) = if x_moves {
            (&mut *x, &mut *o)
        } else {
            (&mut *o, &mut *x)
        };
        let request =
            json!({"type": "game.move", "game": id, "cell": cell, "ref": format!("m{cell}")});
        let state = answered(mover, request).await;
        assert_eq!(
            other.state().await,
            state,
            "the other player sees move {cell}"
        );
    }
}

#[tokio::test]
async fn every_request_is_answered_with_its_ref_and_seen_once_through_lost_subscriptions() {
    // Ten pairs of players, X on one node and O on the other, play game after game while
    // every node's pub/sub connection is closed, eight times: each create, join and move is
    // still answered with its ref, and the other player sees every change once, in order
    // (the nodes catch up on what they missed while they subscribed again).
    let (redis, a, b) = two_nodes(&[("RATE_PER_5S", "100000"), ("RATE_PER_MIN", "100000")]).await;
    let mut pairs = Vec::new();
    for i in 0..10 {
        let x = player(&a, &format!("x{i}")).await;
        let o = player(&b, &format!("o{i}")).await;
        pairs.push((x, o));
    }
    let faults_done = std::sync::atomic::AtomicBool::new(false);
    let faults = async {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            eventually(
                Duration::from_secs(10),
                "both nodes subscribed again",
                || async { (redis.kill_pubsub_connections().await >= 2).then_some(()) },
            )
            .await;
        }
        faults_done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let games = futures_util::future::join_all(pairs.iter_mut().map(|(x, o)| {
        let faults_done = &faults_done;
        async move {
            let mut played = 0;
            // Games go on until the faults are over, and one more after them.
            while !faults_done.load(std::sync::atomic::Ordering::SeqCst) {
                a_game_through_faults(x, o).await;
                played += 1;
            }
            a_game_through_faults(x, o).await;
            played + 1
        }
    }));
    let ((), played) = tokio::join!(faults, games);
    eprintln!("games played by each pair: {played:?}");
    assert!(
        played.iter().all(|&n| n >= 2),
        "games played by each pair: {played:?}"
    );
    for (x, o) in &mut pairs {
        for ws in [&mut x.ws, &mut o.ws] {
            // Nothing more: no change came twice.
            while let Ok(frame) = ws.next_text(Duration::from_millis(300)).await {
                assert!(
                    frame["type"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("room."),
                    "an extra frame: {frame}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_create_sent_again_after_its_answer_was_lost_is_answered_with_the_game() {
    // When a connection closes before an answer came back, the node's Redis client sends
    // the command again, and the first may have run: a create sent again finds its game
    // made, by the same token, and answers with it (not "a game with this id exists"),
    // unchanged. Another token's create with that ID is still refused.
    let redis = e2e::Redis::start().await;
    let client = redis.client().await;
    let id = "replay1";
    let create = |token: &'static str| {
        let (redis, client) = (&redis, &client);
        async move {
            let args = [id, token, "ann", "0", "0"];
            run_game_lua(
                redis,
                client,
                id,
                "create",
                1000,
                r#"{"node":"node-a","conn":7,"ref":"c"}"#,
                &args,
            )
            .await
        }
    };
    let game = |json: &str| serde_json::from_str::<Value>(json).unwrap();
    let first = create("tx").await;
    assert_eq!(first[0], "state", "{first:?}");
    let again = create("tx").await;
    assert_eq!(
        (again[0].as_str(), again[2].as_str()),
        ("view", "X"),
        "{again:?}"
    );
    assert_eq!(game(&again[1]), game(&first[1]));
    let stored: String = client.get(common::keys::game(id)).await.unwrap();
    assert_eq!(game(&stored)["version"], 1, "created once");
    let other = create("eve").await;
    assert_eq!(
        (other[0].as_str(), other[1].as_str()),
        ("err", "bad_request"),
        "{other:?}"
    );
}

#[tokio::test]
async fn a_move_asked_for_twice_is_made_once_and_answered_twice() {
    // A click sent twice: the second request for the player's latest move is answered
    // with the game as it is (to the mover only), not refused; an older move is not.
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    let seated = alice.ask(json!({"type": "game.join", "game": id})).await;
    assert!(
        seated["game"].get("last_move").is_none(),
        "no move yet: {seated}"
    );

    let moved = play(&mut alice, &mut bob, &id, 4).await;
    assert_eq!(moved["last_move"], 4);
    let again = alice
        .ask(json!({"type": "game.move", "game": id, "cell": 4, "ref": "again"}))
        .await;
    assert_eq!(
        (&again["type"], &again["ref"]),
        (&json!("game.state"), &json!("again")),
        "{again}"
    );
    assert_eq!(again["game"], moved, "the move is made once");

    // Bob gets nothing from the repeat: his next frame answers his own move.
    let answered = play(&mut bob, &mut alice, &id, 0).await;
    assert_eq!(answered["version"], 4);
    assert_eq!(answered["last_move"], 0);
    let old = alice
        .ask(json!({"type": "game.move", "game": id, "cell": 4, "ref": "old"}))
        .await;
    assert_eq!(
        old["code"], "cell_taken",
        "a move that is no longer the latest: {old}"
    );
}

#[tokio::test]
async fn a_move_whose_answer_was_lost_asked_for_again_still_gets_the_bots_move() {
    // The node's Redis client sends a command again when its connection closed before the
    // answer came back, and the first may have run. Here the first run is made directly
    // (its answer reaches no node, so nothing asks the bot to move); the same move then
    // comes through the node, is answered with the game, and the bot's turn is taken.
    let mut t = BotGameMovedWithoutANode::start().await;
    let request = json!({"type": "game.move", "game": t.id, "cell": 4, "ref": "again"});
    let (again, bots) = t.ask_and_see_the_bot_move(request, "again").await;
    let published = t.published;
    assert_eq!(
        again["type"], "game.state",
        "answered, not refused: {again}"
    );
    assert_eq!(again["game"], published);
    assert_the_bot_moved(&bots);
}

#[tokio::test]
async fn a_player_back_in_a_bot_game_whose_turn_was_never_handed_over_gets_the_bots_move() {
    // The node that made the player's move stopped before it asked the bot to move: the
    // player, back (a reload, a reconnect through another node), gets the bot's move.
    let mut t = BotGameMovedWithoutANode::start().await;
    let request = json!({"type": "game.join", "game": t.id, "ref": "back"});
    let (back, bots) = t.ask_and_see_the_bot_move(request, "back").await;
    assert_eq!(back["game"], t.published, "{back}");
    assert_the_bot_moved(&bots);
}

/// A node, a worker, and a game against the bot whose player (X) took the centre through
/// `game.lua` run directly, as a node does but without what the node does next (ask the
/// bot to move): the answer was lost, or the node stopped. `published` is the state the
/// player's socket got through pub/sub.
struct BotGameMovedWithoutANode {
    _redis: e2e::Redis,
    _node: e2e::Server,
    _worker: Worker,
    player: e2e::players::Player,
    id: String,
    published: Value,
}

impl BotGameMovedWithoutANode {
    async fn start() -> Self {
        let redis = e2e::Redis::start().await;
        let node = e2e::Server::start(&redis.url(), &[]).await;
        let worker = Worker::start(&redis.url(), &[]).await;
        let mut player = player(&node, "alice").await;
        let (id, published) = move_without_a_node(&redis, &mut player).await;
        BotGameMovedWithoutANode {
            _redis: redis,
            _node: node,
            _worker: worker,
            player,
            id,
            published,
        }
    }

    /// Sends `request` and returns its answer (by `reference`) and the bot's move after
    /// `published`, in whichever order they come.
    async fn ask_and_see_the_bot_move(
        &mut self,
        request: Value,
        reference: &str,
    ) -> (Value, Value) {
        self.player.ws.send(request).await;
        let next = self.published["version"].as_u64().unwrap() + 1;
        let (mut answer, mut bots) = (None, None);
        while answer.is_none() || bots.is_none() {
            let frame = self.player.ws.recv().await;
            if frame["ref"] == reference {
                answer = Some(frame);
            } else if frame["type"] == "game.state"
                && frame["game"]["version"].as_u64() == Some(next)
            {
                bots = Some(frame["game"].clone());
            }
        }
        (answer.unwrap(), bots.unwrap())
    }
}

/// Runs `op` of `game.lua` on game `id` directly, as a node's game store does (the same
/// keys and leading arguments), and returns its answer as it came.
async fn run_game_lua(
    redis: &e2e::Redis,
    client: &Client,
    id: &str,
    op: &str,
    now_ms: i64,
    origin: &str,
    args: &[&str],
) -> Vec<String> {
    let script =
        fred::types::scripts::Script::from_lua(include_str!("../../common/src/game/game.lua"));
    let publish = if redis.is_cluster() {
        "SPUBLISH"
    } else {
        "PUBLISH"
    };
    let mut argv = vec![
        op.to_string(),
        now_ms.to_string(),
        publish.to_string(),
        common::keys::game_channel(id),
        origin.to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let keys = vec![common::keys::game(id), common::keys::game_seats(id)];
    script
        .evalsha_with_reload(client, keys, argv)
        .await
        .expect("game.lua runs")
}

/// The player's move of [`BotGameMovedWithoutANode`]: a new game against the bot, X in the
/// centre; returns its ID and the state the player's socket got through pub/sub.
async fn move_without_a_node(
    redis: &e2e::Redis,
    player: &mut e2e::players::Player,
) -> (String, Value) {
    let created = player
        .ask(json!({"type": "game.create", "vs_bot": true}))
        .await;
    let id = created["game"]["id"].as_str().unwrap().to_string();
    let client = redis.client().await;
    let first = run_game_lua(
        redis,
        &client,
        &id,
        "move",
        common::clock::now_millis(),
        r#"{"node":"node-gone","conn":1,"ref":"lost"}"#,
        &[&player.token, "4", "0"],
    )
    .await;
    assert_eq!(first[0], "state", "{first:?}");
    let published = player.state().await;
    assert_eq!(
        (&published["next"], &published["last_move"]),
        (&json!("O"), &json!(4))
    );
    (id, published)
}

/// `bots` is the bot's move after the player's first, in the centre.
fn assert_the_bot_moved(bots: &Value) {
    assert_eq!(bots["next"], "X", "the bot moved: {bots}");
    let noughts = bots["board"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| *c == "O")
        .count();
    assert_eq!(noughts, 1, "{bots}");
}

#[tokio::test]
async fn a_rematch_asked_for_again_once_started_is_answered_with_the_game() {
    // The second asker's click sent twice (or its request sent to Redis again): the
    // rematch has started, so the game is the answer, not "the game is not over". After
    // a move it is refused again.
    let (_redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    x_wins_the_top_row(&mut alice, &mut bob, &id).await;
    let (_, asked) = ask_rematch(&mut alice, &id, "r1").await;
    assert_eq!(bob.state().await, asked);

    let started = bob
        .ask(json!({"type": "game.rematch", "game": id, "ref": "r2"}))
        .await;
    assert_eq!(started["game"]["status"], "playing", "{started}");
    assert_eq!(alice.state().await, started["game"]);
    for reference in ["r3", "r4"] {
        let again = bob
            .ask(json!({"type": "game.rematch", "game": id, "ref": reference}))
            .await;
        assert_eq!(
            (&again["type"], &again["game"]),
            (&json!("game.state"), &started["game"]),
            "{again}"
        );
    }
    // Alice got nothing from them: her next frame answers her own request.
    let theirs = alice
        .ask(json!({"type": "game.rematch", "game": id, "ref": "r5"}))
        .await;
    assert_eq!(theirs["ref"], "r5");
    assert_eq!(theirs["game"], started["game"], "either player: {theirs}");

    // Bob is X now and moves; a rematch is then refused as before.
    play(&mut bob, &mut alice, &id, 4).await;
    let refused = bob
        .ask(json!({"type": "game.rematch", "game": id, "ref": "r6"}))
        .await;
    assert_eq!(refused["code"], "bad_request", "{refused}");
}
