//! `user.mute` and `user.unmute`: the names whose room messages and typing no socket of
//! the token receives, kept in the session document and told to every node.

use common::{
    names,
    protocol::{ErrorCode, ServerMsg},
    session::MuteOutcome,
};

use super::{peer::Peer, refuse, unavailable, Refusal};
use crate::stores::users;

/// Mutes (`mute`) or unmutes `name` for the socket's token, on every node; acknowledged.
pub async fn mute(
    peer: &Peer<'_>,
    name: &str,
    mute: bool,
    reference: Option<String>,
) -> Result<(), Refusal> {
    let name = names::validate(name).map_err(|why| refuse(ErrorCode::BadRequest, why))?;
    if mute && name == peer.name {
        return Err(refuse(ErrorCode::BadRequest, "you cannot mute yourself"));
    }
    let state = peer.state;
    let most = state.config.mute_max;
    let outcome = state
        .sessions
        .mute(&peer.token, &name, mute, most)
        .await
        .map_err(unavailable)?;
    let muted = match outcome {
        MuteOutcome::Muted(muted) => muted,
        MuteOutcome::Full => {
            return Err(refuse(
                ErrorCode::LimitReached,
                format!("at most {most} muted names: unmute one first"),
            ))
        }
        MuteOutcome::Gone => return Err(refuse(ErrorCode::NotFound, "session expired")),
    };
    // This node at once; the others (and this one again) through pub/sub.
    state.hub.set_muted(&peer.token, muted.clone());
    if let Err(e) =
        users::announce_muted(&state.redis, state.bus.sharded, &peer.token, &muted).await
    {
        // Stored: every socket of the token that connects from now on has it; the nodes
        // holding its sockets now miss it until their next resync.
        tracing::warn!(error = %e, "telling the nodes of a mute failed");
    }
    peer.outbox.send_json(&ServerMsg::Ack {
        reference,
        id: None,
    });
    Ok(())
}
