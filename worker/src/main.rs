//! The `worker` binary: parse settings, connect to Redis, answer until SIGTERM/Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use common::lifecycle;
use worker::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    lifecycle::init_tracing();
    match worker::connect(&config).await {
        Ok(w) => {
            worker::run(w, lifecycle::shutdown_signal()).await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("worker: {e}");
            ExitCode::FAILURE
        }
    }
}
