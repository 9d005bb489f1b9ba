//! The load tool: drives running server nodes over real sockets and prints figures.
//! It sends traffic only to the URLs it is given (loopback in this project) and stops
//! by itself.
//!
//! - `load bot`: `bot.say` on node A, `bot.reply` timed on the same token's socket on
//!   node B, at a fixed rate: p50, p99, max and lost replies.
//! - `load idle`: holds many authenticated `/ws` sockets on one node and reports the
//!   node's resident memory growth per socket.

mod bot;
mod client;
mod idle;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Bot(args) => bot::run(args).await,
        Scenario::Idle(args) => idle::run(args).await,
    }
}
