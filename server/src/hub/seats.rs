//! The games this node's sockets sit in: kept alive by the node's heartbeat, counted
//! against `MAX_OPEN_GAMES_PER_TOKEN`, and left behind once over when a socket moves on.

use std::collections::HashSet;

use super::{Hub, Inner};

impl Hub {
    /// Records that socket `id` has a seat in `game`.
    pub fn seat(&self, id: u64, game: &str) {
        if let Some(conn) = self.lock().conns.get_mut(&id) {
            conn.seats.entry(game.to_string()).or_insert(false);
        }
    }

    /// Notes whether `game` (whose channel is `channel`) is over, for the sockets seated in
    /// it that follow it here.
    pub fn game_over(&self, channel: &str, game: &str, over: bool) {
        let mut inner = self.lock();
        let Inner {
            conns, channels, ..
        } = &mut *inner;
        let Some(members) = channels.get(channel) else {
            return;
        };
        for id in members.keys() {
            if let Some(seat) = conns.get_mut(id).and_then(|c| c.seats.get_mut(game)) {
                *seat = over;
            }
        }
    }

    /// The games socket `id` sits in that are over, but `except`.
    pub fn finished_seats(&self, id: u64, except: &str) -> Vec<String> {
        self.lock().conns.get(&id).map_or_else(Vec::new, |conn| {
            conn.seats
                .iter()
                .filter(|(game, over)| **over && *game != except)
                .map(|(game, _)| game.clone())
                .collect()
        })
    }

    pub fn unseat(&self, id: u64, game: &str) {
        if let Some(conn) = self.lock().conns.get_mut(&id) {
            conn.seats.remove(game);
        }
    }

    /// Every seat held by a socket of this node: `(game, token)`.
    pub fn seats(&self) -> HashSet<(String, String)> {
        let inner = self.lock();
        inner
            .conns
            .values()
            .flat_map(|c| c.seats.keys().map(|g| (g.clone(), c.token.clone())))
            .collect()
    }

    /// Games not over (as far as this node has seen) in which the sockets of `token` here
    /// hold a seat.
    pub fn open_games(&self, token: &str) -> usize {
        let inner = self.lock();
        let Some(ids) = inner.by_token.get(token) else {
            return 0;
        };
        let open: HashSet<&String> = ids
            .iter()
            .filter_map(|id| inner.conns.get(id))
            .flat_map(|c| c.seats.iter().filter(|(_, over)| !**over).map(|(g, _)| g))
            .collect();
        open.len()
    }

    pub fn set_queued(&self, id: u64, game: Option<String>) {
        if let Some(conn) = self.lock().conns.get_mut(&id) {
            conn.queued = game;
        }
    }
}
