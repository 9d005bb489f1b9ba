//! A player's seat over time, across two nodes: leaving a finished game, taking the seat
//! back through the other node, the game chat missed meanwhile, moving on to another
//! game, and abandonment (also when a node dies, and results a dead node did not count).

use std::time::Duration;

use common::{
    game::{model::Status, rules::Mark, store::Games},
    keys,
};
use e2e::{
    eventually,
    players::{
        ask_rematch, leaderboard_when, play, player, start_game, x_wins_the_top_row, Player,
    },
    two_nodes, Ws,
};
use fred::prelude::*;
use serde_json::{json, Value};

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
    // Whether result `note` is noted in the seats hash `seats`.
    let noted = |seats: &str, note: &str| {
        let (admin, seats, note) = (admin.clone(), seats.to_string(), note.to_string());
        async move {
            let there: bool = admin.hexists(&seats, &note).await.unwrap();
            there
        }
    };
    // Counted in the background once the game ended, the note cleared right after.
    eventually(
        Duration::from_secs(5),
        "a counted result leaves no note",
        || async { (!noted(&seats, &note).await).then_some(()) },
    )
    .await;

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
        (!noted(&seats, &note).await).then_some(())
    })
    .await;

    // A node that died after counting and before clearing the note, in another game:
    // the sweep clears the note and counts nothing twice.
    let mut carol = player(&a, "carol").await;
    let mut dave = player(&b, "dave").await;
    let id = start_game(&mut carol, &mut dave).await;
    let end = x_wins_the_top_row(&mut carol, &mut dave, &id).await;
    let board = leaderboard_when(&a.base, |top| top.len() == 4).await;
    let (seats, note) = (keys::game_seats(&id), format!("result:{}", end["version"]));
    // The node's own clearing first, so that the note put back below is the sweep's to clear.
    eventually(
        Duration::from_secs(5),
        "the node cleared its note",
        || async { (!noted(&seats, &note).await).then_some(()) },
    )
    .await;
    let _: () = admin
        .hset(&seats, (note.as_str(), end.to_string()))
        .await
        .unwrap();
    drop(carol);
    eventually(Duration::from_secs(5), "the note cleared again", || async {
        (!noted(&seats, &note).await).then_some(())
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

/// Every node sweeps the same index of seat deadlines: a sweep claims the seats that are
/// due in one atomic step, moving them a lease ahead, so two sweeps at once never check one
/// seat twice, and a claimed seat is due again once its lease runs out (a node that died
/// while checking it leaves it to the others).
#[tokio::test]
async fn sweeps_at_once_claim_each_due_seat_once_and_it_is_due_again_after_the_lease() {
    let redis = e2e::Redis::start().await;
    let client = redis.client().await;
    let members: Vec<(f64, String)> = (0..150)
        .map(|i| (1.0, format!("game{i}\x1ftoken{i}")))
        .collect();
    let _: () = client
        .zadd(keys::SEAT_DEADLINES, None, None, false, false, members)
        .await
        .expect("ZADD");
    let (a, b) = (
        Games::new(client.clone(), false),
        Games::new(client.clone(), false),
    );
    let lease = Duration::from_millis(1500);
    // Each token's seat as (game, token): one claim groups them by game.
    let seats = |claimed: Vec<(String, Vec<String>)>| -> Vec<(String, String)> {
        claimed
            .into_iter()
            .flat_map(|(game, tokens)| tokens.into_iter().map(move |t| (game.clone(), t)))
            .collect()
    };
    let (mine, theirs) = tokio::join!(a.overdue_seats(100, lease), b.overdue_seats(100, lease));
    let (mine, theirs) = (seats(mine.expect("claim")), seats(theirs.expect("claim")));
    assert_eq!(mine.len() + theirs.len(), 150, "every due seat is claimed");
    let mut all: Vec<_> = mine.iter().chain(&theirs).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 150, "no seat is claimed twice");
    assert!(
        a.overdue_seats(100, lease).await.expect("claim").is_empty(),
        "claimed seats are not due during their lease"
    );
    tokio::time::sleep(lease + Duration::from_millis(500)).await;
    let again = seats(b.overdue_seats(200, lease).await.expect("claim"));
    assert_eq!(again.len(), 150, "all due again once the lease ran out");
}

/// A sweep's claim hands over the overdue seats of a game together, for one check.
#[tokio::test]
async fn a_claim_groups_the_overdue_seats_of_each_game() {
    let redis = e2e::Redis::start().await;
    let client = redis.client().await;
    let due = [(1.0, "g1\x1fann"), (2.0, "g2\x1fbob"), (3.0, "g1\x1fcid")];
    let members: Vec<(f64, String)> = due.iter().map(|(at, m)| (*at, m.to_string())).collect();
    let _: () = client
        .zadd(keys::SEAT_DEADLINES, None, None, false, false, members)
        .await
        .expect("ZADD");
    let claimed = Games::new(client, false)
        .overdue_seats(100, Duration::from_secs(60))
        .await
        .expect("claim");
    let owned = |g: &str, t: &[&str]| (g.to_string(), t.iter().map(|t| t.to_string()).collect());
    assert_eq!(
        claimed,
        vec![owned("g1", &["ann", "cid"]), owned("g2", &["bob"])]
    );
}

/// The seats of one game whose deadlines passed together are checked in one step: seats
/// whose nodes keep them alive stay, a player gone too long loses (published and counted
/// once), and then no seat of the finished game needs checking again, the other player's
/// included.
#[tokio::test]
async fn one_check_sees_to_every_overdue_seat_of_a_game() {
    let (redis, a, b) = two_nodes(&[]).await;
    let mut alice = player(&a, "alice").await;
    let mut bob = player(&b, "bob").await;
    let id = start_game(&mut alice, &mut bob).await;
    let tokens = [alice.token.clone(), bob.token.clone()];
    let client = redis.client().await;
    let games = Games::new(client.clone(), redis.is_cluster());
    // The nodes keep both alive.
    let swept = games.expire(&id, &tokens, 60_000).await.expect("expire");
    assert_eq!((&swept.changed, &swept.forget), (&None, &vec![]));
    // Alice's last sign of life is long gone.
    let _: () = client
        .hset(keys::game_seats(&id), (format!("seen:{}", tokens[0]), 0))
        .await
        .expect("HSET");
    let swept = games.expire(&id, &tokens, 60_000).await.expect("expire");
    let changed = swept.changed.expect("alice was gone too long");
    assert_eq!(changed.status, Status::Abandoned);
    assert_eq!(changed.winner, Some(Mark::O));
    assert_eq!(
        swept.forget, tokens,
        "the game is over: no seat can change it"
    );
    let seen = bob.state().await;
    assert_eq!(
        (&seen["status"], &seen["winner"]),
        (&json!("abandoned"), &json!("O"))
    );
    let board = leaderboard_when(&a.base, |top| top.len() == 2).await;
    assert_eq!(
        board["top"][0],
        json!({"name": "bob", "wins": 1, "losses": 0, "draws": 0})
    );
    // Bob's seat alone, due later: nothing changes, nothing is published or left to count.
    let again = games
        .expire(&id, &tokens[1..], 60_000)
        .await
        .expect("expire");
    assert_eq!(
        (again.changed, again.noted_results, again.forget),
        (None, 0, tokens.to_vec())
    );
}
