//! Session KPIs: every WebSocket session is counted by app (`chat` for `/chat`, `ws` for
//! `/ws`), node, UTC day and hour, in one Redis hash per app, node and day with the fields
//! `day` and `0`…`23`; `GET /kpi?day=YYYYMMDD` reads every node's counts of a day.

use std::collections::HashMap;

use chrono::{NaiveDate, Timelike, Utc};
use common::{error::StoreError, keys};
use fred::{prelude::*, types::scripts::Script};
use serde_json::{json, Map, Value};

/// Separates app and node in the day's index.
const SEP: char = '\u{1f}';

/// Which endpoint a socket came through; it decides the shape of a bot reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `/chat`: a reply is the bare message object.
    Chat,
    /// `/ws`: a reply is a `bot.reply` frame.
    Ws,
}

pub struct Kpi {
    client: Client,
    count: Script,
}

/// The KPI app of a socket kind.
pub fn app_of(kind: SocketKind) -> &'static str {
    match kind {
        SocketKind::Chat => "chat",
        SocketKind::Ws => "ws",
    }
}

/// `YYYYMMDD` if `day` is a real date written that way.
pub fn valid_day(day: &str) -> bool {
    day.len() == 8 && NaiveDate::parse_from_str(day, "%Y%m%d").is_ok()
}

impl Kpi {
    pub fn new(client: Client) -> Self {
        Kpi {
            client,
            count: Script::from_lua(include_str!("scripts/kpi_count.lua")),
        }
    }

    /// Counts one session opened through `app` on `node`, now.
    pub async fn count(&self, app: &str, node: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        let day = now.format("%Y%m%d").to_string();
        let _: i64 = self
            .count
            .evalsha_with_reload(
                &self.client,
                vec![keys::kpi(&day, app, node), keys::kpi_index(&day)],
                vec![
                    now.hour().to_string(),
                    format!("{app}{SEP}{node}"),
                    keys::KPI_TTL_SECS.to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Every app's and node's counts of `day`, in the shape of `GET /kpi`.
    pub async fn day(&self, day: &str) -> Result<Value, StoreError> {
        let members: Vec<String> = self.client.smembers(keys::kpi_index(day)).await?;
        let pairs: Vec<(&str, &str)> = members.iter().filter_map(|m| m.split_once(SEP)).collect();
        let reads = pairs.iter().map(|(app, node)| {
            self.client
                .hgetall::<HashMap<String, u64>, _>(keys::kpi(day, app, node))
        });
        let counts = futures_util::future::try_join_all(reads).await?;
        let mut apps = Map::new();
        for ((app, node), fields) in pairs.into_iter().zip(counts) {
            let hours: Map<String, Value> = (0..24)
                .map(|h| {
                    let key = h.to_string();
                    let n = fields.get(&key).copied().unwrap_or(0);
                    (key, json!(n))
                })
                .collect();
            let entry = json!({"day": fields.get("day").copied().unwrap_or(0), "hours": hours});
            apps.entry(app.to_string())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("apps hold objects")
                .insert(node.to_string(), entry);
        }
        Ok(json!({"day": day, "apps": apps}))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_real_dates_as_yyyymmdd() {
        assert!(super::valid_day("20261125"));
        assert!(super::valid_day("20240229"));
        for bad in [
            "2026-11-25",
            "20261325",
            "20230229",
            "2026112",
            "abcdefgh",
            "",
        ] {
            assert!(!super::valid_day(bad), "{bad}");
        }
    }
}
