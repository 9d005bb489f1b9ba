//! A human message to the bot, from `/chat` or `bot.say` on `/ws`: stored in the session
//! history and added to `message_channel`, in that order, before it is acknowledged.
//! The history comes first so the worker always finds the message it answers there.

use common::{
    protocol::{ChatMessage, ErrorCode, ServerMsg},
    session::Sessions,
    streams,
};

use crate::node::state::AppState;

/// Longest chat text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Why a message to the bot was refused.
#[derive(Debug, thiserror::Error)]
pub enum SayError {
    #[error("text must not be empty")]
    Empty,
    #[error("text is longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
    #[error("session expired")]
    SessionGone,
    #[error("message not stored, try again: {0}")]
    Unavailable(String),
}

impl SayError {
    /// The `error` frame for this failure.
    pub fn to_frame(&self, reference: Option<String>) -> ServerMsg {
        let code = match self {
            SayError::Empty => ErrorCode::BadRequest,
            SayError::TooLong => ErrorCode::TooLarge,
            SayError::SessionGone => ErrorCode::NotFound,
            SayError::Unavailable(_) => ErrorCode::Unavailable,
        };
        let message = match self {
            SayError::Unavailable(_) => "message not stored, try again".to_string(),
            other => other.to_string(),
        };
        ServerMsg::error(reference, code, message)
    }
}

/// Stores `text` as a human message of `token` (named `name`) and queues it for the workers.
pub async fn say(
    state: &AppState,
    token: &str,
    name: &str,
    text: &str,
) -> Result<ChatMessage, SayError> {
    if text.trim().is_empty() {
        return Err(SayError::Empty);
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(SayError::TooLong);
    }
    let msg = Sessions::human_message(text);
    let stored = state
        .sessions
        .append_human(token, &msg)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "storing a chat message failed");
            SayError::Unavailable(e.to_string())
        })?;
    if !stored {
        return Err(SayError::SessionGone);
    }
    streams::add_human(&state.redis, token, name, &msg)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "queueing a chat message failed");
            SayError::Unavailable(e.to_string())
        })?;
    Ok(msg)
}
