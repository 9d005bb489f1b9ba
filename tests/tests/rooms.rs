//! Chat rooms across two nodes: messages, refs, exact recovery with `since`, presence
//! (also when a node dies), and the room of a game.

use std::time::Duration;

use e2e::{new_session, two_nodes, Redis, Server, Ws};
use serde_json::{json, Value};

async fn member(node: &Server, name: &str) -> (Ws, String) {
    let doc = new_session(&node.base, name).await;
    let token = doc["token"].as_str().unwrap().to_string();
    let (ws, _) = Ws::hello(&node.ws_url("/ws", &token)).await;
    (ws, token)
}

/// Two nodes whose rate limits are lifted, for members who speak fast.
async fn busy_nodes() -> (Redis, Server, Server) {
    two_nodes(&[("RATE_PER_5S", "100000"), ("RATE_PER_MIN", "100000")]).await
}

async fn join(ws: &mut Ws, room: &str, since: Option<&str>) -> Value {
    let mut request = json!({"type": "room.join", "room": room, "ref": "j"});
    if let Some(since) = since {
        request["since"] = json!(since);
    }
    ws.send(request).await;
    let joined = ws.recv_type("room.joined").await;
    assert_eq!(joined["ref"], "j");
    joined
}

async fn say(ws: &mut Ws, room: &str, text: &str) -> Value {
    ws.send(json!({"type": "room.say", "room": room, "text": text, "ref": text}))
        .await;
    let mine = ws.recv_type("room.message").await;
    assert_eq!(mine["ref"], text, "the sender's copy carries its ref");
    mine
}

#[tokio::test]
async fn room_chat_reaches_members_on_both_nodes_with_presence() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut bob, _) = member(&b, "bob").await;
    let first = join(&mut alice, "lobby", None).await;
    assert_eq!(first["members"], json!(["alice"]));
    assert_eq!(first["history"], json!([]));
    assert_eq!(first["recovered"], false);
    let second = join(&mut bob, "lobby", None).await;
    assert_eq!(second["members"], json!(["alice", "bob"]));
    assert_eq!(
        alice.recv_type("room.presence").await,
        json!({"type": "room.presence", "room": "lobby", "joined": "bob"})
    );

    let sent = say(&mut alice, "lobby", "hello bob").await;
    let got = bob.recv_type("room.message").await;
    assert_eq!(got["from"], "alice");
    assert_eq!(got["text"], "hello bob");
    assert_eq!(got["id"], sent["id"]);
    assert!(got.get("ref").is_none());

    bob.send(json!({"type": "room.leave", "room": "lobby", "ref": "bye"}))
        .await;
    assert_eq!(bob.recv_type("ack").await["ref"], "bye");
    assert_eq!(alice.recv_type("room.presence").await["left"], "bob");
    bob.send(json!({"type": "room.say", "room": "lobby", "text": "ghost"}))
        .await;
    assert_eq!(bob.recv_type("error").await["code"], "forbidden");
}

