//! `load idle`: opens many authenticated `/ws` sockets on one node, holds them (answering
//! the node's pings), and reports how much the node's resident memory grew per socket.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;

use crate::sockets::{self, Incoming};

#[derive(clap::Args)]
pub struct Args {
    /// The node to connect to.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    node: String,
    /// Process ID of that node, for its resident memory (/proc/PID/status).
    #[arg(long)]
    pid: u32,
    /// Sockets to open.
    #[arg(long, default_value_t = 19_900)]
    sockets: usize,
    /// Distinct tokens the sockets use.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Loopback source addresses to spread the connections over.
    #[arg(long, default_value_t = 4)]
    sources: usize,
    /// Connections opened at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Seconds to hold the sockets after the measurement.
    #[arg(long, default_value_t = 2)]
    hold_secs: u64,
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// Opens the sockets numbered `range` into `held`, each read until it ends; returns how
/// many failed to open.
async fn open_all(
    args: &Args,
    addr: std::net::SocketAddr,
    tokens: &[String],
    range: std::ops::Range<usize>,
    held: &mut Vec<tokio::task::JoinHandle<()>>,
) -> usize {
    let opened: Vec<_> = futures_util::stream::iter(range)
        .map(|i| {
            let token = tokens[i % tokens.len()].clone();
            let source = sockets::source_ip(i, args.sources);
            async move { sockets::open_ws(addr, source, &token).await }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let mut failed = 0;
    for socket in opened {
        match socket {
            Ok(mut ws) => held.push(tokio::spawn(async move {
                while let Incoming::Text(_) = ws.next().await {}
            })),
            Err(e) => {
                if failed == 0 {
                    eprintln!("idle: a connection failed: {e}");
                }
                failed += 1;
            }
        }
    }
    failed
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let addr = sockets::addr_of(&args.node)?;
    let mut tokens = Vec::with_capacity(args.users);
    for u in 0..args.users.max(1) {
        tokens.push(sockets::new_token(&http, &args.node, &format!("idle{u}")).await?);
    }
    // One socket first, so lazily built parts of the node do not count per socket.
    let warm = sockets::open_ws(addr, sockets::source_ip(0, 1), &tokens[0]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(args.pid)?;
    let started = Instant::now();
    // In two halves: the growth over the second half is what each further socket costs,
    // without what the node allocates once as its load grows (buffers and tables that
    // grow to their working size, the allocator's first pages).
    let half = args.sockets / 2;
    let mut held = Vec::with_capacity(args.sockets);
    let mut failed = open_all(&args, addr, &tokens, 0..half, &mut held).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let middle = rss_kib(args.pid)?;
    let middle_open = held.len();
    failed += open_all(&args, addr, &tokens, half..args.sockets, &mut held).await;
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(args.pid)?;
    let open = held.len();
    let per_socket = |kib: u64, sockets: usize| (kib as f64 * 1024.0) / sockets.max(1) as f64;
    let all = per_socket(after.saturating_sub(before), open);
    let further = per_socket(after.saturating_sub(middle), open - middle_open);
    println!(
        "idle: {open} sockets open ({failed} failed) in {:.1} s; node RSS {:.1} MiB → {:.1} MiB → {:.1} MiB: {:.0} bytes ({:.2} KiB) per socket; over the second half {:.0} bytes ({:.2} KiB) per socket",
        connect_time.as_secs_f64(),
        before as f64 / 1024.0,
        middle as f64 / 1024.0,
        after as f64 / 1024.0,
        all,
        all / 1024.0,
        further,
        further / 1024.0
    );
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let still_open = held.iter().filter(|h| !h.is_finished()).count();
    println!(
        "idle: {still_open} of {open} sockets still open after holding {} s",
        args.hold_secs
    );
    for h in held {
        h.abort();
    }
    drop(warm);
    Ok(())
}
