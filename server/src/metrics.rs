//! `GET /metrics` in the Prometheus text format, through the `metrics` facade and its
//! Prometheus exporter. Counted as things happen: frames in and out by type, errors by
//! code, rate-limited frames, and how long a bot reply took from `response_channel` to
//! this node. Read at each scrape: sockets open, the latency of a Redis command on the
//! node's command connection, and the backlog of `message_channel` in the workers' group.

use std::{sync::OnceLock, time::Instant};

use common::{keys, protocol::ErrorCode};
use fred::prelude::*;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[
                    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ])
                .expect("buckets are not empty")
                .install_recorder()
                .expect("the only metrics recorder of this process");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_gauge!("ws_sockets_open", "WebSocket connections held by this node");
    describe_counter!("ws_frames_in_total", "Frames received, by type");
    describe_counter!("ws_frames_out_total", "Frames queued for clients, by type");
    describe_counter!("ws_errors_total", "Error frames sent, by code");
    describe_counter!("ws_rate_limited_total", "Frames dropped by the rate limits");
    describe_counter!(
        "ws_closes_total",
        "Sockets closed by this node, by close code (4008: too slow, 1001: shutdown, …)"
    );
    describe_counter!(
        "connections_refused_total",
        "Connections closed at once because a bound was reached: node (MAX_CONNECTIONS) or address (MAX_CONNECTIONS_PER_IP)"
    );
    describe_histogram!(
        "redis_command_latency_seconds",
        "Round trip of a PING on the command connection, measured at each scrape"
    );
    describe_histogram!(
        "response_channel_delay_seconds",
        "From a bot reply's entry in response_channel to this node reading it"
    );
    describe_gauge!(
        "stream_length",
        "Entries in message_channel and response_channel"
    );
    describe_gauge!(
        "stream_group_lag",
        "Entries of message_channel not yet read by the workers' group"
    );
    describe_gauge!(
        "stream_group_pending",
        "Entries of message_channel read but not yet acknowledged by a worker"
    );
}

pub fn frame_in(kind: &'static str) {
    counter!("ws_frames_in_total", "type" => kind).increment(1);
}

pub fn frame_out(kind: &'static str) {
    counter!("ws_frames_out_total", "type" => kind).increment(1);
}

pub fn error(code: ErrorCode) {
    let code = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    counter!("ws_errors_total", "code" => code).increment(1);
}

pub fn closed(code: u16) {
    counter!("ws_closes_total", "code" => code.to_string()).increment(1);
}

/// A connection was refused because the `bound` (`node` or `address`) was reached.
pub fn connection_refused(bound: &'static str) {
    counter!("connections_refused_total", "bound" => bound).increment(1);
}

pub fn rate_limited() {
    counter!("ws_rate_limited_total").increment(1);
}

/// A bot reply with stream ID `stream_id` was read from `response_channel` now.
pub fn reply_read(stream_id: &str) {
    let Some(added_ms) = stream_id
        .split_once('-')
        .and_then(|(ms, _)| ms.parse::<i64>().ok())
    else {
        return;
    };
    let delay_ms = (common::clock::now_millis() - added_ms).max(0);
    histogram!("response_channel_delay_seconds").record(delay_ms as f64 / 1000.0);
}

/// Reads what is measured at scrape time (with `sockets`, this node's open sockets), then
/// renders every metric.
pub async fn render(redis: &Client, sockets: usize, handle: &PrometheusHandle) -> String {
    gauge!("ws_sockets_open").set(sockets as f64);
    let started = Instant::now();
    if redis.ping::<String>(None).await.is_ok() {
        histogram!("redis_command_latency_seconds").record(started.elapsed().as_secs_f64());
    }
    if let Ok(len) = redis.xlen::<u64, _>(keys::RESPONSE_CHANNEL).await {
        gauge!("stream_length", "stream" => keys::RESPONSE_CHANNEL).set(len as f64);
    }
    let queue = bot_queue(redis).await;
    if let Some(len) = queue.length {
        gauge!("stream_length", "stream" => keys::MESSAGE_CHANNEL).set(len as f64);
    }
    if let Some(lag) = queue.lag {
        gauge!("stream_group_lag", "stream" => keys::MESSAGE_CHANNEL).set(lag as f64);
    }
    if let Some(pending) = queue.pending {
        gauge!("stream_group_pending", "stream" => keys::MESSAGE_CHANNEL).set(pending as f64);
    }
    handle.render()
}

/// The bot's queue: `message_channel`'s length, and the workers' group's lag and pending
/// entries (`None` where Redis did not say).
#[derive(Debug, Default)]
pub struct BotQueue {
    pub length: Option<u64>,
    pub lag: Option<i64>,
    pub pending: Option<i64>,
}

/// Reads the bot's queue from Redis.
pub async fn bot_queue(redis: &Client) -> BotQueue {
    let mut queue = BotQueue {
        length: redis.xlen::<u64, _>(keys::MESSAGE_CHANNEL).await.ok(),
        ..BotQueue::default()
    };
    if let Ok(groups) = redis
        .xinfo_groups::<Vec<std::collections::HashMap<String, Value>>, _>(keys::MESSAGE_CHANNEL)
        .await
    {
        for group in groups {
            if group.get("name").and_then(Value::as_str).as_deref() != Some(keys::WORKER_GROUP) {
                continue;
            }
            let number = |field: &str| group.get(field).and_then(Value::as_i64);
            queue.lag = number("lag");
            queue.pending = number("pending");
        }
    }
    queue
}
