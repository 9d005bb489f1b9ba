//! The sockets this node holds, and which games and rooms each one follows. Nothing in it
//! is needed by another node: it only routes what Redis delivers (bot replies from
//! `response_channel`, game and room events from pub/sub) to the right local sockets.
//!
//! Each socket following a channel has a cursor (the game version or room stream ID it
//! has seen), so a state or message that reaches the node twice (pub/sub and a resync
//! after a reconnect) is delivered once, and a socket that is still joining a room buffers
//! what arrives until its history has been sent.
//!
//! A std `Mutex` guards the maps: it is held only for lookups and non-blocking
//! `try_send`s, never across an `.await`.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use crate::kpi::SocketKind;
use axum::extract::ws::{Message, Utf8Bytes};
use common::{
    game::model::Origin,
    protocol::{close, ChatMessage, RoomMessage, ServerMsg},
};

/// A position in a channel: a game's version, or a room stream ID as `ms << 64 | seq`.
pub type Position = u128;

/// Parses a stream ID (`1700000000000-3`) into a [`Position`].
pub fn stream_position(id: &str) -> Option<Position> {
    let (ms, seq) = id.split_once('-')?;
    Some((u128::from(ms.parse::<u64>().ok()?) << 64) | u128::from(seq.parse::<u64>().ok()?))
}

struct Conn {
    token: String,
    name: String,
    kind: SocketKind,
    outbox: Outbox,
    channels: HashSet<String>,
    /// Games this socket plays in, kept alive by the node's heartbeat, and whether each is
    /// over (as far as this node has seen).
    seats: HashMap<String, bool>,
    /// A quick-match game this socket waits in.
    queued: Option<String>,
}

#[derive(Default)]
struct Member {
    seen: Option<Position>,
    /// The frame at `seen` went out without a request's `ref`: a plain copy, which the
    /// socket whose request made that change still needs its answer after.
    plain_at_seen: bool,
    /// `Some` while joining: frames held back until the join's answer is sent, each with
    /// whether it carries its asker's `ref`.
    held: Option<Vec<Held>>,
}

/// A frame held back while a socket joins: its position, kind and text, and whether it
/// carries a `ref`.
type Held = (Position, &'static str, Utf8Bytes, bool);

impl Member {
    /// Counts a frame at `position` as seen without sending it (its sender is muted).
    fn pass(&mut self, position: Position) {
        if self.held.is_none() {
            self.seen = Some(position).max(self.seen);
        }
    }

    /// Delivers a frame at `position` (`with_ref`: the copy that carries its asker's
    /// `ref`) unless the follower has seen it; while it is joining, holds the frame back
    /// instead.
    fn offer(&mut self, outbox: &Outbox, frame: Held) {
        let (position, kind, text, with_ref) = frame;
        if let Some(held) = self.held.as_mut() {
            held.push((position, kind, text, with_ref));
        } else if self.seen.is_none_or(|seen| position > seen) {
            self.seen = Some(position);
            self.plain_at_seen = !with_ref;
            outbox.send_text(kind, &text);
        }
    }
}

#[derive(Default)]
struct Inner {
    conns: HashMap<u64, Conn>,
    by_token: HashMap<String, Vec<u64>>,
    channels: HashMap<String, HashMap<u64, Member>>,
    /// Sockets with a `bot.say` in hand whose `ack` is not queued yet: bot replies for
    /// them wait here, so a socket always gets the ack before the reply.
    held_replies: HashMap<u64, Vec<Utf8Bytes>>,
    /// Names muted by tokens with sockets here (only tokens that muted some).
    muted: HashMap<String, HashSet<String>>,
    /// The node shuts down: every socket was closed and no new one is let in.
    closing: bool,
}

/// Whether `token` has muted `name`, by the names muted on this node (`Inner::muted`).
fn mutes(muted: &HashMap<String, HashSet<String>>, token: &str, name: &str) -> bool {
    !muted.is_empty() && muted.get(token).is_some_and(|names| names.contains(name))
}

impl Inner {
    /// Socket `id` and its place among the followers of `channel`, if it follows it.
    fn follower(&mut self, channel: &str, id: u64) -> Option<(&Conn, &mut Member)> {
        let conn = self.conns.get(&id)?;
        let member = self.channels.get_mut(channel)?.get_mut(&id)?;
        Some((conn, member))
    }
}

/// Sockets of this node.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

/// Why a socket is not registered.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its token holds as many sockets on this node as allowed.
    TooMany,
    /// The node shuts down.
    ShuttingDown,
}

