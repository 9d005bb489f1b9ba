//! The session document of one token in RedisJSON (`session:<token>`), and every change to
//! it: each is one atomic step in Redis (a Lua script over that one key, so it also works
//! on Redis Cluster) that also extends the TTL.

use fred::{prelude::*, types::scripts::Script};
use serde::Deserialize;

use crate::{
    clock,
    error::StoreError,
    keys,
    protocol::{ChatMessage, SessionDoc, Source},
};

/// What became of a bot reply handed to [`Sessions::insert_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Stored right after the message it answers.
    Stored,
    /// That message already had this reply (a redelivered stream entry, or a retry after
    /// a failure): the reply, and whether it may not have been added to
    /// `response_channel` yet (its worker had not confirmed it).
    Duplicate(ChatMessage, bool),
    /// An earlier message of the session is still unanswered; try again shortly.
    Wait,
    /// The session or the message is gone (expired).
    Gone,
}

/// Name and start time of a session: what a socket needs to say `hello`; and the names it
/// has muted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub session_start: String,
    pub muted: Vec<String>,
}

/// What became of a `user.mute` or `user.unmute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuteOutcome {
    /// The names muted now, in the order they were muted.
    Muted(Vec<String>),
    /// The list already holds the most names a session may mute.
    Full,
    /// The session is unknown or expired.
    Gone,
}

/// How many of a history's last messages a reply looks at for the message it answers (and
/// for an earlier one still unanswered): a message further back is answered no more.
pub const REPLY_WINDOW: usize = 128;

/// Default of `HISTORY_MAX`: the most messages a session keeps.
pub const HISTORY_MAX: u64 = 200;

/// Session storage on one Redis client, with the configured TTL and history cap.
#[derive(Clone)]
pub struct Sessions {
    client: Client,
    ttl_secs: u64,
    history_max: u64,
    create: Script,
    touch: Script,
    append: Script,
    reply: Script,
    published: Script,
    mute: Script,
}

impl Sessions {
    /// `history_max`: the most messages a session keeps; older ones are dropped as new ones
    /// come.
    pub fn new(client: Client, ttl_secs: u64, history_max: u64) -> Self {
        Sessions {
            client,
            ttl_secs,
            history_max,
            create: Script::from_lua(include_str!("scripts/create_session.lua")),
            touch: Script::from_lua(include_str!("scripts/touch_session.lua")),
            append: Script::from_lua(include_str!("scripts/append_human.lua")),
            reply: Script::from_lua(include_str!("scripts/insert_reply.lua")),
            published: Script::from_lua(include_str!("scripts/reply_published.lua")),
            mute: Script::from_lua(include_str!("scripts/mute.lua")),
        }
    }

    /// Creates a session with a new uuid v4 token.
    pub async fn create(&self, name: &str) -> Result<SessionDoc, StoreError> {
        let doc = SessionDoc {
            token: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            session_start: clock::now_rfc3339(),
            messages: Vec::new(),
            dropped: 0,
            muted: Vec::new(),
        };
        let json = serde_json::to_string(&doc)?;
        let _created: i64 = self
            .create
            .evalsha_with_reload(
                &self.client,
                vec![keys::session(&doc.token)],
                vec![json, self.ttl_secs.to_string()],
            )
            .await?;
        Ok(doc)
    }

    /// The whole document, with its TTL extended; `None` when unknown or expired.
    pub async fn touch(&self, token: &str) -> Result<Option<SessionDoc>, StoreError> {
        let raw: Option<String> = self
            .touch
            .evalsha_with_reload(
                &self.client,
                vec![keys::session(token)],
                vec![self.ttl_secs.to_string()],
            )
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let mut docs: Vec<SessionDoc> = serde_json::from_str(&raw)?;
        Ok(docs.pop())
    }

    /// Name and start time; `None` when unknown or expired.
    pub async fn profile(&self, token: &str) -> Result<Option<Profile>, StoreError> {
        #[derive(Deserialize)]
        struct Paths {
            #[serde(rename = "$.name")]
            name: Vec<String>,
            #[serde(rename = "$.session_start")]
            session_start: Vec<String>,
            #[serde(rename = "$.muted", default)]
            muted: Vec<Vec<String>>,
        }
        let raw: Option<String> = self
            .client
            .json_get(
                keys::session(token),
                None::<String>,
                None::<String>,
                None::<String>,
                vec!["$.name", "$.session_start", "$.muted"],
            )
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let mut paths: Paths = serde_json::from_str(&raw)?;
        match (paths.name.pop(), paths.session_start.pop()) {
            (Some(name), Some(session_start)) => Ok(Some(Profile {
                name,
                session_start,
                muted: paths.muted.pop().unwrap_or_default(),
            })),
            _ => Ok(None),
        }
    }

