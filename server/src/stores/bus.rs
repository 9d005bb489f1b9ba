//! The node's pub/sub connection for games and rooms: a node subscribes to a game's or
//! room's channel only while it holds a socket following it. Changes are queued here and
//! applied in batches by [`run_subscriptions`](crate::node::dispatch::run_subscriptions).
//! With `sharded`, SSUBSCRIBE/SPUBLISH are used (Redis Cluster), and the rest of the node
//! does not change.

use fred::{clients::SubscriberClient, prelude::*};
use tokio::sync::{mpsc, oneshot};

/// The node's pub/sub connection and the queue of subscription changes.
pub struct Bus {
    pub client: SubscriberClient,
    pub sharded: bool,
    requests: mpsc::UnboundedSender<(String, oneshot::Sender<()>)>,
}

impl Bus {
    pub fn new(
        client: SubscriberClient,
        sharded: bool,
    ) -> (Bus, mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>) {
        let (requests, rx) = mpsc::unbounded_channel();
        (
            Bus {
                client,
                sharded,
                requests,
            },
            rx,
        )
    }

    /// Brings the subscription of `channel` in line with whether a local socket follows
    /// it, and waits until that is done.
    pub async fn sync(&self, channel: &str) {
        let (done, wait) = oneshot::channel();
        if self.requests.send((channel.to_string(), done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Subscribes `subscribe` and unsubscribes `unsubscribe`, in one go: returns once Redis
    /// has processed them, so that a publish made after this returns reaches this node.
    /// Returns the channels whose change failed.
    pub async fn apply(
        &self,
        subscribe: &[String],
        unsubscribe: &[String],
    ) -> Vec<(String, Error)> {
        if self.sharded {
            // fred hands SSUBSCRIBE's confirmation to the caller (to follow MOVED
            // redirections), so each returns once its shard has subscribed the node. The
            // channels live on different shards: one command each, all at once.
            let subs = subscribe
                .iter()
                .map(|c| async move { (c, self.client.ssubscribe(c.as_str()).await) });
            let unsubs = unsubscribe
                .iter()
                .map(|c| async move { (c, self.client.sunsubscribe(c.as_str()).await) });
            let (subs, unsubs) = futures_util::future::join(
                futures_util::future::join_all(subs),
                futures_util::future::join_all(unsubs),
            )
            .await;
            return subs
                .into_iter()
                .chain(unsubs)
                .filter_map(|(c, r)| r.err().map(|e| (c.clone(), e)))
                .collect();
        }
        // fred returns from SUBSCRIBE without waiting for the confirmation; a round trip on
        // the same connection after it does: once the PING is answered, Redis has
        // processed every SUBSCRIBE sent before it. One command names all the channels.
        let failed = |channels: &[String], e: Error| {
            channels
                .iter()
                .map(|c| (c.clone(), e.clone()))
                .collect::<Vec<_>>()
        };
        let mut failures = Vec::new();
        if !unsubscribe.is_empty() {
            if let Err(e) = self.client.unsubscribe(unsubscribe.to_vec()).await {
                failures.extend(failed(unsubscribe, e));
            }
        }
        if !subscribe.is_empty() {
            let confirmed = async {
                self.client.subscribe(subscribe.to_vec()).await?;
                self.client.ping::<Value>(None).await
            };
            if let Err(e) = confirmed.await {
                failures.extend(failed(subscribe, e));
            }
        }
        failures
    }
}
