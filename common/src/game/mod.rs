//! Tic-tac-toe: the pure rules ([`rules`]) and games stored in Redis ([`store`]).

pub mod rules;
pub mod store;