/// What a closed socket leaves behind for its task to clean up in Redis.
#[derive(Default)]
pub struct Leftovers {
    /// Channels no local socket follows any more: unsubscribe.
    pub emptied: Vec<String>,
    /// Channels the socket followed (rooms to leave).
    pub channels: Vec<String>,
    pub queued: Option<String>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while the lock was held must not take every socket down with
        // it: each change under the lock is a few map operations that leave the maps
        // consistent, so the data is used as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket; returns its ID on this node, or why it is refused: `token` already
    /// holds `most` sockets here, or the node shuts down.
    pub fn register(
        &self,
        token: &str,
        name: &str,
        kind: SocketKind,
        outbox: Outbox,
        most: usize,
    ) -> Result<u64, Refused> {
        let mut inner = self.lock();
        if inner.closing {
            return Err(Refused::ShuttingDown);
        }
        if most > 0
            && inner
                .by_token
                .get(token)
                .is_some_and(|ids| ids.len() >= most)
        {
            return Err(Refused::TooMany);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        inner.conns.insert(
            id,
            Conn {
                token: token.to_string(),
                name: name.to_string(),
                kind,
                outbox,
                channels: HashSet::new(),
                seats: HashMap::new(),
                queued: None,
            },
        );
        inner
            .by_token
            .entry(token.to_string())
            .or_default()
            .push(id);
        Ok(id)
    }

    /// Closes every socket with `close`, before what is queued for it, and lets no new
    /// one in: the node shuts down. Returns how many.
    pub fn close_all(&self, close: &Message) -> usize {
        let mut inner = self.lock();
        inner.closing = true;
        for conn in inner.conns.values() {
            conn.outbox.close_now(close.clone());
        }
        inner.conns.len()
    }

    /// One turn of the node's keepalive, run every second: a socket silent for `idle_ms`
    /// (at `now_ms`, see [`outbox::now_ms`]) is closed with 4000; one socket in
    /// `ping_turns` (by its ID, a different share at each `turn`) is sent a ping, so each
    /// is pinged every `ping_turns` turns and the pings spread over them. Returns how
    /// many were closed.
    pub fn keepalive(&self, now_ms: u64, idle_ms: u64, turn: u64, ping_turns: u64) -> usize {
        let inner = self.lock();
        let mut closed = 0;
        for (id, conn) in &inner.conns {
            if now_ms.saturating_sub(conn.outbox.last_read_ms()) >= idle_ms {
                let reason = format!("no traffic for {} s", idle_ms / 1000);
                conn.outbox.close_now(close_frame(close::IDLE, &reason));
                closed += 1;
            } else if id % ping_turns.max(1) == turn % ping_turns.max(1) {
                conn.outbox.send(Message::Ping(Default::default()));
            }
        }
        closed
    }

    /// How many of `channels` socket `id` follows (those `counts`).
    pub fn followed(&self, id: u64, counts: impl Fn(&str) -> bool) -> usize {
        self.lock()
            .conns
            .get(&id)
            .map_or(0, |conn| conn.channels.iter().filter(|c| counts(c)).count())
    }

    /// Removes a socket and everything it followed.
    pub fn unregister(&self, id: u64) -> Leftovers {
        let mut inner = self.lock();
        inner.held_replies.remove(&id);
        let Some(conn) = inner.conns.remove(&id) else {
            return Leftovers::default();
        };
        if let Some(ids) = inner.by_token.get_mut(&conn.token) {
            ids.retain(|c| *c != id);
            if ids.is_empty() {
                inner.by_token.remove(&conn.token);
                inner.muted.remove(&conn.token);
            }
        }
        let mut left = Leftovers {
            queued: conn.queued,
            ..Leftovers::default()
        };
        for channel in conn.channels {
            if let Some(members) = inner.channels.get_mut(&channel) {
                members.remove(&id);
                if members.is_empty() {
                    inner.channels.remove(&channel);
                    left.emptied.push(channel.clone());
                }
            }
            left.channels.push(channel);
        }
        left
    }

    /// Number of sockets held.
    pub fn sockets(&self) -> usize {
        self.lock().conns.len()
    }

    /// Tokens with sockets here.
    pub fn tokens(&self) -> Vec<String> {
        self.lock().by_token.keys().cloned().collect()
    }

    /// Sets the names `token` has muted, if it has sockets here.
    pub fn set_muted(&self, token: &str, names: Vec<String>) {
        let mut inner = self.lock();
        if !inner.by_token.contains_key(token) {
            return;
        }
        if names.is_empty() {
            inner.muted.remove(token);
        } else {
            inner
                .muted
                .insert(token.to_string(), names.into_iter().collect());
        }
    }

    /// Leaves out of `messages` those from names `token` has muted.
    pub fn drop_muted(&self, token: &str, messages: &mut Vec<RoomMessage>) {
        let inner = self.lock();
        messages.retain(|m| !mutes(&inner.muted, token, &m.from));
    }

    /// Hands a bot reply to every socket of `token` on this node.
    pub fn deliver_reply(&self, token: &str, msg: &ChatMessage) {
        let mut inner = self.lock();
        let Inner {
            conns,
            by_token,
            held_replies,
            ..
        } = &mut *inner;
        let Some(ids) = by_token.get(token) else {
            return;
        };
        let mut chat: Option<Utf8Bytes> = None;
        let mut ws: Option<Utf8Bytes> = None;
        for (id, conn) in ids.iter().filter_map(|id| Some((id, conns.get(id)?))) {
            let text = match conn.kind {
                SocketKind::Chat => chat.get_or_insert_with(|| {
                    serde_json::to_string(msg)
                        .expect("message serializes")
                        .into()
                }),
                SocketKind::Ws => {
                    ws.get_or_insert_with(|| ServerMsg::bot_reply(msg.clone()).to_json().into())
                }
            };
            match held_replies.get_mut(id) {
                Some(held) => held.push(text.clone()),
                None => conn.outbox.send_text("bot.reply", text),
            }
        }
    }

    /// Holds back bot replies for socket `id` until [`Hub::release_replies`].
    pub fn hold_replies(&self, id: u64) {
        self.lock().held_replies.insert(id, Vec::new());
    }

    /// Queues `answer` (the `ack` or error of a `bot.say`) for socket `id`, then the bot
    /// replies held back meanwhile.
    pub fn release_replies(&self, id: u64, answer: &ServerMsg) {
        let mut inner = self.lock();
        let held = inner.held_replies.remove(&id).unwrap_or_default();
        if let Some(conn) = inner.conns.get(&id) {
            conn.outbox.send_json(answer);
            for text in held {
                conn.outbox.send_text("bot.reply", &text);
            }
        }
    }

    /// Starts following `channel`; `joining` holds deliveries back until
    /// [`Hub::joined`]. Returns whether it is the first local follower (subscribe).
    pub fn follow(&self, channel: &str, id: u64, joining: bool) -> bool {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.get_mut(&id) else {
            return false;
        };
        conn.channels.insert(channel.to_string());
        let members = inner.channels.entry(channel.to_string()).or_default();
        let first = members.is_empty();
        let member = members.entry(id).or_default();
        if joining {
            member.held = Some(Vec::new());
        }
        first
    }

    /// Stops following `channel`; returns whether no local socket follows it any more.
    pub fn unfollow(&self, channel: &str, id: u64) -> bool {
        let mut inner = self.lock();
        if let Some(conn) = inner.conns.get_mut(&id) {
            conn.channels.remove(channel);
        }
        let Some(members) = inner.channels.get_mut(channel) else {
            return true;
        };
        members.remove(&id);
        if members.is_empty() {
            inner.channels.remove(channel);
            return true;
        }
        false
    }

    pub fn follows(&self, channel: &str, id: u64) -> bool {
        self.lock()
            .channels
            .get(channel)
            .is_some_and(|m| m.contains_key(&id))
    }

    pub fn has_followers(&self, channel: &str) -> bool {
        self.lock().channels.contains_key(channel)
    }

    /// Every channel followed here.
    pub fn channels(&self) -> Vec<String> {
        self.lock().channels.keys().cloned().collect()
    }

    /// The lowest position any follower of `channel` has seen (where a resync starts).
    pub fn low_position(&self, channel: &str) -> Option<Position> {
        let inner = self.lock();
        inner
            .channels
            .get(channel)?
            .values()
            .filter_map(|m| m.seen)
            .min()
    }

    /// Ends a join: sends `answer` (seen up to `position`), then what was held back and
    /// is newer, in position order.
    pub fn joined(&self, channel: &str, id: u64, position: Option<Position>, answer: &ServerMsg) {
        let mut inner = self.lock();
        let Some((conn, member)) = inner.follower(channel, id) else {
            return;
        };
        conn.outbox.send_json(answer);
        if position > member.seen {
            member.seen = position;
            member.plain_at_seen = false;
        }
        // In position order, whatever order they came in (a catch-up after a lost
        // subscription may interleave with live events): one out of order would make the
        // cursor drop the ones before it.
        let mut held = member.held.take().unwrap_or_default();
        held.sort_by_key(|(pos, ..)| *pos);
        for frame in held {
            member.offer(&conn.outbox, frame);
        }
    }

    /// Sends `frame` (at `position`) to the follower that asked for it, whatever it has
    /// seen, and counts it as seen.
    pub fn answer(&self, channel: &str, id: u64, position: Position, frame: &ServerMsg) {
        let mut inner = self.lock();
        let Inner {
            conns, channels, ..
        } = &mut *inner;
        let Some(conn) = conns.get(&id) else { return };
        conn.outbox.send_json(frame);
        if let Some(member) = channels.get_mut(channel).and_then(|m| m.get_mut(&id)) {
            if Some(position) > member.seen {
                member.seen = Some(position);
                member.plain_at_seen = false;
            }
        }
    }

    /// Sends the change a follower's own request made (at `position`) to that follower,
    /// unless the same change already reached it through pub/sub. So the asker gets its
    /// answer even when the pub/sub copy is lost (e.g. while the subscriber reconnects).
    /// Only for channels whose every event supersedes the earlier ones (a game's state):
    /// events still on their way with a lower position are dropped for this follower.
    ///
    /// When the request had a `ref` (`with_ref`) and the change reached the socket as a
    /// plain copy without it (the catch-up after a lost subscription read the game before
    /// this answer came back), the same state goes out once more with the `ref`: the asker
    /// always gets its answer.
    pub fn answer_change(
        &self,
        channel: &str,
        id: u64,
        position: Position,
        frame: &ServerMsg,
        with_ref: bool,
    ) {
        let mut inner = self.lock();
        let Some((conn, member)) = inner.follower(channel, id) else {
            return;
        };
        let plain = member.seen == Some(position) && member.plain_at_seen;
        if with_ref && plain && member.held.is_none() {
            member.plain_at_seen = false;
            conn.outbox.send_json(frame);
            return;
        }
        let text = frame.to_json().into();
        member.offer(&conn.outbox, (position, frame.kind(), text, with_ref));
    }

    /// Delivers an event at `position` to every follower that has not seen it. The socket
    /// named by `origin` (on `node`) gets `with_ref`, the others `plain`. An event `from` a
    /// name that a follower's token has muted only counts as seen for that follower.
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        channel: &str,
        position: Position,
        node: &str,
        origin: Option<&Origin>,
        from: Option<&str>,
        plain: &ServerMsg,
        with_ref: impl Fn() -> ServerMsg,
    ) {
        let mut inner = self.lock();
        let Inner {
            conns,
            channels,
            muted,
            ..
        } = &mut *inner;
        let Some(members) = channels.get_mut(channel) else {
            return;
        };
        let mut plain_text: Option<Utf8Bytes> = None;
        for (id, member) in members.iter_mut() {
            let Some(conn) = conns.get(id) else { continue };
            if from.is_some_and(|from| mutes(muted, &conn.token, from)) {
                member.pass(position);
                continue;
            }
            let is_origin =
                origin.is_some_and(|o| o.node == node && o.conn == *id && o.reference.is_some());
            let text: Utf8Bytes = if is_origin {
                with_ref().to_json().into()
            } else {
                plain_text
                    .get_or_insert_with(|| plain.to_json().into())
                    .clone()
            };
            member.offer(&conn.outbox, (position, plain.kind(), text, is_origin));
        }
    }

