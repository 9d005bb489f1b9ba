//! `load hold`: many authenticated idle `/ws` sockets spread over several nodes, held until
//! the process is told to stop (SIGTERM or Ctrl-C). A socket whose node goes away comes
//! back as the page's client does: it waits a random time between 0 and
//! min(10 s, 300 ms × 2^attempt) (exponential backoff with full jitter) and tries again,
//! on a node other than its last one drawn at random (as a balancer in front of the
//! nodes would spread it; the spare nodes count). Several of these processes together hold more sockets than one
//! process may (its open files are limited); each writes what happened to its sockets to a
//! file that `load report` reads.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use futures_util::StreamExt;

use crate::{
    sockets::{self, Incoming, Socket},
    stats,
};

const BACKOFF_BASE: Duration = Duration::from_millis(300);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct Args {
    /// The nodes the sockets are opened on, evenly, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    nodes: Vec<String>,
    /// Nodes that take sockets only when they come back (after the list of `--nodes`).
    #[arg(long, value_delimiter = ',')]
    spare: Vec<String>,
    /// Sockets to open.
    #[arg(long, default_value_t = 16_000)]
    sockets: usize,
    /// Loopback source addresses to connect from: 127.0.0.(FIRST) onwards.
    #[arg(long, default_value_t = 1)]
    first_source: u8,
    #[arg(long, default_value_t = 2)]
    sources: u8,
    /// Connections opened at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Where to write one line per socket that came back: the epoch ms its connection
    /// ended, the epoch ms of its `hello` on another node, and the attempts it took.
    #[arg(long)]
    report: std::path::PathBuf,
    /// A file created once every socket is open (or failed to open).
    #[arg(long)]
    ready: Option<std::path::PathBuf>,
}

/// Milliseconds since the epoch: comparable between processes on one machine.
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A socket that came back after its connection ended.
struct Return {
    ended_ms: u64,
    back_ms: u64,
    attempts: u32,
}

