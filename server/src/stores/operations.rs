//! What operators read and act on, in Redis: the live nodes (each node's heartbeat),
//! bans, the audit trail of their actions, and the counts of the overview (rooms by
//! members present, games with a seat kept alive).

use std::collections::{HashMap, HashSet};

use common::{clock, error::StoreError, keys};
use fred::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How often a node beats, and how long after its last beat it counts as gone.
pub const BEAT_EVERY_SECS: u64 = 5;
const NODE_GONE_AFTER_MS: i64 = 3 * BEAT_EVERY_SECS as i64 * 1000;

/// Whose sockets an operator acts on; as JSON `{"token":T}` or `{"name":N}` (how it is
/// announced to the nodes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Token(String),
    /// Every token with this name.
    Name(String),
}

impl Target {
    /// The token and the name it names (one of them).
    pub fn parts(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Target::Token(token) => (Some(token), None),
            Target::Name(name) => (None, Some(name)),
        }
    }
}

/// One live node, as its last heartbeat said.
#[derive(Debug, Serialize)]
pub struct NodeInfo {
    pub id: String,
    pub sockets: u64,
    pub uptime_secs: u64,
    pub last_heartbeat: String,
}

#[derive(Clone)]
pub struct Operations {
    client: Client,
}

impl Operations {
    pub fn new(client: Client) -> Self {
        Operations { client }
    }

    /// This node's heartbeat: how many sockets it holds, since when it runs.
    pub async fn beat(
        &self,
        node: &str,
        sockets: usize,
        started_ms: i64,
    ) -> Result<(), StoreError> {
        let now = clock::now_millis();
        let info = keys::node_info(node);
        let _: () = self
            .client
            .hset(
                &info,
                [
                    ("sockets", sockets as i64),
                    ("started", started_ms),
                    ("beat", now),
                ],
            )
            .await?;
        let _: () = self.client.pexpire(&info, NODE_GONE_AFTER_MS, None).await?;
        let _: Value = self
            .client
            .zadd(keys::NODES, None, None, false, false, (now as f64, node))
            .await?;
        let _: i64 = self
            .client
            .zremrangebyscore(keys::NODES, "-inf", (now - NODE_GONE_AFTER_MS) as f64)
            .await?;
        // Gone with the last node.
        let _: () = self
            .client
            .pexpire(keys::NODES, NODE_GONE_AFTER_MS, None)
            .await?;
        Ok(())
    }

    /// The nodes that beat lately.
    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let now = clock::now_millis();
        let ids: Vec<String> = self
            .client
            .zrangebyscore(
                keys::NODES,
                (now - NODE_GONE_AFTER_MS) as f64,
                "+inf",
                false,
                None,
            )
            .await?;
        let mut nodes = Vec::new();
        for id in ids {
            let info: HashMap<String, i64> = self.client.hgetall(keys::node_info(&id)).await?;
            let field = |f: &str| info.get(f).copied().unwrap_or_default();
            if info.is_empty() {
                continue;
            }
            nodes.push(NodeInfo {
                id,
                sockets: field("sockets").max(0) as u64,
                uptime_secs: ((now - field("started")) / 1000).max(0) as u64,
                last_heartbeat: clock::rfc3339_of_millis(field("beat")),
            });
        }
        Ok(nodes)
    }

    fn ban_key(target: &Target) -> String {
        match target {
            Target::Token(token) => keys::ban_of_token(token),
            Target::Name(name) => keys::ban_of_name(name),
        }
    }

    /// Bans `target` for `secs`.
    pub async fn ban(&self, target: &Target, secs: u64) -> Result<(), StoreError> {
        let _: () = self
            .client
            .set(
                Self::ban_key(target),
                "1",
                Some(Expiration::EX(secs as i64)),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    /// Whether a ban on `target` lasts.
    pub async fn is_banned(&self, target: &Target) -> Result<bool, StoreError> {
        let found: i64 = self.client.exists(Self::ban_key(target)).await?;
        Ok(found > 0)
    }

    /// Whether the token, or its name, is banned (both asked at once).
    pub async fn socket_banned(&self, token: &str, name: &str) -> Result<bool, StoreError> {
        let (token, name) = (Target::Token(token.into()), Target::Name(name.into()));
        let (by_token, by_name) = tokio::try_join!(self.is_banned(&token), self.is_banned(&name))?;
        Ok(by_token || by_name)
    }

    /// Writes an operator's action to the audit stream.
    pub async fn audit(&self, who: &str, action: &str, detail: &Value) -> Result<(), StoreError> {
        let _: String = self
            .client
            .xadd(
                keys::AUDIT,
                false,
                ("MAXLEN", "~", keys::AUDIT_MAXLEN),
                "*",
                vec![
                    ("at", clock::now_rfc3339()),
                    ("who", who.to_string()),
                    ("action", action.to_string()),
                    ("detail", detail.to_string()),
                ],
            )
            .await?;
        Ok(())
    }

    /// The last `n` actions, newest first.
    pub async fn audit_log(&self, n: u64) -> Result<Vec<Value>, StoreError> {
        let entries: Vec<(String, HashMap<String, String>)> = self
            .client
            .xrevrange(keys::AUDIT, "+", "-", Some(n))
            .await?;
        Ok(entries
            .into_iter()
            .map(|(id, fields)| {
                let field = |f: &str| fields.get(f).cloned().unwrap_or_default();
                let detail: Value = serde_json::from_str(&field("detail")).unwrap_or(Value::Null);
                json!({"id": id, "at": field("at"), "who": field("who"), "action": field("action"), "detail": detail})
            })
            .collect())
    }

    /// Rooms with members present (game chats included), most members first: how many
    /// there are, and the first `top`. Read from the presence index, at most `cap` entries.
    pub async fn rooms_by_members(
        &self,
        top: usize,
        cap: i64,
    ) -> Result<(usize, Vec<(String, usize)>), StoreError> {
        let members: Vec<String> = self
            .client
            .zrangebyscore(keys::ROOM_DEADLINES, "-inf", "+inf", false, Some((0, cap)))
            .await?;
        let mut names: HashMap<String, HashSet<String>> = HashMap::new();
        for member in &members {
            let mut parts = member.split('\x1f');
            if let (Some(room), Some(_node), Some(name)) =
                (parts.next(), parts.next(), parts.next())
            {
                names
                    .entry(room.to_string())
                    .or_default()
                    .insert(name.to_string());
            }
        }
        let mut rooms: Vec<(String, usize)> =
            names.into_iter().map(|(room, n)| (room, n.len())).collect();
        rooms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let count = rooms.len();
        rooms.truncate(top);
        Ok((count, rooms))
    }

    /// Games in which a node keeps a seat alive (at most `cap` index entries read).
    pub async fn seated_games(&self, cap: i64) -> Result<Vec<String>, StoreError> {
        let members: Vec<String> = self
            .client
            .zrangebyscore(keys::SEAT_DEADLINES, "-inf", "+inf", false, Some((0, cap)))
            .await?;
        let mut seen = HashSet::new();
        Ok(members
            .iter()
            .filter_map(|m| m.split_once('\x1f').map(|(game, _)| game.to_string()))
            .filter(|game| seen.insert(game.clone()))
            .collect())
    }

    /// Redis's memory in use and its limit (0: none), from `INFO memory`.
    pub async fn redis_memory(&self) -> Result<(u64, u64), StoreError> {
        let info: String = self
            .client
            .info(Some(fred::types::InfoKind::Memory))
            .await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or_default()
        };
        Ok((field("used_memory"), field("maxmemory")))
    }
}
