//! The worker's loop over `message_channel`: read through the consumer group `workers`,
//! answer, store the reply in the history, add it to `response_channel`, then XACK.
//!
//! An entry is acknowledged only after its reply is written, so a worker that dies
//! leaves its entries pending; live workers take them over with XAUTOCLAIM once they have
//! been idle for `CLAIM_IDLE_MS`. A redelivered entry that was already answered is
//! recognised in the history and its existing reply is published again, never a second one.

use std::time::Duration;

use common::{
    clock,
    game::store::Games,
    keys,
    protocol::{ChatMessage, Source},
    session::{ReplyOutcome, Sessions},
    streams::{self, Entries, HumanEntry},
};
use fred::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::{bot, llm::Llm, llm::CONTEXT_MESSAGES};

const BATCH: u64 = 32;
const BLOCK_MS: u64 = 2_000;
const CLAIM_EVERY: Duration = Duration::from_secs(2);
/// How long a reply waits for earlier messages of its session to be answered (by another
/// worker) before it is stored anyway.
const ORDER_WAIT: Duration = Duration::from_secs(3);

/// One worker process's consumer.
pub struct Consumer {
    pub redis: Client,
    pub reader: Client,
    pub sessions: Sessions,
    /// For the user's own results.
    pub games: Games,
    pub name: String,
    pub claim_idle_ms: u64,
    pub llm: Option<Llm>,
}

impl Consumer {
    /// Runs until `shutdown` is cancelled; the entry in hand is finished first.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut last_claim = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            if last_claim.elapsed() >= CLAIM_EVERY {
                last_claim = tokio::time::Instant::now();
                match self.claim().await {
                    Ok(entries) => self.handle_all(entries, &shutdown).await,
                    Err(e) => tracing::warn!(error = %e, "XAUTOCLAIM failed"),
                }
            }
            let read = tokio::select! {
                _ = shutdown.cancelled() => break,
                read = self.read_new() => read,
            };
            match read {
                Ok(entries) => self.handle_all(entries, &shutdown).await,
                Err(e) => {
                    tracing::warn!(error = %e, "reading message_channel failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    async fn read_new(&self) -> Result<Entries, Error> {
        streams::read_group(
            &self.reader,
            &self.redis,
            keys::MESSAGE_CHANNEL,
            &self.name,
            BATCH,
            BLOCK_MS,
        )
        .await
    }

    async fn claim(&self) -> Result<Entries, Error> {
        let (_next, entries): (String, Entries) = self
            .redis
            .xautoclaim_values(
                keys::MESSAGE_CHANNEL,
                keys::WORKER_GROUP,
                self.name.as_str(),
                self.claim_idle_ms,
                "0-0",
                Some(BATCH),
                false,
            )
            .await?;
        if !entries.is_empty() {
            tracing::info!(
                count = entries.len(),
                "took over messages pending on another worker"
            );
        }
        Ok(entries)
    }

    /// Answers a batch: the messages of one token one after another (their replies keep
    /// their order), different tokens concurrently (their commands share the pipelined
    /// connection).
    async fn handle_all(&self, entries: Entries, shutdown: &CancellationToken) {
        let mut by_token: Vec<(String, Vec<HumanEntry>)> = Vec::new();
        for (stream_id, fields) in entries {
            let entry = HumanEntry::from_fields(stream_id, fields);
            match by_token.iter_mut().find(|(token, _)| *token == entry.token) {
                Some((_, queue)) => queue.push(entry),
                None => by_token.push((entry.token.clone(), vec![entry])),
            }
        }
        let sessions = by_token.into_iter().map(|(_, queue)| async move {
            for entry in queue {
                if shutdown.is_cancelled() {
                    // Left pending: another worker (or this one's successor) will claim it.
                    return;
                }
                if let Err(e) = self.handle(&entry).await {
                    tracing::warn!(error = %e, id = %entry.message.id, "answering failed; it stays pending and will be retried");
                }
            }
        });
        futures_util::future::join_all(sessions).await;
    }

    /// Answers one message; acks it only once the reply is stored and published.
    async fn handle(&self, entry: &HumanEntry) -> Result<(), anyhow::Error> {
        let token = entry.token.as_str();
        if let Some(reply) = self.compose(entry).await? {
            let deadline = tokio::time::Instant::now() + ORDER_WAIT;
            loop {
                let force = tokio::time::Instant::now() >= deadline;
                match self.sessions.insert_reply(token, &reply, force).await? {
                    ReplyOutcome::Stored => {
                        streams::add_reply(&self.redis, token, &reply).await?;
                        self.sessions.reply_published(token, &reply.id).await?;
                        break;
                    }
                    ReplyOutcome::Duplicate(existing) => {
                        streams::add_reply(&self.redis, token, &existing).await?;
                        self.sessions.reply_published(token, &existing.id).await?;
                        break;
                    }
                    ReplyOutcome::Wait => tokio::time::sleep(Duration::from_millis(5)).await,
                    ReplyOutcome::Gone => break,
                }
            }
        }
        let _: i64 = self
            .redis
            .xack(
                keys::MESSAGE_CHANNEL,
                keys::WORKER_GROUP,
                entry.stream_id.as_str(),
            )
            .await?;
        Ok(())
    }

    /// The bot's reply to `entry`, or `None` when its session is gone.
    async fn compose(&self, entry: &HumanEntry) -> Result<Option<ChatMessage>, anyhow::Error> {
        // Servers put the sender's name in the entry; older entries may lack it.
        let name = match &entry.name {
            Some(name) => name.clone(),
            None => match self.sessions.profile(&entry.token).await? {
                Some(profile) => profile.name,
                None => return Ok(None),
            },
        };
        let results = if bot::asks_for_results(&entry.message.msg) {
            Some(self.games.standing(&name).await?)
        } else {
            None
        };
        let builtin = || bot::reply(&name, &entry.message.msg, results.as_ref());
        let text = match &self.llm {
            None => builtin(),
            Some(llm) => {
                let history = self.sessions.recent(&entry.token, CONTEXT_MESSAGES).await?;
                match llm.answer(&name, &history).await {
                    Ok(text) => text,
                    Err(e) => {
                        tracing::warn!(error = %e, "LLM failed; the built-in bot answers");
                        builtin()
                    }
                }
            }
        };
        Ok(Some(ChatMessage {
            id: uuid::Uuid::new_v4().to_string(),
            source: Source::Bot,
            msg: text,
            timestamp: clock::now_rfc3339(),
            in_reply_to: Some(entry.message.id.clone()),
        }))
    }
}
