//! What operators rely on, against real nodes and a real Redis: rate limits shared by the
//! nodes, token minting limited per client IP, session KPIs per app, node and hour,
//! cluster-wide `/stats`, and `/metrics` in the Prometheus text format.

use std::time::Duration;

use e2e::{eventually, new_session, token, traffic::json_body, Redis, Server, Ws};
use serde_json::{json, Value};

async fn get_json(url: &str) -> (u16, Value) {
    json_body("GET", reqwest::get(url).await.unwrap()).await
}

/// Sends `room.leave` (answered by an `ack`, touching nothing) and returns the answer.
async fn cheap_request(ws: &mut Ws, reference: &str) -> Value {
    ws.send(json!({"type": "room.leave", "room": "lobby", "ref": reference}))
        .await;
    loop {
        let frame = ws.recv().await;
        if frame["ref"] == reference {
            return frame;
        }
    }
}

/// Sends `count` cheap requests on `ws` one after another; returns how many were acked.
async fn acked(ws: &mut Ws, prefix: &str, count: usize) -> usize {
    let mut acked = 0;
    for i in 0..count {
        let answer = cheap_request(ws, &format!("{prefix}{i}")).await;
        match answer["type"].as_str() {
            Some("ack") => acked += 1,
            _ => assert_eq!(answer["code"], "rate_limited", "{answer}"),
        }
    }
    acked
}

#[tokio::test]
async fn a_busy_token_never_gets_more_than_its_limit_over_two_nodes() {
    // Nodes reserve a busy token's allowance in growing parts (up to a quarter of the
    // limit, here 10) and spend them locally: the window never counts more than the limit,
    // and what a node reserved and did not use is refused early, less than a part per node.
    let redis = Redis::start().await;
    let url = redis.url();
    let limits = [("RATE_PER_5S", "40"), ("RATE_PER_MIN", "1000")];
    let (a, b) = tokio::join!(Server::start(&url, &limits), Server::start(&url, &limits));
    let doc = new_session(&a.base, "busy").await;
    let (mut on_a, _) = Ws::hello(&a.ws_url("/ws", &token(&doc))).await;
    let (mut on_b, _) = Ws::hello(&b.ws_url("/ws", &token(&doc))).await;
    let mut total = 0;
    for round in 0..3 {
        total += acked(&mut on_a, &format!("a{round}-"), 10).await;
        total += acked(&mut on_b, &format!("b{round}-"), 10).await;
    }
    assert!((40 - 2 * 9..=40).contains(&total), "{total} acked of 60");
    let counted = reserved(&redis, &token(&doc)).await as usize;
    assert!(
        counted <= 40 && counted >= total,
        "{counted} counted, {total} acked"
    );
}

/// What the token's 5 s window counts in Redis: the frames the nodes reserved.
async fn reserved(redis: &Redis, token: &str) -> u64 {
    let counted: Option<String> = fred::prelude::KeysInterface::get(
        &redis.client().await,
        common::keys::rate_of_token(token, "5s"),
    )
    .await
    .unwrap();
    counted.map_or(0, |c| c.parse().unwrap())
}

/// A node with `RATE_PER_5S=40` (reservations of up to 10) and a socket of a token that
/// sent 6 frames (reserved 1 + 2 + 4) in a window that has just ended: the Redis, the
/// node (kept running), the socket and the token.
async fn after_a_first_window(name: &str) -> (Redis, Server, Ws, String) {
    let redis = Redis::start().await;
    let limits = [("RATE_PER_5S", "40"), ("RATE_PER_MIN", "1000")];
    let node = Server::start(&redis.url(), &limits).await;
    let token = token(&new_session(&node.base, name).await);
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &token)).await;
    assert_eq!(acked(&mut ws, "first-", 6).await, 6);
    assert_eq!(reserved(&redis, &token).await, 1 + 2 + 4);
    // The window's key expires when the window ends.
    eventually(Duration::from_secs(7), "the first window's end", || async {
        (reserved(&redis, &token).await == 0).then_some(())
    })
    .await;
    (redis, node, ws, token)
}

