//! The tic-tac-toe requests of `/ws`: create, join (seat, seat back, or watch), quick
//! match, move, rematch, leave. Each change is one atomic step in Redis
//! ([`Games`](common::game::store::Games)) that publishes the new state on the game's
//! channel; this node follows that channel for its sockets in the game, and the socket
//! that asked gets its copy with its `ref`.

use common::{
    game::{
        model::Game,
        store::{Answer, Games},
    },
    keys,
    protocol::{ErrorCode, ServerMsg},
};

use super::{origin, peer::Peer, rooms, unavailable, Following, Refusal};
use crate::stores::rooms::Present;

/// Game IDs are what [`Games::new_id`] makes, or at least harmless in a key.
fn validate_id(id: &str) -> Result<(), Refusal> {
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err((
            ErrorCode::BadRequest,
            "game IDs are 1 to 32 letters and digits".to_string(),
        ));
    }
    Ok(())
}

/// Follows the game's channel for a request (see [`Following`]).
async fn follow<'a>(peer: &Peer<'a>, id: &str) -> Following<'a> {
    Following::start(peer, keys::game_channel(id), false).await
}

async fn unfollow(peer: &Peer<'_>, id: &str) {
    super::unfollow(peer.state, peer.id, &keys::game_channel(id)).await;
}

/// Sends an unchanged state to the asking socket only.
fn answer_with(peer: &Peer<'_>, game: Game, reference: Option<String>) {
    let channel = keys::game_channel(&game.id);
    let position = u128::from(game.version);
    let frame = ServerMsg::GameState { reference, game };
    peer.state.hub.answer(&channel, peer.id, position, &frame);
}

/// What the asking socket gets for an answer.
async fn settle(peer: &Peer<'_>, answer: Answer, reference: Option<String>) -> Result<(), Refusal> {
    if let Answer::Changed(game) | Answer::Unchanged(game, _) = &answer {
        let channel = keys::game_channel(&game.id);
        peer.state.hub.game_over(&channel, &game.id, game.is_over());
    }
    match answer {
        Answer::Changed(game) => {
            let channel = keys::game_channel(&game.id);
            let position = u128::from(game.version);
            let with_ref = reference.is_some();
            let frame = ServerMsg::GameState { reference, game };
            peer.state
                .hub
                .answer_change(&channel, peer.id, position, &frame, with_ref);
            Ok(())
        }
        Answer::Wait(_) => Ok(()),
        Answer::Unchanged(game, _) => {
            answer_with(peer, game, reference);
            Ok(())
        }
        Answer::Ack => {
            peer.outbox.send_json(&ServerMsg::Ack {
                reference,
                id: None,
            });
            Ok(())
        }
        Answer::Refused(code, message) => Err((code, message)),
    }
}

/// Before a request that may seat this socket's token in `id`: its deadline goes into the
/// swept index first, so a node that dies right after the seat is taken still loses it.
/// With `clock` (the request may start the game), the game's turn clock goes into its
/// index too, in the same round trip, for the same reason.
async fn reserve_seat(peer: &Peer<'_>, id: &str, clock: bool) -> Result<(), Refusal> {
    let abandon_ms = peer.state.config.abandon_secs * 1000;
    let games = &peer.state.games;
    let seat = games.reserve_deadline(id, &peer.token, abandon_ms);
    if clock {
        tokio::try_join!(seat, games.reserve_clock(id)).map_err(unavailable)?;
        Ok(())
    } else {
        seat.await.map_err(unavailable)
    }
}

/// After the seat is taken: the node's heartbeat keeps it alive from now on. Its first
/// sign of life and deadline need no write here: the game's script noted the sign of life
/// when it seated the token, and [`reserve_seat`] set the deadline just before.
async fn seated(peer: &Peer<'_>, id: &str) {
    peer.state.hub.seat(peer.id, id);
    move_on(peer, id).await;
    if let Err(e) = peer.state.games.results.count_player(&peer.name).await {
        tracing::warn!(error = %e, "counting a player failed");
    }
}

/// A socket that takes a seat in a game has moved on from the games it sat in that are
/// over (but `current`): it stops following them and their chat, and its seat there is no
/// longer kept alive, so after `ABANDON_SECS` the other player sees it as gone (`left`), as
/// when a player closes the page. So what a socket costs (heartbeats, subscriptions,
/// presence) stays with the games it is in, however many it has played.
async fn move_on(peer: &Peer<'_>, current: &str) {
    let old = peer.state.hub.finished_seats(peer.id, current);
    futures_util::future::join_all(old.iter().map(|old| async move {
        peer.state.hub.unseat(peer.id, old);
        let room = keys::game_room(old);
        let (_, left) = tokio::join!(
            unfollow(peer, old),
            rooms::leave(peer.state, peer.id, &peer.name, &room)
        );
        if let Err((_, e)) = left {
            tracing::warn!(%room, error = %e, "leaving a finished game's chat failed");
        }
    }))
    .await;
}

