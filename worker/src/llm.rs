//! Answers through an OpenAI-compatible `/chat/completions` endpoint, with a system
//! prompt and the last few messages of the session as context.

use std::time::Duration;

use common::protocol::{ChatMessage, Source};
use serde::Deserialize;
use serde_json::json;

/// Messages of the history sent as context (the newest is the one being answered).
pub const CONTEXT_MESSAGES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the answer had no message content")]
    Empty,
}

/// A client of one OpenAI-compatible API.
#[derive(Clone)]
pub struct Llm {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Content,
}

#[derive(Deserialize)]
struct Content {
    content: Option<String>,
}

fn system_prompt(name: &str) -> String {
    format!(
        "You are the friendly house bot of a multiplayer tic-tac-toe and chat server. \
         You are talking with {name}. Answer briefly (at most three sentences). \
         Players start games from the lobby with Quick match, New game (a link to share) \
         or Play the bot."
    )
}

impl Llm {
    /// `base_url` is the API root, e.g. `http://127.0.0.1:8000/v1`.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Llm, LlmError> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Llm {
            http,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
        })
    }

    /// The model's answer to the last message of `history`, spoken to `name`.
    pub async fn answer(&self, name: &str, history: &[ChatMessage]) -> Result<String, LlmError> {
        let mut messages = vec![json!({"role": "system", "content": system_prompt(name)})];
        messages.extend(history.iter().map(|m| {
            let role = match m.source {
                Source::Human => "user",
                Source::Bot => "assistant",
            };
            json!({"role": role, "content": m.msg})
        }));
        let body = json!({"model": self.model, "messages": messages, "max_tokens": 400});
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let completion: Completion = request.send().await?.error_for_status()?.json().await?;
        completion
            .choices
            .into_iter()
            .find_map(|c| c.message.content)
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .ok_or(LlmError::Empty)
    }
}
