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

/// A frame and when it arrived.
struct Seen {
    at: tokio::time::Instant,
    frame: Value,
}

/// Sends `request(i)` (if any) every `every` until `stop` turns true, reading what comes
/// in between; then reads until 2 s pass in silence. Returns every frame it read.
async fn talk(
    mut ws: Ws,
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
    request: impl Fn(usize) -> Option<Value>,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut i = 0;
    while !*stop.borrow() {
        if let Some(frame) = request(i) {
            ws.send(frame).await;
        }
        i += 1;
        let next = tokio::time::Instant::now() + every;
        while let Ok(frame) = ws.next_text(next - tokio::time::Instant::now()).await {
            seen.push(Seen {
                at: tokio::time::Instant::now(),
                frame,
            });
        }
    }
    while let Ok(frame) = ws.next_text(Duration::from_secs(2)).await {
        seen.push(Seen {
            at: tokio::time::Instant::now(),
            frame,
        });
    }
    seen
}

/// The room messages among `seen`, in the order they came, checked to come once each in
/// stream order: their texts.
fn room_texts(seen: &[Seen]) -> Vec<String> {
    let mut last: Option<(u64, u64)> = None;
    let mut texts = Vec::new();
    for Seen { frame, .. } in seen.iter().filter(|s| s.frame["type"] == "room.message") {
        e2e::assert_after(&mut last, frame);
        texts.push(frame["text"].as_str().unwrap().to_string());
    }
    texts
}

#[tokio::test]
async fn through_a_failover_under_load_every_member_gets_every_message_once_and_the_bot_answers_without_a_stall(
) {
    let mut cluster = RedisCluster::start().await;
    let url = cluster.url();
    let busy = [("RATE_PER_5S", "100000"), ("RATE_PER_MIN", "100000")];
    let (a, b, _worker) = tokio::join!(
        Server::start(&url, &busy),
        Server::start(&url, &busy),
        Worker::start(&url, &[]),
    );
    // A room on the master of response_channel, so the failover takes both the room's
    // messages and the bot's replies.
    let replies_master = cluster.master_of("response_channel").await;
    let mut room = None;
    for n in 0..200 {
        let candidate = format!("load{n}");
        if cluster
            .master_of(&format!("room:{{{candidate}}}:log"))
            .await
            == replies_master
        {
            room = Some(candidate);
            break;
        }
    }
    let room = room.expect("a room on that master");
    let mut members = Vec::new();
    for (node, name) in [(&a, "ann"), (&b, "ben"), (&a, "cat"), (&b, "dan")] {
        let (mut ws, _) =
            Ws::hello(&node.ws_url("/ws", &token(&new_session(&node.base, name).await))).await;
        ws.send(json!({"type": "room.join", "room": room, "ref": "j"}))
            .await;
        assert_eq!(ws.answer("j").await["type"], "room.joined");
        members.push(ws);
    }
    let (bot_ws, _) = Ws::hello(&b.ws_url("/ws", &token(&new_session(&b.base, "eve").await))).await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let every = Duration::from_millis(100);
    let mut talks = Vec::new();
    for (ws, who) in members.into_iter().zip(["a", "b", "", ""]) {
        let room = room.clone();
        let stopped = stopped.clone();
        talks.push(tokio::spawn(talk(ws, every, stopped, move |i| {
            (!who.is_empty()).then(|| {
                let text = format!("{who}{i}");
                json!({"type": "room.say", "room": room, "text": text, "ref": text})
            })
        })));
    }
    let bot_talk = tokio::spawn(talk(bot_ws, Duration::from_millis(200), stopped, |i| {
        Some(json!({"type": "bot.say", "text": format!("q{i}"), "ref": format!("q{i}")}))
    }));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.fail_over("response_channel").await;
    let back = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.send(true).unwrap();

    let mut seen = Vec::new();
    for t in talks {
        seen.push(t.await.unwrap());
    }
    let accepted: Vec<String> = seen[..2]
        .iter()
        .zip(["a", "b"])
        .flat_map(|(frames, who)| {
            frames
                .iter()
                .filter(|s| {
                    s.frame["type"] == "room.message"
                        && s.frame["text"].as_str().unwrap().starts_with(who)
                })
                .map(|s| {
                    assert_eq!(
                        s.frame["ref"], s.frame["text"],
                        "the sender's copy carries its ref"
                    );
                    s.frame["text"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(accepted.len() >= 20, "messages flowed: {accepted:?}");
    let first = room_texts(&seen[0]);
    let mut sorted_first = first.clone();
    sorted_first.sort();
    let mut sorted_accepted = accepted.clone();
    sorted_accepted.sort();
    assert_eq!(
        sorted_first, sorted_accepted,
        "every accepted message, and no other"
    );
    for other in &seen[1..] {
        assert_eq!(
            room_texts(other),
            first,
            "every member got the same, in the same order"
        );
    }

    // Every acknowledged bot message got one reply, none stalled past the failover.
    let bot = bot_talk.await.unwrap();
    let acks: Vec<(&str, tokio::time::Instant)> = bot
        .iter()
        .filter(|s| s.frame["type"] == "ack")
        .map(|s| (s.frame["id"].as_str().unwrap(), s.at))
        .collect();
    assert!(acks.len() >= 10, "bot messages flowed");
    let refused = |frames: &[Seen]| {
        frames
            .iter()
            .filter(|s| s.frame["code"] == "unavailable")
            .count()
    };
    eprintln!(
        "{} room messages accepted, {} refused; {} bot messages acknowledged, {} refused",
        accepted.len(),
        refused(&seen[0]) + refused(&seen[1]),
        acks.len(),
        refused(&bot)
    );
    for (id, acked_at) in &acks {
        let replies: Vec<&Seen> = bot
            .iter()
            .filter(|s| s.frame["type"] == "bot.reply" && s.frame["in_reply_to"] == *id)
            .collect();
        assert_eq!(replies.len(), 1, "one reply to {id}");
        let due = (*acked_at).max(back) + Duration::from_secs(5);
        assert!(
            replies[0].at <= due,
            "the reply to {id} came {:?} after the failover",
            replies[0].at - back
        );
    }
}
