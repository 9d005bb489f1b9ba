//! Every Redis key, stream, consumer group and cap used by the programs, named in one place.
//!
//! Keys that other programs rely on (`session:<token>`, `message_channel`,
//! `response_channel`) are part of the public contract in docs/protocol.md and must not change.

/// Stream of human chat messages, read by the workers through [`WORKER_GROUP`].
pub const MESSAGE_CHANNEL: &str = "message_channel";

/// Stream of bot replies, read by every server node.
pub const RESPONSE_CHANNEL: &str = "response_channel";

/// Consumer group of the workers on [`MESSAGE_CHANNEL`].
pub const WORKER_GROUP: &str = "workers";

/// Approximate cap (`MAXLEN ~`) of [`MESSAGE_CHANNEL`] and [`RESPONSE_CHANNEL`].
pub const CHANNEL_MAXLEN: i64 = 100_000;

/// The RedisJSON session document of one token.
pub fn session(token: &str) -> String {
    format!("session:{token}")
}

/// Pub/sub channel every node follows: a token's muted names changed
/// (`{"token":T,"muted":[NAMES]}`), for the nodes holding its sockets.
pub const MUTES_CHANNEL: &str = "users:muted";

/// Pub/sub channel every node follows: an operator disconnects a token's or a name's sockets
/// (`{"token":T}` or `{"name":N}`).
pub const DISCONNECT_CHANNEL: &str = "users:disconnect";

/// A token banned by an operator, until the key expires.
pub fn ban_of_token(token: &str) -> String {
    format!("ban:token:{token}")
}

/// A name banned by an operator (every token of it, and new sessions with it), until the
/// key expires.
pub fn ban_of_name(name: &str) -> String {
    format!("ban:name:{name}")
}

/// Stream of operators' actions (who, what, when), capped at [`AUDIT_MAXLEN`].
pub const AUDIT: &str = "admin:audit";

/// Cap (`MAXLEN ~`) of [`AUDIT`].
pub const AUDIT_MAXLEN: i64 = 10_000;

/// Live nodes: member the node ID, score its last heartbeat (ms).
pub const NODES: &str = "admin:nodes";

/// One node's heartbeat: its sockets, when it started, its last beat.
pub fn node_info(id: &str) -> String {
    format!("admin:node:{{{id}}}")
}

/// Failed operator logins of one client IP in the current minute.
pub fn rate_of_admin(ip: &str) -> String {
    format!("rate:{{admin:{ip}}}:1m")
}

/// Stream of games where it is the bot's turn, read by the workers through [`WORKER_GROUP`].
pub const BOT_TURNS: &str = "bot_turns";

/// Cap of [`BOT_TURNS`].
pub const BOT_TURNS_MAXLEN: i64 = 10_000;

/// The game object of docs/protocol.md (a JSON string). All keys of one game share the hash tag `{ID}`.
pub fn game(id: &str) -> String {
    format!("game:{{{id}}}")
}

/// Hash of one game's private seat data: `X`/`O` → token, `seen:TOKEN` → last sign of
/// life (ms), `rematch:X`/`rematch:O` → asked, `rematched` → the version the latest
/// rematch started at, `result:VERSION` → a result not counted yet.
pub fn game_seats(id: &str) -> String {
    format!("game:{{{id}}}:seats")
}

/// Pub/sub channel of one game's changes (same slot as the game, for sharded pub/sub).
pub fn game_channel(id: &str) -> String {
    format!("game:{{{id}}}:events")
}

/// The game of a game channel ([`game_channel`]), for a node reading pub/sub.
pub fn game_of_channel(channel: &str) -> Option<&str> {
    channel.strip_prefix("game:{")?.strip_suffix("}:events")
}

/// The chat room of a game.
pub fn game_room(id: &str) -> String {
    format!("game:{id}")
}

/// How long a game's keys live after its last change of status (`game.lua`'s TTL), and
/// so its chat's log after its last message.
pub const GAME_TTL_SECS: u64 = 86_400;

/// Whether `room` is the chat room of a game.
pub fn is_game_room(room: &str) -> bool {
    room.starts_with("game:")
}

/// List of quick-match games waiting for an opponent: `ID \x1f TOKEN`.
pub const MATCH_QUEUE: &str = "matchmaking:queue";

/// Index of the turn clocks of games in play: member the game ID, score the time (ms) at
/// which a sweeper checks whether the player to move has run out of time (never later than
/// the game's `turn_deadline`).
pub const TURN_DEADLINES: &str = "games:turn_deadlines";

/// Index of seated players' deadlines: member `ID \x1f SEAT`, score the time (ms) after
/// which the seat counts as abandoned unless its node refreshed it. A sweep claims the
/// entries that are due by moving them a short lease ahead (`deadlines`).
pub const SEAT_DEADLINES: &str = "presence:seats";