#[tokio::test]
async fn a_steady_token_reserves_its_last_windows_frames_at_once_when_a_window_starts() {
    // A node reserves a token's frames in parts that grow from one (1, 2, 4, …, up to a
    // quarter of the limit, here 10). When the next window starts, the node's first part
    // is what the token used in the window before, so a token that keeps its pace costs
    // Redis one reservation per window instead of one per doubling.
    let (redis, _node, mut ws, token) = after_a_first_window("steady").await;
    assert_eq!(acked(&mut ws, "second-", 1).await, 1);
    assert_eq!(reserved(&redis, &token).await, 6, "the last window's use");
    assert_eq!(acked(&mut ws, "second-more-", 5).await, 5);
    assert_eq!(
        reserved(&redis, &token).await,
        6,
        "the five frames after the first came out of that one reservation"
    );
}

#[tokio::test]
async fn a_token_silent_for_a_whole_window_starts_again_from_one_frame() {
    // What a token used is carried into the window right after, not into one after a
    // silence: after 5 s without frames its first reservation is one frame again.
    let (redis, _node, mut ws, token) = after_a_first_window("quiet").await;
    // A whole window's length more without a frame.
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    assert_eq!(acked(&mut ws, "later-", 1).await, 1);
    assert_eq!(reserved(&redis, &token).await, 1, "one frame again");
}

#[tokio::test]
async fn a_part_reserved_from_the_next_window_lasts_that_windows_length() {
    // A node that has spent its part reserves the next one; when Redis's window has just
    // ended (here: its key deleted 3.5 s into the node's 5-s lease, late enough that the
    // node takes the new part for the next window's), that part is counted in a new window
    // and is good for all of it. It replaces the part held, so frames after the held
    // part's end come out of it without another reservation.
    let redis = Redis::start().await;
    let limits = [("RATE_PER_5S", "40"), ("RATE_PER_MIN", "1000")];
    let node = Server::start(&redis.url(), &limits).await;
    let token = token(&new_session(&node.base, "edge").await);
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &token)).await;
    let started = tokio::time::Instant::now();
    // Parts of 1 and 2: three frames, the held part spent.
    assert_eq!(acked(&mut ws, "first-", 3).await, 3);
    assert_eq!(reserved(&redis, &token).await, 3);
    tokio::time::sleep_until(started + Duration::from_millis(3_500)).await;
    let _: i64 = fred::prelude::KeysInterface::del(
        &redis.client().await,
        common::keys::rate_of_token(&token, "5s"),
    )
    .await
    .unwrap();
    // The next part (4) is counted in a new window, good until about 8.5 s.
    assert_eq!(acked(&mut ws, "next-", 1).await, 1);
    assert_eq!(reserved(&redis, &token).await, 4);
    // Past the end of the part held before (about 5 s): the new part still serves.
    tokio::time::sleep_until(started + Duration::from_millis(6_000)).await;
    assert_eq!(acked(&mut ws, "later-", 3).await, 3);
    assert_eq!(
        reserved(&redis, &token).await,
        4,
        "the three frames came out of the part already reserved"
    );
}

#[tokio::test]
async fn a_token_is_rate_limited_across_nodes_and_the_dropped_frame_does_nothing() {
    let redis = Redis::start().await;
    let url = redis.url();
    let limits = [("RATE_PER_5S", "5"), ("RATE_PER_MIN", "100")];
    let (a, b) = tokio::join!(Server::start(&url, &limits), Server::start(&url, &limits));
    let doc = new_session(&a.base, "busy").await;
    let (mut on_a, _) = Ws::hello(&a.ws_url("/ws", &token(&doc))).await;
    let (mut on_b, _) = Ws::hello(&b.ws_url("/ws", &token(&doc))).await;
    for i in 0..3 {
        assert_eq!(
            cheap_request(&mut on_a, &format!("a{i}")).await["type"],
            "ack"
        );
    }
    for i in 0..2 {
        assert_eq!(
            cheap_request(&mut on_b, &format!("b{i}")).await["type"],
            "ack"
        );
    }
    // The sixth frame within 5 s, whichever node it reaches, is refused.
    on_b.send(json!({"type": "bot.say", "text": "dropped", "ref": "over"}))
        .await;
    let refused = on_b.recv().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "rate_limited");
    assert_eq!(refused["ref"], "over");
    let wait = refused["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=5000).contains(&wait), "{wait}");
    on_b.assert_silent(Duration::from_millis(300)).await;
    let (_, history) = get_json(&format!("{}/refresh_token?token={}", a.base, token(&doc))).await;
    assert_eq!(
        history["messages"],
        json!([]),
        "the dropped message was not stored"
    );

    // The socket stayed open: once the window has passed, frames are accepted again.
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    assert_eq!(cheap_request(&mut on_b, "again").await["type"], "ack");
}

