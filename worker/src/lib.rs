//! The bot worker: answers chat messages from `message_channel`.
//!
//! - [`config`]: settings from flags and the environment.
//! - [`bot`]: the built-in, offline bot (pure).
//! - [`llm`]: answers through an OpenAI-compatible API when `LLM_URL` is set.
//! - [`consumer`]: the consumer-group loop that reads, answers, stores, publishes and acks.

pub mod bot;
pub mod config;
pub mod consumer;
pub mod llm;

use std::time::Duration;

use common::{
    redis::{self, ConnectError, Role},
    session::Sessions,
    streams,
};
use tokio_util::sync::CancellationToken;

pub use config::Config;
use consumer::Consumer;

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Redis(#[from] ConnectError),
    #[error("invalid LLM settings: {0}")]
    Llm(#[from] llm::LlmError),
}

/// Connects to Redis (failing fast), makes sure the consumer group exists and returns the
/// consumer, ready to run.
pub async fn connect(config: &Config) -> Result<Consumer, StartError> {
    let redis_client = redis::connect(&config.redis_url, Role::Commands).await?;
    let reader = redis::connect(&config.redis_url, Role::Blocking).await?;
    streams::ensure_worker_group(&redis_client)
        .await
        .map_err(|e| ConnectError::Unreachable {
            url: redis::redacted(&config.redis_url),
            reason: e.details().to_string(),
        })?;
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
    Ok(Consumer {
        sessions: Sessions::new(redis_client.clone(), config.session_ttl_secs),
        redis: redis_client,
        reader,
        name,
        claim_idle_ms: config.claim_idle_ms,
        llm,
    })
}

/// Runs `consumer` until `shutdown` resolves, finishing the message in hand.
pub async fn run(consumer: Consumer, shutdown: impl std::future::Future<Output = ()>) {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::select! {
        _ = consumer.run(cancel.clone()) => {}
        _ = async { shutdown.await; stop.cancel(); std::future::pending::<()>().await } => {}
    }
    use fred::prelude::ClientLike;
    let _ = consumer.redis.quit().await;
    let _ = consumer.reader.quit().await;
    tracing::info!("worker stopped");
}
