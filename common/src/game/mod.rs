//! Tic-tac-toe: the pure rules ([`rules`]).

pub mod rules;