    /// Mutes (`mute`) or unmutes `name` for `token`'s session; at most `most` names.
    pub async fn mute(
        &self,
        token: &str,
        name: &str,
        mute: bool,
        most: u64,
    ) -> Result<MuteOutcome, StoreError> {
        let op = if mute { "mute" } else { "unmute" };
        let reply: Vec<String> = self
            .mute
            .evalsha_with_reload(
                &self.client,
                vec![keys::session(token)],
                vec![
                    op.to_string(),
                    name.to_string(),
                    most.to_string(),
                    self.ttl_secs.to_string(),
                ],
            )
            .await?;
        Ok(match reply.first().map(String::as_str) {
            Some("muted") => MuteOutcome::Muted(serde_json::from_str(
                reply.get(1).map(String::as_str).unwrap_or("[]"),
            )?),
            Some("limit") => MuteOutcome::Full,
            _ => MuteOutcome::Gone,
        })
    }

    /// The last `n` messages of the history, oldest first.
    pub async fn recent(&self, token: &str, n: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let path = format!("$.messages[-{n}:]");
        let raw: Option<String> = self
            .client
            .json_get(
                keys::session(token),
                None::<String>,
                None::<String>,
                None::<String>,
                path,
            )
            .await?;
        match raw {
            Some(raw) => Ok(serde_json::from_str(&raw)?),
            None => Ok(Vec::new()),
        }
    }

    /// A new human message, not yet stored.
    pub fn human_message(text: &str) -> ChatMessage {
        ChatMessage {
            id: uuid::Uuid::new_v4().to_string(),
            source: Source::Human,
            msg: text.to_string(),
            timestamp: clock::now_rfc3339(),
            in_reply_to: None,
        }
    }

    /// Appends a human message to the history; `false` when the session is gone.
    pub async fn append_human(&self, token: &str, msg: &ChatMessage) -> Result<bool, StoreError> {
        let json = serde_json::to_string(msg)?;
        let stored: i64 = self
            .append
            .evalsha_with_reload(
                &self.client,
                vec![keys::session(token)],
                vec![
                    json,
                    self.ttl_secs.to_string(),
                    self.history_max.to_string(),
                ],
            )
            .await?;
        Ok(stored == 1)
    }

    /// Stores a bot reply right after the message it answers (see `insert_reply.lua`).
    /// With `force`, it does not wait for earlier messages to be answered first.
    pub async fn insert_reply(
        &self,
        token: &str,
        reply: &ChatMessage,
        force: bool,
    ) -> Result<ReplyOutcome, StoreError> {
        let in_reply_to = reply.in_reply_to.clone().unwrap_or_default();
        let args = vec![
            serde_json::to_string(reply)?,
            in_reply_to,
            self.ttl_secs.to_string(),
            if force { "1" } else { "0" }.to_string(),
            self.history_max.to_string(),
            REPLY_WINDOW.to_string(),
        ];
        let answer: Vec<String> = self
            .reply
            .evalsha_with_reload(&self.client, vec![keys::session(token)], args)
            .await?;
        Ok(match answer.first().map(String::as_str) {
            Some("ok") => ReplyOutcome::Stored,
            Some("dup") => ReplyOutcome::Duplicate(
                serde_json::from_str(answer.get(1).map_or("", String::as_str))?,
                answer.get(2).map(String::as_str) == Some("1"),
            ),
            Some("wait") => ReplyOutcome::Wait,
            _ => ReplyOutcome::Gone,
        })
    }

    /// Marks `reply_id`, stored by [`Sessions::insert_reply`], as added to
    /// `response_channel`: the session's next reply may now be stored.
    pub async fn reply_published(&self, token: &str, reply_id: &str) -> Result<(), StoreError> {
        let _cleared: i64 = self
            .published
            .evalsha_with_reload(
                &self.client,
                vec![keys::session(token)],
                vec![reply_id.to_string()],
            )
            .await?;
        Ok(())
    }
}
