//! What most tests do with the programs: a Redis with two nodes (and a worker), sessions,
//! a game between two sockets, and checks on the order of room messages.

use crate::{procs::Server, procs::Worker, redis::Redis, ws::Ws};

/// `x` creates a game and `o` joins it; returns its ID once both see it `playing`.
pub async fn start_game(x: &mut Ws, o: &mut Ws) -> String {
    x.send(serde_json::json!({"type": "game.create", "ref": "new"}))
        .await;
    let id = x.answer("new").await["game"]["id"]
        .as_str()
        .expect("a game ID")
        .to_string();
    o.send(serde_json::json!({"type": "game.join", "game": id, "ref": "join"}))
        .await;
    assert_eq!(o.answer("join").await["game"]["status"], "playing");
    assert_eq!(x.recv_type("game.state").await["game"]["status"], "playing");
    id
}

/// `ws` creates a game; returns its ID from the `game.state` that answers.
pub async fn create_game(ws: &mut Ws) -> String {
    ws.send(serde_json::json!({"type": "game.create"})).await;
    ws.recv_type("game.state").await["game"]["id"]
        .as_str()
        .expect("a game ID")
        .to_string()
}

/// Checks that the room message `frame` comes after the one before it (`last`, its stream
/// position), so messages are seen once each and in stream order; moves `last` on.
pub fn assert_after(last: &mut Option<(u64, u64)>, frame: &serde_json::Value) {
    let id = frame["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {frame}"));
    let (ms, seq) = id
        .split_once('-')
        .unwrap_or_else(|| panic!("not a stream ID: {id}"));
    let position = (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
    assert!(
        *last < Some(position),
        "{frame} after {last:?}: out of order or twice"
    );
    *last = Some(position);
}

/// The token of a session document.
pub fn token(doc: &serde_json::Value) -> String {
    doc["token"].as_str().expect("a token").to_string()
}

/// `POST /token?name=…` on `base`; returns the session document.
pub async fn new_session(base: &str, name: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}/token"))
        .query(&[("name", name)])
        .send()
        .await
        .expect("POST /token");
    let (status, doc) = crate::traffic::json_body("POST", resp).await;
    assert_eq!(status, 200, "POST /token for {name:?}: {doc}");
    doc
}

/// `GET /refresh_token?token=…` on `base`: the status and the JSON body.
pub async fn refresh(base: &str, token: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("{base}/refresh_token?token={token}"))
        .await
        .expect("GET /refresh_token");
    crate::traffic::json_body("GET", resp).await
}

/// A Redis, two server nodes and one worker: the topology most tests need.
pub struct Cluster {
    pub redis: Redis,
    pub a: Server,
    pub b: Server,
    pub worker: Worker,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let redis = Redis::start().await;
        Cluster::on(redis).await
    }

    pub async fn on(redis: Redis) -> Cluster {
        let url = redis.url();
        let (a, b, worker) = tokio::join!(
            Server::start(&url, &[("NODE_ID", "node-a")]),
            Server::start(&url, &[("NODE_ID", "node-b")]),
            Worker::start(&url, &[]),
        );
        Cluster {
            redis,
            a,
            b,
            worker,
        }
    }
}

/// A Redis and two nodes (`node-a`, `node-b`), each with `envs` too; no worker.
pub async fn two_nodes(envs: &[(&str, &str)]) -> (Redis, Server, Server) {
    let redis = Redis::start().await;
    let url = redis.url();
    let mut a_env = vec![("NODE_ID", "node-a")];
    a_env.extend_from_slice(envs);
    let mut b_env = vec![("NODE_ID", "node-b")];
    b_env.extend_from_slice(envs);
    let (a, b) = tokio::join!(Server::start(&url, &a_env), Server::start(&url, &b_env));
    (redis, a, b)
}

/// Sends `bot.say` and waits for its `ack`; returns the stored message's ID.
pub async fn say_to_bot(ws: &mut Ws, text: &str) -> String {
    ws.send(serde_json::json!({"type": "bot.say", "text": text}))
        .await;
    let ack = ws.recv_type("ack").await;
    ack["id"]
        .as_str()
        .expect("an ack with the message's ID")
        .to_string()
}
