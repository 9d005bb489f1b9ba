//! Chat rooms between people: `room.join` (with exact recovery through `since`),
//! `room.say`, `room.leave`, and presence per name that survives the loss of a node.
//!
//! A room's messages are a capped stream (`room:{R}:log`), so IDs grow with time and a
//! client that names the last ID it saw gets exactly what came after it. Presence is a
//! sorted set of `NODE \x1f NAME` with expiries that each node refreshes while it holds a
//! socket of that name in the room; a dead node's entries expire and any node's sweeper
//! announces those names as left.

use std::{collections::HashMap, time::Duration};

use common::{
    clock,
    deadlines::{self, Claims},
    error::StoreError,
    game::model::Origin,
    keys,
    protocol::RoomMessage,
};
use fred::{prelude::*, types::scripts::Script};

use crate::hub::{stream_position, Position};

/// Messages in `room.joined` without `since`.
pub const HISTORY: usize = 50;
/// Longest room message, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// How long a node's presence entry lives without a refresh.
pub const PRESENCE_TTL_MS: i64 = 30_000;
/// Names of one room refreshed by one pair of `ZADD`s: a large room's in a few commands,
/// none of them long for Redis.
const NAMES_PER_REFRESH: usize = 500;

/// Checks a room name: 1 to 64 characters from letters, digits and `:_-.`.
pub fn validate(room: &str) -> Result<(), &'static str> {
    if room.is_empty() || room.chars().count() > 64 {
        return Err("room names have 1 to 64 characters");
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":_-.".contains(c))
    {
        return Err("room names use letters, digits and :_-.");
    }
    Ok(())
}

/// Who is present in a room, as a joiner gets it.
pub struct Present {
    /// Names present, sorted, each once: all of them in a small room, some in a large one.
    pub names: Vec<String>,
    /// How many are present: the names in a small room; in a large one, the presence
    /// entries (a name on two nodes counts twice).
    pub count: u64,
}

/// Room storage and scripts.
pub struct Rooms {
    client: Client,
    /// How long a room's log lives after its last message (a game's room: as its game).
    retention_secs: u64,
    /// Presence entries past which a room is large (`PRESENCE_MAX`; `u64::MAX`: none).
    presence_max: u64,
    say: Script,
    presence: Script,
    claims: Claims,
    publish: &'static str,
}

fn presence_member(node: &str, name: &str) -> String {
    format!("{node}\x1f{name}")
}

