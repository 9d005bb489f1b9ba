//! Two players of a game over WebSocket, as most game tests have them: a socket each, the
//! moves they make, and what each sees.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{flows::new_session, procs::Server, util::eventually, ws::Ws};

/// `GET /leaderboard` once `ready` holds for its `top` list: results are recorded right
/// after the change that ended a game is published, so they may trail that state briefly.
pub async fn leaderboard_when(base: &str, ready: impl Fn(&[Value]) -> bool) -> Value {
    eventually(
        Duration::from_secs(5),
        "the results on the leaderboard",
        || async {
            let board: Value = reqwest::get(format!("{base}/leaderboard"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            ready(board["top"].as_array()?).then_some(board)
        },
    )
    .await
}

pub struct Player {
    pub ws: Ws,
    pub token: String,
}

pub async fn player(node: &Server, name: &str) -> Player {
    let doc = new_session(&node.base, name).await;
    let token = doc["token"].as_str().unwrap().to_string();
    let (ws, _) = Ws::hello(&node.ws_url("/ws", &token)).await;
    Player { ws, token }
}

impl Player {
    pub async fn ask(&mut self, request: Value) -> Value {
        self.ws.send(request).await;
        self.next_answer().await
    }

    /// The next frame that is not a room or presence event.
    pub async fn next_answer(&mut self) -> Value {
        loop {
            let frame = self.ws.recv().await;
            if !frame["type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("room.")
            {
                return frame;
            }
        }
    }

    pub async fn state(&mut self) -> Value {
        let frame = self.ws.recv_type("game.state").await;
        frame["game"].clone()
    }
}

/// Alice (X, on `a`) creates, Bob (O, on `b`) joins; returns the game ID.
pub async fn start_game(alice: &mut Player, bob: &mut Player) -> String {
    let created = alice
        .ask(json!({"type": "game.create", "vs_bot": false, "ref": "c"}))
        .await;
    assert_eq!(created["type"], "game.state", "{created}");
    assert_eq!(created["ref"], "c");
    let game = created["game"].clone();
    assert_eq!(game["status"], "waiting");
    assert_eq!(game["players"]["O"], Value::Null);
    let id = game["id"].as_str().unwrap().to_string();
    let joined = bob
        .ask(json!({"type": "game.join", "game": id, "ref": "j"}))
        .await;
    assert_eq!(joined["ref"], "j", "{joined}");
    assert_eq!(joined["game"]["status"], "playing");
    let seen_by_alice = alice.state().await;
    assert_eq!(seen_by_alice, joined["game"]);
    id
}

pub async fn play(mover: &mut Player, other: &mut Player, id: &str, cell: u8) -> Value {
    let answer = mover
        .ask(json!({"type": "game.move", "game": id, "cell": cell, "ref": format!("m{cell}")}))
        .await;
    assert_eq!(answer["type"], "game.state", "move {cell}: {answer}");
    assert_eq!(answer["ref"], format!("m{cell}"));
    let theirs = other.state().await;
    assert_eq!(theirs, answer["game"], "both players see the same state");
    theirs
}

/// X (`x`) takes cells 0, 1, 2 while O (`o`) takes 3 and 4; returns the final state.
pub async fn x_wins_the_top_row(x: &mut Player, o: &mut Player, id: &str) -> Value {
    let mut last = Value::Null;
    for (cell, x_moves) in [(0, true), (3, false), (1, true), (4, false), (2, true)] {
        last = if x_moves {
            play(x, o, id, cell).await
        } else {
            play(o, x, id, cell).await
        };
    }
    last
}

/// Asks for a rematch that the other player has not asked for yet: the ack and the
/// published state, in whichever order they arrive.
pub async fn ask_rematch(player: &mut Player, id: &str, reference: &str) -> (Value, Value) {
    player
        .ws
        .send(json!({"type": "game.rematch", "game": id, "ref": reference}))
        .await;
    let (mut ack, mut state) = (None, None);
    while ack.is_none() || state.is_none() {
        let frame = player.next_answer().await;
        match frame["type"].as_str() {
            Some("ack") if frame["ref"] == reference => ack = Some(frame),
            Some("game.state") => state = Some(frame["game"].clone()),
            _ => panic!("unexpected while asking for a rematch: {frame}"),
        }
    }
    (ack.unwrap(), state.unwrap())
}