/// A game's chat room, which every player and spectator joins with the game. A request
/// that seats the socket or shows it the game follows the chat's channel from its start,
/// with the game's own (the node subscribes to both at once), and enters the room once
/// the game has answered.
struct Chat<'a> {
    room: String,
    following: Result<Following<'a>, Refusal>,
    /// In the chat of a game being created: the creator's presence, already written.
    arrived: Option<Present>,
}

async fn follow_chat<'a>(peer: &Peer<'a>, id: &str) -> Chat<'a> {
    let room = keys::game_room(id);
    let following = match rooms::may_join(peer, &room) {
        Ok(channel) => Ok(rooms::follow(peer, channel).await),
        Err(refusal) => Err(refusal),
    };
    Chat {
        room,
        following,
        arrived: None,
    }
}

/// The chat of a game this request creates. Nobody else can be in it before the game's
/// ID goes out with the answer, so the creator's presence is written while the node
/// subscribes, without the presence script: no one to announce it to, no one else to
/// list. (Should the game then fail to be created, the entry is left to the sweeper: the
/// node does not keep it alive.)
async fn follow_new_chat<'a>(peer: &Peer<'a>, id: &str) -> Chat<'a> {
    let room = keys::game_room(id);
    let state = peer.state;
    let (following, arrived) = match rooms::may_join(peer, &room) {
        Ok(channel) => {
            let arrive = state.rooms.arrive_first(&room, &state.node_id, &peer.name);
            match tokio::join!(rooms::follow(peer, channel), arrive) {
                (following, Ok(present)) => (Ok(following), Some(present)),
                (_, Err(e)) => (Err(unavailable(e)), None),
            }
        }
        Err(refusal) => (Err(refusal), None),
    };
    Chat {
        room,
        following,
        arrived,
    }
}

/// Enters the game's chat room (see [`Chat`]); with `since`, its history is what came
/// after that message. A refusal is an `error` of its own: the game's request went
/// through all the same.
async fn enter_chat(peer: &Peer<'_>, chat: Chat<'_>, since: Option<&str>) {
    let entered = match chat.following {
        Ok(following) => rooms::enter(peer, &chat.room, following, since, None, chat.arrived).await,
        Err(refusal) => Err(refusal),
    };
    if let Err((code, message)) = entered {
        peer.outbox
            .send_json(&ServerMsg::error(None, code, message));
    }
}

/// Joins the game's chat room too, as every player and spectator does.
async fn join_room(peer: &Peer<'_>, id: &str, since: Option<&str>) {
    if let Err((code, message)) = rooms::join(peer, &keys::game_room(id), since, None).await {
        peer.outbox
            .send_json(&ServerMsg::error(None, code, message));
    }
}

/// Refuses to open another game for a token that already sits in `MAX_OPEN_GAMES_PER_TOKEN`
/// games not over through this node.
fn may_open(peer: &Peer<'_>) -> Result<(), Refusal> {
    let most = peer.state.config.max_open_games_per_token;
    if most > 0 && peer.state.hub.open_games(&peer.token) >= most {
        return Err((
            ErrorCode::LimitReached,
            format!("at most {most} open games at once: finish or leave one first"),
        ));
    }
    Ok(())
}

/// `game.create`.
pub async fn create(
    peer: &Peer<'_>,
    vs_bot: bool,
    reference: Option<String>,
) -> Result<(), Refusal> {
    may_open(peer)?;
    let id = Games::new_id();
    let (seat, following, chat) = tokio::join!(
        reserve_seat(peer, &id, false),
        follow(peer, &id),
        follow_new_chat(peer, &id)
    );
    seat?;
    let answer = peer
        .state
        .games
        .create(
            &id,
            &peer.token,
            &peer.name,
            vs_bot,
            false,
            Some(&origin(peer, &reference)),
        )
        .await
        .map_err(unavailable)?;
    following.keep();
    settle(peer, answer, reference).await?;
    tokio::join!(seated(peer, &id), enter_chat(peer, chat, None));
    Ok(())
}

