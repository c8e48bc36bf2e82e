//! Helpers shared by the black-box tests (included with `#[path]`).

pub mod openapi;

use botvisor::sim::SimHandle;
use serde_json::Value;

/// Calls the simulator's control API; returns the status and the JSON body.
pub async fn control_call(handle: &SimHandle, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = awc::Client::default();
    let url = format!("{}{path}", handle.control_url());
    let request = match method {
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    };
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("the control API answers");
    let status = response.status().as_u16();
    let body: Value = response.json().limit(8 * 1024 * 1024).await.unwrap_or(Value::Null);
    (status, body)
}

/// Calls the simulator's control API and expects success.
#[allow(dead_code)] // not every test binary uses both
pub async fn control(handle: &SimHandle, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = control_call(handle, method, path, body).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    answer
}
