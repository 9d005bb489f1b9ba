//! The operators' routes under `/admin` (with `ADMIN_KEY`; without it every one is a 404):
//! the dashboard page, an overview of every node, a message to a room from `system`, the
//! removal of a room message, disconnecting (and banning) a token or a name on every node,
//! and the audit trail of these actions. Every route but the page needs
//! `Authorization: Bearer KEY`; an address that gives a wrong key too often is refused for
//! the rest of the minute.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use common::{
    game::model::{Origin, Status},
    names,
};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{client_ip, unavailable, ApiError};
use crate::{
    metrics,
    node::state::AppState,
    stats::Stats,
    stores::{
        operations::Target,
        rooms::{validate, MAX_TEXT_CHARS},
        users,
    },
};

/// Games listed in the overview, and index entries read to find them.
const GAMES_LISTED: usize = 50;
const SEATS_READ: i64 = 1_000;
/// Rooms listed in the overview, and presence entries read to rank them.
const ROOMS_LISTED: usize = 10;
const PRESENCE_READ: i64 = 10_000;
/// Audit entries listed.
const AUDIT_LISTED: u64 = 100;

/// Compares without stopping at the first difference, so the time taken does not tell
/// how much of a guess was right.
fn same_key(given: &[u8], key: &[u8]) -> bool {
    let differ = given
        .iter()
        .zip(key.iter().cycle())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    differ == 0 && given.len() == key.len()
}

/// The operators' key; an empty one counts as none.
fn admin_key(state: &AppState) -> Option<&str> {
    state.config.admin_key.as_deref().filter(|k| !k.is_empty())
}

/// The operator's address if the request carries the key; else why not.
async fn authorize(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let Some(key) = admin_key(state) else {
        return Err(ApiError::NotFound("no such route".into()));
    };
    let ip = client_ip(state, peer, headers);
    if let Some(wait) = state.limits.admin_blocked(&ip).await.map_err(unavailable)? {
        return Err(ApiError::RateLimited(wait));
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if same_key(given.as_bytes(), key.as_bytes()) {
        return Ok(ip);
    }
    tracing::warn!(%ip, "an operator request with a wrong or missing key");
    match state.limits.admin_failure(&ip).await.map_err(unavailable)? {
        Some(wait) => Err(ApiError::RateLimited(wait)),
        None => Err(ApiError::Unauthorized),
    }
}

/// `GET /admin`: the dashboard page (it asks for the key and sends it with each request).
pub async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    if admin_key(&state).is_none() {
        return Err(ApiError::NotFound("no such route".into()));
    }
    let path = std::path::Path::new(&state.config.web_dir).join("admin.html");
    let html = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound("the dashboard page is not installed".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response())
}

/// `GET /admin/overview`: every live node, sockets, games in play, rooms with members, the
/// bot's queue, Redis memory, and the frames per minute by kind (the sliding estimate of
/// `GET /stats`).
pub async fn overview(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, peer, &headers).await?;
    let ops = &state.operations;
    let nodes = ops.live_nodes().await.map_err(unavailable)?;
    let sockets: u64 = nodes.iter().map(|n| n.sockets).sum();
    let (active_rooms, busiest) = ops
        .rooms_by_members(ROOMS_LISTED, PRESENCE_READ)
        .await
        .map_err(unavailable)?;
    let ids = ops.seated_games(SEATS_READ).await.map_err(unavailable)?;
    let loads = ids.into_iter().map(|id| {
        let games = state.games.clone();
        async move { games.load(&id).await }
    });
    let loaded: Vec<_> = futures_util::stream::iter(loads)
        .buffered(32)
        .collect()
        .await;
    let mut games = Vec::new();
    let mut in_play = 0;
    for game in loaded {
        let Some(game) = game.map_err(unavailable)? else {
            continue;
        };
        if matches!(game.status, Status::Waiting | Status::Playing) {
            in_play += 1;
            if games.len() < GAMES_LISTED {
                games.push(json!({"id": game.id, "players": game.players, "status": game.status, "vs_bot": game.vs_bot}));
            }
        }
    }
    let queue = metrics::bot_queue(&state.redis).await;
    let (used_memory, maxmemory) = ops.redis_memory().await.map_err(unavailable)?;
    let stats = Stats::read(&state.redis).await.map_err(unavailable)?;
    let frames: serde_json::Map<String, Value> = stats["stats"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(kind, _)| kind.as_str() != "all")
        .map(|(kind, s)| {
            let rate = s["current"]["rate"].as_f64().unwrap_or_default();
            (kind.clone(), json!(rate.round() as u64))
        })
        .collect();
    Ok(Json(json!({
        "nodes": nodes,
        "sockets": sockets,
        "games_in_play": in_play,
        "active_rooms": active_rooms,
        "bot_queue": {"length": queue.length, "lag": queue.lag, "pending": queue.pending},
        "redis": {"used_memory": used_memory, "maxmemory": maxmemory},
        "frames_per_minute": frames,
        "busiest_rooms": busiest.into_iter().map(|(room, members)| json!({"room": room, "members": members})).collect::<Vec<_>>(),
        "games": games,
    })))
}

