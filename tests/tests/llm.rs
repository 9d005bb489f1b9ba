//! The worker's LLM path against a local OpenAI-compatible server: answers through the
//! API with the history as context, and the built-in bot when the API fails.

use std::sync::{Arc, Mutex};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use e2e::{new_session, say_to_bot, token, Redis, Server, Worker, Ws};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct FakeLlm {
    requests: Arc<Mutex<Vec<Value>>>,
    fail: bool,
}

async fn completions(
    State(fake): State<FakeLlm>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    fake.requests.lock().unwrap().push(body.clone());
    if fake.fail {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["content"].clone());
    let text = format!(
        "model heard {}",
        last.and_then(|c| c.as_str().map(String::from))
            .unwrap_or_default()
    );
    Ok(Json(json!({
        "id": "cmpl-1", "object": "chat.completion", "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    })))
}

async fn start_fake_llm(fake: FakeLlm) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn with_llm_url_the_worker_answers_through_the_api_with_history_as_context() {
    let fake = FakeLlm::default();
    let llm_url = start_fake_llm(fake.clone()).await;
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;
    let _worker = Worker::start(
        &redis.url(),
        &[
            ("LLM_URL", llm_url.as_str()),
            ("LLM_MODEL", "tiny"),
            ("LLM_API_KEY", "k"),
        ],
    )
    .await;
    let doc = new_session(&node.base, "zoe").await;
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &token(&doc))).await;

    say_to_bot(&mut ws, "first question").await;
    assert_eq!(
        ws.recv_type("bot.reply").await["msg"],
        "model heard first question"
    );
    say_to_bot(&mut ws, "second question").await;
    assert_eq!(
        ws.recv_type("bot.reply").await["msg"],
        "model heard second question"
    );

    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let last = &requests[1];
    assert_eq!(last["model"], "tiny");
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[0]["content"].as_str().unwrap().contains("zoe"));
    let rest: Vec<(&str, &str)> = messages[1..]
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rest,
        vec![
            ("user", "first question"),
            ("assistant", "model heard first question"),
            ("user", "second question"),
        ]
    );
}

#[tokio::test]
async fn when_the_llm_fails_the_built_in_bot_answers() {
    let fake = FakeLlm {
        fail: true,
        ..FakeLlm::default()
    };
    let llm_url = start_fake_llm(fake.clone()).await;
    let redis = Redis::start().await;
    let node = Server::start(&redis.url(), &[]).await;
    let _worker = Worker::start(&redis.url(), &[("LLM_URL", llm_url.as_str())]).await;
    let doc = new_session(&node.base, "yuri").await;
    let (mut ws, _) = Ws::hello(&node.ws_url("/ws", &token(&doc))).await;
    say_to_bot(&mut ws, "hello").await;
    let reply = ws.recv_type("bot.reply").await;
    assert!(
        reply["msg"].as_str().unwrap().contains("Hello yuri"),
        "{reply}"
    );
    assert_eq!(
        fake.requests.lock().unwrap().len(),
        1,
        "the API was tried first"
    );
}
