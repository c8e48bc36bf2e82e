//! A demo function bot and a function runner, served on the control port so a function bot runs
//! with no account anywhere (`config/botvisor-function.toml`):
//!
//! - `POST /functions/demo` answers LivePerson Functions' request body with its response body,
//!   by keyword: a greeting with quick replies, `agent` (TRANSFER), `bye` (CLOSE_CONVERSATION),
//!   `urgent` (CHANGE_TTR), `order` (INVOCATION of `order-status`), `card` (structured content),
//!   `note` (a private text), anything else echoed. While a `functions_unavailable` fault lasts
//!   it answers 503 (the load bench's soak uses this for vendor 5xx bursts). It checks the request as strictly as the
//!   contract reads: a body of another shape, or with fields the contract does not name, is
//!   refused with 400 and what is wrong.
//! - `POST /functions/invoke/{lambdaUuid}` runs a function: it records the invocation and answers
//!   `{"ok": true}`, or 500 for a function id starting with `fail`.
//! - `GET /sim/v1/functions/invocations` lists the last invocations.

use std::collections::VecDeque;
use std::sync::Mutex;

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::sim::context::Sim;
use crate::sim::state::now_ms;

/// Invocations kept for the control API, at most.
const MAX_INVOCATIONS: usize = 1000;

#[derive(Default)]
pub struct FunctionLog {
    invocations: Mutex<VecDeque<Value>>,
    /// The demo's 503 answers during a `functions_unavailable` fault.
    unavailable_answers: std::sync::atomic::AtomicU64,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(FunctionLog::default()))
        .route("/functions/demo", web::post().to(demo))
        .route("/functions/invoke/{lambda_uuid}", web::post().to(invoke))
        .route("/sim/v1/functions/invocations", web::get().to(invocations));
}

fn refuse(message: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": {"code": "invalid_request", "message": message.into()}}))
}

/// What is wrong with a function request, if anything.
pub fn check_request(body: &Value) -> Result<(), String> {
    let object = body.as_object().ok_or("the body must be a JSON object")?;
    for field in object.keys() {
        if !matches!(field.as_str(), "convId" | "message" | "event" | "context") {
            return Err(format!("{field}: not a field of a function request (convId, message, event, context)"));
        }
    }
    if object.get("convId").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err("convId: a non-empty string is required".into());
    }
    if !object.get("message").is_some_and(Value::is_string) {
        return Err("message: a string is required".into());
    }
    if let Some(event) = object.get("event") {
        if !event.get("name").is_some_and(Value::is_string) || event.as_object().is_some_and(|e| e.len() != 1) {
            return Err("event: must be {\"name\": \"…\"}".into());
        }
    }
    let context = object.get("context").and_then(Value::as_object).ok_or("context: an object is required")?;
    for field in context.keys() {
        if !matches!(field.as_str(), "lpEvent" | "lpSdes") {
            return Err(format!("context.{field}: not a field of a function request's context (lpEvent, lpSdes)"));
        }
    }
    if !context.get("lpEvent").is_some_and(Value::is_object) {
        return Err("context.lpEvent: an object is required".into());
    }
    if context.get("lpSdes").is_some_and(|s| !s.is_object()) {
        return Err("context.lpSdes: must be an object".into());
    }
    Ok(())
}

async fn demo(body: web::Bytes, sim: web::Data<Sim>, log: web::Data<FunctionLog>) -> HttpResponse {
    let unavailable_until = sim.state.lock().expect("state lock").faults.functions_unavailable_until;
    if unavailable_until.is_some_and(|until| now_ms() < until) {
        log.unavailable_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return HttpResponse::ServiceUnavailable()
            .json(json!({"error": {"code": "unavailable", "message": "the function is unavailable (a functions_unavailable fault)"}}));
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return refuse(format!("the body is not JSON: {e}")),
    };
    if let Err(problem) = check_request(&request) {
        return refuse(problem);
    }
    HttpResponse::Ok().json(demo_answer(&request))
}

fn has(text: &str, words: &[&str]) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).any(|word| words.iter().any(|w| word.eq_ignore_ascii_case(w)))
}

