//! HTTP routes and start-up: names, the RedisJSON session and its TTL, 404s, health,
//! the static client, and the one-line errors when Redis is unusable.

use std::time::Duration;

use e2e::{new_session, procs::Proc, refresh, traffic::json_body, Redis, Server};
use fred::prelude::*;
use serde_json::{json, Value};

async fn post_token(base: &str, query: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{base}/token"));
    if let Some(name) = query {
        req = req.query(&[("name", name)]);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("POST /token");
    json_body("POST", resp).await
}

#[tokio::test]
async fn names_are_trimmed_and_validated() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;

    let (status, doc) = post_token(&node.base, Some("  alice  "), None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["name"], "alice");
    assert_eq!(doc["messages"], json!([]));
    assert!(uuid::Uuid::parse_str(doc["token"].as_str().unwrap())
        .is_ok_and(|u| u.get_version_num() == 4));

    let (status, doc) = post_token(&node.base, None, Some(json!({"name": "bob"}))).await;
    assert_eq!((status, doc["name"].as_str()), (200, Some("bob")));

    let too_long = "x".repeat(33);
    for bad in [
        "",
        "   ",
        too_long.as_str(),
        "a\u{1}b",
        "tab\tname",
        "\u{200B}\u{2060}",
        "\u{3164}",
        "ali\u{202E}ecb",
        "bot",
        "System",
    ] {
        let (status, body) = post_token(&node.base, Some(bad), None).await;
        assert_eq!(status, 400, "name {bad:?}");
        assert_eq!(
            body["error"]["code"], "invalid_name",
            "name {bad:?}: {body}"
        );
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (status, body) = post_token(&node.base, None, Some(json!({"name": "  "}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );
    let (status, body) = post_token(&node.base, None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );
    // Only an object names the session: an array is refused, not read as its fields.
    let (status, body) = post_token(&node.base, None, Some(json!(["zed"]))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = post_token(&node.base, Some(&"é".repeat(32)), None).await;
    assert_eq!(
        status, 200,
        "32 characters are fine even when they are 64 bytes"
    );
}

#[tokio::test]
async fn a_query_that_is_not_utf8_is_refused_not_replaced() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;
    for query in ["name=%ff%fe", "name=ok&x=%C3", "name=a%80b"] {
        let resp = reqwest::Client::new()
            .post(format!("{}/token?{query}", node.base))
            .send()
            .await
            .unwrap();
        let (status, body) = json_body("POST", resp).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["code"], "bad_request", "{query}: {body}");
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/token?name=Zo%C3%AB", node.base))
        .send()
        .await
        .unwrap();
    let (status, doc) = json_body("POST", resp).await;
    assert_eq!(status, 200);
    assert_eq!(doc["name"], "Zoë");
}

#[tokio::test]
async fn the_session_is_a_redisjson_document_with_a_ttl_that_activity_extends() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("SESSION_TTL_SECS", "120")]).await;
    let doc = new_session(&node.base, "carol").await;
    let token = doc["token"].as_str().unwrap();
    let key = format!("session:{token}");

    let client = redis.client().await;
    let kind: String = client
        .custom(fred::cmd!("TYPE"), vec![key.as_str()])
        .await
        .unwrap();
    assert_eq!(kind, "ReJSON-RL");
    let stored: String = client
        .json_get(&key, None::<String>, None::<String>, None::<String>, "$")
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored[0], doc);
    let ttl: i64 = client.ttl(&key).await.unwrap();
    assert!((1..=120).contains(&ttl), "ttl {ttl}");

    let _: () = client.expire(&key, 10, None).await.unwrap();
    let (status, refreshed) = refresh(&node.base, token).await;
    assert_eq!(status, 200);
    assert_eq!(refreshed, doc);
    let ttl: i64 = client.ttl(&key).await.unwrap();
    assert!(ttl > 100, "refresh extends the TTL, got {ttl}");
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_404() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;
    let (status, body) = refresh(&node.base, "no-such-token").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "session_not_found");
    let (status, _) = refresh(&node.base, "").await;
    assert_eq!(status, 404);

    let doc = new_session(&node.base, "dave").await;
    let token = doc["token"].as_str().unwrap();
    let client = redis.client().await;
    let _: () = client.del(format!("session:{token}")).await.unwrap();
    assert_eq!(refresh(&node.base, token).await.0, 404);
}