#[tokio::test]
async fn rejoining_with_since_recovers_exactly_what_was_missed() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut bob, bob_token) = member(&b, "bob").await;
    join(&mut alice, "recovery", None).await;
    join(&mut bob, "recovery", None).await;
    let m1 = say(&mut alice, "recovery", "one").await;
    assert_eq!(bob.recv_type("room.message").await["id"], m1["id"]);
    drop(bob);
    let mut missed = Vec::new();
    for text in ["two", "three", "four"] {
        missed.push(say(&mut alice, "recovery", text).await["id"].clone());
    }
    let (mut bob, _) = Ws::hello(&a.ws_url("/ws", &bob_token)).await;
    let back = join(&mut bob, "recovery", m1["id"].as_str()).await;
    assert_eq!(back["recovered"], true);
    let ids: Vec<Value> = back["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, missed, "exactly the missed messages, none twice");
    let after = say(&mut alice, "recovery", "five").await;
    assert_eq!(bob.recv_type("room.message").await["id"], after["id"]);
    bob.assert_silent(Duration::from_millis(300)).await;

    let (mut carol, _) = member(&b, "carol").await;
    let unknown = join(&mut carol, "recovery", Some("1-1")).await;
    assert_eq!(unknown["recovered"], false);
    assert_eq!(
        unknown["history"].as_array().unwrap().len(),
        5,
        "the last messages instead"
    );
    let plain = join(&mut carol, "recovery", None).await;
    assert_eq!(plain["history"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn room_errors() {
    let (_redis, a, _b) = two_nodes(&[]).await;
    let (mut alice, _) = member(&a, "alice").await;
    alice
        .send(json!({"type": "room.join", "room": "bad room!"}))
        .await;
    assert_eq!(alice.recv_type("error").await["code"], "bad_request");
    alice
        .send(json!({"type": "room.say", "room": "nowhere", "text": "hi"}))
        .await;
    assert_eq!(alice.recv_type("error").await["code"], "forbidden");
    join(&mut alice, "here", None).await;
    alice
        .send(json!({"type": "room.say", "room": "here", "text": "x".repeat(2001)}))
        .await;
    assert_eq!(alice.recv_type("error").await["code"], "too_large");
}

#[tokio::test]
async fn members_of_a_dead_node_disappear_within_a_minute() {
    let (_redis, a, mut b) = two_nodes(&[]).await;
    let (mut alice, _) = member(&a, "alice").await;
    // Node A's members of the room are refreshed together: all of them must outlive
    // their first 30 s, when bob's presence runs out.
    let (mut dave, _) = member(&a, "dave").await;
    let (mut erin, _) = member(&a, "erin").await;
    let (mut bob, _) = member(&b, "bob").await;
    join(&mut alice, "wake", None).await;
    join(&mut dave, "wake", None).await;
    join(&mut erin, "wake", None).await;
    join(&mut bob, "wake", None).await;
    loop {
        if alice.recv_type("room.presence").await["joined"] == "bob" {
            break;
        }
    }
    b.proc.kill().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let frame = alice
            .next_text(deadline - tokio::time::Instant::now())
            .await
            .expect("bob leaves within a minute");
        if frame["type"] == "room.presence" {
            assert_eq!(frame["left"], "bob");
            break;
        }
    }
    let (mut carol, _) = member(&a, "carol").await;
    assert_eq!(
        join(&mut carol, "wake", None).await["members"],
        json!(["alice", "carol", "dave", "erin"])
    );
}

#[tokio::test]
async fn a_rooms_log_lives_room_retention_secs_after_its_last_message_and_a_games_a_day() {
    use fred::prelude::KeysInterface;
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("ROOM_RETENTION_SECS", "1000")]).await;
    let (mut alice, _) = member(&node, "alice").await;
    join(&mut alice, "lobby", None).await;
    say(&mut alice, "lobby", "hello").await;
    let id = e2e::create_game(&mut alice).await;
    let game_room = format!("game:{id}");
    assert_eq!(
        alice.recv_type("room.joined").await["room"],
        game_room.as_str()
    );
    say(&mut alice, &game_room, "good luck").await;
    let client = redis.client().await;
    let lobby: i64 = client.ttl("room:{lobby}:log").await.unwrap();
    assert!((990..=1000).contains(&lobby), "lobby log TTL {lobby}");
    let game: i64 = client
        .ttl(format!("room:{{{game_room}}}:log"))
        .await
        .unwrap();
    assert!((86_000..=86_400).contains(&game), "game chat TTL {game}");
}

#[tokio::test]
async fn joining_a_game_joins_its_room() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut bob, _) = member(&b, "bob").await;
    let id = e2e::create_game(&mut alice).await;
    let room = format!("game:{id}");
    assert_eq!(alice.recv_type("room.joined").await["room"], room.as_str());
    bob.send(json!({"type": "game.join", "game": id})).await;
    let joined = bob.recv_type("room.joined").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]));
    let sent = say(&mut bob, &room, "good luck").await;
    assert_eq!(alice.recv_type("room.message").await["id"], sent["id"]);
}

