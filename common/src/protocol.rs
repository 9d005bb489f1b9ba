//! The WebSocket wire types of docs/protocol.md: what clients send ([`ClientMsg`]), what the
//! server sends ([`ServerMsg`]), the error codes ([`ErrorCode`]) and the chat message object
//! ([`ChatMessage`]) stored in session histories.

use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Human,
    Bot,
}

/// One entry of a session's `messages`, and the frame `/chat` sends for a bot reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub source: Source,
    pub msg: String,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
}

/// The session document stored under `session:<token>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDoc {
    pub token: String,
    pub name: String,
    pub session_start: String,
    pub messages: Vec<ChatMessage>,
    /// How many older messages were dropped to keep the history within `HISTORY_MAX`
    /// (shown only once some were).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// Names whose room messages and typing no socket of this token receives, in the
    /// order they were muted (absent in documents of earlier releases: none).
    #[serde(default)]
    pub muted: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Error codes of docs/protocol.md, plus `unavailable` for a request that failed because Redis
/// could not be reached (the client may retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Forbidden,
    RateLimited,
    NotYourTurn,
    CellTaken,
    GameOver,
    GameFull,
    TooLarge,
    Unavailable,
    /// A per-user bound is reached (rooms one socket follows).
    LimitReached,
}

/// A request from a `/ws` client, without its `ref`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMsg {
    #[serde(rename = "bot.say")]
    BotSay { text: String },
    #[serde(rename = "room.join")]
    RoomJoin {
        room: String,
        #[serde(default)]
        since: Option<String>,
    },
    #[serde(rename = "room.say")]
    RoomSay { room: String, text: String },
    #[serde(rename = "room.leave")]
    RoomLeave { room: String },
    /// The sender is typing in the room: passed on to the other members, not stored, not
    /// answered.
    #[serde(rename = "room.typing")]
    RoomTyping { room: String },
    #[serde(rename = "game.create")]
    GameCreate {
        #[serde(default)]
        vs_bot: bool,
    },
    /// `play: true` asks for a seat only (`game_full` instead of watching).
    #[serde(rename = "game.join")]
    GameJoin {
        game: String,
        #[serde(default)]
        play: bool,
        /// The last message ID seen in the game's room: its `room.joined` then carries
        /// exactly what came after it, as `room.join` with `since` does.
        #[serde(default)]
        since: Option<String>,
    },
    /// A struct variant, so that unknown fields are refused as for every other request.
    #[serde(rename = "game.quick")]
    GameQuick {},
    #[serde(rename = "game.move")]
    GameMove { game: String, cell: i64 },
    #[serde(rename = "game.rematch")]
    GameRematch { game: String },
    #[serde(rename = "game.leave")]
    GameLeave { game: String },
    /// No socket of the sender's token receives `name`'s room messages and typing any more.
    #[serde(rename = "user.mute")]
    UserMute { name: String },
    #[serde(rename = "user.unmute")]
    UserUnmute { name: String },
}

/// Every `type` a client may send, so an unknown type is told apart from a malformed one.
pub const CLIENT_TYPES: &[&str] = &[
    "bot.say",
    "room.join",
    "room.say",
    "room.leave",
    "room.typing",
    "game.create",
    "game.join",
    "game.quick",
    "game.move",
    "game.rematch",
    "game.leave",
    "user.mute",
    "user.unmute",
];

impl ClientMsg {
    /// The `type` of this request, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMsg::BotSay { .. } => "bot.say",
            ClientMsg::RoomJoin { .. } => "room.join",
            ClientMsg::RoomSay { .. } => "room.say",
            ClientMsg::RoomLeave { .. } => "room.leave",
            ClientMsg::RoomTyping { .. } => "room.typing",
            ClientMsg::GameCreate { .. } => "game.create",
            ClientMsg::GameJoin { .. } => "game.join",
            ClientMsg::GameQuick {} => "game.quick",
            ClientMsg::GameMove { .. } => "game.move",
            ClientMsg::GameRematch { .. } => "game.rematch",
            ClientMsg::GameLeave { .. } => "game.leave",
            ClientMsg::UserMute { .. } => "user.mute",
            ClientMsg::UserUnmute { .. } => "user.unmute",
        }
    }
}

/// A chat message of a room, as `room.message` and in `room.joined` histories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMessage {
    pub room: String,
    pub id: String,
    pub from: String,
    pub text: String,
    pub timestamp: String,
}

/// A `/ws` frame the server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum ServerMsg {
    #[serde(rename = "hello")]
    Hello {
        node: String,
        name: String,
        session_start: String,
        /// The node's clock as it says hello (ms since the Unix epoch), so that a client
        /// can show times on the server's clock (`turn_deadline`) on its own.
        server_time: i64,
    },
    #[serde(rename = "ack")]
    Ack {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    #[serde(rename = "game.state")]
    GameState {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        game: crate::game::model::Game,
    },
    #[serde(rename = "room.joined")]
    RoomJoined {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        room: String,
        /// Every name present in a small room; `PRESENCE_MAX` of a large one's.
        members: Vec<String>,
        /// How many are present (in a large room, counted per node that holds a name).
        #[serde(default)]
        member_count: u64,
        history: Vec<RoomMessage>,
        recovered: bool,
    },
    #[serde(rename = "room.message")]
    RoomMessage {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(flatten)]
        message: RoomMessage,
    },
    #[serde(rename = "room.presence")]
    RoomPresence {
        room: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        joined: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        left: Option<String>,
    },
    /// Another member of the room is typing.
    #[serde(rename = "room.typing")]
    RoomTyping { room: String, name: String },
    /// An operator removed message `id` from the room's history.
    #[serde(rename = "room.deleted")]
    RoomDeleted { room: String, id: String },
    #[serde(rename = "bot.reply")]
    BotReply {
        id: String,
        msg: String,
        timestamp: String,
        in_reply_to: Option<String>,
    },
}

