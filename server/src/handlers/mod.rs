//! What answers clients: the HTTP routes, the life of a socket, and the requests of `/ws`
//! and `/chat`. The top layer: it uses the node's state, stores and hub, and nothing below
//! uses it.

pub mod admin;
pub mod bot_chat;
pub mod games;
pub mod http;
pub mod peer;
pub mod rooms;
pub mod socket;
pub mod users;

use common::{game::model::Origin, protocol::ErrorCode};

use crate::node::state::AppState;
use peer::Peer;

/// A refused request: the error frame to send.
pub type Refusal = (ErrorCode, String);

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    (code, message.into())
}

/// Redis could not be reached: nothing was changed, the client may retry.
fn unavailable(e: impl std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "request failed");
    refuse(ErrorCode::Unavailable, "service unavailable, try again")
}

/// Who asks: published with the change, so the node holding this socket adds the
/// request's `ref` to its copy.
fn origin(peer: &Peer<'_>, reference: &Option<String>) -> Origin {
    Origin {
        node: peer.state.node_id.clone(),
        conn: peer.id,
        reference: reference.clone(),
    }
}

/// A socket's following of a game's or room's channel, taken for a request. Dropped
/// without [`keep`](Following::keep), it is undone (the node unsubscribes once no socket of
/// its own follows the channel), so a request that fails half-way leaves nothing behind.
/// Following a channel the socket already followed undoes nothing, except for a room's
/// `joining` (its deliveries are held back until the answer, which a failed join never
/// sends).
#[must_use = "dropping it at once undoes the following"]
struct Following<'a> {
    state: &'a AppState,
    conn: u64,
    channel: String,
    undo: bool,
}

impl<'a> Following<'a> {
    /// Follows `channel` (subscribing the node if needed) before a change is made, so the
    /// published change reaches this socket; `joining` holds deliveries back until
    /// [`Hub::joined`](crate::hub::Hub::joined).
    async fn start(peer: &Peer<'a>, channel: String, joining: bool) -> Following<'a> {
        let state = peer.state;
        let undo = joining || !state.hub.follows(&channel, peer.id);
        if undo {
            state.hub.follow(&channel, peer.id, joining);
            state.bus.sync(&channel).await;
        }
        Following {
            state,
            conn: peer.id,
            channel,
            undo,
        }
    }

    /// The request went through: the socket goes on following.
    fn keep(mut self) {
        self.undo = false;
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        if self.undo && self.state.hub.unfollow(&self.channel, self.conn) {
            let (state, channel) = (self.state.clone(), std::mem::take(&mut self.channel));
            tokio::spawn(async move { state.bus.sync(&channel).await });
        }
    }
}

/// Stops following `channel` now (a socket done with a game or room), and waits until the
/// node's subscription matches.
async fn unfollow(state: &AppState, conn: u64, channel: &str) {
    if state.hub.unfollow(channel, conn) {
        state.bus.sync(channel).await;
    }
}
