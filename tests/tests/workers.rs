//! The worker side of the pipeline: restarts, several workers, messages left pending by a
//! dead worker, replies retried where they failed. The LLM path is in `llm.rs`.

use std::{collections::HashMap, time::Duration};

use e2e::{
    eventually, new_session, refresh, say_to_bot, token, Cluster, Redis, Server, Worker, Ws,
};
use fred::prelude::*;
use serde_json::{json, Value};

/// Stops the topology's worker with SIGTERM; it exits cleanly.
async fn stop_worker(c: &mut Cluster) {
    let stopped = c.worker.proc.terminate().await.expect("the worker stops");
    assert!(stopped.success(), "{stopped:?}");
}

/// Reads what `message_channel` holds as a worker that then dies before answering: it
/// stays pending until a live worker takes it over (after CLAIM_IDLE_MS).
async fn taken_by_a_dead_worker(c: &Cluster) {
    let client = c.redis.client().await;
    let _: Value = client
        .xreadgroup(
            "workers",
            "dead-worker",
            Some(10),
            None,
            false,
            "message_channel",
            ">",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_message_sent_while_no_worker_runs_is_answered_when_one_starts() {
    let mut c = Cluster::start().await;
    let doc = new_session(&c.a.base, "patient").await;
    let (mut ws, _) = Ws::hello(&c.b.ws_url("/ws", &token(&doc))).await;
    let first = say_to_bot(&mut ws, "hello").await;
    assert_eq!(
        ws.recv_type("bot.reply").await["in_reply_to"],
        first.as_str()
    );

    stop_worker(&mut c).await;
    let waiting = say_to_bot(&mut ws, "anyone there?").await;
    ws.assert_silent(Duration::from_millis(800)).await;

    let _again = Worker::start(&c.redis.url(), &[]).await;
    let reply = ws.recv_type("bot.reply").await;
    assert_eq!(reply["in_reply_to"], waiting.as_str());
    let (_, history) = refresh(&c.a.base, &token(&doc)).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn two_workers_answer_each_message_exactly_once() {
    let redis = Redis::start().await;
    let url = redis.url();
    let (a, b) = tokio::join!(Server::start(&url, &[]), Server::start(&url, &[]));
    let _w1 = Worker::start(&url, &[("CONSUMER_NAME", "w1")]).await;
    let _w2 = Worker::start(&url, &[("CONSUMER_NAME", "w2")]).await;

    let mut sockets = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        let doc = new_session(&node.base, &format!("user{i}")).await;
        let (ws, _) = Ws::hello(&node.ws_url("/ws", &token(&doc))).await;
        sockets.push((token(&doc), ws));
    }
    for round in 0..8 {
        for (_, ws) in sockets.iter_mut() {
            ws.send(json!({"type": "bot.say", "text": format!("round {round}")}))
                .await;
        }
    }
    for (t, ws) in sockets.iter_mut() {
        let mut acks = Vec::new();
        let mut replies = Vec::new();
        while acks.len() < 8 || replies.len() < 8 {
            let frame = ws.recv().await;
            match frame["type"].as_str() {
                Some("ack") => acks.push(frame["id"].as_str().unwrap().to_string()),
                Some("bot.reply") => {
                    replies.push(frame["in_reply_to"].as_str().unwrap().to_string())
                }
                _ => panic!("unexpected {frame}"),
            }
        }
        assert_eq!(replies, acks, "replies of {t} in order");
        ws.assert_silent(Duration::from_millis(300)).await;
        let (_, history) = refresh(&a.base, t).await;
        assert_eq!(history["messages"].as_array().unwrap().len(), 16);
    }

    let client = redis.client().await;
    let entries: Vec<(String, HashMap<String, String>)> = client
        .xrange("response_channel", "-", "+", None)
        .await
        .unwrap();
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for (_, fields) in &entries {
        *per_message
            .entry(fields["in_reply_to"].clone())
            .or_default() += 1;
    }
    assert_eq!(per_message.len(), 48);
    assert!(
        per_message.values().all(|n| *n == 1),
        "each message answered once"
    );
    let pending: Vec<fred::types::Value> = client
        .custom(fred::cmd!("XPENDING"), vec!["message_channel", "workers"])
        .await
        .unwrap();
    assert_eq!(
        pending.first().and_then(|n| n.as_i64()),
        Some(0),
        "everything acknowledged"
    );
}

#[tokio::test]
async fn messages_left_pending_by_a_dead_worker_are_taken_over() {
    let mut c = Cluster::start().await;
    stop_worker(&mut c).await;
    let doc = new_session(&c.a.base, "orphan").await;
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &token(&doc))).await;
    let id = say_to_bot(&mut ws, "hello?").await;

    // A worker that read the message and died before answering leaves it pending.
    taken_by_a_dead_worker(&c).await;

    let _live = Worker::start(&c.redis.url(), &[("CLAIM_IDLE_MS", "1000")]).await;
    let reply = ws.recv_type("bot.reply").await;
    assert_eq!(reply["in_reply_to"], id.as_str());
    ws.assert_silent(Duration::from_millis(500)).await;
}

