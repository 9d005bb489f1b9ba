//! Tic-tac-toe: the pure rules ([`rules`]), the game object ([`model`]), games stored in
//! Redis ([`store`]) and their results ([`results`]: leaderboard, players of the day).

pub mod model;
pub mod results;
pub mod rules;
pub mod store;