impl ServerMsg {
    /// The `type` of this frame, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMsg::Hello { .. } => "hello",
            ServerMsg::Ack { .. } => "ack",
            ServerMsg::Error { .. } => "error",
            ServerMsg::GameState { .. } => "game.state",
            ServerMsg::RoomJoined { .. } => "room.joined",
            ServerMsg::RoomMessage { .. } => "room.message",
            ServerMsg::RoomPresence { .. } => "room.presence",
            ServerMsg::RoomTyping { .. } => "room.typing",
            ServerMsg::RoomDeleted { .. } => "room.deleted",
            ServerMsg::BotReply { .. } => "bot.reply",
        }
    }

    /// A `rate_limited` error: the client may send again in `retry_after_ms`.
    pub fn rate_limited(reference: Option<String>, retry_after_ms: u64) -> Self {
        ServerMsg::Error {
            reference,
            code: ErrorCode::RateLimited,
            message: format!("too many frames; retry in {retry_after_ms} ms"),
            retry_after_ms: Some(retry_after_ms),
        }
    }

    /// An `error` frame without `retry_after_ms`.
    pub fn error(reference: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error {
            reference,
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The `bot.reply` frame for a bot message.
    pub fn bot_reply(msg: ChatMessage) -> Self {
        ServerMsg::BotReply {
            id: msg.id,
            msg: msg.msg,
            timestamp: msg.timestamp,
            in_reply_to: msg.in_reply_to,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// A client frame that could not be understood; carries the `ref` when one could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadFrame {
    pub reference: Option<String>,
    pub message: String,
}

/// Parses one text frame of `/ws` into its `ref` and request.
pub fn parse_client(text: &str) -> Result<(Option<String>, ClientMsg), BadFrame> {
    let bad = |reference: Option<String>, message: String| BadFrame { reference, message };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(None, format!("invalid JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| bad(None, "a frame must be a JSON object".into()))?;
    let reference = match obj.remove("ref") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(bad(None, "ref must be a string".into())),
    };
    let kind = match obj.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        _ => return Err(bad(reference, "missing string field type".into())),
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err(bad(reference, format!("unknown type {kind:?}")));
    }
    match serde_json::from_value(value) {
        Ok(msg) => Ok((reference, msg)),
        Err(e) => Err(bad(reference, format!("invalid {kind}: {e}"))),
    }
}

/// WebSocket close codes the server uses, and what each means to a client.
pub mod close {
    /// Normal close.
    pub const NORMAL: u16 = 1000;
    /// The node is shutting down: reconnect (through the load balancer) to another node.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket protocol (an unmasked frame, a reserved bit or
    /// opcode, a control frame over 125 bytes, …).
    pub const PROTOCOL: u16 = 1002;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Missing, unknown or expired token: get a new one with `POST /token`.
    pub const POLICY: u16 = 1008;
    /// A frame too large to read at all.
    pub const TOO_BIG: u16 = 1009;
    /// The node could not reach Redis to check the token: retry shortly.
    pub const UNAVAILABLE: u16 = 1011;
    /// Nothing received for 60 seconds (not even a pong).
    pub const IDLE: u16 = 4000;
    /// The token already has `MAX_SOCKETS_PER_TOKEN` sockets on this node.
    pub const TOO_MANY_SOCKETS: u16 = 4029;
    /// Disconnected by an operator (and, while a ban lasts, refused the same way).
    pub const BY_OPERATOR: u16 = 4003;
    /// The client did not read its messages fast enough and its outbound queue filled up.
    pub const SLOW: u16 = 4008;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_bot_say_with_ref() {
        let (r, msg) = parse_client(r#"{"type":"bot.say","text":"hi","ref":"7"}"#).unwrap();
        assert_eq!(r.as_deref(), Some("7"));
        assert_eq!(msg, ClientMsg::BotSay { text: "hi".into() });
    }

    #[test]
    fn tells_bad_json_unknown_type_and_bad_fields_apart() {
        assert!(parse_client("{nope")
            .unwrap_err()
            .message
            .contains("invalid JSON"));
        assert!(parse_client("[1]").unwrap_err().message.contains("object"));
        let unknown = parse_client(r#"{"type":"fly","ref":"a"}"#).unwrap_err();
        assert!(unknown.message.contains("unknown type"));
        assert_eq!(unknown.reference.as_deref(), Some("a"));
        let fields = parse_client(r#"{"type":"bot.say","text":5,"ref":"b"}"#).unwrap_err();
        assert!(
            fields.message.contains("invalid bot.say"),
            "{}",
            fields.message
        );
        assert_eq!(fields.reference.as_deref(), Some("b"));
        assert!(parse_client(r#"{"type":"bot.say","text":"x","ref":3}"#).is_err());
    }

    #[test]
    fn server_messages_match_the_protocol() {
        let ack = ServerMsg::Ack {
            reference: Some("r".into()),
            id: Some("m".into()),
        };
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({"type":"ack","ref":"r","id":"m"})
        );
        let err = ServerMsg::error(None, ErrorCode::BadRequest, "no");
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type":"error","code":"bad_request","message":"no"})
        );
        let reply = ServerMsg::bot_reply(ChatMessage {
            id: "b".into(),
            source: Source::Bot,
            msg: "hi".into(),
            timestamp: "t".into(),
            in_reply_to: Some("h".into()),
        });
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"type":"bot.reply","id":"b","msg":"hi","timestamp":"t","in_reply_to":"h"})
        );
    }
}
