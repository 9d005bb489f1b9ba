//! The worker's loop over `message_channel`: read through the consumer group `workers`,
//! answer, store the reply in the history, add it to `response_channel`, then XACK.
//!
//! An entry is acknowledged only after its reply is written. A write that fails (Redis
//! restarting, a failover) is retried by this worker with a short backoff for as long as
//! [`retry::RETRY_FOR`]; a worker that dies leaves its entries pending, and live workers take them
//! over with XAUTOCLAIM once they have been idle for `CLAIM_IDLE_MS`. A redelivered or
//! retried entry that was already answered is recognised in the history, never answered a
//! second time, and its reply is published again only if its worker never confirmed that
//! it was (a reply stays marked in the session until it is in `response_channel`).
//!
//! Each session's messages are answered one after another (their replies keep their
//! order), in a queue of their own: a message that waits (for an earlier one answered by
//! another worker, or for a retry) delays only its session, while the loop goes on reading
//! and the other sessions are answered. On shutdown the worker ends its blocking read in
//! Redis at once, answers what it was already handed, and exits.

use std::{collections::HashMap, future::Future, pin::Pin, time::Duration};

use common::{
    clock,
    game::store::Games,
    keys,
    protocol::{ChatMessage, Source},
    session::{ReplyOutcome, Sessions},
    streams::{self, Entries, HumanEntry},
};
use fred::prelude::*;
use futures_util::{stream::FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{bot, llm::Llm, llm::CONTEXT_MESSAGES, retry};

const BATCH: u64 = 32;
const BLOCK_MS: u64 = 2_000;
const CLAIM_EVERY: Duration = Duration::from_secs(2);
/// How long a reply waits for earlier messages of its session to be answered (by another
/// worker) before it is stored anyway.
const ORDER_WAIT: Duration = Duration::from_secs(3);
/// How many of `response_channel`'s newest replies are searched for an unconfirmed one
/// before it is published again.
const RECENT_REPLIES: u64 = 1000;
/// Sessions being answered at once; past it the worker reads nothing new until one is done.
const SESSIONS_AT_ONCE: usize = 256;

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

type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The sessions being answered: a queue per token, each worked through by one future.
struct Answering<'a> {
    queues: HashMap<String, mpsc::UnboundedSender<HumanEntry>>,
    running: FuturesUnordered<Pending<'a, ()>>,
}

impl Consumer {
    /// Runs until `shutdown` is cancelled; what was already read is answered first.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut answering = Answering {
            queues: HashMap::new(),
            running: FuturesUnordered::new(),
        };
        let mut last_claim = tokio::time::Instant::now();
        // The read in flight is kept across turns of the loop: dropping it would leave its
        // XREADGROUP blocked in Redis, which would hand a message to nobody.
        let mut reading: Option<Pending<'_, Result<Entries, Error>>> = None;
        loop {
            if shutdown.is_cancelled() && reading.is_none() {
                break;
            }
            if reading.is_none() {
                if last_claim.elapsed() >= CLAIM_EVERY {
                    last_claim = tokio::time::Instant::now();
                    match self.claim().await {
                        Ok(entries) => self.queue(&mut answering, entries, &shutdown),
                        Err(e) => tracing::warn!(error = %e, "XAUTOCLAIM failed"),
                    }
                }
                if answering.running.len() < SESSIONS_AT_ONCE {
                    reading = Some(Box::pin(self.read_new(&shutdown)));
                }
            }
            tokio::select! {
                Some(()) = answering.running.next(), if !answering.running.is_empty() => {}
                read = async { reading.as_mut().expect("a read in flight").await }, if reading.is_some() => {
                    reading = None;
                    match read {
                        Ok(entries) => self.queue(&mut answering, entries, &shutdown),
                        Err(e) => {
                            tracing::warn!(error = %e, "reading message_channel failed; retrying");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    }
                }
                _ = shutdown.cancelled(), if reading.is_none() && answering.running.is_empty() => {}
            }
        }
        while answering.running.next().await.is_some() {}
    }

    async fn read_new(&self, shutdown: &CancellationToken) -> Result<Entries, Error> {
        streams::read_group(
            &self.reader,
            &self.redis,
            keys::MESSAGE_CHANNEL,
            &self.name,
            BATCH,
            BLOCK_MS,
            shutdown.cancelled(),
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

    /// Puts each entry in its session's queue, starting the queue's answering where none
    /// runs.
    fn queue<'a>(
        &'a self,
        answering: &mut Answering<'a>,
        entries: Entries,
        shutdown: &'a CancellationToken,
    ) {
        for (stream_id, fields) in entries {
            let entry = HumanEntry::from_fields(stream_id, fields);
            let entry = match answering.queues.get(&entry.token) {
                Some(queue) => match queue.send(entry) {
                    Ok(()) => continue,
                    // That session's answering has finished: start it again.
                    Err(mpsc::error::SendError(entry)) => entry,
                },
                None => entry,
            };
            let (queue, mut next) = mpsc::unbounded_channel();
            let token = entry.token.clone();
            let _ = queue.send(entry);
            answering.queues.insert(token, queue);
            answering.running.push(Box::pin(async move {
                while let Ok(entry) = next.try_recv() {
                    let what = format!("answering {}", entry.message.id);
                    retry::with_backoff(shutdown, &what, || self.handle(&entry)).await;
                }
            }));
        }
        if answering.queues.len() > 2 * SESSIONS_AT_ONCE {
            answering.queues.retain(|_, queue| !queue.is_closed());
        }
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
                    // Answered before (a retry, or an entry taken over): published again
                    // only if its worker never confirmed that it was, and it is not among
                    // the newest replies (the worker may have stopped between the two).
                    ReplyOutcome::Duplicate(existing, unconfirmed) => {
                        if unconfirmed {
                            let added =
                                streams::reply_added(&self.redis, &existing.id, RECENT_REPLIES)
                                    .await?;
                            if !added {
                                streams::add_reply(&self.redis, token, &existing).await?;
                            }
                            self.sessions.reply_published(token, &existing.id).await?;
                        }
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
            Some(self.games.results.standing(&name).await?)
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