/// The next `bot.reply` within `limit`, or a panic saying `what` did not happen.
async fn reply_within(ws: &mut Ws, limit: Duration, what: &str) -> Value {
    tokio::time::timeout(limit, ws.recv_type("bot.reply"))
        .await
        .unwrap_or_else(|_| panic!("{what}: no reply within {limit:?}"))
}

#[tokio::test]
async fn a_stopping_worker_takes_nothing_new_and_the_next_one_answers_at_once() {
    // A worker told to stop ends its blocking read in Redis at once: a message sent right
    // after is not handed to it (where it would wait CLAIM_IDLE_MS, 15 s, for a takeover)
    // but to the next worker as soon as that one reads.
    let mut c = Cluster::start().await;
    let doc = new_session(&c.a.base, "timely").await;
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &token(&doc))).await;
    let first = say_to_bot(&mut ws, "hello").await;
    assert_eq!(
        ws.recv_type("bot.reply").await["in_reply_to"],
        first.as_str()
    );
    // Back in its blocking read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.worker.proc.signal_term().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sent = say_to_bot(&mut ws, "still there?").await;
    let _next = Worker::start(&c.redis.url(), &[]).await;
    let reply = reply_within(&mut ws, Duration::from_secs(2), "the next worker answering").await;
    assert_eq!(reply["in_reply_to"], sent.as_str());
    ws.assert_silent(Duration::from_millis(500)).await;
    stop_worker(&mut c).await;
    let (_, history) = refresh(&c.a.base, &token(&doc)).await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        4,
        "{history}"
    );
}

#[tokio::test]
async fn a_reply_whose_write_fails_is_retried_as_soon_as_redis_takes_it() {
    // The worker's reply cannot be written for a while (here the service user may read
    // response_channel but not write it; in production, a failover): the worker retries
    // where it failed, so the reply comes within about a second of Redis taking writes
    // again, once, not after CLAIM_IDLE_MS (15 s) by way of a takeover.
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "persistent").await;
    let (mut ws, _) = Ws::hello(&c.b.ws_url("/ws", &token(&doc))).await;
    let first = say_to_bot(&mut ws, "hello").await;
    assert_eq!(
        ws.recv_type("bot.reply").await["in_reply_to"],
        first.as_str()
    );

    let user = c.redis.on_every_node(&["acl", "getuser", "service"]).await;
    let lines: Vec<&str> = user[0].lines().collect();
    let keys = lines[lines.iter().position(|l| *l == "keys").expect("keys") + 1];
    assert!(keys.contains("~response_channel"), "{keys}");
    let read_only = keys.replace("~response_channel", "%R~response_channel");
    let mut command = vec!["acl", "setuser", "service", "resetkeys"];
    command.extend(read_only.split(' '));
    c.redis.on_every_node(&command).await;

    let sent = say_to_bot(&mut ws, "are you there?").await;
    ws.assert_silent(Duration::from_millis(1500)).await;
    c.redis
        .on_every_node(&["acl", "setuser", "service", "~response_channel"])
        .await;
    let reply = reply_within(&mut ws, Duration::from_secs(2), "the retried reply").await;
    assert_eq!(reply["in_reply_to"], sent.as_str());
    ws.assert_silent(Duration::from_millis(500)).await;
    let (_, history) = refresh(&c.a.base, &token(&doc)).await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        4,
        "{history}"
    );
}

#[tokio::test]
async fn a_retry_after_the_reply_went_out_sends_no_second_reply() {
    // The reply is stored and published but its entry cannot be acknowledged for a while
    // (XACK refused): the worker retries the acknowledgement, and the reply goes out once.
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "once").await;
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &token(&doc))).await;
    c.redis
        .on_every_node(&["acl", "setuser", "service", "-xack"])
        .await;
    let sent = say_to_bot(&mut ws, "hello").await;
    let reply = reply_within(&mut ws, Duration::from_secs(2), "the reply").await;
    assert_eq!(reply["in_reply_to"], sent.as_str());
    ws.assert_silent(Duration::from_millis(1000)).await;
    c.redis
        .on_every_node(&["acl", "setuser", "service", "+xack"])
        .await;
    ws.assert_silent(Duration::from_millis(1500)).await;
    let pending = eventually(Duration::from_secs(5), "the entry acknowledged", || async {
        let client = c.redis.client().await;
        let pending: Vec<fred::types::Value> = client
            .custom(fred::cmd!("XPENDING"), vec!["message_channel", "workers"])
            .await
            .ok()?;
        (pending.first().and_then(|n| n.as_i64()) == Some(0)).then_some(())
    });
    pending.await;
}

