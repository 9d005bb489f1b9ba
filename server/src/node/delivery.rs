//! Reads `response_channel` and hands each bot reply to the sockets of its token on this
//! node. Every node reads the whole stream from where it started; a reply whose token has
//! no socket here is skipped (the session history has it anyway).
//!
//! The reader keeps the ID of the last entry it saw, so after a lost connection it
//! resumes exactly there: nothing added meanwhile is missed.

use std::time::Duration;

use common::{
    keys,
    streams::{Entries, ReplyEntry},
};
use fred::prelude::*;

use super::state::AppState;

const BLOCK_MS: u64 = 2_000;
const BATCH: u64 = 512;

/// Runs until the node shuts down. `reader` is a client of its own: XREAD BLOCK holds
/// its connection.
pub async fn run(state: AppState, reader: Client, mut last_id: String) {
    loop {
        let read = reader.xread::<Value, _, _>(
            Some(BATCH),
            Some(BLOCK_MS),
            keys::RESPONSE_CHANNEL,
            last_id.clone(),
        );
        let bounded = tokio::time::timeout(
            common::redis::BLOCKING_TIMEOUT + Duration::from_secs(1),
            read,
        );
        let result = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            r = bounded => r,
        };
        match result {
            Ok(Ok(value)) => match common::streams::entries(value) {
                Ok(entries) => deliver(&state, entries, &mut last_id),
                Err(e) => tracing::warn!(error = %e, "unexpected XREAD answer"),
            },
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading response_channel failed; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(_) => tracing::warn!("reading response_channel timed out; retrying"),
        }
    }
    let _ = reader.quit().await;
}

fn deliver(state: &AppState, entries: Entries, last_id: &mut String) {
    for (stream_id, fields) in entries {
        *last_id = stream_id.clone();
        crate::metrics::reply_read(&stream_id);
        let entry = ReplyEntry::from_fields(stream_id, fields);
        state.hub.deliver_reply(&entry.token, &entry.message);
    }
}