/// The names of presence members (`NODE \x1f NAME`), sorted, each once.
fn names_of(live: &[String]) -> Vec<String> {
    let mut names: Vec<String> = live
        .iter()
        .filter_map(|m| m.split_once('\x1f'))
        .map(|(_, n)| n.to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What the presence script lists: the live entries and some or all of them.
fn present_of((live, members): (u64, Vec<String>)) -> Present {
    let names = names_of(&members);
    // A complete list counts names; a part of a large room's can only count entries.
    let count = if members.len() as u64 >= live {
        names.len() as u64
    } else {
        live
    };
    Present { names, count }
}

fn message_of(room: &str, id: String, mut fields: HashMap<String, String>) -> RoomMessage {
    RoomMessage {
        room: room.to_string(),
        id,
        from: fields.remove("from").unwrap_or_default(),
        text: fields.remove("text").unwrap_or_default(),
        timestamp: fields.remove("ts").unwrap_or_default(),
    }
}

impl Rooms {
    pub fn new(client: Client, sharded: bool, retention_secs: u64, presence_max: u64) -> Self {
        Rooms {
            client,
            retention_secs,
            presence_max: if presence_max == 0 {
                u64::MAX
            } else {
                presence_max
            },
            say: Script::from_lua(include_str!("../scripts/room_say.lua")),
            presence: Script::from_lua(include_str!("../scripts/room_presence.lua")),
            claims: Claims::default(),
            publish: if sharded { "SPUBLISH" } else { "PUBLISH" },
        }
    }

    /// Stores and publishes a message; returns it as stored.
    pub async fn say(
        &self,
        room: &str,
        name: &str,
        text: &str,
        origin: &Origin,
    ) -> Result<RoomMessage, StoreError> {
        let timestamp = clock::now_rfc3339();
        let args = vec![
            self.publish.to_string(),
            keys::room_channel(room),
            serde_json::to_string(origin)?,
            room.to_string(),
            name.to_string(),
            text.to_string(),
            timestamp.clone(),
            keys::ROOM_LOG_MAXLEN.to_string(),
            if keys::is_game_room(room) {
                keys::GAME_TTL_SECS
            } else {
                self.retention_secs
            }
            .to_string(),
        ];
        let id: String = self
            .say
            .evalsha_with_reload(
                &self.client,
                vec![keys::room_log(room), keys::room_last(room)],
                args,
            )
            .await?;
        Ok(RoomMessage {
            room: room.to_string(),
            id,
            from: name.to_string(),
            text: text.to_string(),
            timestamp,
        })
    }

    async fn presence_op<R: FromValue>(
        &self,
        room: &str,
        op: &str,
        member: &str,
        expiry: i64,
    ) -> Result<R, StoreError> {
        let args = vec![
            op.to_string(),
            clock::now_millis().to_string(),
            self.publish.to_string(),
            keys::room_channel(room),
            member.to_string(),
            expiry.to_string(),
            self.presence_max.to_string(),
        ];
        Ok(self
            .presence
            .evalsha_with_reload(&self.client, vec![keys::room_presence(room)], args)
            .await?)
    }

    /// `name` is present in `room` through `node` (announced if it was not present and
    /// the room is small); returns who is present now, as [`Rooms::members`] does. The
    /// presence and its deadline in the index (another slot on a cluster) are written at
    /// once.
    pub async fn arrive(&self, room: &str, node: &str, name: &str) -> Result<Present, StoreError> {
        let expiry = clock::now_millis() + PRESENCE_TTL_MS;
        let member = presence_member(node, name);
        let (listing, ()) = tokio::try_join!(
            self.presence_op(room, "join", &member, expiry),
            self.index(room, node, name, expiry)
        )?;
        Ok(present_of(listing))
    }

    /// `node` no longer holds `name` in `room` (announced if no other node does).
    pub async fn depart(&self, room: &str, node: &str, name: &str) -> Result<(), StoreError> {
        let unindexed = async {
            let _: i64 = self
                .client
                .zrem(keys::ROOM_DEADLINES, index_member(room, node, name))
                .await?;
            Ok::<_, StoreError>(())
        };
        let member = presence_member(node, name);
        let (_, ()): (i64, ()) =
            tokio::try_join!(self.presence_op(room, "leave", &member, 0), unindexed)?;
        Ok(())
    }

    /// `name` arrives through `node` in `room`, which nobody else can be in or know of
    /// yet (a game's chat before the game's ID is given out): its presence and its deadline
    /// in the index are written at once, without the presence script (nobody to announce
    /// the arrival to, nobody else to list).
    pub async fn arrive_first(
        &self,
        room: &str,
        node: &str,
        name: &str,
    ) -> Result<Present, StoreError> {
        self.refresh(room, node, &[name.to_string()]).await?;
        Ok(Present {
            names: vec![name.to_string()],
            count: 1,
        })
    }

    /// Refreshes `node`'s presence of each of `names` in `room`, and their deadlines in the
    /// index (in another slot on a cluster): a `ZADD` for the room and one for the index,
    /// at once, for every [`NAMES_PER_REFRESH`] names.
    pub async fn refresh(
        &self,
        room: &str,
        node: &str,
        names: &[String],
    ) -> Result<(), StoreError> {
        let expiry = clock::now_millis() as f64 + PRESENCE_TTL_MS as f64;
        for part in names.chunks(NAMES_PER_REFRESH) {
            let present: Vec<(f64, String)> = part
                .iter()
                .map(|name| (expiry, presence_member(node, name)))
                .collect();
            let indexed: Vec<(f64, String)> = part
                .iter()
                .map(|name| (expiry, index_member(room, node, name)))
                .collect();
            let (_, _): ((), ()) = tokio::try_join!(
                self.client
                    .zadd(keys::room_presence(room), None, None, false, false, present),
                self.client
                    .zadd(keys::ROOM_DEADLINES, None, None, false, false, indexed)
            )?;
        }
        Ok(())
    }

    async fn index(
        &self,
        room: &str,
        node: &str,
        name: &str,
        expiry: i64,
    ) -> Result<(), StoreError> {
        deadlines::set(
            &self.client,
            keys::ROOM_DEADLINES,
            index_member(room, node, name),
            expiry,
        )
        .await
    }

    /// Removes expired presence (of dead nodes) from the rooms where some has expired:
    /// claims up to `limit` due entries of the index for `lease` (see [`Claims`]), expires
    /// each of their rooms once (one `expire` removes all of a room's expired presence),
    /// then drops the entries. Returns how many entries it claimed.
    pub async fn sweep(&self, limit: i64, lease: Duration) -> Result<usize, StoreError> {
        let overdue = self
            .claims
            .claim(&self.client, keys::ROOM_DEADLINES, limit, lease)
            .await?;
        if overdue.is_empty() {
            return Ok(0);
        }
        let mut rooms: Vec<&str> = overdue
            .iter()
            .filter_map(|member| Some(member.split_once('\x1f')?.0))
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        for room in rooms {
            let _: i64 = self.presence_op(room, "expire", "", 0).await?;
        }
        let claimed = overdue.len();
        let _: i64 = self.client.zrem(keys::ROOM_DEADLINES, overdue).await?;
        Ok(claimed)
    }

    /// Who is present in `room`: every name of a small room, `PRESENCE_MAX` entries'
    /// names of a large one, with the count.
    pub async fn members(&self, room: &str) -> Result<Present, StoreError> {
        Ok(present_of(self.presence_op(room, "list", "", 0).await?))
    }

    /// The last [`HISTORY`] messages, oldest first.
    pub async fn recent(&self, room: &str) -> Result<Vec<RoomMessage>, StoreError> {
        let entries: Vec<(String, HashMap<String, String>)> = self
            .client
            .xrevrange(keys::room_log(room), "+", "-", Some(HISTORY as u64))
            .await?;
        Ok(entries
            .into_iter()
            .rev()
            .map(|(id, f)| message_of(room, id, f))
            .collect())
    }

    /// Every message after `id` if `id` itself is still kept (then none is missing);
    /// `None` when it is not.
    pub async fn after(
        &self,
        room: &str,
        id: &str,
    ) -> Result<Option<Vec<RoomMessage>>, StoreError> {
        if stream_position(id).is_none() {
            return Ok(None);
        }
        let log = keys::room_log(room);
        let first: Vec<(String, HashMap<String, String>)> =
            self.client.xrange(&log, id, "+", Some(1)).await?;
        if first.first().map(|(found, _)| found.as_str()) != Some(id) {
            return Ok(None);
        }
        let rest: Vec<(String, HashMap<String, String>)> = self
            .client
            .xrange(&log, format!("({id}"), "+", None)
            .await?;
        Ok(Some(
            rest.into_iter()
                .map(|(i, f)| message_of(room, i, f))
                .collect(),
        ))
    }

    /// Tells the room's followers on every node that `name` is typing: published only,
    /// never stored.
    pub async fn typing(&self, room: &str, name: &str) -> Result<(), StoreError> {
        self.tell(room, serde_json::json!({ "typing": name })).await
    }

    /// Removes message `id` from the room's log and tells the room's followers on every
    /// node; `false` when the log has no such message.
    pub async fn delete(&self, room: &str, id: &str) -> Result<bool, StoreError> {
        let removed: i64 = self.client.xdel(keys::room_log(room), id).await?;
        if removed == 0 {
            return Ok(false);
        }
        self.tell(room, serde_json::json!({ "deleted": id }))
            .await?;
        Ok(true)
    }

    /// Publishes an event that is not stored on the room's channel.
    async fn tell(&self, room: &str, event: serde_json::Value) -> Result<(), StoreError> {
        let (channel, event) = (keys::room_channel(room), event.to_string());
        let _: i64 = if self.publish == "SPUBLISH" {
            self.client.spublish(channel, event).await?
        } else {
            self.client.publish(channel, event).await?
        };
        Ok(())
    }

    /// Messages of `room` after `since` (all kept ones when `None`), each with the request
    /// that said it where the log kept it, for a node that missed them.
    pub async fn messages_after(
        &self,
        room: &str,
        since: Option<Position>,
    ) -> Result<Vec<(RoomMessage, Option<Origin>)>, StoreError> {
        let start = match since {
            Some(p) => format!("({}-{}", p >> 64, p & u128::from(u64::MAX)),
            None => "-".to_string(),
        };
        let entries: Vec<(String, HashMap<String, String>)> = self
            .client
            .xrange(keys::room_log(room), start, "+", None)
            .await?;
        Ok(entries
            .into_iter()
            .map(|(id, mut fields)| {
                let origin = fields
                    .remove("origin")
                    .and_then(|o| serde_json::from_str(&o).ok());
                (message_of(room, id, fields), origin)
            })
            .collect())
    }
}

fn index_member(room: &str, node: &str, name: &str) -> String {
    format!("{room}\x1f{node}\x1f{name}")
}
