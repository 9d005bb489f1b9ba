//! What every request handler and socket task shares on one node.

use std::sync::Arc;

use common::{game::store::Games, session::Sessions};
use fred::prelude::Client;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{bus::Bus, config::Config, hub::Hub, rooms::Rooms};

/// Shared state of one node; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub node_id: String,
    pub config: Config,
    /// Pipelined command client (never used for blocking reads).
    pub redis: Client,
    pub sessions: Sessions,
    pub games: Games,
    pub rooms: Rooms,
    /// Pub/sub for games and rooms.
    pub bus: Bus,
    /// Sockets held by this node, by token.
    pub hub: Hub,
    /// Cancelled when the node shuts down: every socket closes with 1001.
    pub shutdown: CancellationToken,
    /// Tracks socket tasks so shutdown can wait for them to finish.
    pub sockets: TaskTracker,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}
