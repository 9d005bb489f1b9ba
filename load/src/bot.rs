//! `load bot`: each user has a socket on the sending node and one on the receiving node;
//! `bot.say` goes out on the first at a fixed total rate, and the time until the
//! `bot.reply` arrives on the second is recorded.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::{
    sockets::{self, Incoming},
    stats,
};

#[derive(clap::Args)]
pub struct Args {
    /// Node the messages are sent through.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    send: String,
    /// Node where the replies are awaited.
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    receive: String,
    /// Messages per second, all users together.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Number of users (tokens), each with one socket per node.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// How long to wait for the last replies after sending stops, in seconds.
    #[arg(long, default_value_t = 5)]
    drain_secs: u64,
}

#[derive(Default)]
struct Shared {
    /// Send time by `ref`, until the ack names the message ID.
    by_ref: Mutex<HashMap<String, Instant>>,
    /// Send time by message ID, until the reply arrives.
    by_id: Mutex<HashMap<String, Instant>>,
    /// Replies that arrived before their ack was read.
    early: Mutex<HashMap<String, Instant>>,
    latencies: Mutex<Vec<Duration>>,
    sent: AtomicU64,
    acked: AtomicU64,
    replies: AtomicU64,
    errors: AtomicU64,
}

impl Shared {
    fn acked(&self, reference: &str, id: &str) {
        let Some(sent) = self.by_ref.lock().unwrap().remove(reference) else {
            return;
        };
        self.acked.fetch_add(1, Ordering::Relaxed);
        match self.early.lock().unwrap().remove(id) {
            Some(arrived) => self.record(arrived - sent),
            None => {
                self.by_id.lock().unwrap().insert(id.to_string(), sent);
            }
        }
    }

    fn replied(&self, in_reply_to: &str) {
        let now = Instant::now();
        match self.by_id.lock().unwrap().remove(in_reply_to) {
            Some(sent) => self.record(now - sent),
            None => {
                self.early
                    .lock()
                    .unwrap()
                    .insert(in_reply_to.to_string(), now);
            }
        }
    }

    fn record(&self, latency: Duration) {
        self.replies.fetch_add(1, Ordering::Relaxed);
        self.latencies.lock().unwrap().push(latency);
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let send_addr = sockets::addr_of(&args.send)?;
    let receive_addr = sockets::addr_of(&args.receive)?;
    let shared = Arc::new(Shared::default());
    let mut senders = Vec::with_capacity(args.users);
    for u in 0..args.users {
        let token = sockets::new_token(&http, &args.send, &format!("load{u}")).await?;
        let source = sockets::source_ip(u, 4);
        let sender = sockets::open_ws(send_addr, source, &token).await?;
        let receiver = sockets::open_ws(receive_addr, source, &token).await?;
        let (tx, rx) = mpsc::unbounded_channel::<u64>();
        tokio::spawn(drive_sender(sender, rx, shared.clone()));
        tokio::spawn(drive_receiver(receiver, shared.clone()));
        senders.push(tx);
    }
    eprintln!(
        "bot: {} users connected on both nodes; sending {} msg/s for {} s",
        args.users, args.rate, args.secs
    );

    let started = Instant::now();
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = u64::from(args.rate) * args.secs;
    for seq in 0..total {
        tick.tick().await;
        let _ = senders[seq as usize % senders.len()].send(seq);
    }
    let send_time = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(args.drain_secs);
    let finished = |s: &Shared| {
        let sent = s.sent.load(Ordering::Relaxed);
        sent + s.errors.load(Ordering::Relaxed) >= total
            && s.replies.load(Ordering::Relaxed) >= sent
    };
    while Instant::now() < deadline && !finished(&shared) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let sent = shared.sent.load(Ordering::Relaxed);
    let acked = shared.acked.load(Ordering::Relaxed);
    let replies = shared.replies.load(Ordering::Relaxed);
    let mut latencies = shared.latencies.lock().unwrap().clone();
    println!(
        "bot: target {} msg/s, achieved {:.0} msg/s over {:.1} s, users {}: sent {sent}, acked {acked}, replies {replies}, lost {}, errors {}",
        args.rate,
        sent as f64 / send_time.as_secs_f64(),
        send_time.as_secs_f64(),
        args.users,
        acked.saturating_sub(replies),
        shared.errors.load(Ordering::Relaxed),
    );
    println!(
        "bot: bot.say → bot.reply on the other node: {}",
        stats::summary(&mut latencies)
    );
    Ok(())
}

async fn drive_sender(
    socket: sockets::Socket,
    mut rx: mpsc::UnboundedReceiver<u64>,
    shared: Arc<Shared>,
) {
    let (mut sink, mut stream) = socket.split();
    let reader = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Incoming::Text(text) = stream.next().await {
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                match frame["type"].as_str() {
                    Some("ack") => {
                        if let (Some(r), Some(id)) = (frame["ref"].as_str(), frame["id"].as_str()) {
                            shared.acked(r, id);
                        }
                    }
                    Some("error") => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        })
    };
    while let Some(seq) = rx.recv().await {
        let reference = seq.to_string();
        shared
            .by_ref
            .lock()
            .unwrap()
            .insert(reference.clone(), Instant::now());
        let frame =
            json!({"type": "bot.say", "text": format!("load message {seq}"), "ref": reference});
        if sink.send(&frame).await.is_err() {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
    reader.abort();
}

async fn drive_receiver(socket: sockets::Socket, shared: Arc<Shared>) {
    let (_sink, mut stream) = socket.split();
    while let Incoming::Text(text) = stream.next().await {
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if frame["type"] == "bot.reply" {
            if let Some(id) = frame["in_reply_to"].as_str() {
                shared.replied(id);
            }
        }
    }
}
