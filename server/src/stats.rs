//! `GET /stats`: frames handled per minute by every node, per message kind and `all`, with
//! their average handling time. Each node adds up its frames in memory and flushes the sums
//! to the minute's hash in Redis once a second (one pipelined batch, not a command per
//! frame), so the figures are cluster-wide and at most a second behind.
//!
//! The current minute also gets the sliding-window estimate of the last 60 s:
//! `rate = prev1 × (60 − elapsed) / 60 + current`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::Duration,
};

use common::{clock, error::StoreError, keys};
use fred::prelude::*;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The kind under which every frame is counted too.
pub const ALL: &str = "all";

/// Frames and their total handling time (µs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub requests: u64,
    pub micros: u64,
}

/// One minute's tallies by kind.
pub type Minute = BTreeMap<String, Tally>;

/// This node's tallies not yet flushed, by minute (epoch seconds of its start) and kind.
#[derive(Default)]
pub struct Stats {
    pending: Mutex<HashMap<(i64, &'static str), Tally>>,
}

fn start_of_minute(epoch_secs: i64) -> i64 {
    epoch_secs - epoch_secs.rem_euclid(60)
}

impl Stats {
    /// Counts one handled frame of `kind` (`None` for a frame that was not a valid
    /// request: it counts under `all` only).
    pub fn record(&self, kind: Option<&'static str>, took: Duration) {
        let minute = start_of_minute(clock::now_millis() / 1000);
        let micros = took.as_micros() as u64;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for k in kind.into_iter().chain([ALL]) {
            let tally = pending.entry((minute, k)).or_default();
            tally.requests += 1;
            tally.micros += micros;
        }
    }

    /// Adds what this node counted to Redis; on failure keeps it for the next try.
    async fn flush(&self, client: &Client) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return;
        }
        let pipeline = client.pipeline();
        let mut minutes = Vec::new();
        for ((minute, kind), tally) in &batch {
            let key = keys::stats(*minute);
            let _: Result<(), _> = pipeline
                .hincrby(&key, format!("{kind}:n"), tally.requests as i64)
                .await;
            let _: Result<(), _> = pipeline
                .hincrby(&key, format!("{kind}:us"), tally.micros as i64)
                .await;
            if !minutes.contains(minute) {
                minutes.push(*minute);
            }
        }
        for minute in minutes {
            let _: Result<(), _> = pipeline
                .expire(keys::stats(minute), keys::STATS_TTL_SECS, None)
                .await;
        }
        if let Err(e) = pipeline.all::<Vec<Value>>().await {
            tracing::warn!(error = %e, "flushing stats failed; keeping them for the next try");
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (key, tally) in batch {
                let kept = pending.entry(key).or_default();
                kept.requests += tally.requests;
                kept.micros += tally.micros;
            }
        }
    }

    /// The current and two previous minutes of every node, in the shape of `GET /stats`.
    pub async fn read(client: &Client) -> Result<Value, StoreError> {
        let now_ms = clock::now_millis();
        let minute = start_of_minute(now_ms / 1000);
        let starts = [minute, minute - 60, minute - 120];
        let reads = starts
            .iter()
            .map(|m| client.hgetall::<HashMap<String, u64>, _>(keys::stats(*m)));
        let raw = futures_util::future::try_join_all(reads).await?;
        let windows: Vec<Minute> = raw.iter().map(parse_minute).collect();
        let elapsed = (now_ms - minute * 1000) as f64 / 1000.0;
        Ok(report(
            minute,
            elapsed,
            [&windows[0], &windows[1], &windows[2]],
        ))
    }
}

/// A minute's hash (`KIND:n`, `KIND:us`) as tallies by kind.
fn parse_minute(fields: &HashMap<String, u64>) -> Minute {
    let mut minute = Minute::new();
    for (field, value) in fields {
        let Some((kind, unit)) = field.rsplit_once(':') else {
            continue;
        };
        let tally = minute.entry(kind.to_string()).or_default();
        match unit {
            "n" => tally.requests = *value,
            "us" => tally.micros = *value,
            _ => {}
        }
    }
    minute
}