#[tokio::test]
async fn a_player_who_joins_a_new_game_at_once_finds_its_creator_in_the_chat() {
    // Bob joins as soon as alice's game exists, before alice has the answer to her chat's
    // join: the creator is in the chat from the moment the game's ID is out, so bob is
    // always given both names, and alice hears of bob.
    let limits = [("RATE_PER_5S", "10000"), ("RATE_PER_MIN", "10000")];
    let (_redis, a, b) = two_nodes(&limits).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut bob, _) = member(&b, "bob").await;
    for round in 0..10 {
        let id = e2e::create_game(&mut alice).await;
        bob.send(json!({"type": "game.join", "game": id})).await;
        let room = format!("game:{id}");
        let hers = alice.recv_type("room.joined").await;
        assert_eq!(hers["room"], room.as_str());
        assert_eq!(
            (&hers["members"], &hers["member_count"]),
            (&json!(["alice"]), &json!(1)),
            "round {round}"
        );
        let his = bob.recv_type("room.joined").await;
        assert_eq!(his["room"], room.as_str());
        assert_eq!(his["members"], json!(["alice", "bob"]), "round {round}");
        let heard = loop {
            let frame = alice.recv_type("room.presence").await;
            if frame["room"] == room.as_str() {
                break frame;
            }
        };
        assert_eq!(heard["joined"], "bob", "round {round}");
        // Alice leaves the game, so that she never has too many open.
        let leave = format!("l{round}");
        alice
            .send(json!({"type": "game.leave", "game": id, "ref": leave}))
            .await;
        alice.answer(&leave).await;
    }
}

#[tokio::test]
async fn members_speaking_at_once_on_two_nodes_all_get_every_message_in_order() {
    let (_redis, a, b) = busy_nodes().await;
    let (mut ann, _) = member(&a, "ann").await;
    let (mut ben, _) = member(&b, "ben").await;
    join(&mut ann, "busy", None).await;
    join(&mut ben, "busy", None).await;
    const EACH: usize = 300;
    // Both send without waiting, so their messages interleave in the room's stream.
    tokio::join!(burst(&mut ann, "a", EACH), burst(&mut ben, "b", EACH));
    let mut seen = Vec::new();
    for ws in [&mut ann, &mut ben] {
        let mut ids = Vec::new();
        let mut texts = Vec::new();
        while ids.len() < 2 * EACH {
            let frame = ws.recv_type("room.message").await;
            ids.push(frame["id"].as_str().unwrap().to_string());
            texts.push(frame["text"].as_str().unwrap().to_string());
        }
        ws.assert_silent(Duration::from_millis(200)).await;
        seen.push((ids, texts));
    }
    let (ann_ids, ann_texts) = &seen[0];
    let (ben_ids, _) = &seen[1];
    assert_eq!(
        ann_ids, ben_ids,
        "both see the same messages in the same order"
    );
    let mut sorted = ann_ids.clone();
    sorted.sort_by_key(|id| {
        let (ms, seq) = id.split_once('-').unwrap();
        (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
    });
    assert_eq!(&sorted, ann_ids, "in stream order");
    for who in ["a", "b"] {
        let mine: Vec<&String> = ann_texts.iter().filter(|t| t.starts_with(who)).collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{who}{i}")).collect();
        assert_eq!(
            mine,
            expected.iter().collect::<Vec<_>>(),
            "{who}'s messages, in order"
        );
    }
}

/// Sends `count` room messages `WHO0`, `WHO1`, … to the room `busy` without waiting.
async fn burst(ws: &mut Ws, who: &str, count: usize) {
    for i in 0..count {
        ws.send(json!({"type": "room.say", "room": "busy", "text": format!("{who}{i}")}))
            .await;
    }
}

/// Sends `count` room messages `WHO0`, `WHO1`, … to `room`, each with its text as `ref`,
/// `every` apart.
async fn paced(ws: &mut Ws, room: &str, who: &str, count: usize, every: Duration) {
    for i in 0..count {
        let text = format!("{who}{i}");
        ws.send(json!({"type": "room.say", "room": room, "text": text, "ref": text}))
            .await;
        tokio::time::sleep(every).await;
    }
}

/// Reads `count` room messages; checks they come once each, in stream order, and that
/// `who`'s own carry their refs. Returns their texts.
async fn every_message_once(ws: &mut Ws, count: usize, who: &str) -> Vec<String> {
    let mut last: Option<(u64, u64)> = None;
    let mut texts = Vec::new();
    while texts.len() < count {
        let frame = ws.recv_type("room.message").await;
        e2e::assert_after(&mut last, &frame);
        let text = frame["text"].as_str().unwrap().to_string();
        if text.starts_with(who) {
            assert_eq!(
                frame["ref"],
                text.as_str(),
                "the sender's copy carries its ref"
            );
        }
        texts.push(text);
    }
    ws.assert_silent(Duration::from_millis(300)).await;
    texts
}

#[tokio::test]
async fn live_members_get_every_message_once_through_a_lost_subscription() {
    // Every node's pub/sub connection is closed while two members speak: messages said
    // before the nodes have subscribed again, and around it, still reach every member on
    // both nodes, once each and in order, the senders' with their refs.
    let (redis, a, b) = busy_nodes().await;
    let (mut ann, _) = member(&a, "ann").await;
    let (mut ben, _) = member(&b, "ben").await;
    let (mut cat, _) = member(&a, "cat").await;
    let (mut dan, _) = member(&b, "dan").await;
    for ws in [&mut ann, &mut ben, &mut cat, &mut dan] {
        join(ws, "blip", None).await;
    }
    const EACH: usize = 150;
    let every = Duration::from_millis(4);
    tokio::join!(
        paced(&mut ann, "blip", "a", EACH, every),
        paced(&mut ben, "blip", "b", EACH, every),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let killed = redis.kill_pubsub_connections().await;
            assert!(killed >= 2, "both nodes' subscribers closed: {killed}");
        }
    );
    let ann_saw = every_message_once(&mut ann, 2 * EACH, "a").await;
    let ben_saw = every_message_once(&mut ben, 2 * EACH, "b").await;
    assert_eq!(ann_saw, ben_saw, "both nodes deliver the same messages");
    assert_eq!(every_message_once(&mut cat, 2 * EACH, "-").await, ann_saw);
    assert_eq!(every_message_once(&mut dan, 2 * EACH, "-").await, ann_saw);
    for who in ["a", "b"] {
        let mine: Vec<&String> = ann_saw.iter().filter(|t| t.starts_with(who)).collect();
        let said: Vec<String> = (0..EACH).map(|i| format!("{who}{i}")).collect();
        assert_eq!(mine, said.iter().collect::<Vec<_>>(), "{who}'s messages");
    }
}

