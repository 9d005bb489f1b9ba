//! What a socket task knows about its client: every request handler gets it.

use std::{sync::Mutex, time::Instant};

use crate::{hub::Outbox, kpi::SocketKind, node::state::AppState};

/// What a socket task knows about its client; request handlers get it.
pub struct Peer<'a> {
    pub state: &'a AppState,
    /// This socket's ID on this node.
    pub id: u64,
    pub token: String,
    pub name: String,
    pub kind: SocketKind,
    pub outbox: Outbox,
    /// When this socket last passed on `room.typing`, per room (only rooms typed in
    /// during the last second: a list, which takes less room than a map in every
    /// socket's task).
    pub typed: Mutex<Vec<(String, Instant)>>,
}