#[tokio::test]
async fn minting_tokens_is_limited_per_client_ip() {
    let redis = Redis::start().await;
    let node = Server::start(
        &redis.url(),
        &[("TOKEN_RATE_PER_MIN", "3"), ("TRUST_FORWARDED_FOR", "true")],
    )
    .await;
    let http = reqwest::Client::new();
    let mint = |ip: &'static str| {
        http.post(format!("{}/token?name=minter", node.base))
            .header("x-forwarded-for", ip)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(mint("203.0.113.7").await.unwrap().status(), 200);
    }
    let refused = mint("203.0.113.7").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let (_, body) = json_body("POST", refused).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["retry_after_ms"].as_u64().unwrap() > 0);
    // Another client behind the same balancer is not affected.
    assert_eq!(mint("203.0.113.8").await.unwrap().status(), 200);
}

#[tokio::test]
async fn sessions_are_counted_per_app_node_and_hour() {
    let redis = Redis::start().await;
    let url = redis.url();
    let (a, b) = tokio::join!(
        Server::start(&url, &[("NODE_ID", "kpi-a")]),
        Server::start(&url, &[("NODE_ID", "kpi-b")])
    );
    let doc = new_session(&a.base, "counted").await;
    let t = token(&doc);
    let _ws1 = Ws::hello(&a.ws_url("/ws", &t)).await;
    let _ws2 = Ws::hello(&a.ws_url("/ws", &t)).await;
    let _chat = Ws::connect(&b.ws_url("/chat", &t)).await;
    let _ws3 = Ws::hello(&b.ws_url("/ws", &t)).await;

    let kpi = eventually(
        Duration::from_secs(5),
        "the KPIs of all four sessions",
        || async {
            let (status, kpi) = get_json(&format!("{}/kpi", b.base)).await;
            assert_eq!(status, 200);
            (kpi["apps"]["chat"]["kpi-b"]["day"] == 1).then_some(kpi)
        },
    )
    .await;
    let day = kpi["day"].as_str().unwrap().to_string();
    assert_eq!(day.len(), 8);
    let apps = &kpi["apps"];
    assert_eq!(apps["ws"]["kpi-a"]["day"], 2);
    assert_eq!(apps["ws"]["kpi-b"]["day"], 1);
    for (app, node, n) in [("ws", "kpi-a", 2), ("ws", "kpi-b", 1), ("chat", "kpi-b", 1)] {
        let hours = apps[app][node]["hours"].as_object().unwrap();
        assert_eq!(hours.len(), 24);
        let total: u64 = hours.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(
            total, n,
            "{app} on {node}: every session in one hour of the day"
        );
    }
    let (_, same) = get_json(&format!("{}/kpi?day={day}", a.base)).await;
    assert_eq!(same["apps"], kpi["apps"]);
    let (status, other_day) = get_json(&format!("{}/kpi?day=20200101", a.base)).await;
    assert_eq!(status, 200);
    assert_eq!(other_day["apps"], json!({}));
    let (status, bad) = get_json(&format!("{}/kpi?day=2026-11-25", a.base)).await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["code"], "bad_request");
}

