//! The life of one WebSocket, for `/chat` and `/ws` alike: the token check, a reader and a
//! writer polled together in the socket's one task, a bounded outbound queue, pings every
//! 25 s, a close after 60 s of silence (`IDLE_SECS`), and a close with 1001 when the node
//! shuts down.
//!
//! Every socket pays for its task while it is open, so the task holds little: the reader
//! and writer are one small hand-written future ([`Running`]), the steps that run once or
//! only while a frame is handled are boxed, the node's one keepalive timer pings the
//! sockets and closes the silent ones, and the read buffer is small.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        Query, State,
    },
    response::Response,
};
use common::protocol::{close, parse_client, ClientMsg, ErrorCode, ServerMsg};
use futures_util::{
    stream::{SplitSink, SplitStream},
    Sink, SinkExt, StreamExt,
};
use serde::Deserialize;

use super::{
    bot_chat::{self, SayError},
    games,
    peer::Peer,
    rooms, users,
};
use crate::{
    hub::{close_frame, now_ms, Frames, Outbox, Refused},
    kpi::{self, SocketKind},
    metrics,
    node::{dispatch, state::AppState},
};

/// Frames queued for one client before it counts as too slow and is closed. Room for a
/// burst: the messages a node fetches for a room after a lost subscription (a failover)
/// are queued at once. The queue's slots are allocated as they are used, so an idle
/// socket does not pay for them.
const OUTBOX_CAPACITY: usize = 256;
/// The longest time between two pings of one socket (shorter for an `IDLE_SECS` under 50 s).
const PING_EVERY_MOST: Duration = Duration::from_secs(25);
/// How often the node's keepalive runs ([`run_keepalive`]): a silent socket is closed at
/// most this long after its 60 s.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(1);
/// How long a close frame may take to go out (behind what the client has not read yet)
/// before the connection is dropped anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Small read buffers keep idle sockets cheap: a request is a frame of a few dozen to a
/// few hundred bytes. The buffer grows for a larger frame, which is then read in several
/// calls of this size.
const READ_BUFFER: usize = 256;
/// Frames up to this many times `MAX_FRAME_BYTES` are read and refused with `too_large`;
/// larger ones cannot be read and close the socket with 1009.
const READABLE_FACTOR: usize = 4;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /chat?token=T`: plain text to the bot, bare message objects back.
pub async fn chat(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Response {
    upgrade(ws, state, q.token, SocketKind::Chat)
}

/// `GET /ws?token=T`: the full JSON protocol.
pub async fn ws(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Response {
    upgrade(ws, state, q.token, SocketKind::Ws)
}

fn upgrade(
    ws: WebSocketUpgrade,
    state: AppState,
    token: Option<String>,
    kind: SocketKind,
) -> Response {
    let readable = (state.config.max_frame_bytes as usize).saturating_mul(READABLE_FACTOR);
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(readable)
        .max_frame_size(readable)
        .on_upgrade(move |socket| {
            let tracker = state.sockets.clone();
            // Split and boxed here, not in `serve`: an async fn keeps room for its
            // arguments for as long as it runs, and these would cost every socket their
            // size in its task a second time.
            let (sink, stream) = socket.split();
            let token = token.unwrap_or_default();
            let start = Box::new(Start {
                sink,
                stream,
                token,
                kind,
            });
            // A task of its own rather than the rest of axum's upgrade task, which would
            // keep the upgrade's state (its configuration, the handshake's future) for as
            // long as the socket lives.
            tracker.spawn(serve(state, start));
            std::future::ready(())
        })
}

/// What a socket starts with: its two halves, its token and its kind.
struct Start {
    sink: SplitSink<WebSocket, Message>,
    stream: SplitStream<WebSocket>,
    token: String,
    kind: SocketKind,
}

async fn serve(state: AppState, start: Box<Start>) {
    let Start {
        sink,
        stream,
        token,
        kind,
    } = *start;
    // Boxed: what letting the socket in needs (Redis reads, a refusal's close frame)
    // exists only until then, not in every idle socket's task. The sink and the token go
    // in and come back, so that the task does not keep a second place for them.
    let Some(Admitted {
        id,
        token,
        name,
        outbox,
        frames,
        sink,
    }) = Box::pin(admit(sink, &state, token, kind)).await
    else {
        return;
    };
    let peer = Peer {
        state: &state,
        id,
        token,
        name,
        kind,
        outbox,
        typed: Default::default(),
    };
    let mut running = Running {
        peer: &peer,
        sink,
        stream,
        frames,
        reading: true,
        handling: None,
        unsent: None,
        closing: None,
        written: false,
        ended: false,
    };
    if let Some(frame) = (&mut running).await {
        // Let the writer flush what is queued and the close frame, briefly.
        peer.outbox.send(frame);
        running.reading = false;
        let _ = Box::pin(tokio::time::timeout(Duration::from_secs(1), &mut running)).await;
    }
    drop(running);
    Box::pin(clean_up(&peer)).await;
}

/// A socket let in: its ID on this node, its token and user's name, its outbound queue,
/// and the sink it was let in through.
struct Admitted {
    id: u64,
    token: String,
    name: String,
    outbox: Outbox,
    frames: Frames,
    sink: SplitSink<WebSocket, Message>,
}

/// Lets the socket in (see [`let_in`]), or sends it the close frame that says why not.
async fn admit(
    mut sink: SplitSink<WebSocket, Message>,
    state: &AppState,
    token: String,
    kind: SocketKind,
) -> Option<Admitted> {
    match let_in(state, &token, kind).await {
        Ok((id, name, outbox, frames)) => Some(Admitted {
            id,
            token,
            name,
            outbox,
            frames,
            sink,
        }),
        Err(refusal) => {
            let _ = sink.send(refusal).await;
            None
        }
    }
}

/// Checks the token and the bans, counts the session and registers the socket, which is
/// sent its `hello`; returns its ID, its user's name and its queue, or the close frame
/// of its refusal.
async fn let_in(
    state: &AppState,
    token: &str,
    kind: SocketKind,
) -> Result<(u64, String, Outbox, Frames), Message> {
    if token.is_empty() {
        return Err(close_frame(close::POLICY, "missing token"));
    }
    let profile = match state.sessions.profile(token).await {
        Ok(Some(profile)) => profile,
        Ok(None) => return Err(close_frame(close::POLICY, "unknown or expired token")),
        Err(e) => {
            tracing::warn!(error = %e, "token check failed");
            return Err(close_frame(
                close::UNAVAILABLE,
                "service unavailable, retry",
            ));
        }
    };
    match state.operations.socket_banned(token, &profile.name).await {
        Ok(true) => return Err(dispatch::operator_close()),
        Ok(false) => {}
        // Without Redis no ban can be read: the socket is let in, as it would have been.
        Err(e) => tracing::warn!(error = %e, "checking bans failed"),
    }
    if let Err(e) = state.kpi.count(kpi::app_of(kind), &state.node_id).await {
        tracing::warn!(error = %e, "counting the session in the KPIs failed");
    }
    let (outbox, frames) = Outbox::new(OUTBOX_CAPACITY);
    let most = state.config.max_sockets_per_token;
    let id = match state
        .hub
        .register(token, &profile.name, kind, outbox.clone(), most)
    {
        Ok(id) => id,
        Err(Refused::TooMany) => {
            let reason = format!("this token already has {most} sockets on this node");
            return Err(close_frame(close::TOO_MANY_SOCKETS, &reason));
        }
        Err(Refused::ShuttingDown) => return Err(shutting_down()),
    };
    if !profile.muted.is_empty() {
        state.hub.set_muted(token, profile.muted);
    }
    if kind == SocketKind::Ws {
        outbox.send_json(&ServerMsg::Hello {
            node: state.node_id.clone(),
            name: profile.name.clone(),
            session_start: profile.session_start,
            server_time: common::clock::now_millis(),
        });
    }
    Ok((id, profile.name, outbox, frames))
}

/// The close frame of every socket when the node shuts down.
pub fn shutting_down() -> Message {
    close_frame(close::GOING_AWAY, "server shutting down")
}

/// Every second, closes this node's sockets that were silent for `IDLE_SECS` (60 s) and
/// pings a 25th of them (each every 25 s; every half of `IDLE_SECS` when that is
/// shorter), until the node stops: one timer for the node instead of one per socket.
pub async fn run_keepalive(state: AppState) {
    let mut tick = tokio::time::interval(KEEPALIVE_EVERY);
    let idle_secs = state.config.idle_secs;
    let idle_ms = idle_secs * 1000;
    let ping_turns =
        (idle_secs / 2).clamp(1, PING_EVERY_MOST.as_secs()) / KEEPALIVE_EVERY.as_secs();
    for turn in 0.. {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tick.tick() => {
                state.hub.keepalive(now_ms(), idle_ms, turn, ping_turns);
            }
        }
    }
}

/// What a closed socket leaves in Redis: presence in its rooms, its place in the
/// quick-match queue (its waiting game ends), and subscriptions no other local socket needs.
async fn clean_up(peer: &Peer<'_>) {
    let state = peer.state;
    let left = state.hub.unregister(peer.id);
    for channel in &left.emptied {
        state.bus.sync(channel).await;
    }
    for channel in &left.channels {
        if let Some(room) = common::keys::room_of_channel(channel) {
            if let Err((_, e)) = rooms::leave(state, peer.id, &peer.name, room).await {
                tracing::warn!(room, error = %e, "leaving a room on close failed");
            }
        }
    }
    if let Some(game) = left.queued {
        let _ = state.games.unqueue(&game, &peer.token).await;
        if let Err(e) = state.games.leave(&game, &peer.token, None).await {
            tracing::warn!(%game, error = %e, "ending a waiting quick-match game failed");
        }
    }
}

/// An admitted socket's reader and writer, polled by hand in the socket's task: an idle
/// socket's task holds this and its [`Peer`], nothing more. (Two `async` loops joined with
/// `select!` held each a frame's place, a wait on the queue and the sink's send.)
///
/// The writer sends what is queued (the node's pings among it) and ends after a close
/// frame: queued, or one that goes first (the node shuts down, the client cannot keep up
/// or was silent), sent within [`CLOSE_WAIT`]. The reader reads frames and handles each in
/// turn, in a boxed future that exists only while a frame is handled. The socket ends
/// when the reader ends, with the close frame to send if any; or when the writer ends,
/// once the request being handled is finished (never cut half-way: a message stored but
/// not queued for the bot), reading nothing more.
struct Running<'a> {
    peer: &'a Peer<'a>,
    sink: SplitSink<WebSocket, Message>,
    stream: SplitStream<WebSocket>,
    frames: Frames,
    /// Whether frames are still read (not once the reader ended with a close to send).
    reading: bool,
    /// The frame being handled.
    handling: Option<Pin<Box<dyn Future<Output = Option<Message>> + Send + 'a>>>,
    /// A frame taken from the queue that the sink has no room for yet.
    unsent: Option<Message>,
    /// Set once a close frame is taken: how long it may take to go out.
    closing: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether something was sent since the last flush.
    written: bool,
    /// Whether the writer is done.
    ended: bool,
}

impl Future for Running<'_> {
    /// What the reader ended with: the close frame to send, if any.
    type Output = Option<Message>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let this = self.get_mut();
        if !this.ended && this.poll_writer(cx).is_ready() {
            this.ended = true;
        }
        if this.ended {
            // The writer is done: finish the request being handled, read nothing more.
            if let Some(handling) = &mut this.handling {
                ready!(handling.as_mut().poll(cx));
                this.handling = None;
            }
            return Poll::Ready(None);
        }
        if this.reading {
            return this.poll_reader(cx);
        }
        Poll::Pending
    }
}

impl Running<'_> {
    /// Sends what is queued; `Ready` once the writer is done (its close frame sent or out
    /// of time, or the connection failed).
    fn poll_writer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.closing.is_none() {
                // A close that goes first replaces a frame the client has no room for;
                // one that comes while the client reads nothing wakes the writer.
                if let Poll::Ready(close) = self.frames.poll_closing(cx) {
                    self.begin_close(close);
                }
            }
            if let Some(deadline) = &mut self.closing {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            if self.unsent.is_none() {
                if self.closing.is_some() {
                    // The close frame is out of the queue: once flushed, the writer is done.
                    return Pin::new(&mut self.sink).poll_flush(cx).map(|_| ());
                }
                match self.frames.poll_next(cx) {
                    Poll::Ready(close @ Message::Close(_)) => self.begin_close(close),
                    Poll::Ready(frame) => self.unsent = Some(frame),
                    Poll::Pending => return self.poll_flush(cx),
                }
                continue;
            }
            match Pin::new(&mut self.sink).poll_ready(cx) {
                Poll::Pending => return self.poll_flush(cx),
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    let frame = self.unsent.take().expect("a frame waits");
                    if Pin::new(&mut self.sink).start_send(frame).is_err() {
                        return Poll::Ready(());
                    }
                    self.written = true;
                }
            }
        }
    }

    /// Sends `close` next, in place of a frame waiting for room, within [`CLOSE_WAIT`]: a
    /// client that cannot keep up may not read its close frame either.
    fn begin_close(&mut self, close: Message) {
        if let Message::Close(frame) = &close {
            metrics::closed(frame.as_ref().map_or(1005, |f| f.code));
        }
        self.unsent = Some(close);
        self.closing = Some(Box::pin(tokio::time::sleep(CLOSE_WAIT)));
    }

    /// Pushes out what was sent; `Ready` only when the connection failed.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.written {
            return Poll::Pending;
        }
        match Pin::new(&mut self.sink).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.written = false;
                Poll::Pending
            }
            Poll::Ready(Err(_)) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Reads and handles frames until the client leaves; returns the close frame to
    /// send, if any.
    fn poll_reader(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let peer = self.peer;
        loop {
            if let Some(handling) = &mut self.handling {
                let closing = ready!(handling.as_mut().poll(cx));
                self.handling = None;
                if closing.is_some() {
                    return Poll::Ready(closing);
                }
            }
            let Some(next) = ready!(self.stream.poll_next_unpin(cx)) else {
                return Poll::Ready(None);
            };
            peer.outbox.touch();
            let text = match next {
                Err(e) => return Poll::Ready(closing_for(e)),
                Ok(Message::Text(text)) => text,
                Ok(Message::Binary(bytes)) => {
                    match (peer.kind, String::from_utf8(bytes.to_vec())) {
                        (SocketKind::Chat, Ok(text)) => text.into(),
                        _ => {
                            peer.outbox.send_json(&ServerMsg::error(
                                None,
                                ErrorCode::BadRequest,
                                "send text frames",
                            ));
                            continue;
                        }
                    }
                }
                Ok(Message::Close(_)) => return Poll::Ready(None),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            };
            // Boxed: the handler's state is large and only exists while a frame is
            // handled, so it is not part of every idle socket's task.
            self.handling = Some(Box::pin(
                async move { handle_frame(peer, text.as_str()).await },
            ));
        }
    }
}

/// The close frame for a socket whose frame could not be read, by the kind of error: 1009
/// for a frame too large to read, 1007 for a text frame that is not UTF-8, 1002 for a
/// broken protocol; none when the connection itself failed (nothing can be sent then).
fn closing_for(error: axum::Error) -> Option<Message> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let error = error.into_inner();
    match error.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => Some(close_frame(close::TOO_BIG, "frame too large")),
        Some(WsError::Utf8(_)) => Some(close_frame(close::INVALID_DATA, "text frame is not UTF-8")),
        Some(WsError::Protocol(e)) => {
            tracing::debug!(error = %e, "WebSocket protocol error");
            Some(close_frame(close::PROTOCOL, "WebSocket protocol error"))
        }
        _ => {
            tracing::debug!(error = %error, "socket read failed");
            None
        }
    }
}

/// Counts one text frame against the limits, answers it, and records it in the stats and
/// metrics; returns a close frame when the socket must end.
async fn handle_frame(peer: &Peer<'_>, text: &str) -> Option<Message> {
    let started = Instant::now();
    let state = peer.state;
    if text.len() as u64 > state.config.max_frame_bytes {
        let limit = state.config.max_frame_bytes;
        let message = format!("frame larger than {limit} bytes");
        peer.outbox
            .send_json(&ServerMsg::error(None, ErrorCode::TooLarge, message));
        metrics::frame_in("invalid");
        state.stats.record(None, started.elapsed());
        return None;
    }
    let parsed = match peer.kind {
        SocketKind::Chat => Ok((
            None,
            ClientMsg::BotSay {
                text: text.to_string(),
            },
        )),
        SocketKind::Ws => parse_client(text),
    };
    let kind = parsed.as_ref().ok().map(|(_, request)| request.kind());
    metrics::frame_in(kind.unwrap_or("invalid"));
    let reference = match &parsed {
        Ok((reference, _)) => reference.clone(),
        Err(bad) => bad.reference.clone(),
    };
    // Typing indicators do not use up the token's rate limit: they are throttled per
    // socket and room instead, and cost no Redis work when dropped.
    let typing = matches!(parsed, Ok((_, ClientMsg::RoomTyping { .. })));
    let limited = if typing {
        Ok(None)
    } else {
        state.limits.frame(&peer.token).await
    };
    let closing = match limited {
        Ok(Some(retry_after_ms)) => {
            metrics::rate_limited();
            peer.outbox
                .send_json(&ServerMsg::rate_limited(reference, retry_after_ms));
            None
        }
        Ok(None) | Err(_) => {
            // Without Redis the limit cannot be counted; the request itself then reports
            // `unavailable` if it needs Redis.
            match parsed {
                Ok((reference, request)) => handle_request(peer, reference, request).await,
                Err(bad) => {
                    peer.outbox.send_json(&ServerMsg::error(
                        bad.reference,
                        ErrorCode::BadRequest,
                        bad.message,
                    ));
                    None
                }
            }
        }
    };
    state.stats.record(kind, started.elapsed());
    closing
}

/// Answers one request; returns a close frame when the socket must end.
async fn handle_request(
    peer: &Peer<'_>,
    reference: Option<String>,
    request: ClientMsg,
) -> Option<Message> {
    let outcome = match request {
        ClientMsg::BotSay { text } => {
            // The reply may come back before this node has queued the ack: hold it.
            let acks = peer.kind == SocketKind::Ws;
            let hub = &peer.state.hub;
            if acks {
                hub.hold_replies(peer.id);
            }
            let said = bot_chat::say(peer.state, &peer.token, &peer.name, &text).await;
            let answer = match &said {
                Ok(msg) => ServerMsg::Ack {
                    reference,
                    id: Some(msg.id.clone()),
                },
                Err(e) => e.to_frame(reference),
            };
            match (acks, &said) {
                (true, _) => hub.release_replies(peer.id, &answer),
                (false, Err(_)) => peer.outbox.send_json(&answer),
                (false, Ok(_)) => {}
            }
            return matches!(said, Err(SayError::SessionGone))
                .then(|| close_frame(close::POLICY, "session expired"));
        }
        ClientMsg::RoomJoin { room, since } => {
            rooms::join(peer, &room, since.as_deref(), reference.clone()).await
        }
        ClientMsg::RoomSay { room, text } => {
            rooms::say(peer, &room, &text, reference.clone()).await
        }
        ClientMsg::RoomLeave { room } => rooms::leave_request(peer, &room, reference.clone()).await,
        ClientMsg::RoomTyping { room } => rooms::typing(peer, &room).await,
        ClientMsg::GameCreate { vs_bot } => games::create(peer, vs_bot, reference.clone()).await,
        ClientMsg::GameJoin { game, play, since } => {
            games::join(peer, &game, play, since.as_deref(), reference.clone()).await
        }
        ClientMsg::GameQuick {} => games::quick(peer, reference.clone()).await,
        ClientMsg::GameMove { game, cell } => {
            games::play(peer, &game, cell, reference.clone()).await
        }
        ClientMsg::GameRematch { game } => games::rematch(peer, &game, reference.clone()).await,
        ClientMsg::GameLeave { game } => games::leave(peer, &game, reference.clone()).await,
        ClientMsg::UserMute { name } => users::mute(peer, &name, true, reference.clone()).await,
        ClientMsg::UserUnmute { name } => users::mute(peer, &name, false, reference.clone()).await,
    };
    if let Err((code, message)) = outcome {
        peer.outbox
            .send_json(&ServerMsg::error(reference, code, message));
    }
    None
}
