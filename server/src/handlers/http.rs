//! The HTTP routes of docs/protocol.md: `POST /token`, `GET /refresh_token`, `GET /health`,
//! `GET /kpi`, `GET /stats`, `GET /metrics`, `GET /leaderboard`, `GET /players/count`.
//! Errors are JSON: `{"error":{"code":…,"message":…}}` with a 4xx or 503 status.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Query, Request, State},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use common::{names, protocol::SessionDoc};
use serde::Deserialize;
use serde_json::json;

use crate::{kpi, node::state::AppState, stats::Stats, stores::operations::Target};

/// A request that could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidName(String),
    #[error("no session for this token (unknown or expired)")]
    SessionNotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("storage unavailable, try again")]
    Unavailable,
    #[error("too many requests; retry in {0} ms")]
    RateLimited(u64),
    #[error("{0}")]
    NotFound(String),
    #[error("a valid operator key is needed: Authorization: Bearer KEY")]
    Unauthorized,
    #[error("this name is banned for now")]
    Banned,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            ApiError::SessionNotFound => (StatusCode::NOT_FOUND, "session_not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Banned => (StatusCode::FORBIDDEN, "banned"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut error = json!({"code": code, "message": self.to_string()});
        if let ApiError::RateLimited(ms) = self {
            error["retry_after_ms"] = json!(ms);
            let secs = ms.div_ceil(1000).to_string();
            return (
                status,
                [(header::RETRY_AFTER, secs)],
                Json(json!({ "error": error })),
            )
                .into_response();
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

/// Refuses, on every route, a query whose percent-escapes do not decode to UTF-8 (`400`),
/// instead of decoding it with replacement characters.
pub async fn utf8_query(request: Request, next: Next) -> Response {
    let valid = request.uri().query().is_none_or(|query| {
        query.split('&').all(|pair| {
            let bytes = pair.replace('+', " ");
            percent_encoding::percent_decode_str(&bytes)
                .decode_utf8()
                .is_ok()
        })
    });
    if !valid {
        return ApiError::BadRequest("the query string is not valid UTF-8".to_string())
            .into_response();
    }
    next.run(request).await
}

/// Makes every 4xx answer JSON like the routes' own errors: what the HTTP layer refuses
/// before a route runs (a query string it cannot read, a body over the limit, a method the
/// route does not serve, a request to `/ws` that is no WebSocket handshake, a path that is
/// no route and no file of the web client) comes as text or empty, and gets
/// `{"error":{"code":…,"message":…}}` with that text as the message.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        _ => "bad_request",
    };
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("refused").to_string(),
        text => text.to_string(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "redis request failed");
    ApiError::Unavailable
}

#[derive(Deserialize)]
pub struct NameQuery {
    name: Option<String>,
}

#[derive(Deserialize)]
struct NameBody {
    name: Option<String>,
}

/// The client's IP: when the node trusts `X-Forwarded-For` (behind a load balancer), its
/// last entry, the one the balancer wrote (earlier ones come from the client and could be
/// anything); else the peer address.
pub(super) fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    let forwarded = state
        .config
        .trust_forwarded_for
        .then(|| headers.get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|list| list.rsplit(',').next())
        .map(str::trim)
        .filter(|ip| !ip.is_empty());
    forwarded.map_or_else(|| peer.ip().to_string(), str::to_string)
}

/// `POST /token?name=N` or with the JSON body `{"name":"N"}`: a new session.
pub async fn create_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<NameQuery>,
    body: Bytes,
) -> Result<Json<SessionDoc>, ApiError> {
    let raw = match query.name {
        Some(name) => name,
        None if body.iter().all(u8::is_ascii_whitespace) => String::new(),
        // An object: serde would also take `["alice"]` for the struct.
        None => serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
            .and_then(|object| serde_json::from_value::<NameBody>(object.into()))
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "body must be JSON like {{\"name\":\"alice\"}}: {e}"
                ))
            })?
            .name
            .unwrap_or_default(),
    };
    let name = names::validate(&raw).map_err(|why| ApiError::InvalidName(why.to_string()))?;
    let banned = Target::Name(name.clone());
    if state
        .operations
        .is_banned(&banned)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::Banned);
    }
    let ip = client_ip(&state, peer, &headers);
    if let Some(wait) = state.limits.new_token(&ip).await.map_err(unavailable)? {
        return Err(ApiError::RateLimited(wait));
    }
    let doc = state.sessions.create(&name).await.map_err(unavailable)?;
    Ok(Json(doc))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /refresh_token?token=T`: the whole session document, with its TTL extended.
pub async fn refresh_token(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> Result<Json<SessionDoc>, ApiError> {
    let token = query
        .token
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::SessionNotFound)?;
    match state.sessions.touch(&token).await.map_err(unavailable)? {
        Some(doc) => Ok(Json(doc)),
        None => Err(ApiError::SessionNotFound),
    }
}

/// `GET /health`: pings Redis.
pub async fn health(State(state): State<AppState>) -> Response {
    use fred::prelude::*;
    let ping = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        state.redis.ping::<String>(None),
    )
    .await;
    let redis = match ping {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.details().to_string()),
        Err(_) => Some("no answer within 1 s".to_string()),
    };
    match redis {
        None => Json(json!({"status": "ok", "node": state.node_id, "redis": "ok"})).into_response(),
        Some(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded", "node": state.node_id, "redis": error})),
        )
            .into_response(),
    }
}

/// `GET /leaderboard`: the top 10 players by wins.
pub async fn leaderboard(State(state): State<AppState>) -> Result<Response, ApiError> {
    let top = state
        .games
        .results
        .leaderboard(10)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "top": top })).into_response())
}

/// `GET /players/count`: about how many distinct names played today (UTC).
pub async fn players_count(State(state): State<AppState>) -> Result<Response, ApiError> {
    let estimated = state
        .games
        .results
        .players_today()
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "estimated": estimated })).into_response())
}

#[derive(Deserialize)]
pub struct DayQuery {
    day: Option<String>,
}

/// `GET /kpi?day=YYYYMMDD` (today when absent): WebSocket sessions per app, node and hour.
pub async fn kpi(
    State(state): State<AppState>,
    Query(query): Query<DayQuery>,
) -> Result<Response, ApiError> {
    let day = query.day.unwrap_or_else(common::clock::today);
    if !kpi::valid_day(&day) {
        return Err(ApiError::BadRequest(format!(
            "day must be a date as YYYYMMDD, not {day:?}"
        )));
    }
    let counts = state.kpi.day(&day).await.map_err(unavailable)?;
    Ok(Json(counts).into_response())
}

/// `GET /stats`: frames per minute, cluster-wide, per kind and `all`.
pub async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    let report = Stats::read(&state.redis).await.map_err(unavailable)?;
    Ok(Json(report).into_response())
}

/// `GET /metrics`: this node's metrics in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = crate::metrics::render(&state.redis, state.hub.sockets(), &state.metrics).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
