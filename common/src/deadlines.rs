//! The deadline indexes every node's sweep reads (seats, turn clocks, room presence): sorted
//! sets scored by when each entry is due (ms), written with [`set`]. A sweep claims the entries that are due in
//! one atomic step (`scripts/claim_overdue.lua`), moving them a lease ahead: no two nodes
//! check one entry at once, and an entry claimed by a node that died is due again when its
//! lease runs out.

use std::time::Duration;

use fred::{prelude::*, types::scripts::Script};

use crate::{clock, error::StoreError};

/// Puts `member` in the deadline index `index`, due at `at_ms` (moving it there if it is
/// in the index already).
pub async fn set(
    client: &Client,
    index: &str,
    member: String,
    at_ms: i64,
) -> Result<(), StoreError> {
    let _: () = client
        .zadd(index, None, None, false, false, (at_ms as f64, member))
        .await?;
    Ok(())
}

/// The claiming script.
#[derive(Clone)]
pub struct Claims {
    script: Script,
}

impl Default for Claims {
    fn default() -> Self {
        Claims {
            script: Script::from_lua(include_str!("scripts/claim_overdue.lua")),
        }
    }
}

impl Claims {
    /// Claims up to `limit` due entries of `index` for this node's sweep: each is due again
    /// after `lease`. Returns them, the longest overdue first.
    pub async fn claim(
        &self,
        client: &Client,
        index: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .script
            .evalsha_with_reload(
                client,
                vec![index.to_string()],
                vec![
                    clock::now_millis().to_string(),
                    limit.to_string(),
                    lease.as_millis().to_string(),
                ],
            )
            .await?)
    }
}
