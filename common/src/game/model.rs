//! The game object of the protocol and who asked for a change: plain data, no Redis.

use serde::{Deserialize, Serialize};

use super::rules::Mark;

/// How a game stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Waiting,
    Playing,
    Won,
    Draw,
    Abandoned,
    /// The player to move let the turn clock run out; `winner` is the other seat.
    Timeout,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Players {
    #[serde(rename = "X")]
    pub x: Option<String>,
    #[serde(rename = "O")]
    pub o: Option<String>,
}

/// The game object of docs/protocol.md (`bot` is added: the bot's mark in a game against it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    pub id: String,
    pub board: [Option<Mark>; 9],
    pub next: Option<Mark>,
    pub players: Players,
    pub status: Status,
    pub winner: Option<Mark>,
    pub line: Option<[usize; 3]>,
    pub version: u64,
    pub vs_bot: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<Mark>,
    /// The seat that asked for a rematch while the other has not yet (games between people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rematch: Option<Mark>,
    /// The seat whose player left the game or was gone too long (games between people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Mark>,
    /// While a game between people is played with the turn clock on: when (epoch ms) the
    /// player to move loses by `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_deadline: Option<i64>,
    /// The cell of the latest move (0..8), once a move has been made since the board was
    /// last cleared (the game's start or a rematch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_move: Option<u8>,
}

impl Game {
    pub fn name_of(&self, mark: Mark) -> Option<&str> {
        match mark {
            Mark::X => self.players.x.as_deref(),
            Mark::O => self.players.o.as_deref(),
        }
    }

    /// Whether the game has ended (won, drawn, abandoned or lost on time).
    pub fn is_over(&self) -> bool {
        !matches!(self.status, Status::Waiting | Status::Playing)
    }

    /// Whether the bot is to move.
    pub fn bots_turn(&self) -> bool {
        self.vs_bot
            && self.status == Status::Playing
            && self.next.is_some()
            && self.next == self.bot
    }
}

/// Who asked for a change: the published state carries it, so the node holding that
/// socket adds the request's `ref` to its copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub node: String,
    pub conn: u64,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The token that holds the bot's seat.
pub const BOT_TOKEN: &str = "@bot";
