//! Rate limits shared by every node: frames per token (`RATE_PER_5S`, `RATE_PER_MIN`),
//! `POST /token` per client IP (`TOKEN_RATE_PER_MIN`) and failed operator logins per client
//! IP, counted in Redis so that a client that spreads its traffic over several nodes meets
//! the same limit.
//!
//! Frames are not counted in Redis one by one. A node reserves a part of a token's
//! allowance in every window at once (`rate_lease.lua`: the grant is what each window
//! still has room for, counted in all of them atomically) and spends it locally until it
//! is used up or the first window starts over. The first reservation in a window is as
//! many frames as the node let through of the token in the window before (one for a token
//! it has not seen lately), and each next one doubles, all up to a quarter of the smaller
//! limit, so a token that sends a frame now and then costs Redis a script per frame as
//! before, and one that keeps sending at a steady rate a script per window or two. What
//! this costs in exactness, and no more:
//! - no window ever counts more than its limit, cluster-wide, whichever nodes the frames
//!   reach;
//! - a reservation not used up is counted all the same: a token may be refused up to one
//!   reservation less one (at most a quarter of the smaller limit) early for each node
//!   holding its sockets, and the frames reserved in the shorter window count in the
//!   longer one even when that window's reservation ends unused.
//!
//! A refusal is remembered until its window starts over, so a client that keeps sending
//! while refused costs Redis nothing.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use common::{error::StoreError, keys};
use fred::{prelude::*, types::scripts::Script};

/// The shorter window of a token's frame limit (`RATE_PER_5S`).
const SHORT_WINDOW: Duration = Duration::from_secs(5);

/// One window of a limit: at most `limit` requests per `length`.
struct Window {
    key: String,
    limit: u64,
    length: Duration,
}

/// What this node holds of one token's allowance.
#[derive(Clone, Copy)]
struct Lease {
    /// Frames reserved and not used yet.
    left: u64,
    /// Refused until `until`: a window had no room left.
    refused: bool,
    /// When the reservation (or the refusal) ends: the first of the windows starts over.
    until: Instant,
    /// How many frames the next reservation asks for.
    next: u64,
    /// Frames let through since the window's first reservation (on this node): what the
    /// first reservation of the next window asks for.
    used: u64,
}

/// The limits of one node's configuration.
pub struct Limits {
    client: Client,
    script: Script,
    lease: Script,
    per_5s: u64,
    per_min: u64,
    tokens_per_min: u64,
    /// The most one reservation asks for.
    max_lease: u64,
    leases: Mutex<Leases>,
}

#[derive(Default)]
struct Leases {
    by_token: HashMap<String, Lease>,
    /// Ended leases are dropped when the map grows past this.
    prune_at: usize,
}

/// What a frame's check decided without Redis.
enum Local {
    Allowed,
    Refused(u64),
    /// Reserve this many frames in Redis.
    Reserve(u64),
}

