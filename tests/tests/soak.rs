//! A fault-injection soak: 40 clients chat with the bot and in four rooms over two nodes
//! and two workers while nodes, workers and Redis are killed or stopped on a schedule;
//! then everything is checked. Nothing acknowledged is lost, no live socket skips a room
//! message, none arrives twice, every sender's own copy carries its `ref` (or came back
//! through recovery after its socket dropped), every acknowledged bot message is
//! answered. Prints the figures: reconnect times and bot reply times.
//!
//! `SOAK_SECS` sets the length of the load (30 s unless set; the README's figures are from
//! 90 s). On a single Redis (AOF, `appendfsync everysec`) Redis is stopped and started
//! again; with `E2E_REDIS=cluster` the master of a busy room's slot is killed instead.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use client::socket::{Dial, Incoming, Socket};
use e2e::{new_session, token, Redis, Server, Worker};
use fred::prelude::*;
use serde_json::{json, Value};

const CLIENTS: usize = 40;
const ROOMS: usize = 4;
/// Each client sends a frame about this often, room and bot messages in turn.
const SEND_EVERY: Duration = Duration::from_millis(500);
/// After the load: time for the last replies and messages to arrive.
const SETTLE: Duration = Duration::from_secs(12);
/// Takeover of a dead worker's messages (the default is 15 s).
const CLAIM_IDLE_MS: &str = "5000";

/// The nodes clients may connect to: a killed node leaves, its restart joins.
type Nodes = Arc<Mutex<Vec<String>>>;

/// A stream ID as a number that grows with the stream.
fn position(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').expect("a stream ID");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    name: String,
    token: String,
    room: String,
    /// The room's last message before this client first joined: it is owed every later one.
    start: Option<(u64, u64)>,
    joined: bool,
    /// Room message IDs in the order they arrived (live or recovered).
    received: Vec<String>,
    /// IDs that did not come after the one before: twice, or out of order.
    disorder: Vec<String>,
    /// The IDs of this client's own acknowledged room messages (its copy with its `ref`).
    acked_room: Vec<String>,
    /// Own copies that arrived live, on the socket that sent them, without their `ref`.
    without_ref: u32,
    /// Acknowledged bot messages: ID and when the ack came.
    acked_bot: HashMap<String, Instant>,
    /// Bot replies that arrived live: when their message was acknowledged, and how long
    /// the reply took.
    replies: Vec<(Instant, Duration)>,
    reconnects: Vec<Duration>,
    /// `room.joined` after a reconnect that could not recover what was missed.
    unrecovered: u32,
    errors: HashMap<String, u32>,
}

impl Seen {
    fn room_message(&mut self, message: &Value) {
        let id = message["id"].as_str().expect("a message ID").to_string();
        let after = self.received.last().map(|last| position(last));
        if after.is_some_and(|last| position(&id) <= last) {
            self.disorder.push(id.clone());
        }
        self.received.push(id);
    }
}

