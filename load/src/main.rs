//! The load tool: drives running server nodes over real sockets and prints figures.
//! It sends traffic only to the URLs it is given (loopback in this project) and stops
//! by itself.
//!
//! - `load bot`: `bot.say` on node A, `bot.reply` timed on the same token's socket on
//!   node B, at a fixed rate: p50, p99, max and lost replies.
//! - `load idle`: holds many authenticated `/ws` sockets on one node and reports the
//!   node's resident memory growth per socket.
//! - `load hold`: holds many authenticated `/ws` sockets over several nodes until told to
//!   stop; sockets whose node goes away come back on another with jittered backoff, and
//!   `load report` says how long that took.
//! - `load moves`: many concurrent games, X and O on different nodes: moves/s and the
//!   move → state latency.
//! - `load fanout`: rooms of members on two nodes, each saying something at a fixed rate:
//!   deliveries/s, lost deliveries, latency.

mod bot;
mod fanout;
mod hold;
mod idle;
mod moves;
mod sockets;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "load", about = "Load scenarios against running server nodes")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Round trip from bot.say (node A) to bot.reply (node B) at a fixed rate.
    Bot(bot::Args),
    /// Many idle authenticated sockets on one node: resident memory per socket.
    Idle(idle::Args),
    /// Many idle authenticated sockets over several nodes, held until SIGTERM; those whose
    /// node goes away come back on another.
    Hold(hold::Args),
    /// How long the sockets of `hold` took to come back after a node was killed.
    Report(hold::ReportArgs),
    /// Concurrent games across two nodes: moves/s and move → state latency.
    Moves(moves::Args),
    /// Room chat fan-out across two nodes: deliveries/s, losses, latency.
    Fanout(fanout::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Bot(args) => bot::run(args).await,
        Scenario::Idle(args) => idle::run(args).await,
        Scenario::Hold(args) => hold::run(args).await,
        Scenario::Report(args) => hold::report(args),
        Scenario::Moves(args) => moves::run(args).await,
        Scenario::Fanout(args) => fanout::run(args).await,
    }
}