impl Limits {
    pub fn new(client: Client, per_5s: u64, per_min: u64, tokens_per_min: u64) -> Self {
        Limits {
            client,
            script: Script::from_lua(include_str!("scripts/rate_limit.lua")),
            lease: Script::from_lua(include_str!("scripts/rate_lease.lua")),
            per_5s,
            per_min,
            tokens_per_min,
            max_lease: (per_5s.min(per_min) / 4).max(1),
            leases: Mutex::new(Leases {
                by_token: HashMap::new(),
                prune_at: 1024,
            }),
        }
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        // The map holds nothing that a panic elsewhere could leave half-changed.
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one frame of `token`. `Some(ms)` means it is over the limit: drop the frame;
    /// the client may send again in `ms`.
    pub async fn frame(&self, token: &str) -> Result<Option<u64>, StoreError> {
        let now = Instant::now();
        let want = match self.spend(token, now) {
            Local::Allowed => return Ok(None),
            Local::Refused(ms) => return Ok(Some(ms)),
            Local::Reserve(want) => want,
        };
        let windows = self.windows(token);
        let keys: Vec<String> = windows.iter().map(|w| w.key.clone()).collect();
        let mut args = vec![want.to_string()];
        args.extend(window_args(&windows));
        let (granted, ms): (u64, u64) = self
            .lease
            .evalsha_with_reload(&self.client, keys, args)
            .await?;
        // From the answer on, not from the frame's arrival: `ms` was read in Redis after the
        // frame arrived, so counted from the arrival the lease would end a little before
        // the window does, and a frame in that gap would reserve from a window about to
        // end (a grant good for 0 ms), making the next window start again from one frame.
        let until = Instant::now() + Duration::from_millis(ms);
        let mut lease = Lease {
            left: granted.saturating_sub(1),
            refused: granted == 0,
            until,
            next: (want * 2).min(self.max_lease),
            used: u64::from(granted > 0),
        };
        let mut leases = self.leases();
        if leases.by_token.len() >= leases.prune_at {
            leases.by_token.retain(|_, l| l.until > now);
            leases.prune_at = (leases.by_token.len() * 2).max(1024);
        }
        // Another socket of the token on this node may have reserved meanwhile, in the same
        // window: keep what is left of that too. A grant that lasts well past the lease
        // held (by more than half the shorter window) is of the next window, reserved as
        // the held one ran out at its end: it replaces that one, and the frames of the new
        // window are counted from this one (what the held one left unused was counted in
        // its own window and goes with it).
        if let Some(other) = leases.by_token.get(token) {
            let same_window = lease.until < other.until + SHORT_WINDOW / 2;
            if granted > 0 && !other.refused && other.until > now && same_window {
                lease.left += other.left;
                lease.until = lease.until.min(other.until);
                lease.used += other.used;
            }
        }
        leases.by_token.insert(token.to_string(), lease);
        Ok((granted == 0).then_some(ms.max(1)))
    }

    /// Spends a frame of the lease this node holds for `token`, if it holds one.
    fn spend(&self, token: &str, now: Instant) -> Local {
        let mut leases = self.leases();
        let Some(lease) = leases.by_token.get_mut(token) else {
            return Local::Reserve(1);
        };
        if lease.until <= now {
            // A new window: reserve what the token used in the one just ended, so a token
            // that keeps its pace reserves once, and one that sends a little, a little.
            let recent = now.duration_since(lease.until) < SHORT_WINDOW;
            Local::Reserve(if recent { lease.used } else { 1 }.clamp(1, self.max_lease))
        } else if lease.refused {
            Local::Refused((lease.until - now).as_millis().max(1) as u64)
        } else if lease.left > 0 {
            lease.left -= 1;
            lease.used += 1;
            Local::Allowed
        } else {
            Local::Reserve(lease.next)
        }
    }

    fn windows(&self, token: &str) -> [Window; 2] {
        [
            Window {
                key: keys::rate_of_token(token, "5s"),
                limit: self.per_5s,
                length: SHORT_WINDOW,
            },
            Window {
                key: keys::rate_of_token(token, "1m"),
                limit: self.per_min,
                length: Duration::from_secs(60),
            },
        ]
    }

    /// Counts one `POST /token` from `ip`: `Some(ms)` means it is over the limit.
    pub async fn new_token(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        self.per_minute(keys::rate_of_ip(ip), self.tokens_per_min)
            .await
    }

    /// Counts one request in the one-minute window `key` of at most `limit`: `Some(ms)`
    /// once over it.
    async fn per_minute(&self, key: String, limit: u64) -> Result<Option<u64>, StoreError> {
        let window = [Window {
            key,
            limit,
            length: Duration::from_secs(60),
        }];
        let wait: u64 = self
            .script
            .evalsha_with_reload(
                &self.client,
                vec![window[0].key.clone()],
                window_args(&window),
            )
            .await?;
        Ok((wait > 0).then_some(wait))
    }
}

/// Failed operator logins one client IP may make in a minute; past them every `/admin`
/// request of that address is refused (the right key too) until the minute is over.
pub const ADMIN_FAILURES_PER_MIN: u64 = 10;

impl Limits {
    /// `Some(ms)` when `ip` has failed to give the operators' key too often this minute.
    pub async fn admin_blocked(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        let key = keys::rate_of_admin(ip);
        let count: Option<u64> = self.client.get(&key).await?;
        if count.unwrap_or_default() < ADMIN_FAILURES_PER_MIN {
            return Ok(None);
        }
        let ttl: i64 = self.client.pttl(&key).await?;
        Ok(Some(ttl.max(1) as u64))
    }

    /// Counts a failed operator login of `ip`: `Some(ms)` once past the limit.
    pub async fn admin_failure(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        self.per_minute(keys::rate_of_admin(ip), ADMIN_FAILURES_PER_MIN)
            .await
    }
}

/// Each window's limit and length (ms), in the order of the windows.
fn window_args(windows: &[Window]) -> Vec<String> {
    windows
        .iter()
        .flat_map(|w| [w.limit.to_string(), w.length.as_millis().to_string()])
        .collect()
}
