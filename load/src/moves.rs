//! `load moves`: many concurrent games, X on one node and O on the other, each player
//! moving as soon as it is its turn, or after thinking for `--think-ms` on average. When a
//! game ends both players ask for a rematch, or with `--new-game` (the way a matchmaking
//! service is used) X creates a new game and O joins it. The latency is from sending a
//! move to the opponent, on the other node, receiving the state.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::{
    sockets::{self, Incoming},
    stats,
};

#[derive(clap::Args)]
pub struct Args {
    /// Node of the X players.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    a: String,
    /// Node of the O players.
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    b: String,
    /// Concurrent games.
    #[arg(long, default_value_t = 1000)]
    games: usize,
    /// How long to play, in seconds.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// How long a player thinks, in milliseconds on average, between seeing that it is its
    /// turn and moving; 0 moves at once.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// When a game ends, X creates a new game and O joins it (instead of a rematch).
    #[arg(long)]
    new_game: bool,
}

#[derive(Default)]
struct Shared {
    /// Per game: the version a move will produce, when it was sent, and by whom.
    pending: Mutex<HashMap<String, (u64, Instant, String)>>,
    latencies: Mutex<Vec<Duration>>,
    /// Games in which at least one move reached the opponent.
    played: Mutex<HashSet<String>>,
    moves: AtomicU64,
    /// Games that ended (counted by their X player).
    finished: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    think: Duration,
    new_game: bool,
}

/// How X tells O, its opponent in the same pair, the ID of the game to join next.
type Invitations = tokio::sync::mpsc::UnboundedSender<String>;

async fn recv_json(ws: &mut sockets::Socket) -> anyhow::Result<Value> {
    match ws.next().await {
        Incoming::Text(t) => Ok(serde_json::from_str(&t)?),
        _ => anyhow::bail!("socket closed"),
    }
}

async fn until_state(ws: &mut sockets::Socket) -> anyhow::Result<Value> {
    loop {
        let frame = recv_json(ws).await?;
        if frame["type"] == "game.state" {
            return Ok(frame["game"].clone());
        }
        if frame["type"] == "error" {
            anyhow::bail!("error while setting up: {frame}");
        }
    }
}