/// One client: connects to a live node, joins its room (with `since` after the first
/// time), and sends a room message and a bot message in turn until `stop`, reconnecting
/// whenever its socket ends; then keeps listening until `end`.
async fn client(index: usize, base: String, nodes: Nodes, stop: Instant, end: Instant) -> Seen {
    let name = format!("soak{index}");
    let mut seen = Seen {
        token: token(&new_session(&base, &name).await),
        room: format!("soak-{}", index % ROOMS),
        name,
        ..Seen::default()
    };
    let mut sent = 0u64;
    let mut dropped_at: Option<Instant> = None;
    let mut attempt = index;
    while Instant::now() < end {
        let node = {
            let nodes = nodes.lock().unwrap();
            attempt += 1;
            nodes.get(attempt % nodes.len().max(1)).cloned()
        };
        let Some(node) = node else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let url = format!("{}/ws?token={}", node.replace("http", "ws"), seen.token);
        let dial = Dial::default();
        let opening = Socket::open(&url, &dial);
        let Ok(Ok(socket)) = tokio::time::timeout(Duration::from_secs(2), opening).await else {
            dropped_at.get_or_insert_with(Instant::now);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (mut sink, mut stream) = socket.split();
        let mut join = json!({"type": "room.join", "room": seen.room, "ref": "join"});
        if let Some(last) = seen.received.last() {
            join["since"] = json!(last);
        }
        if sink.send(&join).await.is_err() {
            continue;
        }
        // Own room messages sent on this socket: their copies must come with their ref.
        let mut sent_here: HashSet<String> = HashSet::new();
        let mut in_room = false;
        let mut tick = tokio::time::interval(SEND_EVERY);
        tick.reset_after(Duration::from_millis(index as u64 * 13 % 500));
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            tokio::select! {
                _ = tick.tick(), if in_room && now < stop => {
                    sent += 1;
                    let frame = if sent.is_multiple_of(2) {
                        let text = format!("{} says {sent}", seen.name);
                        sent_here.insert(text.clone());
                        json!({"type": "room.say", "room": seen.room, "text": text, "ref": format!("r{sent}")})
                    } else {
                        json!({"type": "bot.say", "text": format!("question {sent}"), "ref": format!("b{sent}")})
                    };
                    if sink.send(&frame).await.is_err() {
                        break;
                    }
                }
                _ = tokio::time::sleep_until(end.into()) => break,
                frame = stream.next() => {
                    let Incoming::Text(text) = frame else { break };
                    let frame: Value = serde_json::from_str(&text).expect("JSON from the server");
                    match frame["type"].as_str().unwrap_or_default() {
                        "room.joined" => {
                            let history = frame["history"].as_array().cloned().unwrap_or_default();
                            if !seen.joined {
                                seen.joined = true;
                                seen.start = history.last().map(|m| position(m["id"].as_str().unwrap()));
                            } else {
                                if frame["recovered"] != true {
                                    seen.unrecovered += 1;
                                }
                                for message in &history {
                                    seen.room_message(message);
                                }
                            }
                            if let Some(at) = dropped_at.take() {
                                seen.reconnects.push(at.elapsed());
                            }
                            in_room = true;
                        }
                        "room.message" => {
                            let message = &frame;
                            if message["from"] == seen.name.as_str() {
                                let reference = frame["ref"].as_str();
                                if reference.is_some() {
                                    seen.acked_room.push(message["id"].as_str().unwrap().to_string());
                                } else if sent_here.contains(message["text"].as_str().unwrap_or_default()) {
                                    seen.without_ref += 1;
                                }
                            }
                            seen.room_message(message);
                        }
                        "ack" => {
                            if let Some(id) = frame["id"].as_str() {
                                seen.acked_bot.insert(id.to_string(), Instant::now());
                            }
                        }
                        "bot.reply" => {
                            let asked = frame["message"]["in_reply_to"].as_str()
                                .or_else(|| frame["in_reply_to"].as_str());
                            if let Some(at) = asked.and_then(|id| seen.acked_bot.get(id)) {
                                seen.replies.push((*at, at.elapsed()));
                            }
                        }
                        "error" => {
                            let code = frame["code"].as_str().unwrap_or("?").to_string();
                            *seen.errors.entry(code).or_default() += 1;
                        }
                        _ => {}
                    }
                }
            }
        }
        if Instant::now() < end {
            dropped_at.get_or_insert_with(Instant::now);
        }
    }
    seen
}

/// A fault and when it happened, for telling replies slowed by it from the rest.
struct Fault {
    what: &'static str,
    at: Instant,
    over: Instant,
}