/// Capped stream of one room's messages.
pub fn room_log(room: &str) -> String {
    format!("room:{{{room}}}:log")
}

/// The ID of a room's last message (so the next one can name it), living as its log does.
pub fn room_last(room: &str) -> String {
    format!("room:{{{room}}}:last")
}

/// Cap of a room's stream.
pub const ROOM_LOG_MAXLEN: i64 = 5_000;

/// Sorted set of one room's presence: member `NODE \x1f NAME`, score its expiry (ms).
pub fn room_presence(room: &str) -> String {
    format!("room:{{{room}}}:presence")
}

/// Pub/sub channel of one room's messages and presence events.
pub fn room_channel(room: &str) -> String {
    format!("room:{{{room}}}:events")
}

/// The room of a room channel ([`room_channel`]), for a node reading pub/sub.
pub fn room_of_channel(channel: &str) -> Option<&str> {
    channel.strip_prefix("room:{")?.strip_suffix("}:events")
}

/// Index of room presence expiries: member `ROOM \x1f NODE \x1f NAME`, score its expiry (ms),
/// so presence held by a dead node is found and removed.
pub const ROOM_DEADLINES: &str = "presence:rooms";

/// Sorted set of wins by player name. Leaderboard keys share the hash tag `{lb}`.
pub const LEADERBOARD: &str = "leaderboard:{lb}:wins";

/// Sorted set of the results counted in the last hour, `GAME:VERSION` scored by when (ms),
/// so that no finished game is counted twice.
pub const RESULTS_COUNTED: &str = "leaderboard:{lb}:counted";

/// Hash of one player's `wins`, `losses` and `draws`.
pub fn player_stats(name: &str) -> String {
    format!("leaderboard:{{lb}}:player:{name}")
}

/// HyperLogLog of the names that played on one UTC day (`YYYYMMDD`).
pub fn players_of_day(day: &str) -> String {
    format!("players:{day}")
}

/// Frames counted for one token's rate limit in a window (`5s` or `1m`). Both windows of a
/// token share the hash tag `{TOKEN}`, so one script checks them on one slot.
pub fn rate_of_token(token: &str, window: &str) -> String {
    format!("rate:{{{token}}}:{window}")
}

/// `POST /token` requests counted for one client IP in the current minute.
pub fn rate_of_ip(ip: &str) -> String {
    format!("rate:{{ip:{ip}}}:1m")
}

/// Hash of WebSocket sessions opened through one app (`chat`, `ws`) on one node on one UTC
/// day (`YYYYMMDD`): fields `day` and `0`…`23`. Keys of one day share the hash tag `{DAY}`.
pub fn kpi(day: &str, app: &str, node: &str) -> String {
    format!("kpi:{{{day}}}:{app}:{node}")
}

/// Set of the `APP \x1f NODE` pairs that have a [`kpi`] hash on one day.
pub fn kpi_index(day: &str) -> String {
    format!("kpi:{{{day}}}:index")
}

/// How long KPI counts are kept, in seconds.
pub const KPI_TTL_SECS: i64 = 90 * 24 * 3600;

/// Hash of the frames handled in one minute (Unix time of its start, in seconds), by every
/// node: fields `KIND:n` (count) and `KIND:us` (handling time in microseconds).
pub fn stats(minute_epoch: i64) -> String {
    format!("stats:{{{minute_epoch}}}")
}

/// How long a minute's stats are kept, in seconds (the current and two previous minutes
/// are read).
pub const STATS_TTL_SECS: i64 = 300;

#[cfg(test)]
mod tests {
    #[test]
    fn session_key_matches_the_contract() {
        assert_eq!(super::session("abc"), "session:abc");
    }

    #[test]
    fn keys_of_one_game_or_room_share_a_hash_tag() {
        for key in [
            super::game("g1"),
            super::game_seats("g1"),
            super::game_channel("g1"),
        ] {
            assert!(key.contains("{g1}"), "{key}");
        }
        for key in [
            super::room_log("lobby"),
            super::room_last("lobby"),
            super::room_presence("lobby"),
            super::room_channel("lobby"),
        ] {
            assert!(key.contains("{lobby}"), "{key}");
        }
    }

    #[test]
    fn channels_are_read_back_as_their_game_or_room() {
        let (game, room) = (super::game_channel("g1"), super::room_channel("lobby"));
        assert_eq!(super::game_of_channel(&game), Some("g1"));
        assert_eq!(super::room_of_channel(&room), Some("lobby"));
        assert_eq!(super::game_of_channel(&room), None);
        assert_eq!(super::room_of_channel(&game), None);
        let game_chat = super::room_channel(&super::game_room("g1"));
        assert_eq!(super::room_of_channel(&game_chat), Some("game:g1"));
    }
}
