//! What the nodes tell each other about a token: its muted names changed (on
//! [`keys::MUTES_CHANNEL`]), or an operator disconnects it or every token of a name (on
//! [`keys::DISCONNECT_CHANNEL`]), for every node holding its sockets. Every node follows
//! both channels.

use common::{error::StoreError, keys};
use fred::prelude::*;
use serde::{Deserialize, Serialize};

use super::operations::Target;

/// A token's muted names, as they are now.
#[derive(Debug, Serialize, Deserialize)]
pub struct MutedEvent {
    pub token: String,
    pub muted: Vec<String>,
}

async fn announce(
    client: &Client,
    sharded: bool,
    channel: &str,
    event: String,
) -> Result<(), StoreError> {
    let _: i64 = if sharded {
        client.spublish(channel, event).await?
    } else {
        client.publish(channel, event).await?
    };
    Ok(())
}

/// Tells every node that `token` has muted `muted` now.
pub async fn announce_muted(
    client: &Client,
    sharded: bool,
    token: &str,
    muted: &[String],
) -> Result<(), StoreError> {
    let event = serde_json::to_string(&MutedEvent {
        token: token.to_string(),
        muted: muted.to_vec(),
    })?;
    announce(client, sharded, keys::MUTES_CHANNEL, event).await
}

/// Tells every node to close the sockets of `target`.
pub async fn announce_disconnect(
    client: &Client,
    sharded: bool,
    target: &Target,
) -> Result<(), StoreError> {
    let event = serde_json::to_string(target)?;
    announce(client, sharded, keys::DISCONNECT_CHANNEL, event).await
}
