//! The operators' API across two nodes: every route with a good, a wrong and no key, and
//! none of them without `ADMIN_KEY`; a message from `system`, a deletion and a disconnect
//! with a ban acting on sockets of both nodes; the ban's end; the overview; the audit trail.

use std::time::Duration;

use e2e::{new_session, two_nodes, Server, Ws};
use serde_json::{json, Value};

const KEY: &str = "s3cret-operator-key";

/// An operator request with `key` (none when `None`): the status and the JSON body.
async fn admin(
    node: &Server,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().request(method.clone(), format!("{}{path}", node.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    e2e::traffic::json_body(method.as_str(), response).await
}

/// The status of `GET path` (the page is HTML, not JSON).
async fn page_status(node: &Server, path: &str) -> u16 {
    reqwest::get(format!("{}{path}", node.base))
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get(node: &Server, path: &str, key: Option<&str>) -> (u16, Value) {
    admin(node, reqwest::Method::GET, path, key, None).await
}

async fn post(node: &Server, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
    admin(node, reqwest::Method::POST, path, key, Some(body)).await
}

/// A member of room `lobby` on `node`: its socket and token.
async fn member(node: &Server, name: &str) -> (Ws, String) {
    let doc = new_session(&node.base, name).await;
    let token = doc["token"].as_str().unwrap().to_string();
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &token)).await;
    ws.send(json!({"type": "room.join", "room": "lobby", "ref": "j"}))
        .await;
    ws.answer("j").await;
    (ws, token)
}

#[tokio::test]
async fn without_admin_key_every_admin_route_is_404() {
    let (_redis, a, _b) = two_nodes(&[]).await;
    assert_eq!(page_status(&a, "/admin.html").await, 404);
    for path in ["/admin", "/admin/overview", "/admin/audit"] {
        let (status, body) = get(&a, path, Some(KEY)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = post(&a, "/admin/disconnect", Some(KEY), json!({"name": "bob"})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_admin_route_needs_the_key_and_repeated_failures_are_refused() {
    let (_redis, a, _b) = two_nodes(&[("ADMIN_KEY", KEY)]).await;
    assert_eq!(
        page_status(&a, "/admin").await,
        200,
        "the page itself asks for the key"
    );
    let delete = reqwest::Method::DELETE;
    let routes: Vec<(reqwest::Method, &str, Option<Value>)> = vec![
        (reqwest::Method::GET, "/admin/overview", None),
        (reqwest::Method::GET, "/admin/audit", None),
        (
            reqwest::Method::POST,
            "/admin/rooms/lobby/messages",
            Some(json!({"text": "hello from the operators"})),
        ),
        (delete.clone(), "/admin/rooms/lobby/messages/1-0", None),
        (
            reqwest::Method::POST,
            "/admin/disconnect",
            Some(json!({"name": "nobody"})),
        ),
    ];
    for (i, (method, path, body)) in routes.iter().enumerate() {
        // No key, then a wrong one: a short one, or one that differs in its last character.
        let wrong = if i % 2 == 0 {
            "wrong"
        } else {
            "s3cret-operator-kez"
        };
        for key in [None, Some(wrong)] {
            let (status, answer) = admin(&a, method.clone(), path, key, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}: {answer}");
            assert_eq!(answer["error"]["code"], "unauthorized");
        }
    }
    // 10 failures so far from this address, the most allowed in a minute: the right key
    // is refused too until the minute is over.
    let (status, answer) = get(&a, "/admin/overview", Some(KEY)).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"]["code"], "rate_limited");
    assert!(answer["error"]["retry_after_ms"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn good_keys_reach_every_route() {
    let (_redis, a, b) = two_nodes(&[("ADMIN_KEY", KEY)]).await;
    let (mut alice, _) = member(&a, "alice").await;
    let (status, posted) = post(
        &b,
        "/admin/rooms/lobby/messages",
        Some(KEY),
        json!({"text": "welcome"}),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    let id = posted["message"]["id"].as_str().unwrap().to_string();
    let seen = alice.recv_type("room.message").await;
    assert_eq!(
        (seen["from"].as_str(), seen["text"].as_str()),
        (Some("system"), Some("welcome"))
    );
    let path = format!("/admin/rooms/lobby/messages/{id}");
    let (status, deleted) = admin(&a, reqwest::Method::DELETE, &path, Some(KEY), None).await;
    assert_eq!((status, deleted), (200, json!({"deleted": id})));
    let (status, again) = admin(&a, reqwest::Method::DELETE, &path, Some(KEY), None).await;
    assert_eq!(status, 404, "{again}");
    let (status, _) = get(&a, "/admin/overview", Some(KEY)).await;
    assert_eq!(status, 200);
    let (status, _) = get(&b, "/admin/audit", Some(KEY)).await;
    assert_eq!(status, 200);
    let (status, bad) = post(&a, "/admin/disconnect", Some(KEY), json!({"who": "bob"})).await;
    assert_eq!(status, 400, "{bad}");
}

#[tokio::test]
async fn a_system_message_a_deletion_and_a_banning_disconnect_act_on_both_nodes() {
    let (_redis, a, b) = two_nodes(&[("ADMIN_KEY", KEY)]).await;
    let (mut alice, alice_token) = member(&a, "alice").await;
    let (mut bob, bob_token) = member(&b, "bob").await;

    // A message from system, posted through node A, reaches the members on both nodes.
    let (_, posted) = post(
        &a,
        "/admin/rooms/lobby/messages",
        Some(KEY),
        json!({"text": "be kind"}),
    )
    .await;
    for ws in [&mut alice, &mut bob] {
        let mut seen = ws.recv_type("room.message").await;
        seen.as_object_mut().unwrap().remove("type");
        assert_eq!(
            seen, posted["message"],
            "the message as stored and answered"
        );
        assert_eq!(seen["from"], "system");
    }

    // Bob says something; an operator removes it through node B.
    bob.send(json!({"type": "room.say", "room": "lobby", "text": "something abusive", "ref": "s"}))
        .await;
    let said = bob.answer("s").await;
    let id = said["id"].as_str().unwrap().to_string();
    assert_eq!(alice.recv_type("room.message").await["id"], id.as_str());
    let path = format!("/admin/rooms/lobby/messages/{id}");
    let (status, _) = admin(&b, reqwest::Method::DELETE, &path, Some(KEY), None).await;
    assert_eq!(status, 200);
    for ws in [&mut alice, &mut bob] {
        let gone = ws.recv_type("room.deleted").await;
        assert_eq!(
            gone,
            json!({"type": "room.deleted", "room": "lobby", "id": id})
        );
    }
    alice
        .send(json!({"type": "room.join", "room": "lobby", "ref": "again"}))
        .await;
    let history = alice.answer("again").await;
    let ids: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [posted["message"]["id"].as_str().unwrap()],
        "{history}"
    );

    // Alice opens a game and waits for an opponent.
    alice.send(json!({"type": "game.create", "ref": "g"})).await;
    let game = alice.answer("g").await["game"].clone();

    // The overview sees both nodes, their sockets (as of their last heartbeat, every 5 s),
    // the rooms by members and the game.
    let overview = e2e::eventually(Duration::from_secs(8), "both sockets counted", || async {
        let (_, overview) = get(&b, "/admin/overview", Some(KEY)).await;
        (overview["sockets"] == 2).then_some(overview)
    })
    .await;
    let nodes: Vec<&str> = overview["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.len(), 2, "{overview}");
    assert!(
        nodes.contains(&"node-a") && nodes.contains(&"node-b"),
        "{overview}"
    );
    assert!(
        overview["frames_per_minute"]["room.say"].as_u64() >= Some(1),
        "{overview}"
    );
    assert_eq!(
        overview["busiest_rooms"][0],
        json!({"room": "lobby", "members": 2})
    );
    assert_eq!(overview["active_rooms"], 2, "the lobby and the game's chat");
    assert_eq!(overview["games_in_play"], 1);
    assert_eq!(
        overview["games"][0],
        json!({"id": game["id"], "players": {"X": "alice", "O": null}, "status": "waiting", "vs_bot": false})
    );

    // Bob (on node B) is disconnected by name through node A, and banned for 2 s.
    let (status, banned) = post(
        &a,
        "/admin/disconnect",
        Some(KEY),
        json!({"name": "bob", "ban_secs": 2}),
    )
    .await;
    assert_eq!(status, 200, "{banned}");
    assert!(banned["banned_until"].is_string());
    assert_eq!(bob.close_code().await, 4003);
    let mut again = Ws::connect(&a.ws_url("/ws", &bob_token)).await;
    assert_eq!(again.close_code().await, 4003, "refused while banned");
    let refused = reqwest::Client::new()
        .post(format!("{}/token", b.base))
        .query(&[("name", "bob")])
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::traffic::json_body("POST", refused).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "banned");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (_, hello) = Ws::hello(&a.ws_url("/ws", &bob_token)).await;
    assert_eq!(hello["name"], "bob", "back once the ban is over");
    new_session(&b.base, "bob").await;

    // Alice's token is disconnected without a ban: she may come back at once.
    let (status, _) = post(
        &b,
        "/admin/disconnect",
        Some(KEY),
        json!({"token": alice_token}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(alice.close_code().await, 4003);
    Ws::hello(&b.ws_url("/ws", &alice_token)).await;

    // Every action is in the audit trail, newest first, with who and when.
    let (_, audit) = get(&a, "/admin/audit", Some(KEY)).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["disconnect", "disconnect", "room.delete", "room.message"]
    );
    let newest = &audit["entries"][0];
    assert_eq!(newest["who"], "127.0.0.1");
    assert_eq!(newest["detail"]["token"], alice_token.as_str());
    assert!(newest["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(audit["entries"][1]["detail"]["name"], "bob");
    assert_eq!(audit["entries"][1]["detail"]["ban_secs"], 2);
}
