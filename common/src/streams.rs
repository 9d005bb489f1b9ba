//! The two public streams: `message_channel` (human messages, read by the workers through
//! the consumer group `workers`) and `response_channel` (bot replies, read by every server
//! node). Field names are part of docs/protocol.md.

use std::collections::HashMap;

use fred::{
    prelude::*,
    types::{
        streams::{XCap, XReadResponse},
        ClientUnblockFlag,
    },
};

use crate::{
    keys,
    protocol::{ChatMessage, Source},
};

/// An entry of `message_channel`: one human message of one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanEntry {
    pub stream_id: String,
    pub token: String,
    /// The sender's name, so the worker need not look it up.
    pub name: Option<String>,
    pub message: ChatMessage,
}

/// An entry of `response_channel`: one bot reply to one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyEntry {
    pub stream_id: String,
    pub token: String,
    pub message: ChatMessage,
}

/// Stream entries as read: ID and fields.
pub type Entries = Vec<(String, HashMap<String, String>)>;

/// The entries of an XREAD or XREADGROUP answer on one stream; a `BLOCK` that timed out
/// answers nil, which is no entries.
pub fn entries(answer: Value) -> Result<Entries, Error> {
    if answer.is_null() {
        return Ok(Vec::new());
    }
    let streams: XReadResponse<String, String, String, String> = answer.into_xread_response()?;
    Ok(streams.into_values().flatten().collect())
}

fn cap() -> XCap {
    ("MAXLEN", "~", keys::CHANNEL_MAXLEN)
        .try_into()
        .expect("a valid MAXLEN cap")
}

/// Creates the consumer group `workers` on `stream` (and the stream) unless it exists. It
/// starts at the stream's beginning, so entries added before any worker ran are handled.
pub async fn ensure_worker_group(client: &Client, stream: &str) -> Result<(), Error> {
    let created: Result<(), Error> = client
        .xgroup_create(stream, keys::WORKER_GROUP, "0", true)
        .await;
    match created {
        Err(e) if !e.details().contains("BUSYGROUP") => Err(e),
        _ => Ok(()),
    }
}

/// Reads new entries of `stream` for `consumer` of the group `workers` on the blocking
/// client `reader`, waiting up to `block_ms`. If the group vanished with the stream (a
/// Redis restarted without persistence), it is created again through `commands`.
///
/// When `stopping` resolves first, the blocking read is ended on the Redis side at once
/// (`CLIENT UNBLOCK`, from another connection), so that Redis hands this consumer nothing
/// more, and what Redis had already handed over is returned (for the caller to finish
/// before it exits): a read only dropped here would stay blocked in Redis, and a message
/// arriving meanwhile would be given to a consumer that is gone.
pub async fn read_group(
    reader: &Client,
    commands: &Client,
    stream: &str,
    consumer: &str,
    count: u64,
    block_ms: u64,
    stopping: impl std::future::Future<Output = ()>,
) -> Result<Entries, Error> {
    let read = async {
        let read = reader.xreadgroup::<Value, _, _, _, _>(
            keys::WORKER_GROUP,
            consumer,
            Some(count),
            Some(block_ms),
            false,
            stream,
            ">",
        );
        match tokio::time::timeout(
            crate::redis::BLOCKING_TIMEOUT + std::time::Duration::from_secs(1),
            read,
        )
        .await
        {
            Ok(Ok(answer)) => entries(answer),
            Ok(Err(e)) => {
                if e.details().contains("NOGROUP") {
                    ensure_worker_group(commands, stream).await?;
                }
                Err(e)
            }
            Err(_) => Ok(Vec::new()),
        }
    };
    tokio::pin!(read);
    tokio::select! {
        biased;
        read = &mut read => read,
        () = stopping => {
            if let Err(e) = reader.unblock_self(Some(ClientUnblockFlag::Timeout)).await {
                // Not blocked yet: the read ends by itself within `block_ms`.
                tracing::debug!(error = %e, "ending a blocking read");
            }
            read.await
        }
    }
}

/// Adds a human message to `message_channel`; returns the stream ID.
pub async fn add_human(
    client: &Client,
    token: &str,
    name: &str,
    msg: &ChatMessage,
) -> Result<String, Error> {
    client
        .xadd(
            keys::MESSAGE_CHANNEL,
            false,
            cap(),
            "*",
            vec![
                ("token", token),
                ("name", name),
                ("id", msg.id.as_str()),
                ("msg", msg.msg.as_str()),
                ("ts", msg.timestamp.as_str()),
            ],
        )
        .await
}

/// Adds a bot reply to `response_channel`; returns the stream ID.
pub async fn add_reply(client: &Client, token: &str, msg: &ChatMessage) -> Result<String, Error> {
    client
        .xadd(
            keys::RESPONSE_CHANNEL,
            false,
            cap(),
            "*",
            vec![
                ("token", token),
                ("id", msg.id.as_str()),
                ("msg", msg.msg.as_str()),
                ("ts", msg.timestamp.as_str()),
                ("in_reply_to", msg.in_reply_to.as_deref().unwrap_or("")),
            ],
        )
        .await
}

/// Whether the reply `reply_id` is among the last `within` entries of `response_channel`:
/// for a reply whose worker stopped between adding it and confirming that it did.
pub async fn reply_added(client: &Client, reply_id: &str, within: u64) -> Result<bool, Error> {
    let recent: Vec<(String, HashMap<String, String>)> = client
        .xrevrange(keys::RESPONSE_CHANNEL, "+", "-", Some(within))
        .await?;
    Ok(recent
        .iter()
        .any(|(_, fields)| fields.get("id").map(String::as_str) == Some(reply_id)))
}

/// The ID of the newest entry of `stream`, or `0-0` when it is empty: where a reader that
/// wants only what comes next starts.
pub async fn last_id(client: &Client, stream: &str) -> Result<String, Error> {
    let newest: Vec<(String, HashMap<String, String>)> =
        client.xrevrange(stream, "+", "-", Some(1)).await?;
    Ok(newest
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_string(), |(id, _)| id))
}

fn field(fields: &mut HashMap<String, String>, name: &str) -> String {
    fields.remove(name).unwrap_or_default()
}

impl HumanEntry {
    pub fn from_fields(stream_id: String, mut fields: HashMap<String, String>) -> Self {
        let name = field(&mut fields, "name");
        HumanEntry {
            stream_id,
            token: field(&mut fields, "token"),
            name: (!name.is_empty()).then_some(name),
            message: ChatMessage {
                id: field(&mut fields, "id"),
                source: Source::Human,
                msg: field(&mut fields, "msg"),
                timestamp: field(&mut fields, "ts"),
                in_reply_to: None,
            },
        }
    }
}

impl ReplyEntry {
    pub fn from_fields(stream_id: String, mut fields: HashMap<String, String>) -> Self {
        let in_reply_to = field(&mut fields, "in_reply_to");
        ReplyEntry {
            stream_id,
            token: field(&mut fields, "token"),
            message: ChatMessage {
                id: field(&mut fields, "id"),
                source: Source::Bot,
                msg: field(&mut fields, "msg"),
                timestamp: field(&mut fields, "ts"),
                in_reply_to: (!in_reply_to.is_empty()).then_some(in_reply_to),
            },
        }
    }
}