#[tokio::test]
async fn a_reply_its_worker_added_but_never_confirmed_is_not_added_again_on_takeover() {
    const REPLY: &str = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    // A worker stored its reply, added it to response_channel and died before confirming
    // (the reply is still marked in the session) or acknowledging the entry: the worker
    // that takes the entry over finds the reply among the newest and does not add it again.
    let mut c = Cluster::start().await;
    stop_worker(&mut c).await;
    let doc = new_session(&c.a.base, "unlucky").await;
    let t = token(&doc);
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &t)).await;
    let asked = say_to_bot(&mut ws, "hello?").await;
    taken_by_a_dead_worker(&c).await;
    let admin = c.redis.client().await;
    let key = format!("session:{t}");
    let reply = json!({"id": REPLY, "source": "bot", "msg": "hi", "timestamp": "2026-12-02T08:00:00.000Z", "in_reply_to": asked});
    let _: Value = admin
        .custom(
            fred::cmd!("JSON.ARRAPPEND"),
            vec![key.clone(), "$.messages".into(), reply.to_string()],
        )
        .await
        .unwrap();
    let _: Value = admin
        .custom(
            fred::cmd!("JSON.SET"),
            vec![key, "$.publishing".into(), format!("\"{REPLY}\"")],
        )
        .await
        .unwrap();
    let fields = vec![
        ("token", t.as_str()),
        ("id", REPLY),
        ("msg", "hi"),
        ("ts", "2026-12-02T08:00:00.000Z"),
        ("in_reply_to", asked.as_str()),
    ];
    let _: String = admin
        .xadd("response_channel", false, None, "*", fields)
        .await
        .unwrap();
    assert_eq!(ws.recv_type("bot.reply").await["id"], REPLY);

    let _live = Worker::start(&c.redis.url(), &[("CLAIM_IDLE_MS", "300")]).await;
    eventually(
        Duration::from_secs(10),
        "the entry taken over and acknowledged",
        || async {
            let pending: Vec<Value> = admin
                .custom(fred::cmd!("XPENDING"), vec!["message_channel", "workers"])
                .await
                .ok()?;
            (pending.first().and_then(|n| n.as_i64()) == Some(0)).then_some(())
        },
    )
    .await;
    ws.assert_silent(Duration::from_millis(500)).await;
    let replies: Vec<(String, HashMap<String, String>)> = admin
        .xrange("response_channel", "-", "+", None)
        .await
        .unwrap();
    let copies = replies
        .iter()
        .filter(|(_, f)| f.get("id").map(String::as_str) == Some(REPLY));
    assert_eq!(copies.count(), 1, "the reply is in response_channel once");
}

#[tokio::test]
async fn a_message_waiting_for_an_earlier_one_delays_only_its_own_session() {
    let mut c = Cluster::start().await;
    stop_worker(&mut c).await;
    let stuck_doc = new_session(&c.a.base, "stuck").await;
    let free_doc = new_session(&c.a.base, "free").await;
    let (mut stuck, _) = Ws::hello(&c.a.ws_url("/ws", &token(&stuck_doc))).await;
    let (mut free, _) = Ws::hello(&c.b.ws_url("/ws", &token(&free_doc))).await;
    // The first message of `stuck` is taken by a worker that dies before answering: it
    // stays pending for CLAIM_IDLE_MS (15 s), and the session's next reply waits for it.
    say_to_bot(&mut stuck, "first").await;
    taken_by_a_dead_worker(&c).await;
    let _live = Worker::start(&c.redis.url(), &[]).await;
    let second = say_to_bot(&mut stuck, "second").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = tokio::time::Instant::now();
    let other = say_to_bot(&mut free, "hello").await;
    let reply = reply_within(&mut free, Duration::from_secs(1), "another session").await;
    assert_eq!(reply["in_reply_to"], other.as_str());
    assert!(asked.elapsed() < Duration::from_secs(1));
    // The waiting one is answered all the same once its wait for the first is over.
    let late = reply_within(&mut stuck, Duration::from_secs(5), "the waiting session").await;
    assert_eq!(late["in_reply_to"], second.as_str());
}

#[tokio::test]
async fn a_message_stored_but_never_queued_delays_its_session_once_not_every_later_message() {
    let c = Cluster::start().await;
    let doc = new_session(&c.a.base, "orphaned").await;
    let t = token(&doc);
    // A node that died between storing a message and queueing it for the workers leaves
    // it in the history with no stream entry: nobody will ever answer it.
    let sessions = common::session::Sessions::new(c.redis.client().await, 3600, 200);
    let never_queued = common::session::Sessions::human_message("lost on the way");
    assert!(sessions.append_human(&t, &never_queued).await.unwrap());
    let (mut ws, _) = Ws::hello(&c.a.ws_url("/ws", &t)).await;
    // The next reply waits a while for it (replies keep the order of their messages)…
    let first = say_to_bot(&mut ws, "first").await;
    let reply = reply_within(&mut ws, Duration::from_secs(6), "the first reply").await;
    assert_eq!(reply["in_reply_to"], first.as_str());
    // …but once it has been passed over, later messages do not wait for it again.
    for text in ["second", "third"] {
        let asked = tokio::time::Instant::now();
        let id = say_to_bot(&mut ws, text).await;
        let reply = reply_within(&mut ws, Duration::from_secs(1), text).await;
        assert_eq!(reply["in_reply_to"], id.as_str());
        assert!(asked.elapsed() < Duration::from_secs(1), "{text} waited");
    }
    let (_, history) = refresh(&c.a.base, &t).await;
    assert!(history.get("skipped").is_none(), "{history}");
}