#[tokio::test]
async fn health_names_the_node_and_the_client_page_is_served_for_revalidation() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[("NODE_ID", "node-7")]).await;
    let (_, health) = json_body(
        "GET",
        reqwest::get(format!("{}/health", node.base)).await.unwrap(),
    )
    .await;
    assert_eq!(
        health,
        json!({"status": "ok", "node": "node-7", "redis": "ok"})
    );
    let page = reqwest::get(format!("{}/", node.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert!(page.text().await.unwrap().contains("<html"));
    // A module the browser has is revalidated, not downloaded again.
    let http = reqwest::Client::new();
    let module = http
        .get(format!("{}/js/app.js", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(module.status(), 200);
    assert_eq!(module.headers()["cache-control"], "no-cache");
    let modified = module.headers()["last-modified"].clone();
    let again = http
        .get(format!("{}/js/app.js", node.base))
        .header("if-modified-since", modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

async fn start_up_error(name: &str, redis_url: &str) -> String {
    let output = tokio::process::Command::new(e2e::procs::bin(name))
        .env("REDIS_URL", redis_url)
        .env("BIND_ADDR", format!("127.0.0.1:{}", e2e::free_port()))
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "{name} must exit non-zero");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    stderr
}

#[tokio::test]
async fn start_up_fails_with_one_line_when_redis_is_unreachable_or_lacks_redisjson() {
    let dead = format!("redis://127.0.0.1:{}", e2e::free_port());
    for name in ["server", "worker"] {
        let err = start_up_error(name, &dead).await;
        assert!(err.contains("cannot reach Redis"), "{err}");
    }
    let plain = Redis::start_without_json().await;
    for name in ["server", "worker"] {
        let err = start_up_error(name, &plain.url()).await;
        assert!(err.contains("RedisJSON"), "{err}");
    }
}

#[tokio::test]
async fn help_lists_every_setting() {
    for (name, settings) in [
        (
            "server",
            &[
                "REDIS_URL",
                "BIND_ADDR",
                "MAX_CONNECTIONS",
                "MAX_CONNECTIONS_PER_IP",
                "HEADER_TIMEOUT_SECS",
                "MAX_ROOMS_PER_SOCKET",
                "MAX_SOCKETS_PER_TOKEN",
                "MAX_OPEN_GAMES_PER_TOKEN",
                "NODE_ID",
                "SESSION_TTL_SECS",
                "HISTORY_MAX",
                "MAX_FRAME_BYTES",
                "ABANDON_SECS",
                "ROOM_RETENTION_SECS",
                "RATE_PER_5S",
                "RATE_PER_MIN",
                "TOKEN_RATE_PER_MIN",
                "TRUST_FORWARDED_FOR",
            ][..],
        ),
        (
            "worker",
            &[
                "REDIS_URL",
                "SESSION_TTL_SECS",
                "HISTORY_MAX",
                "LLM_URL",
                "LLM_MODEL",
                "LLM_API_KEY",
            ][..],
        ),
    ] {
        let output = tokio::process::Command::new(e2e::procs::bin(name))
            .arg("--help")
            .output()
            .await
            .unwrap();
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        for setting in settings {
            assert!(
                help.contains(setting),
                "{name} --help lacks {setting}:\n{help}"
            );
        }
    }
}

#[tokio::test]
async fn sigterm_stops_a_node_promptly() {
    let redis = Redis::start().await;
    let mut node = Server::start(&redis.url(), &[]).await;
    let started = std::time::Instant::now();
    let status = node
        .proc
        .terminate()
        .await
        .expect("node exits after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let mut worker = Proc::spawn("worker", &[], &[("REDIS_URL", &redis.url())]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(worker
        .terminate()
        .await
        .expect("worker exits after SIGTERM")
        .success());
}

#[tokio::test]
async fn what_the_http_layer_refuses_is_json_too() {
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;
    let http = reqwest::Client::new();
    let base = &node.base;
    // A method a route does not serve: not an operation of docs/openapi.yaml, so read
    // without the traffic record; its prose there says what this checks.
    let resp = http
        .post(format!("{base}/refresh_token?token=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert!(resp.headers().contains_key("allow"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    // A client each: a refused upload may leave its connection closed under the next request.
    let refusals = [
        (
            "GET",
            reqwest::Client::new().get(format!("{base}/refresh_token?token=a&token=b")),
            400,
            "bad_request",
        ),
        (
            "POST",
            reqwest::Client::new()
                .post(format!("{base}/token"))
                .header("content-type", "application/json")
                .body(format!("{{\"name\":\"{}\"}}", "x".repeat(3 << 20))),
            413,
            "too_large",
        ),
        (
            "GET",
            reqwest::Client::new().get(format!("{base}/ws?token=x")),
            400,
            "bad_request",
        ),
        (
            "GET",
            reqwest::Client::new().get(format!("{base}/no-such-page.html")),
            404,
            "not_found",
        ),
    ];
    for (method, request, status, code) in refusals {
        let (got, body) = json_body(method, request.send().await.unwrap()).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}