#[tokio::test]
async fn leaving_a_room_never_joined_is_acknowledged_and_announces_nothing() {
    let (_redis, a, b) = two_nodes(&[]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut mallory, _) = member(&b, "mallory").await;
    join(&mut alice, "quiet", None).await;
    mallory
        .send(json!({"type": "room.leave", "room": "quiet", "ref": "l"}))
        .await;
    assert_eq!(mallory.answer("l").await["type"], "ack");
    alice.assert_silent(Duration::from_millis(500)).await;
    // A member who really leaves is announced as before.
    let (mut bob, _) = member(&b, "bob").await;
    join(&mut bob, "quiet", None).await;
    assert_eq!(alice.recv_type("room.presence").await["joined"], "bob");
    bob.send(json!({"type": "room.leave", "room": "quiet", "ref": "l"}))
        .await;
    assert_eq!(bob.answer("l").await["type"], "ack");
    assert_eq!(alice.recv_type("room.presence").await["left"], "bob");
}

#[tokio::test]
async fn typing_reaches_the_other_members_across_nodes_throttled_unstored_and_outside_the_rate_limit(
) {
    // Six frames in 5 s: a join and five messages. Were typing frames counted, Bob's burst
    // would use the allowance up.
    let (_redis, a, b) = two_nodes(&[("RATE_PER_5S", "6"), ("RATE_PER_MIN", "100")]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut bob, _) = member(&b, "bob").await;
    join(&mut alice, "desk", None).await;
    join(&mut bob, "desk", None).await;
    assert_eq!(alice.recv_type("room.presence").await["joined"], "bob");
    for _ in 0..20 {
        bob.send(json!({"type": "room.typing", "room": "desk"}))
            .await;
    }
    let typing = alice.recv().await;
    assert_eq!(
        typing,
        json!({"type": "room.typing", "room": "desk", "name": "bob"})
    );
    // The rest of the burst, within the second, is dropped; Bob hears nothing of it.
    alice.assert_silent(Duration::from_millis(600)).await;
    bob.assert_silent(Duration::from_millis(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    bob.send(json!({"type": "room.typing", "room": "desk"}))
        .await;
    assert_eq!(alice.recv_type("room.typing").await["name"], "bob");
    for i in 0..5 {
        say(&mut bob, "desk", &format!("m{i}")).await;
    }
    // Not stored: a newcomer's history holds the messages only.
    let (mut carol, _) = member(&a, "carol").await;
    let joined = join(&mut carol, "desk", None).await;
    assert_eq!(joined["history"].as_array().unwrap().len(), 5);
    carol
        .send(json!({"type": "room.typing", "room": "elsewhere", "ref": "t"}))
        .await;
    assert_eq!(carol.answer("t").await["code"], "forbidden");
}

#[tokio::test]
async fn with_presence_max_0_no_room_is_large_however_many_join() {
    // PRESENCE_MAX=0 lifts the limit: 201 members, more than the default's 200 entries,
    // and each one is given every member when it joins, and announced to the others.
    let settings = [("PRESENCE_MAX", "0"), ("TOKEN_RATE_PER_MIN", "10000")];
    let (_redis, a, b) = two_nodes(&settings).await;
    const MEMBERS: usize = 201;
    let mut sockets = Vec::new();
    for i in 0..MEMBERS {
        let node = if i % 2 == 0 { &a } else { &b };
        let (mut ws, _) = member(node, &format!("m{i}")).await;
        let joined = join(&mut ws, "crowd", None).await;
        assert_eq!(joined["member_count"], i + 1, "{joined}");
        let listed = joined["members"].as_array().unwrap().len();
        assert_eq!(listed, i + 1, "every member is listed");
        sockets.push(ws);
    }
    for i in 1..MEMBERS {
        let heard = sockets[0].recv_type("room.presence").await;
        assert_eq!(
            heard["joined"],
            format!("m{i}"),
            "the first member hears every arrival"
        );
    }
}

#[tokio::test]
async fn a_large_room_announces_no_arrivals_or_departures_and_lists_presence_max_members() {
    // Three presence entries make the room large: the first three arrivals are announced,
    // the fourth is not, and it gets three of the four members with the count.
    let (_redis, a, b) = two_nodes(&[("PRESENCE_MAX", "3")]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (mut bob, _) = member(&b, "bob").await;
    let (mut carol, _) = member(&a, "carol").await;
    let (mut dave, _) = member(&b, "dave").await;
    let first = join(&mut alice, "hall", None).await;
    assert_eq!(
        (&first["members"], &first["member_count"]),
        (&json!(["alice"]), &json!(1))
    );
    join(&mut bob, "hall", None).await;
    assert_eq!(alice.recv_type("room.presence").await["joined"], "bob");
    let third = join(&mut carol, "hall", None).await;
    assert_eq!(third["members"], json!(["alice", "bob", "carol"]));
    assert_eq!(third["member_count"], 3);
    for ws in [&mut alice, &mut bob] {
        assert_eq!(ws.recv_type("room.presence").await["joined"], "carol");
    }

    let fourth = join(&mut dave, "hall", None).await;
    assert_eq!(fourth["member_count"], 4);
    let listed = fourth["members"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        3,
        "a large room lists PRESENCE_MAX members: {fourth}"
    );
    assert!(
        listed.contains(&json!("dave")),
        "the joiner is among them: {fourth}"
    );

    // Nobody heard of dave's arrival: the next frame each member gets is the message.
    let said = say(&mut dave, "hall", "hi all").await;
    for ws in [&mut alice, &mut bob, &mut carol] {
        let next = ws.recv().await;
        assert_eq!(
            (next["type"].as_str(), &next["id"]),
            (Some("room.message"), &said["id"])
        );
    }

    // Leaving it for three entries is not announced either; leaving it for two is.
    for (ws, reference) in [(&mut dave, "dave-out"), (&mut bob, "bob-out")] {
        ws.send(json!({"type": "room.leave", "room": "hall", "ref": reference}))
            .await;
        assert_eq!(ws.recv_type("ack").await["ref"], reference);
    }
    for ws in [&mut alice, &mut carol] {
        assert_eq!(
            ws.recv().await,
            json!({"type": "room.presence", "room": "hall", "left": "bob"})
        );
    }
    let again = join(&mut carol, "hall", None).await;
    assert_eq!(
        (&again["members"], &again["member_count"]),
        (&json!(["alice", "carol"]), &json!(2))
    );
}
