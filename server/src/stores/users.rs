//! What the nodes tell each other about a token: its muted names changed, for every node
//! holding sockets of it (on [`keys::MUTES_CHANNEL`], which every node follows).

use common::{error::StoreError, keys};
use fred::prelude::*;
use serde::{Deserialize, Serialize};

/// A token's muted names, as they are now.
#[derive(Debug, Serialize, Deserialize)]
pub struct MutedEvent {
    pub token: String,
    pub muted: Vec<String>,
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
    let _: i64 = if sharded {
        client.spublish(keys::MUTES_CHANNEL, event).await?
    } else {
        client.publish(keys::MUTES_CHANNEL, event).await?
    };
    Ok(())
}