/// `game.join`: the free seat, the caller's own seat back, or a spectator's view.
pub async fn join(
    peer: &Peer<'_>,
    id: &str,
    want_seat: bool,
    since: Option<&str>,
    reference: Option<String>,
) -> Result<(), Refusal> {
    validate_id(id)?;
    let (seat, following, chat) = tokio::join!(
        reserve_seat(peer, id, true),
        follow(peer, id),
        follow_chat(peer, id)
    );
    seat?;
    let answer = peer
        .state
        .games
        .join(
            id,
            &peer.token,
            &peer.name,
            want_seat,
            Some(&origin(peer, &reference)),
        )
        .await
        .map_err(unavailable)?;
    let has_seat = matches!(&answer, Answer::Changed(_) | Answer::Unchanged(_, Some(_)));
    if !matches!(&answer, Answer::Refused(..)) {
        following.keep();
    }
    settle(peer, answer, reference).await?;
    let entered = enter_chat(peer, chat, since);
    if has_seat {
        tokio::join!(seated(peer, id), entered);
    } else {
        entered.await;
    }
    Ok(())
}

/// `game.quick`: pairs with the player waiting longest, or waits for the next one.
pub async fn quick(peer: &Peer<'_>, reference: Option<String>) -> Result<(), Refusal> {
    may_open(peer)?;
    let games = &peer.state.games;
    let mine = Games::new_id();
    let mine_following = follow(peer, &mine).await;
    reserve_seat(peer, &mine, false).await?;
    let created = games
        .create(&mine, &peer.token, &peer.name, false, true, None)
        .await;
    let waiting = match created.map_err(unavailable)? {
        Answer::Unchanged(game, _) => game,
        other => {
            return Err(unavailable(format!(
                "creating a quick-match game answered {other:?}"
            )))
        }
    };
    // A game in the queue may have ended meanwhile (its player left): then take the next.
    for _ in 0..8 {
        let other = games
            .quick_match(&mine, &peer.token)
            .await
            .map_err(unavailable)?;
        let Some(other) = other else {
            mine_following.keep();
            peer.state.hub.set_queued(peer.id, Some(mine.clone()));
            answer_with(peer, waiting, reference);
            seated(peer, &mine).await;
            join_room(peer, &mine, None).await;
            return Ok(());
        };
        reserve_seat(peer, &other, true).await?;
        let other_following = follow(peer, &other).await;
        let joined = games
            .join(
                &other,
                &peer.token,
                &peer.name,
                true,
                Some(&origin(peer, &reference)),
            )
            .await
            .map_err(unavailable)?;
        if let Answer::Changed(_) = joined {
            other_following.keep();
            drop(mine_following);
            let _ = games.discard(&mine).await;
            seated(peer, &other).await;
            join_room(peer, &other, None).await;
            return Ok(());
        }
    }
    Err((
        ErrorCode::Unavailable,
        "no match could be made, try again".to_string(),
    ))
}

/// `game.move`.
pub async fn play(
    peer: &Peer<'_>,
    id: &str,
    cell: i64,
    reference: Option<String>,
) -> Result<(), Refusal> {
    validate_id(id)?;
    let following = follow(peer, id).await;
    let answer = peer
        .state
        .games
        .play(id, &peer.token, cell, Some(&origin(peer, &reference)))
        .await
        .map_err(unavailable)?;
    following.keep();
    settle(peer, answer, reference).await
}

/// `game.rematch`.
pub async fn rematch(peer: &Peer<'_>, id: &str, reference: Option<String>) -> Result<(), Refusal> {
    validate_id(id)?;
    peer.state
        .games
        .reserve_clock(id)
        .await
        .map_err(unavailable)?;
    let following = follow(peer, id).await;
    let answer = peer
        .state
        .games
        .rematch(id, &peer.token, Some(&origin(peer, &reference)))
        .await
        .map_err(unavailable)?;
    following.keep();
    settle(peer, answer, reference).await
}

/// `game.leave`: a player loses a game in play (or ends a waiting one, or is shown as gone
/// from one that is over); a spectator stops watching. Either way the socket stops
/// following the game once answered.
pub async fn leave(peer: &Peer<'_>, id: &str, reference: Option<String>) -> Result<(), Refusal> {
    validate_id(id)?;
    let games = &peer.state.games;
    let answer = games
        .leave(id, &peer.token, Some(&origin(peer, &reference)))
        .await
        .map_err(unavailable)?;
    peer.state.hub.unseat(peer.id, id);
    let _ = games.unqueue(id, &peer.token).await;
    settle(peer, answer, reference).await?;
    unfollow(peer, id).await;
    Ok(())
}
