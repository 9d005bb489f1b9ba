//! What the node keeps and reads: rooms in Redis (log, presence), its pub/sub
//! subscriptions, the news of muted names and disconnections, what operators read and act
//! on, and what it has delivered of each room feed. Below the node's router, above the
//! hub.

pub mod bus;
pub mod feeds;
pub mod operations;
pub mod rooms;
pub mod users;
