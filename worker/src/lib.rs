//! The bot worker: answers chat messages from `message_channel`.
//!
//! - [`config`]: settings from flags and the environment.
//! - [`bot`]: the built-in, offline bot (pure).
//! - [`llm`]: answers through an OpenAI-compatible API when `LLM_URL` is set.
//! - [`consumer`]: the consumer-group loop that reads, answers, stores, publishes and acks.
//! - [`player`]: the bot's moves in games against it.
//! - [`retry`]: a failed step retried where it failed, with a short backoff.

pub mod bot;
pub mod config;
pub mod consumer;
pub mod llm;
pub mod player;
pub mod retry;

use std::time::Duration;

use common::{
    game::store::Games,
    keys,
    redis::{self, ConnectError, Role},
    session::Sessions,
    streams,
};
use tokio_util::sync::CancellationToken;

pub use config::Config;
use consumer::Consumer;
use player::Player;

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Redis(#[from] ConnectError),
    #[error("invalid LLM settings: {0}")]
    Llm(#[from] llm::LlmError),
}

/// The worker's two jobs: answering chat messages and playing the bot's moves.
pub struct Worker {
    pub consumer: Consumer,
    pub player: Player,
}

/// Connects to Redis (failing fast), makes sure the consumer groups exist and returns the
/// worker, ready to run.
pub async fn connect(config: &Config) -> Result<Worker, StartError> {
    let redis_client = redis::connect(&config.redis_url, Role::Commands).await?;
    let reader = redis::connect(&config.redis_url, Role::Blocking).await?;
    let turns_reader = redis::connect(&config.redis_url, Role::Blocking).await?;
    for stream in [keys::MESSAGE_CHANNEL, keys::BOT_TURNS] {
        streams::ensure_worker_group(&redis_client, stream)
            .await
            .map_err(|e| ConnectError::Unreachable {
                url: redis::redacted(&config.redis_url),
                reason: e.details().to_string(),
            })?;
    }
    let llm = match config.llm_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => Some(llm::Llm::new(
            url,
            &config.llm_model,
            config.llm_api_key.clone(),
            Duration::from_millis(config.llm_timeout_ms),
        )?),
        None => None,
    };
    let name = config.consumer_name();
    tracing::info!(consumer = %name, llm = llm.is_some(), "worker connected");
    let games = Games::new(redis_client.clone(), redis::is_cluster(&config.redis_url));
    let player = Player {
        redis: redis_client.clone(),
        reader: turns_reader,
        games: games.clone(),
        name: name.clone(),
    };
    let consumer = Consumer {
        sessions: Sessions::new(
            redis_client.clone(),
            config.session_ttl_secs,
            config.history_max,
        ),
        games,
        redis: redis_client,
        reader,
        name,
        claim_idle_ms: config.claim_idle_ms,
        llm,
    };
    Ok(Worker { consumer, player })
}

/// Runs `worker` until `shutdown` resolves, finishing the message and move in hand.
pub async fn run(worker: Worker, shutdown: impl std::future::Future<Output = ()>) {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::select! {
        _ = async { tokio::join!(worker.consumer.run(cancel.clone()), worker.player.run(cancel.clone())) } => {}
        _ = async { shutdown.await; stop.cancel(); std::future::pending::<()>().await } => {}
    }
    use fred::prelude::ClientLike;
    let _ = worker.consumer.redis.quit().await;
    let _ = worker.consumer.reader.quit().await;
    let _ = worker.player.reader.quit().await;
    tracing::info!("worker stopped");
}