/// A JSON body that must be an object of `T`'s fields.
fn body_of<T: serde::de::DeserializeOwned>(body: &[u8], like: &str) -> Result<T, ApiError> {
    serde_json::from_slice::<serde_json::Map<String, Value>>(body)
        .and_then(|object| serde_json::from_value(object.into()))
        .map_err(|e| ApiError::BadRequest(format!("body must be JSON like {like}: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemMessage {
    text: String,
}

/// `POST /admin/rooms/{room}/messages` with `{"text":T}`: a message from `system`, stored
/// and delivered like any other.
pub async fn post_message(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(room): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&state, peer, &headers).await?;
    validate(&room).map_err(|why| ApiError::BadRequest(why.into()))?;
    let SystemMessage { text } = body_of(&body, r#"{"text":"…"}"#)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::BadRequest("text must not be empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "text must be at most {MAX_TEXT_CHARS} characters"
        )));
    }
    let origin = Origin {
        node: state.node_id.clone(),
        conn: 0,
        reference: None,
    };
    let message = state
        .rooms
        .say(&room, names::SYSTEM, text, &origin)
        .await
        .map_err(unavailable)?;
    let detail = json!({"room": room, "id": message.id, "text": text});
    record(&state, &who, "room.message", detail).await;
    Ok((StatusCode::CREATED, Json(json!({ "message": message }))).into_response())
}

/// `DELETE /admin/rooms/{room}/messages/{id}`: removes it from the room's history; the
/// members are told (`room.deleted`).
pub async fn delete_message(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((room, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let who = authorize(&state, peer, &headers).await?;
    validate(&room).map_err(|why| ApiError::BadRequest(why.into()))?;
    if crate::hub::stream_position(&id).is_none() {
        return Err(ApiError::BadRequest(format!(
            "{id:?} is no message ID (like 1700000000000-0)"
        )));
    }
    if !state.rooms.delete(&room, &id).await.map_err(unavailable)? {
        return Err(ApiError::NotFound(format!(
            "room {room:?} has no message {id}"
        )));
    }
    record(&state, &who, "room.delete", json!({"room": room, "id": id})).await;
    Ok(Json(json!({ "deleted": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disconnect {
    token: Option<String>,
    name: Option<String>,
    ban_secs: Option<u64>,
}

/// The longest ban: a year.
const MAX_BAN_SECS: u64 = 365 * 24 * 3600;

/// `POST /admin/disconnect` with `{"token":T}` or `{"name":N}` and optionally
/// `"ban_secs":S`: every socket of that token (or of every token of that name) on every
/// node is closed with 4003; while the ban lasts they are refused the same way, and a new
/// session with that name is `403 banned`.
pub async fn disconnect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let who = authorize(&state, peer, &headers).await?;
    let request: Disconnect = body_of(&body, r#"{"token":"…"} or {"name":"…","ban_secs":600}"#)?;
    let target = match (request.token, request.name) {
        (Some(token), None) if !token.is_empty() => Target::Token(token),
        (None, Some(name)) => {
            Target::Name(names::validate(&name).map_err(|why| ApiError::BadRequest(why.into()))?)
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give either \"token\" or \"name\"".into(),
            ))
        }
    };
    let banned_until = match request.ban_secs {
        Some(0) | None => None,
        Some(secs) if secs > MAX_BAN_SECS => {
            return Err(ApiError::BadRequest(format!(
                "ban_secs must be at most {MAX_BAN_SECS}"
            )))
        }
        Some(secs) => {
            // The ban first: a socket that reconnects at once is refused.
            state
                .operations
                .ban(&target, secs)
                .await
                .map_err(unavailable)?;
            Some(common::clock::rfc3339_of_millis(
                common::clock::now_millis() + secs as i64 * 1000,
            ))
        }
    };
    users::announce_disconnect(&state.redis, state.bus.sharded, &target)
        .await
        .map_err(unavailable)?;
    let (token, name) = target.parts();
    let detail = json!({"token": token, "name": name, "ban_secs": request.ban_secs, "banned_until": banned_until});
    record(&state, &who, "disconnect", detail).await;
    Ok(Json(json!({ "banned_until": banned_until })))
}

/// `GET /admin/audit`: the last operators' actions, newest first.
pub async fn audit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, peer, &headers).await?;
    let entries = state
        .operations
        .audit_log(AUDIT_LISTED)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "entries": entries })))
}

/// Writes an action to the audit trail; the action is done, so a failure is logged only.
async fn record(state: &AppState, who: &str, action: &str, detail: Value) {
    if let Err(e) = state.operations.audit(who, action, &detail).await {
        tracing::warn!(error = %e, action, "writing the audit trail failed");
    }
}