/// Game `i`'s two players, ready to play: X's socket and name, then O's.
async fn set_up(
    http: &reqwest::Client,
    args: &Args,
    i: usize,
) -> anyhow::Result<[(sockets::Socket, String); 2]> {
    let (x_name, o_name) = (format!("mx{i}"), format!("mo{i}"));
    let (a, b) = (sockets::addr_of(&args.a)?, sockets::addr_of(&args.b)?);
    let x_token = sockets::new_token(http, &args.a, &x_name).await?;
    let o_token = sockets::new_token(http, &args.b, &o_name).await?;
    let source = sockets::source_ip(i, 4);
    let mut x = sockets::open_ws(a, source, &x_token).await?;
    let mut o = sockets::open_ws(b, source, &o_token).await?;
    recv_json(&mut x).await?;
    recv_json(&mut o).await?;
    x.send(&json!({"type": "game.create"})).await?;
    let game = until_state(&mut x).await?;
    let id = game["id"].as_str().unwrap_or_default().to_string();
    o.send(&json!({"type": "game.join", "game": id})).await?;
    until_state(&mut o).await?;
    Ok([(x, x_name), (o, o_name)])
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let pairs: Vec<_> = futures_util::stream::iter(0..args.games)
        .map(|i| {
            let http = &http;
            let args = &args;
            async move { set_up(http, args, i).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let shared = Arc::new(Shared {
        think: Duration::from_millis(args.think_ms),
        new_game: args.new_game,
        ..Shared::default()
    });
    let mut tasks = Vec::new();
    // The pairs come back in the order they were set up, not in the order of `i`: each
    // socket goes with the name it was opened for.
    for pair in pairs {
        let [(x, x_name), (o, o_name)] = pair?;
        let (invite, invited) = tokio::sync::mpsc::unbounded_channel();
        tasks.push(tokio::spawn(play(
            x,
            x_name,
            Role::X(invite),
            shared.clone(),
        )));
        tasks.push(tokio::spawn(play(
            o,
            o_name,
            Role::O(invited),
            shared.clone(),
        )));
    }
    eprintln!(
        "moves: {} games set up in {:.1} s; playing for {} s",
        args.games,
        started.elapsed().as_secs_f64(),
        args.secs
    );
    // Each X player opens as soon as it reads the "playing" state it was sent.
    let playing = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let elapsed = playing.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in tasks {
        t.abort();
    }
    let moves = shared.moves.load(Ordering::Relaxed);
    let finished = shared.finished.load(Ordering::Relaxed);
    let mut latencies = shared.latencies.lock().unwrap().clone();
    let secs = elapsed.as_secs_f64();
    println!(
        "moves: {} concurrent games ({} played), X and O on different nodes, {} ms to think, {}: {moves} moves in {secs:.1} s = {:.0} moves/s, {finished} games ended = {:.0} games/s, errors {}",
        args.games,
        shared.played.lock().unwrap().len(),
        args.think_ms,
        if args.new_game { "a new game after each" } else { "rematches" },
        moves as f64 / secs,
        finished as f64 / secs,
        shared.errors.load(Ordering::Relaxed)
    );
    println!(
        "moves: move → state at the opponent: {}",
        stats::distribution(&mut latencies)
    );
    Ok(())
}

fn my_mark<'a>(game: &'a Value, me: &str) -> Option<&'a str> {
    ["X", "O"].into_iter().find(|m| game["players"][*m] == me)
}

/// Which side of its pair a player is: X starts the next game and invites O to it.
enum Role {
    X(Invitations),
    O(tokio::sync::mpsc::UnboundedReceiver<String>),
}

async fn send(ws: &mut sockets::Socket, frame: Value) -> anyhow::Result<()> {
    ws.send(&frame).await?;
    Ok(())
}

async fn act(
    ws: &mut sockets::Socket,
    game: &Value,
    me: &str,
    role: &Role,
    shared: &Shared,
) -> anyhow::Result<()> {
    let id = game["id"].as_str().unwrap_or_default();
    let status = game["status"].as_str();
    if shared.new_game && matches!(status, Some("won") | Some("draw")) {
        // Only the first state that shows the end counts: a game over is not changed again.
        if let Role::X(_) = role {
            shared.finished.fetch_add(1, Ordering::Relaxed);
            send(ws, json!({"type": "game.create"})).await?;
        }
        return Ok(());
    }
    if let (Role::X(invite), Some("waiting")) = (role, status) {
        if my_mark(game, me) == Some("X") {
            let _ = invite.send(id.to_string());
        }
        return Ok(());
    }
    match status {
        Some("playing")
            if game["next"].as_str().is_some() && game["next"].as_str() == my_mark(game, me) =>
        {
            let Some(cell) = game["board"]
                .as_array()
                .and_then(|b| b.iter().position(Value::is_null))
            else {
                return Ok(());
            };
            let version = game["version"].as_u64().unwrap_or(0);
            if !shared.think.is_zero() {
                // Between half and one and a half times the thinking time, at random, so
                // that the games' moves spread over time instead of falling in step.
                let draw = stats::random_fraction((me, version));
                tokio::time::sleep(shared.think.mul_f64(0.5 + draw)).await;
            }
            shared.pending.lock().unwrap().insert(
                id.to_string(),
                (version + 1, Instant::now(), me.to_string()),
            );
            ws.send(&json!({"type": "game.move", "game": id, "cell": cell}))
                .await?;
        }
        // Both players ask once, on the state that ended the game: a later one that shows
        // a request is the answer to one of them.
        Some("won") | Some("draw") if game["rematch"].is_null() => {
            if let Role::X(_) = role {
                shared.finished.fetch_add(1, Ordering::Relaxed);
            }
            ws.send(&json!({"type": "game.rematch", "game": id}))
                .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn play(
    mut ws: sockets::Socket,
    me: String,
    mut role: Role,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    loop {
        let frame = match &mut role {
            Role::O(invited) => tokio::select! {
                frame = recv_json(&mut ws) => frame?,
                Some(game) = invited.recv() => {
                    send(&mut ws, json!({"type": "game.join", "game": game})).await?;
                    continue;
                }
            },
            Role::X(_) => recv_json(&mut ws).await?,
        };
        match frame["type"].as_str() {
            Some("game.state") => {
                let game = &frame["game"];
                let id = game["id"].as_str().unwrap_or_default();
                let version = game["version"].as_u64().unwrap_or(0);
                {
                    let mut pending = shared.pending.lock().unwrap();
                    if let Some((expected, sent, mover)) = pending.get(id) {
                        if *expected == version && *mover != me {
                            shared.latencies.lock().unwrap().push(sent.elapsed());
                            shared.moves.fetch_add(1, Ordering::Relaxed);
                            if let Some((id, _)) = pending.remove_entry(id) {
                                shared.played.lock().unwrap().insert(id);
                            }
                        }
                    }
                }
                if !shared.stop.load(Ordering::Relaxed) {
                    act(&mut ws, game, &me, &role, &shared).await?;
                }
            }
            Some("error") => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