    /// Sends a presence event to the followers of `channel`, except the sockets of `name`
    /// (and, when `mutable`, of tokens that muted `name`: typing).
    pub fn presence(&self, channel: &str, name: &str, frame: &ServerMsg, mutable: bool) {
        let inner = self.lock();
        let Some(members) = inner.channels.get(channel) else {
            return;
        };
        let text: Utf8Bytes = frame.to_json().into();
        for id in members.keys() {
            let to = inner.conns.get(id).filter(|c| c.name != name);
            if let Some(conn) = to.filter(|c| !(mutable && mutes(&inner.muted, &c.token, name))) {
                conn.outbox.send_text(frame.kind(), &text);
            }
        }
    }

    /// Sends `frame` to every follower of `channel`.
    pub fn to_followers(&self, channel: &str, frame: &ServerMsg) {
        let inner = self.lock();
        let Some(members) = inner.channels.get(channel) else {
            return;
        };
        let text: Utf8Bytes = frame.to_json().into();
        for conn in members.keys().filter_map(|id| inner.conns.get(id)) {
            conn.outbox.send_text(frame.kind(), &text);
        }
    }

    /// Closes with `close` every socket of `token` (if given) and of `name` (if given);
    /// returns how many.
    pub fn close_sockets(&self, token: Option<&str>, name: Option<&str>, close: &Message) -> usize {
        let inner = self.lock();
        let mut closed = 0;
        for conn in inner.conns.values() {
            if token == Some(conn.token.as_str()) || name == Some(conn.name.as_str()) {
                conn.outbox.send(close.clone());
                closed += 1;
            }
        }
        closed
    }

    /// Whether another local socket of `name` follows `channel` (presence is per name).
    pub fn name_follows(&self, channel: &str, name: &str, except: u64) -> bool {
        let inner = self.lock();
        inner.channels.get(channel).is_some_and(|members| {
            members
                .keys()
                .any(|id| *id != except && inner.conns.get(id).is_some_and(|c| c.name == name))
        })
    }

    /// Names following room channels here, for the presence heartbeat: `(channel, name)`.
    pub fn room_names(&self, is_room: impl Fn(&str) -> bool) -> HashSet<(String, String)> {
        let inner = self.lock();
        let mut names = HashSet::new();
        for (channel, members) in &inner.channels {
            if is_room(channel) {
                for id in members.keys() {
                    if let Some(conn) = inner.conns.get(id) {
                        names.insert((channel.clone(), conn.name.clone()));
                    }
                }
            }
        }
        names
    }
}

mod outbox;
mod seats;
#[cfg(test)]
mod tests;

pub use outbox::{close_frame, now_ms, Frames, Outbox};
