//! The node itself: the state its handlers share, the router of pub/sub events to the
//! sockets that follow them, and its background tasks. Below the handlers, above the
//! stores and the hub.

pub mod catch_up;
pub mod delivery;
pub mod dispatch;
pub mod state;
pub mod sweeper;
