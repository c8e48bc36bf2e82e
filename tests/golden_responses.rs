//! Golden tests of the vendor answer parsers: each file under `tests/golden/<vendor>/` holds an
//! answer body as the vendor sends it and what botvisor must make of it — the items, the action
//! and the intents in a plain JSON form, or the error code for a malformed answer. The same files
//! seed the parsers' fuzz corpora.

use std::path::Path;

use botvisor::vendors::function_response::parse_function_response;
use botvisor::vendors::{directline_response, lex_response, watson_response};
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, MessageAudience, ResponseItem, Ttr};
use serde_json::{json, Map, Value};

/// The response in the golden files' plain form.
fn describe(response: &BotResponse) -> Value {
    let items: Vec<Value> = response
        .items
        .iter()
        .map(|item| {
            let mut out = Map::new();
            match item {
                ResponseItem::Text(text) => {
                    out.insert("text".into(), json!(text.text));
                    if text.audience == MessageAudience::AgentsAndManagers {
                        out.insert("private".into(), json!(true));
                    }
                    if let Some(replies) = &text.quick_replies {
                        out.insert("quick_replies".into(), replies.clone());
                    }
                    if let Some(metadata) = &text.metadata {
                        out.insert("metadata".into(), metadata.clone());
                    }
                    if let Some(encoded) = &text.encoded_metadata {
                        out.insert("encoded_metadata".into(), json!(encoded));
                    }
                }
                ResponseItem::StructuredContent(content) => {
                    out.insert("structured_content".into(), content.content.clone());
                    if let Some(metadata) = &content.metadata {
                        out.insert("metadata".into(), metadata.clone());
                    }
                    if let Some(encoded) = &content.encoded_metadata {
                        out.insert("encoded_metadata".into(), json!(encoded));
                    }
                }
                ResponseItem::Delay { seconds, typing } => {
                    out.insert("delay".into(), json!(seconds));
                    out.insert("typing".into(), json!(typing));
                }
            }
            Value::Object(out)
        })
        .collect();
    let action = response.action.as_ref().map_or(Value::Null, |action| match action {
        BotAction::Transfer { skill, agent_id } => json!({"transfer": {"skill": skill, "agent_id": agent_id}}),
        BotAction::CloseConversation { without_pcs } => json!({"close": {"without_pcs": without_pcs}}),
        BotAction::ChangeTtr(Ttr::Custom { seconds }) => json!({"ttr": {"custom": seconds}}),
        BotAction::ChangeTtr(ttr) => json!({"ttr": format!("{ttr:?}").to_lowercase()}),
        BotAction::InvokeFunction { lambda_uuid, payload, fail_on_error } => {
            json!({"invoke": {"lambda_uuid": lambda_uuid, "payload": payload, "fail_on_error": fail_on_error}})
        }
    });
    let intents: Vec<Value> = response.intents.iter().map(|i| json!({"id": i.id, "name": i.name, "confidence": i.confidence})).collect();
    json!({"items": items, "action": action, "intents": intents})
}

fn outcome(result: Result<BotResponse, VendorError>) -> Value {
    match result {
        Ok(response) => describe(&response),
        Err(VendorError::InvalidResponse { code, .. }) => json!({"error": code}),
        Err(other) => json!({"error": format!("not an invalid-response error: {other}")}),
    }
}

/// Runs every case of `dir` through `parse`; fails with every mismatch at once.
fn check(dir: &str, parse: impl Fn(Option<&Value>) -> Result<BotResponse, VendorError>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(dir);
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    assert!(files.len() >= 10, "golden cases in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let body = case.get("body").filter(|b| !b.is_null());
        let got = outcome(parse(body));
        if got != case["expected"] {
            failures.push(format!("{}:\n  expected {}\n  got      {}", file.display(), case["expected"], got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn function_answers() {
    check("function", parse_function_response);
}

/// Parses with `parse`, an absent body as `null`.
fn body_or_null(parse: fn(&Value) -> Result<BotResponse, VendorError>) -> impl Fn(Option<&Value>) -> Result<BotResponse, VendorError> {
    move |body| parse(body.unwrap_or(&Value::Null))
}

#[test]
fn lex_answers() {
    check("lex", body_or_null(lex_response::parse_response));
}

#[test]
fn watson_answers() {
    check("watson", body_or_null(watson_response::parse_response));
}

#[test]
fn directline_answers() {
    check("directline", body_or_null(directline_response::parse_response));
}