fn window(tally: Tally, start: i64) -> Map<String, Value> {
    let latency_ms = if tally.requests == 0 {
        0.0
    } else {
        tally.micros as f64 / tally.requests as f64 / 1000.0
    };
    let mut w = Map::new();
    w.insert("requests".into(), json!(tally.requests));
    w.insert(
        "latency_ms".into(),
        json!((latency_ms * 1000.0).round() / 1000.0),
    );
    w.insert("startofminute_epoch".into(), json!(start));
    w
}

/// `{"stats":{KIND:{"current":…,"prev1":…,"prev2":…}}}` for the minute starting at
/// `minute` (epoch seconds), `elapsed` seconds into it. `all` is always there.
pub fn report(minute: i64, elapsed: f64, [current, prev1, prev2]: [&Minute; 3]) -> Value {
    let mut kinds: Vec<&str> = vec![ALL];
    for w in [current, prev1, prev2] {
        for kind in w.keys() {
            if !kinds.contains(&kind.as_str()) {
                kinds.push(kind);
            }
        }
    }
    let mut stats = Map::new();
    for kind in kinds {
        let get = |w: &Minute| w.get(kind).copied().unwrap_or_default();
        let (c, p1, p2) = (get(current), get(prev1), get(prev2));
        let elapsed = elapsed.clamp(0.0, 60.0);
        let rate = p1.requests as f64 * (60.0 - elapsed) / 60.0 + c.requests as f64;
        let mut cur = window(c, minute);
        cur.insert("rate".into(), json!((rate * 100.0).round() / 100.0));
        stats.insert(
            kind.to_string(),
            json!({"current": cur, "prev1": window(p1, minute - 60), "prev2": window(p2, minute - 120)}),
        );
    }
    json!({ "stats": stats })
}

/// Flushes this node's tallies every second until the node stops, then once more.
pub async fn run_flush(stats: &Stats, redis: &Client, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => stats.flush(redis).await,
        }
    }
    stats.flush(redis).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(pairs: &[(&str, u64, u64)]) -> Minute {
        pairs
            .iter()
            .map(|(k, n, us)| {
                (
                    k.to_string(),
                    Tally {
                        requests: *n,
                        micros: *us,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_rate_slides_from_the_previous_minute_into_the_current_one() {
        let current = minute(&[("all", 30, 60_000), ("room.say", 10, 5_000)]);
        let prev1 = minute(&[("all", 120, 0)]);
        let prev2 = Minute::new();
        let at = |elapsed| report(6_000, elapsed, [&current, &prev1, &prev2]);
        // 15 s in: three quarters of the previous minute still count.
        let r = at(15.0);
        assert_eq!(r["stats"]["all"]["current"]["rate"], json!(120.0));
        assert_eq!(r["stats"]["all"]["current"]["requests"], json!(30));
        assert_eq!(r["stats"]["all"]["current"]["latency_ms"], json!(2.0));
        assert_eq!(
            r["stats"]["all"]["current"]["startofminute_epoch"],
            json!(6_000)
        );
        assert_eq!(r["stats"]["all"]["prev1"]["requests"], json!(120));
        assert_eq!(
            r["stats"]["all"]["prev1"]["startofminute_epoch"],
            json!(5_940)
        );
        assert_eq!(r["stats"]["all"]["prev2"]["requests"], json!(0));
        assert_eq!(r["stats"]["room.say"]["current"]["latency_ms"], json!(0.5));
        assert_eq!(r["stats"]["room.say"]["current"]["rate"], json!(10.0));
        // At the start of the minute the whole previous minute counts; at its end none.
        assert_eq!(at(0.0)["stats"]["all"]["current"]["rate"], json!(150.0));
        assert_eq!(at(60.0)["stats"]["all"]["current"]["rate"], json!(30.0));
    }

    #[test]
    fn minutes_are_read_back_by_kind() {
        let fields: HashMap<String, u64> = [
            ("all:n".to_string(), 3),
            ("all:us".to_string(), 900),
            ("game.move:n".to_string(), 2),
            ("game.move:us".to_string(), 400),
        ]
        .into_iter()
        .collect();
        let m = parse_minute(&fields);
        assert_eq!(
            m["all"],
            Tally {
                requests: 3,
                micros: 900
            }
        );
        assert_eq!(
            m["game.move"],
            Tally {
                requests: 2,
                micros: 400
            }
        );
        assert_eq!(start_of_minute(125), 120);
    }
}
