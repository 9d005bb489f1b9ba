//! `load fanout`: R rooms of M members, spread over two nodes, each member saying
//! something at a fixed rate; every member (the sender too) should receive every message
//! of its room. Reports deliveries/s, lost deliveries and the say → delivery latency.

use std::{
    borrow::Cow,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde_json::json;

use crate::{
    sockets::{self, Incoming, Receiver, Sender},
    stats,
};

#[derive(clap::Args)]
pub struct Args {
    /// The two nodes; members alternate between them.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    a: String,
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    b: String,
    /// Number of rooms.
    #[arg(long, default_value_t = 20)]
    rooms: usize,
    /// Members per room.
    #[arg(long, default_value_t = 50)]
    members: usize,
    /// Messages per second that each member says.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    secs: u64,
}

struct Shared {
    start: Instant,
    sent: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let nodes = [
        (args.a.clone(), sockets::addr_of(&args.a)?),
        (args.b.clone(), sockets::addr_of(&args.b)?),
    ];
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
    });
    let total = args.rooms * args.members;
    let setting_up = Instant::now();
    let sockets: Vec<_> = futures_util::stream::iter(0..total)
        .map(|i| {
            let http = &http;
            let (base, addr) = nodes[i % 2].clone();
            let room = format!("load-{}", i % args.rooms);
            async move {
                let token = sockets::new_token(http, &base, &format!("f{i}")).await?;
                let mut ws = sockets::open_ws(addr, sockets::source_ip(i, 4), &token).await?;
                ws.send(&json!({"type": "room.join", "room": room, "ref": "j"}))
                    .await?;
                loop {
                    match ws.next().await {
                        Incoming::Text(t) if t.contains(r#""room.joined""#) => break,
                        Incoming::Text(_) => continue,
                        _ => anyhow::bail!("socket closed while joining"),
                    }
                }
                Ok::<_, anyhow::Error>((ws, room))
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    eprintln!(
        "fanout: {total} members joined in {:.1} s",
        setting_up.elapsed().as_secs_f64()
    );
    // Every member stops saying at the same moment, so that once the sayers are done the
    // count of what was sent is final before the deliveries are counted.
    let begun = Instant::now();
    let end = begun + Duration::from_secs(args.secs);
    let mut receivers = Vec::new();
    let mut sayers = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let (ws, room) = socket?;
        let (sink, stream) = ws.split();
        receivers.push(tokio::spawn(receive(stream, shared.clone())));
        sayers.push(tokio::spawn(say(
            sink,
            room,
            args.rate,
            i as f64 / total as f64,
            end,
            shared.clone(),
        )));
    }
    eprintln!(
        "fanout: {} rooms × {} members on two nodes; each says {} msg/s for {} s",
        args.rooms, args.members, args.rate, args.secs
    );
    for sayer in sayers {
        let _ = sayer.await;
    }
    let send_time = end - begun;
    let expected = |s: &Shared| s.sent.load(Ordering::Relaxed) * args.members as u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && shared.delivered.load(Ordering::Relaxed) < expected(&shared)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for receiver in receivers {
        receiver.abort();
    }
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let mut latencies = shared.latencies.lock().unwrap().clone();
    println!(
        "fanout: sent {}, delivered {delivered} of {} ({:.0} deliveries/s), lost {}, errors {}",
        shared.sent.load(Ordering::Relaxed),
        expected(&shared),
        delivered as f64 / send_time.as_secs_f64(),
        expected(&shared).saturating_sub(delivered),
        shared.errors.load(Ordering::Relaxed),
    );
    println!(
        "fanout: room.say → room.message: {}",
        stats::summary(&mut latencies)
    );
    Ok(())
}

/// Says one message every `1 / rate` seconds until `end`, the first one `phase` (0..1) of a
/// period after the start, so that the members' messages are spread evenly over time
/// rather than all sent in the same instant.
async fn say(
    mut sink: Sender,
    room: String,
    rate: f64,
    phase: f64,
    end: Instant,
    shared: Arc<Shared>,
) {
    // Very low rates are for very large rooms: each member then says at most once in a
    // run, and the phases spread those messages over the run.
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    // Each message at its own time, and none after `end`: a member whose next message
    // would come after it is done now, not a period later.
    let mut at = Instant::now() + period.mul_f64(phase);
    while at < end {
        tokio::time::sleep_until(at.into()).await;
        at += period;
        let micros = shared.start.elapsed().as_micros();
        let frame = json!({"type": "room.say", "room": room, "text": format!("t{micros}")});
        if sink.send(&frame).await.is_err() {
            break;
        }
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// The part of a received frame the tool looks at, borrowed from the text: the tool
/// reads 100,000 frames a second and should spend its share of the cores on little else.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

async fn receive(mut stream: Receiver, shared: Arc<Shared>) {
    let mut local = Vec::new();
    while let Incoming::Text(text) = stream.next().await {
        let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
            continue;
        };
        match frame.kind {
            "room.message" => {
                if let Some(sent) = frame
                    .text
                    .as_deref()
                    .and_then(|t| t.strip_prefix('t'))
                    .and_then(|m| m.parse::<u128>().ok())
                {
                    let now = shared.start.elapsed().as_micros();
                    local.push(Duration::from_micros(now.saturating_sub(sent) as u64));
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    if local.len() >= 32 {
                        shared.latencies.lock().unwrap().append(&mut local);
                    }
                }
            }
            "error" => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