#[tokio::test]
async fn stats_count_every_nodes_frames_per_minute_and_kind() {
    let redis = Redis::start().await;
    let url = redis.url();
    let (a, b) = tokio::join!(Server::start(&url, &[]), Server::start(&url, &[]));
    let doc = new_session(&a.base, "stat").await;
    let (mut on_a, _) = Ws::hello(&a.ws_url("/ws", &token(&doc))).await;
    let (mut on_b, _) = Ws::hello(&b.ws_url("/ws", &token(&doc))).await;
    for i in 0..3 {
        cheap_request(&mut on_a, &format!("a{i}")).await;
    }
    on_b.send(json!({"type": "game.create"})).await;
    on_b.recv_type("game.state").await;
    on_b.send_text("not json").await;
    on_b.recv_type("error").await;

    // Two minutes are read so that a minute starting mid-test loses nothing.
    let both = |kind: &Value| {
        kind["current"]["requests"].as_u64().unwrap_or(0)
            + kind["prev1"]["requests"].as_u64().unwrap_or(0)
    };
    let stats = eventually(
        Duration::from_secs(5),
        "every node's frames in /stats",
        || async {
            let (_, body) = get_json(&format!("{}/stats", a.base)).await;
            let s = &body["stats"];
            (both(&s["room.leave"]) == 3 && both(&s["game.create"]) == 1 && both(&s["all"]) == 5)
                .then(|| s.clone())
        },
    )
    .await;
    let current = &stats["all"]["current"];
    let start = current["startofminute_epoch"].as_i64().unwrap();
    assert_eq!(start % 60, 0);
    assert_eq!(stats["all"]["prev1"]["startofminute_epoch"], start - 60);
    assert_eq!(stats["all"]["prev2"]["startofminute_epoch"], start - 120);
    assert!(current["rate"].as_f64().unwrap() >= current["requests"].as_f64().unwrap());
    assert!(
        stats["game.create"]["current"]["latency_ms"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
}

/// Sample lines of a Prometheus text page: `name{labels} value`.
fn samples(page: &str) -> Vec<(String, f64)> {
    page.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "metric name in {line}"
            );
            if name_end < series.len() {
                assert!(series.ends_with('}'), "labels of {line}");
            }
            (series.to_string(), value)
        })
        .collect()
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_frames_errors_limits_and_streams() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("RATE_PER_5S", "4")]).await;
    let doc = new_session(&node.base, "watched").await;
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &token(&doc))).await;
    ws.send(json!({"type": "bot.say", "text": "hello"})).await;
    ws.recv_type("ack").await;
    ws.send_text("{}").await;
    ws.recv_type("error").await;
    for i in 0..3 {
        cheap_request(&mut ws, &format!("r{i}")).await;
    }

    let resp = reqwest::get(format!("{}/metrics", node.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let page = resp.text().await.unwrap();
    let all = samples(&page);
    let value = |series: &str| {
        all.iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{series} missing from\n{page}"))
    };
    assert_eq!(value("ws_sockets_open"), 1.0);
    assert_eq!(value("ws_frames_in_total{type=\"bot.say\"}"), 1.0);
    assert_eq!(value("ws_frames_in_total{type=\"invalid\"}"), 1.0);
    assert_eq!(value("ws_frames_out_total{type=\"hello\"}"), 1.0);
    assert_eq!(value("ws_errors_total{code=\"bad_request\"}"), 1.0);
    assert_eq!(value("ws_errors_total{code=\"rate_limited\"}"), 1.0);
    assert_eq!(value("ws_rate_limited_total"), 1.0);
    assert!(value("redis_command_latency_seconds_count") >= 1.0);
    assert_eq!(value("stream_length{stream=\"message_channel\"}"), 1.0);
    assert!(page.contains("stream_group_pending{stream=\"message_channel\"}"));
    assert!(page.contains("# TYPE ws_frames_in_total counter"));
}

#[tokio::test]
async fn the_service_user_may_not_touch_the_server_or_other_keys() {
    use fred::{prelude::*, types::Value as RedisValue};
    // Every other test runs the programs as `service`, which proves the grant is enough;
    // this one checks that it is no more than that.
    let redis = Redis::start().await;
    let service = Builder::from_config(Config::from_url(&redis.url()).unwrap())
        .build()
        .unwrap();
    service.init().await.unwrap();
    let refused = |e: fred::error::Error| e.details().contains("NOPERM");
    assert!(refused(service.flushall::<()>(false).await.unwrap_err()));
    let keys = service.custom::<RedisValue, _>(fred::cmd!("KEYS"), vec!["*"]);
    assert!(refused(keys.await.unwrap_err()));
    let config = service.custom::<RedisValue, _>(fred::cmd!("CONFIG"), vec!["GET", "dir"]);
    assert!(refused(config.await.unwrap_err()));
    let elsewhere = service.get::<Option<String>, _>("somebody:else");
    assert!(refused(elsewhere.await.unwrap_err()));
    let allowed: Option<String> = service.get("rate:{t}:5s").await.unwrap();
    assert_eq!(allowed, None);
}

/// Keys that may live without a lifetime, with what bounds them instead.
const WITHOUT_TTL: [(&str, &str); 8] = [
    ("message_channel", "capped stream (MAXLEN)"),
    ("response_channel", "capped stream (MAXLEN)"),
    ("bot_turns", "capped stream (MAXLEN)"),
    ("leaderboard:", "one entry per ranked name"),
    ("presence:seats", "index emptied by the sweeper"),
    ("presence:rooms", "index emptied by the sweeper"),
    ("matchmaking:queue", "emptied as games are matched or left"),
    (
        ":presence",
        "a room's presence, emptied by departures and the sweeper",
    ),
];

#[tokio::test]
async fn after_every_kind_of_traffic_no_key_lives_forever_but_the_documented_ones() {
    use fred::prelude::*;
    let c = e2e::Cluster::start().await;
    let alice_doc = new_session(&c.a.base, "alice").await;
    let bob_doc = new_session(&c.b.base, "bob").await;
    let (mut alice, _) = Ws::hello(&c.a.ws_url("/ws", &token(&alice_doc))).await;
    let (mut bob, _) = Ws::hello(&c.b.ws_url("/ws", &token(&bob_doc))).await;
    alice
        .send(json!({"type": "bot.say", "text": "hello"}))
        .await;
    alice.recv_type("bot.reply").await;
    alice
        .send(json!({"type": "room.join", "room": "lobby", "ref": "j"}))
        .await;
    alice.answer("j").await;
    alice
        .send(json!({"type": "room.say", "room": "lobby", "text": "hi", "ref": "s"}))
        .await;
    alice.answer("s").await;
    let id = e2e::start_game(&mut alice, &mut bob).await;
    for (x_moves, cell) in [(true, 0), (false, 3), (true, 1), (false, 4), (true, 2)] {
        let ws = if x_moves { &mut alice } else { &mut bob };
        ws.send(json!({"type": "game.move", "game": id, "cell": cell, "ref": "m"}))
            .await;
        ws.answer("m").await;
    }
    alice
        .send(json!({"type": "game.create", "vs_bot": true, "ref": "b"}))
        .await;
    let vs_bot = alice.answer("b").await["game"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    alice
        .send(json!({"type": "game.move", "game": vs_bot, "cell": 4, "ref": "bm"}))
        .await;
    alice.answer("bm").await;
    bob.send(json!({"type": "game.quick", "ref": "q"})).await;
    bob.answer("q").await;
    // Stats are flushed once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let client = c.redis.client().await;
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) = client
            .custom(fred::cmd!("SCAN"), vec![cursor.as_str(), "COUNT", "1000"])
            .await
            .unwrap();
        keys.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(keys.len() > 20, "the traffic wrote keys: {keys:?}");
    let mut forever = Vec::new();
    for key in &keys {
        let ttl: i64 = client.ttl(key.as_str()).await.unwrap();
        let allowed = WITHOUT_TTL
            .iter()
            .any(|(pattern, _)| key.starts_with(pattern) || key.ends_with(pattern));
        if ttl == -1 && !allowed {
            forever.push(key.clone());
        }
    }
    assert!(forever.is_empty(), "keys without a lifetime: {forever:?}");
}
