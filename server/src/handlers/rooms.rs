//! The room requests of `/ws`: `room.join` (with exact recovery through `since`),
//! `room.say` and `room.leave`. The rooms themselves are in
//! [`stores::rooms`](crate::stores::rooms).

use std::time::{Duration, Instant};

use common::{
    error::StoreError,
    keys,
    protocol::{ErrorCode, ServerMsg},
};

use super::{origin, peer::Peer, refuse, unavailable, Following, Refusal};
use crate::{
    hub::stream_position,
    node::state::AppState,
    stores::rooms::{validate, Present, MAX_TEXT_CHARS},
};

/// `room.join`: follow the room, be present in it, get its history.
pub async fn join(
    peer: &Peer<'_>,
    room: &str,
    since: Option<&str>,
    reference: Option<String>,
) -> Result<(), Refusal> {
    let channel = may_join(peer, room)?;
    let following = follow(peer, channel).await;
    enter(peer, room, following, since, reference, None).await
}

/// What a join checks before any round trip: the room's name, and that the socket may
/// follow one more room. Answers the room's channel.
pub(super) fn may_join(peer: &Peer<'_>, room: &str) -> Result<String, Refusal> {
    validate(room).map_err(|why| refuse(ErrorCode::BadRequest, why))?;
    let state = peer.state;
    let channel = keys::room_channel(room);
    let most = state.config.max_rooms_per_socket;
    if most > 0
        && !state.hub.follows(&channel, peer.id)
        && state
            .hub
            .followed(peer.id, |c| keys::room_of_channel(c).is_some())
            >= most
    {
        return Err(refuse(
            ErrorCode::LimitReached,
            format!("a socket follows at most {most} rooms (game chats included): leave one first"),
        ));
    }
    Ok(channel)
}

/// Follows a room's channel for a join: its deliveries wait for the join's answer
/// ([`enter`]), and a join that fails half-way unfollows it.
pub(super) async fn follow<'a>(peer: &Peer<'a>, channel: String) -> Following<'a> {
    Following::start(peer, channel, true).await
}

/// The rest of a join, once the socket follows the room: its presence and history, read
/// at once (one round trip to Redis instead of one after the other), and the answer. A
/// room the socket has `arrived` in already (a game's chat as the game is created, see
/// [`Rooms::arrive_first`](crate::stores::rooms::Rooms::arrive_first): no one else can
/// be in it or have written to it) has no presence or history to read.
pub(super) async fn enter(
    peer: &Peer<'_>,
    room: &str,
    following: Following<'_>,
    since: Option<&str>,
    reference: Option<String>,
    arrived: Option<Present>,
) -> Result<(), Refusal> {
    let state = peer.state;
    let channel = keys::room_channel(room);
    let new = arrived.is_some();
    let present = async {
        if let Some(present) = arrived {
            Ok(present)
        } else if state.hub.name_follows(&channel, &peer.name, peer.id) {
            state.rooms.members(room).await
        } else {
            state.rooms.arrive(room, &state.node_id, &peer.name).await
        }
    };
    let history = async {
        Ok::<_, StoreError>(match since {
            _ if new => (Vec::new(), false),
            Some(id) => match state.rooms.after(room, id).await? {
                Some(after) => (after, true),
                None => (state.rooms.recent(room).await?, false),
            },
            None => (state.rooms.recent(room).await?, false),
        })
    };
    let (present, (mut history, recovered)) =
        tokio::try_join!(present, history).map_err(unavailable)?;
    following.keep();
    let seen = history
        .last()
        .and_then(|m| stream_position(&m.id))
        .or_else(|| since.filter(|_| recovered).and_then(stream_position));
    // Seen up to the last message all the same: muted ones are left out, not missing.
    state.hub.drop_muted(&peer.token, &mut history);
    let answer = ServerMsg::RoomJoined {
        reference,
        room: room.to_string(),
        members: present.names,
        member_count: present.count,
        history,
        recovered,
    };
    state.hub.joined(&channel, peer.id, seen, &answer);
    Ok(())
}

/// `room.say`: only a socket that joined the room may speak in it.
pub async fn say(
    peer: &Peer<'_>,
    room: &str,
    text: &str,
    reference: Option<String>,
) -> Result<(), Refusal> {
    validate(room).map_err(|why| refuse(ErrorCode::BadRequest, why))?;
    if !peer.state.hub.follows(&keys::room_channel(room), peer.id) {
        return Err(refuse(
            ErrorCode::Forbidden,
            "join the room before speaking in it",
        ));
    }
    if text.trim().is_empty() {
        return Err(refuse(ErrorCode::BadRequest, "text must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!("text is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    // The sender's copy comes through pub/sub like everyone's: answering it here could
    // overtake an earlier message of the room still on its way, which the cursor would
    // then drop.
    peer.state
        .rooms
        .say(room, &peer.name, text, &origin(peer, &reference))
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// `room.leave`: answered with `ack`. A socket that does not follow the room has nothing
/// to leave, and nobody is told of it.
pub async fn leave_request(
    peer: &Peer<'_>,
    room: &str,
    reference: Option<String>,
) -> Result<(), Refusal> {
    validate(room).map_err(|why| refuse(ErrorCode::BadRequest, why))?;
    if peer.state.hub.follows(&keys::room_channel(room), peer.id) {
        leave(peer.state, peer.id, &peer.name, room).await?;
    }
    peer.outbox.send_json(&ServerMsg::Ack {
        reference,
        id: None,
    });
    Ok(())
}

/// Leaving a room, on `room.leave` and for every room when a socket closes. The node's
/// subscription and the presence change at once: neither waits for the other.
pub async fn leave(state: &AppState, id: u64, name: &str, room: &str) -> Result<(), Refusal> {
    let channel = keys::room_channel(room);
    let unsubscribe = state.hub.unfollow(&channel, id);
    let still_here = state.hub.name_follows(&channel, name, id);
    let subscription = async {
        if unsubscribe {
            state.bus.sync(&channel).await;
        }
    };
    let presence = async {
        if still_here {
            return Ok(());
        }
        state
            .rooms
            .depart(room, &state.node_id, name)
            .await
            .map_err(unavailable)
    };
    tokio::join!(subscription, presence).1
}

/// Least time between two `room.typing` of one socket in one room that are passed on.
const TYPING_EVERY: Duration = Duration::from_secs(1);

/// `room.typing`: passed on to the room's other members at most once a second per socket
/// and room (the rest are dropped silently); not stored, not answered. Only a member of
/// the room may send it.
pub async fn typing(peer: &Peer<'_>, room: &str) -> Result<(), Refusal> {
    validate(room).map_err(|why| refuse(ErrorCode::BadRequest, why))?;
    if !peer.state.hub.follows(&keys::room_channel(room), peer.id) {
        return Err(refuse(
            ErrorCode::Forbidden,
            "join the room before typing in it",
        ));
    }
    {
        let mut last = peer.typed.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Rooms typed in longer ago than the throttle are forgotten, so the list stays as
        // short as the rooms typed in during the last second.
        last.retain(|(_, at)| now.duration_since(*at) < TYPING_EVERY);
        if last.iter().any(|(typed, _)| typed == room) {
            return Ok(());
        }
        last.push((room.to_string(), now));
    }
    peer.state
        .rooms
        .typing(room, &peer.name)
        .await
        .map_err(unavailable)
}