/// Opens `/ws` with `token` on `node` and waits for its `hello`: the socket is then
/// authenticated and registered on the node.
async fn open(node: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Socket> {
    let mut ws = sockets::open_ws(node, source, token).await?;
    match ws.next().await {
        Incoming::Text(text) if text.contains("\"hello\"") => Ok(ws),
        other => anyhow::bail!("no hello from {node}: {other:?}"),
    }
}

/// The wait before attempt `attempt` (0 for the first after the connection ended).
fn backoff(attempt: u32, seed: usize) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    ceiling.mul_f64(stats::random_fraction((seed, attempt, epoch_ms())))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let first: Vec<SocketAddr> = args
        .nodes
        .iter()
        .map(|n| sockets::addr_of(n))
        .collect::<anyhow::Result<_>>()?;
    let mut all = first.clone();
    for n in &args.spare {
        all.push(sockets::addr_of(n)?);
    }
    let all = Arc::new(all);
    let http = reqwest::Client::new();
    let started = Instant::now();
    // One token per socket, each made through the node the socket first goes to.
    let tokens: Vec<anyhow::Result<String>> = futures_util::stream::iter(0..args.sockets)
        .map(|i| {
            let (http, base) = (&http, &args.nodes[i % args.nodes.len()]);
            async move {
                let name = format!("h{}s{i}", args.first_source);
                sockets::new_token(http, base, &name).await
            }
        })
        .buffered(args.concurrency)
        .collect()
        .await;
    let tokens: Vec<String> = tokens.into_iter().collect::<anyhow::Result<_>>()?;
    let tokens_secs = started.elapsed().as_secs_f64();
    let source = |i: usize| {
        let k = args.first_source as u32 + (i % args.sources.max(1) as usize) as u32;
        IpAddr::V4(std::net::Ipv4Addr::from(0x7f00_0000 + k))
    };

    let opening = Instant::now();
    let opened: Vec<(usize, anyhow::Result<Socket>)> = futures_util::stream::iter(0..args.sockets)
        .map(|i| {
            let (node, token) = (first[i % first.len()], &tokens[i]);
            async move { (i, open(node, source(i), token).await) }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let returns = Arc::new(Mutex::new(Vec::new()));
    let open_now = Arc::new(AtomicUsize::new(0));
    let mut held = Vec::with_capacity(args.sockets);
    let mut failed = 0usize;
    for (i, socket) in opened {
        let ws = match socket {
            Ok(ws) => ws,
            Err(e) => {
                if failed == 0 {
                    eprintln!("hold: a socket failed to open: {e}");
                }
                failed += 1;
                continue;
            }
        };
        let (all, token, returns, open_now) = (
            all.clone(),
            tokens[i].clone(),
            returns.clone(),
            open_now.clone(),
        );
        let home = i % first.len();
        let src = source(i);
        open_now.fetch_add(1, Ordering::Relaxed);
        held.push(tokio::spawn(async move {
            let mut ws = ws;
            let mut node = home;
            loop {
                while let Incoming::Text(_) = ws.next().await {}
                open_now.fetch_sub(1, Ordering::Relaxed);
                let ended_ms = epoch_ms();
                let mut attempts = 0u32;
                ws = loop {
                    tokio::time::sleep(backoff(attempts, i)).await;
                    attempts += 1;
                    let draw = stats::random_fraction((i, attempts, epoch_ms()));
                    let others = all.len().saturating_sub(1).max(1);
                    node = (node + 1 + (draw * others as f64) as usize) % all.len();
                    if let Ok(ws) = open(all[node], src, &token).await {
                        break ws;
                    }
                };
                open_now.fetch_add(1, Ordering::Relaxed);
                returns.lock().unwrap().push(Return {
                    ended_ms,
                    back_ms: epoch_ms(),
                    attempts,
                });
            }
        }));
    }
    println!(
        "hold: {} sockets open on {} nodes ({failed} failed); {} tokens in {tokens_secs:.1} s, sockets in {:.1} s",
        held.len(),
        first.len(),
        tokens.len(),
        opening.elapsed().as_secs_f64()
    );
    if let Some(ready) = &args.ready {
        std::fs::write(ready, format!("{}\n", held.len())).context("writing the ready file")?;
    }

    stop_signal().await?;
    let returns = std::mem::take(&mut *returns.lock().unwrap());
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.report)
            .with_context(|| format!("creating {}", args.report.display()))?,
    );
    for r in &returns {
        writeln!(out, "{} {} {}", r.ended_ms, r.back_ms, r.attempts)?;
    }
    out.flush()?;
    println!(
        "hold: {} of {} sockets open at the end; {} came back after their connection ended",
        open_now.load(Ordering::Relaxed),
        held.len(),
        returns.len()
    );
    for h in held {
        h.abort();
    }
    Ok(())
}

async fn stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// When the node was killed (epoch ms): the times are counted from it.
    #[arg(long)]
    since_ms: u64,
    /// The files `load hold --report` wrote.
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
}

/// `load report`: how long the sockets that lost their node took to come back.
pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let mut from_kill = Vec::new();
    let mut from_end = Vec::new();
    let mut attempts = Vec::new();
    for file in &args.files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines() {
            let fields: Vec<u64> = line
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .with_context(|| format!("a bad line in {}: {line}", file.display()))?;
            let [ended, back, tries] = fields[..] else {
                anyhow::bail!("a bad line in {}: {line}", file.display());
            };
            from_kill.push(Duration::from_millis(back.saturating_sub(args.since_ms)));
            from_end.push(Duration::from_millis(back.saturating_sub(ended)));
            attempts.push(tries);
        }
    }
    attempts.sort_unstable();
    let more_than_one = attempts.iter().filter(|&&a| a > 1).count();
    println!(
        "report: {} sockets came back; from the kill to their hello on another node: {}",
        from_kill.len(),
        stats::summary(&mut from_kill)
    );
    println!(
        "report: from each one's end of connection: {}; {} needed more than one attempt (most: {})",
        stats::summary(&mut from_end),
        more_than_one,
        attempts.last().copied().unwrap_or(0)
    );
    Ok(())
}