#[tokio::test]
async fn a_soak_under_faults_loses_nothing_skips_nothing_and_answers_everything() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let on_cluster = std::env::var("E2E_REDIS").is_ok_and(|v| v == "cluster");
    let mut redis = if on_cluster {
        Redis::start().await
    } else {
        Redis::start_persistent().await
    };
    let url = redis.url();
    let node_env = [
        ("RATE_PER_5S", "100000"),
        ("RATE_PER_MIN", "100000"),
        ("TOKEN_RATE_PER_MIN", "1000"),
        ("HISTORY_MAX", "1000"),
    ];
    let worker_env = [("CLAIM_IDLE_MS", CLAIM_IDLE_MS), ("HISTORY_MAX", "1000")];
    let (mut a, mut b) = tokio::join!(
        Server::start(&url, &node_env),
        Server::start(&url, &node_env)
    );
    let (mut w1, mut w2) = tokio::join!(
        Worker::start(&url, &worker_env),
        Worker::start(&url, &worker_env)
    );
    let nodes: Nodes = Arc::new(Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let started = Instant::now();
    let stop = started + Duration::from_secs(secs);
    let end = stop + SETTLE;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b.base }.clone();
            tokio::spawn(client(i, base, nodes.clone(), stop, end))
        })
        .collect();

    let at = |share: f64| started + Duration::from_secs_f64(secs as f64 * share);
    let mut faults = Vec::new();
    let forget = |nodes: &Nodes, base: &str| nodes.lock().unwrap().retain(|n| n != base);

    tokio::time::sleep_until(at(0.10).into()).await;
    let t = Instant::now();
    forget(&nodes, &a.base);
    a.proc.kill().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    a = Server::start(&url, &node_env).await;
    nodes.lock().unwrap().push(a.base.clone());
    faults.push(Fault {
        what: "node killed (SIGKILL), started again 1 s later",
        at: t,
        over: Instant::now(),
    });

    tokio::time::sleep_until(at(0.25).into()).await;
    let t = Instant::now();
    forget(&nodes, &b.base);
    b.proc.terminate().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    b = Server::start(&url, &node_env).await;
    nodes.lock().unwrap().push(b.base.clone());
    faults.push(Fault {
        what: "node stopped (SIGTERM), started again 1 s later",
        at: t,
        over: Instant::now(),
    });

    tokio::time::sleep_until(at(0.40).into()).await;
    let t = Instant::now();
    w1.proc.kill().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w1 = Worker::start(&url, &worker_env).await;
    faults.push(Fault {
        what: "worker killed (SIGKILL), started again 2 s later",
        at: t,
        over: Instant::now(),
    });

    tokio::time::sleep_until(at(0.55).into()).await;
    let t = Instant::now();
    w2.proc.terminate().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w2 = Worker::start(&url, &worker_env).await;
    faults.push(Fault {
        what: "worker stopped (SIGTERM), started again 2 s later",
        at: t,
        over: Instant::now(),
    });

    tokio::time::sleep_until(at(0.70).into()).await;
    let t = Instant::now();
    match redis.cluster() {
        Some(cluster) => {
            cluster.fail_over("room:{soak-0}:log").await;
            faults.push(Fault {
                what: "the master of room soak-0's slot killed (SIGKILL)",
                at: t,
                over: Instant::now(),
            });
        }
        None => {
            redis.stop().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            redis.restart().await;
            faults.push(Fault {
                what: "Redis stopped (SHUTDOWN), started again 2 s later",
                at: t,
                over: Instant::now(),
            });
        }
    }

    let mut seen = Vec::new();
    for c in clients {
        seen.push(c.await.expect("a client task"));
    }
    let _keep = (&w1, &w2);

    // The rooms as Redis keeps them.
    let admin = redis.client().await;
    let mut logs: HashMap<String, Vec<String>> = HashMap::new();
    for room in (0..ROOMS).map(|r| format!("soak-{r}")) {
        let entries: Vec<(String, HashMap<String, String>)> = admin
            .xrange(common::keys::room_log(&room), "-", "+", None)
            .await
            .expect("XRANGE of a room's log");
        logs.insert(room, entries.into_iter().map(|(id, _)| id).collect());
    }

    let mut report = Report::default();
    for client in &seen {
        let log = &logs[&client.room];
        let kept: HashSet<&String> = log.iter().collect();
        report.acked_room += client.acked_room.len();
        report.lost_room += client
            .acked_room
            .iter()
            .filter(|id| !kept.contains(id))
            .count();
        let got: HashSet<&String> = client.received.iter().collect();
        report.delivered += client.received.len();
        report.gaps += log
            .iter()
            .filter(|id| client.start.is_none_or(|s| position(id) > s))
            .filter(|id| !got.contains(id))
            .count();
        report.disorder += client.disorder.len();
        report.without_ref += client.without_ref;
        report.unrecovered += client.unrecovered;
        report.reconnects.extend(&client.reconnects);
        for (asked, took) in &client.replies {
            let near_fault = faults
                .iter()
                .any(|f| *asked + *took >= f.at && *asked <= f.over + Duration::from_secs(2));
            report.replies.push(*took);
            if *took > Duration::from_secs(2) {
                report.slow.push((asked.duration_since(started), *took));
            }
            if !near_fault {
                report.quiet_replies.push(*took);
            }
        }
        for (code, n) in &client.errors {
            *report.errors.entry(code.clone()).or_default() += n;
        }
        // Every acknowledged bot message has its reply in the session's history.
        let history: Value =
            reqwest::get(format!("{}/refresh_token?token={}", a.base, client.token))
                .await
                .expect("GET /refresh_token")
                .json()
                .await
                .expect("a session document");
        let answered: HashSet<&str> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["in_reply_to"].as_str())
            .collect();
        report.acked_bot += client.acked_bot.len();
        for (id, at) in &client.acked_bot {
            if !answered.contains(id.as_str()) {
                report.unanswered += 1;
                println!(
                    "  never answered: {id} of {}, acknowledged at {:.1} s",
                    client.name,
                    at.duration_since(started).as_secs_f64()
                );
            }
        }
    }
    report.print(secs, on_cluster, &faults, started);

    assert!(
        report.acked_room > 0 && report.acked_bot > 0,
        "the load ran"
    );
    assert_eq!(report.lost_room, 0, "acknowledged room messages lost");
    assert_eq!(
        report.unanswered, 0,
        "acknowledged bot messages never answered"
    );
    assert_eq!(report.gaps, 0, "room messages a client never received");
    assert_eq!(report.disorder, 0, "room messages twice or out of order");
    assert_eq!(report.without_ref, 0, "own copies without their ref");
    assert_eq!(report.unrecovered, 0, "rejoins that could not recover");
}