/// The demo bot's answer to a (valid) request.
pub fn demo_answer(request: &Value) -> Value {
    let text = request["message"].as_str().unwrap_or_default();
    if request.pointer("/event/name").and_then(Value::as_str) == Some("welcome") {
        return json!({"messages": ["Welcome! I am a function bot. Ask for a card, your order, an agent, or say bye."]});
    }
    if has(text, &["agent", "human", "person"]) {
        return json!({"messages": ["Let me find you a human.", {"text": "The consumer asked for an agent.", "messageAudience": "AGENTS_AND_MANAGERS"}],
            "context": {"action": "TRANSFER", "actionParameters": {"skill": "human-agents"}, "intentId": "agent", "intentName": "Talk to an agent", "confidenceScore": 0.9}});
    }
    if has(text, &["bye", "goodbye"]) {
        return json!({"messages": ["Goodbye!"], "context": {"action": "CLOSE_CONVERSATION"}});
    }
    if has(text, &["urgent", "asap"]) {
        return json!({"messages": ["I have marked this conversation urgent."], "context": {"action": "CHANGE_TTR", "actionParameters": {"ttrType": "URGENT"}}});
    }
    if has(text, &["order"]) {
        return json!({"messages": [{"delay": 1, "typing": true}, "Your order is on its way."],
            "context": {"action": "INVOCATION", "actionParameters": {"lambdaUuid": "order-status", "payload": {"conversation": request["convId"], "asked": text}, "failOnError": false}}});
    }
    if has(text, &["card"]) {
        return json!({"messages": [{"structuredContent": {"type": "vertical", "elements": [{"type": "text", "text": "A card from a function"}]},
            "metadata": [{"type": "ExternalId", "id": "demo-card"}]}]});
    }
    if has(text, &["note"]) {
        return json!({"messages": [{"text": "A note for the agents.", "messageAudience": "AGENTS_AND_MANAGERS"}, "Noted."]});
    }
    if has(text, &["hi", "hello", "hey", "menu"]) {
        return json!({"messages": [{"structuredContent": {"type": "quickReplies", "message": "Hello! What would you like?",
            "quickReplies": {"type": "quickReplies", "itemsPerRow": 3, "replies": [
                {"type": "button", "tooltip": "card", "title": "A card", "click": {"actions": [{"type": "publishText", "text": "card"}]}},
                {"type": "button", "tooltip": "order", "title": "My order", "click": {"actions": [{"type": "publishText", "text": "order"}]}},
                {"type": "button", "tooltip": "agent", "title": "An agent", "click": {"actions": [{"type": "publishText", "text": "agent"}]}}]}}}]});
    }
    json!({"messages": [format!("You said: {text}")]})
}

async fn invoke(path: web::Path<String>, body: web::Bytes, log: web::Data<FunctionLog>) -> HttpResponse {
    let lambda_uuid = path.into_inner();
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request @ Value::Object(_)) => request,
        _ => return refuse("the body must be a JSON object"),
    };
    if request.get("lambdaUuid").and_then(Value::as_str) != Some(lambda_uuid.as_str()) {
        return refuse("lambdaUuid: must name the function of the URL");
    }
    let failed = lambda_uuid.starts_with("fail");
    {
        let mut invocations = log.invocations.lock().unwrap_or_else(|p| p.into_inner());
        if invocations.len() >= MAX_INVOCATIONS {
            invocations.pop_front();
        }
        invocations.push_back(json!({"at_ms": now_ms(), "lambda_uuid": lambda_uuid, "request": request, "failed": failed}));
    }
    if failed {
        return HttpResponse::InternalServerError().json(json!({"error": {"code": "function_failed", "message": "the function threw"}}));
    }
    HttpResponse::Ok().json(json!({"ok": true}))
}

async fn invocations(log: web::Data<FunctionLog>) -> HttpResponse {
    let invocations: Vec<Value> = log.invocations.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
    let unavailable = log.unavailable_answers.load(std::sync::atomic::Ordering::Relaxed);
    HttpResponse::Ok().json(json!({"invocations": invocations, "demo_unavailable_answers": unavailable}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_answers_parse_and_requests_are_checked_strictly() {
        let request = |message: &str| json!({"convId": "c1", "message": message, "context": {"lpEvent": {}}});
        for message in ["hi", "agent please", "bye", "urgent", "my order", "a card", "note", "something else"] {
            let answer = demo_answer(&request(message));
            crate::vendors::function_response::parse_function_response(Some(&answer)).unwrap_or_else(|e| panic!("{message}: {e}"));
        }
        assert!(check_request(&request("hi")).is_ok());
        assert!(check_request(&json!({"convId": "c1", "message": "x", "context": {"lpEvent": {}}, "extra": 1}))
            .unwrap_err()
            .starts_with("extra"));
        assert!(check_request(&json!({"convId": "", "message": "x", "context": {"lpEvent": {}}})).unwrap_err().starts_with("convId"));
        assert!(check_request(&json!({"convId": "c", "message": "x", "context": {}})).unwrap_err().starts_with("context.lpEvent"));
    }
}
