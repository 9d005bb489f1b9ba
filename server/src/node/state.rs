//! What every request handler and socket task shares on one node.

use std::sync::Arc;

use common::{game::store::Games, session::Sessions};
use fred::prelude::Client;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    config::Config,
    hub::Hub,
    kpi::Kpi,
    limits::Limits,
    stats::Stats,
    stores::{bus::Bus, feeds::Feeds, operations::Operations, rooms::Rooms},
};

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
    /// What this node has delivered of each room channel, for filling gaps.
    pub feeds: Feeds,
    /// What operators read and act on: live nodes, bans, the audit trail.
    pub operations: Operations,
    /// When this node started (epoch ms).
    pub started_ms: i64,
    /// Rate limits per token and per client IP.
    pub limits: Limits,
    /// WebSocket session counts per app, node, day and hour.
    pub kpi: Kpi,
    /// This node's frame counts not yet flushed to the cluster-wide minute stats.
    pub stats: Stats,
    /// Renders `GET /metrics`.
    pub metrics: PrometheusHandle,
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