#[derive(Default)]
struct Report {
    acked_room: usize,
    lost_room: usize,
    delivered: usize,
    gaps: usize,
    disorder: usize,
    without_ref: u32,
    unrecovered: u32,
    acked_bot: usize,
    unanswered: usize,
    reconnects: Vec<Duration>,
    replies: Vec<Duration>,
    quiet_replies: Vec<Duration>,
    /// Replies over 2 s: when their message was acknowledged (since the start), and how long.
    slow: Vec<(Duration, Duration)>,
    errors: HashMap<String, u32>,
}

impl Report {
    fn print(&mut self, secs: u64, on_cluster: bool, faults: &[Fault], started: Instant) {
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let spread = |v: &mut Vec<Duration>| {
            v.sort();
            format!(
                "p50 {} p99 {} max {} (n={})",
                ms(percentile(v, 0.50)),
                ms(percentile(v, 0.99)),
                ms(v.last().copied().unwrap_or_default()),
                v.len()
            )
        };
        println!(
            "soak: {CLIENTS} clients, {ROOMS} rooms, two nodes, two workers, {secs} s on {}",
            if on_cluster {
                "a Redis Cluster (3 masters, 3 replicas)"
            } else {
                "one Redis (AOF, everysec)"
            }
        );
        for fault in faults {
            println!(
                "  fault at {:.1}-{:.1} s: {}",
                fault.at.duration_since(started).as_secs_f64(),
                fault.over.duration_since(started).as_secs_f64(),
                fault.what
            );
        }
        println!(
            "  room: {} acknowledged, {} lost; {} deliveries, {} gaps, {} twice or out of order, {} own copies without ref, {} rejoins not recovered",
            self.acked_room, self.lost_room, self.delivered, self.gaps, self.disorder, self.without_ref, self.unrecovered
        );
        println!(
            "  bot: {} acknowledged, {} never answered; replies {}",
            self.acked_bot,
            self.unanswered,
            spread(&mut self.replies)
        );
        println!(
            "  bot replies away from faults: {}",
            spread(&mut self.quiet_replies)
        );
        println!("  reconnects: {}", spread(&mut self.reconnects));
        self.slow.sort();
        for (at, took) in self.slow.iter().step_by((self.slow.len() / 20).max(1)) {
            println!(
                "  slow reply: asked at {:.1} s, took {}",
                at.as_secs_f64(),
                ms(*took)
            );
        }
        println!("  errors answered: {:?}", self.errors);
    }
}
