//! One stateless WebSocket node. Everything another node needs lives in Redis; this node
//! keeps only its own sockets.
//!
//! Its modules depend one way, from the top down (`scripts/check-modules.py` checks it):
//!
//! - [`handlers`]: what answers clients: [`http`](handlers::http) routes,
//!   [`socket`](handlers::socket) (the life of one WebSocket), the requests of
//!   [`bot_chat`](handlers::bot_chat), [`games`](handlers::games),
//!   [`rooms`](handlers::rooms) and [`users`](handlers::users) (muting), and the
//!   operators' [`admin`](handlers::admin) routes.
//! - [`node`]: the [`state`](node::state) handlers share, the router of pub/sub events
//!   ([`dispatch`](node::dispatch), [`catch_up`](node::catch_up) for room gaps), bot
//!   replies from `response_channel` ([`delivery`](node::delivery)), and the
//!   [`sweeper`](node::sweeper) (heartbeats, abandonment, dead nodes' presence).
//! - [`stores`]: rooms in Redis, the pub/sub [`bus`](stores::bus), the room
//!   [`feeds`](stores::feeds) delivered so far, the news of muted names and
//!   disconnections between nodes ([`users`](stores::users)), and what operators read and
//!   act on ([`operations`](stores::operations)).
//! - [`hub`]: this node's sockets, and the games and rooms each follows (no Redis).
//! - Leaves: [`config`], [`listen`] (accepting connections within bounds), [`limits`]
//!   (rate limits), [`kpi`] (session counts), [`stats`] (frames per minute), [`metrics`]
//!   (Prometheus).

pub mod config;
pub mod handlers;
pub mod hub;
pub mod kpi;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod node;
pub mod stats;
pub mod stores;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    http::{header, HeaderValue},
    routing::{delete, get, post},
    Router,
};
use common::{
    game::store::Games,
    keys,
    redis::{self, ConnectError, Role},
    session::Sessions,
    streams,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_http::{services::ServeDir, set_header::SetResponseHeader, trace::TraceLayer};

pub use config::Config;
use handlers::{admin, http, socket};
use node::{
    delivery, dispatch,
    state::{AppState, Inner},
    sweeper,
};
use stores::{bus, feeds, operations, rooms};

/// How long shutdown waits for sockets to close and in-flight work to finish.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A node connected to Redis, ready to serve.
pub struct Node {
    state: AppState,
    delivery: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Connects to Redis (failing fast when it is unreachable or lacks RedisJSON) and
    /// starts reading `response_channel` from its current end.
    pub async fn connect(config: Config) -> Result<Node, ConnectError> {
        let redis = redis::connect(&config.redis_url, Role::Commands).await?;
        let reader = redis::connect(&config.redis_url, Role::Blocking).await?;
        let unreachable = |e: fred::error::Error| ConnectError::Unreachable {
            url: redis::redacted(&config.redis_url),
            reason: e.details().to_string(),
        };
        streams::ensure_worker_group(&redis, keys::MESSAGE_CHANNEL)
            .await
            .map_err(unreachable)?;
        let start = streams::last_id(&reader, keys::RESPONSE_CHANNEL)
            .await
            .map_err(unreachable)?;
        let sharded = redis::is_cluster(&config.redis_url);
        let subscriber = redis::connect_subscriber(&config.redis_url).await?;
        let (bus, subscription_requests) = bus::Bus::new(subscriber, sharded);
        let state = AppState {
            inner: Arc::new(Inner {
                node_id: config.node_id(),
                sessions: Sessions::new(redis.clone(), config.session_ttl_secs, config.history_max),
                games: Games::new(redis.clone(), sharded).with_turn_clock(config.turn_secs),
                rooms: rooms::Rooms::new(
                    redis.clone(),
                    sharded,
                    config.room_retention_secs,
                    config.presence_max,
                ),
                bus,
                feeds: feeds::Feeds::default(),
                limits: limits::Limits::new(
                    redis.clone(),
                    config.rate_per_5s,
                    config.rate_per_min,
                    config.token_rate_per_min,
                ),
                kpi: kpi::Kpi::new(redis.clone()),
                operations: operations::Operations::new(redis.clone()),
                started_ms: common::clock::now_millis(),
                stats: stats::Stats::default(),
                metrics: metrics::install(),
                redis,
                config,
                hub: hub::Hub::default(),
                shutdown: CancellationToken::new(),
                sockets: TaskTracker::new(),
            }),
        };
        let delivery = tokio::spawn(delivery::run(state.clone(), reader, start));
        tokio::spawn(dispatch::run_subscriptions(
            state.clone(),
            subscription_requests,
        ));
        tokio::spawn(dispatch::run_dispatch(state.clone()));
        dispatch::follow_users(&state).await;
        tokio::spawn(sweeper::run_heartbeat(state.clone()));
        tokio::spawn(sweeper::run_sweeper(state.clone()));
        tokio::spawn(socket::run_keepalive(state.clone()));
        let flushing = state.clone();
        tokio::spawn(async move {
            stats::run_flush(&flushing.stats, &flushing.redis, &flushing.shutdown).await
        });
        Ok(Node { state, delivery })
    }

    pub fn node_id(&self) -> &str {
        &self.state.node_id
    }

    /// The routes of docs/protocol.md, with the browser client at `/`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/token", post(http::create_token))
            .route("/refresh_token", get(http::refresh_token))
            .route("/health", get(http::health))
            .route("/leaderboard", get(http::leaderboard))
            .route("/players/count", get(http::players_count))
            .route("/kpi", get(http::kpi))
            .route("/stats", get(http::stats))
            .route("/metrics", get(http::metrics))
            .route("/chat", get(socket::chat))
            .route("/ws", get(socket::ws))
            .route("/admin", get(admin::page))
            .route("/admin.html", get(admin::page))
            .route("/admin/overview", get(admin::overview))
            .route("/admin/rooms/{room}/messages", post(admin::post_message))
            .route(
                "/admin/rooms/{room}/messages/{id}",
                delete(admin::delete_message),
            )
            .route("/admin/disconnect", post(admin::disconnect))
            .route("/admin/audit", get(admin::audit))
            // The page's modules are revalidated on every load (a 304 when unchanged), so a
            // browser never runs an old module against a newly deployed one.
            .fallback_service(SetResponseHeader::if_not_present(
                ServeDir::new(&self.state.config.web_dir),
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ))
            .layer(axum::middleware::from_fn(http::utf8_query))
            .layer(axum::middleware::from_fn(http::json_errors))
            .layer(TraceLayer::new_for_http())
            .with_state(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves; then stops accepting, closes every
    /// socket with 1001 and waits (up to [`DRAIN_DEADLINE`]) for them to finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let signal = async move {
            shutdown.await;
            state.shutdown.cancel();
            let closed = state.hub.close_all(&handlers::socket::shutting_down());
            tracing::info!(closed, "closing every socket");
        };
        let bounds = self.state.config.bounds();
        tracing::info!(
            node = %self.state.node_id,
            addr = %listener.local_addr()?,
            max_connections = bounds.max_connections,
            "listening"
        );
        listen::serve(listener, self.router(), bounds, signal, DRAIN_DEADLINE).await;
        self.state.sockets.close();
        if tokio::time::timeout(DRAIN_DEADLINE, self.state.sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close within the drain deadline");
        }
        let _ = self.delivery.await;
        let _ = fred::prelude::ClientLike::quit(&self.state.redis).await;
        tracing::info!("stopped");
        Ok(())
    }
}
