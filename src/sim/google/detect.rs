//! The fake `detectIntent` endpoints: ES v2 and CX v3, checked as Google checks them (bearer,
//! path, agent, session id, body, language), answered from the agents file.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::sim::google::agents::{Agent, Api, IntentConfig};
use crate::sim::google::requests::{CxRequest, EsRequest, Query};
use crate::sim::google::status::{invalid_argument, not_found, rpc_error, unauthenticated};
use crate::sim::google::GoogleFake;

/// Dialogflow's session ids are at most this long.
const MAX_SESSION_ID: usize = 36;
/// CX's start page, where a flow without pages stays.
const START_PAGE: &str = "flows/00000000-0000-0000-0000-000000000000/pages/START_PAGE";

/// Where a detectIntent call goes.
struct Target<'a> {
    project: &'a str,
    location: Option<&'a str>,
    agent: Option<&'a str>,
    session: &'a str,
}

/// `projects/{p}/agent/[environments/{e}/users/{u}/]sessions/{s}:detectIntent`.
fn es_target(tail: &str) -> Option<Target<'_>> {
    let call = tail.strip_suffix(":detectIntent")?;
    let parts: Vec<&str> = call.split('/').collect();
    match parts.as_slice() {
        ["projects", project, "agent", "sessions", session] => Some(Target { project, location: None, agent: None, session }),
        ["projects", project, "agent", "environments", _, "users", _, "sessions", session] => {
            Some(Target { project, location: None, agent: None, session })
        }
        _ => None,
    }
}

/// `projects/{p}/locations/{l}/agents/{a}/[environments/{e}/]sessions/{s}:detectIntent`.
fn cx_target(tail: &str) -> Option<Target<'_>> {
    let call = tail.strip_suffix(":detectIntent")?;
    let parts: Vec<&str> = call.split('/').collect();
    match parts.as_slice() {
        ["projects", project, "locations", location, "agents", agent, "sessions", session]
        | ["projects", project, "locations", location, "agents", agent, "environments", _, "sessions", session] => {
            Some(Target { project, location: Some(location), agent: Some(agent), session })
        }
        _ => None,
    }
}

fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers().get("authorization").and_then(|h| h.to_str().ok())
}

/// Whether the client asked for enums as numbers (`$alt=json;enum-encoding=int`).
fn enums_as_ints(req: &HttpRequest) -> bool {
    req.query_string().contains("enum-encoding=int")
}

pub async fn es(fake: web::Data<GoogleFake>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    detect(fake, req, Api::Es, &path.into_inner(), &body).await
}

pub async fn cx(fake: web::Data<GoogleFake>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    detect(fake, req, Api::Cx, &path.into_inner(), &body).await
}

async fn detect(fake: web::Data<GoogleFake>, req: HttpRequest, api: Api, tail: &str, body: &[u8]) -> HttpResponse {
    if !fake.authenticated(authorization(&req)) {
        fake.count(|s| s.unauthenticated += 1);
        return unauthenticated();
    }
    let target = match api {
        Api::Es => es_target(tail),
        Api::Cx => cx_target(tail),
    };
    let Some(target) = target else {
        return not_found(&format!("The requested URL /{}/{tail} was not found on this server.", if api == Api::Es { "v2" } else { "v3" }));
    };
    let agent = fake.agents.agents.iter().find(|a| {
        a.api == api
            && a.project == target.project
            && (api == Api::Es || (a.location.as_deref() == target.location && a.agent.as_deref() == target.agent))
    });
    let Some(agent) = agent else {
        return match api {
            Api::Es => not_found(&format!(
                "com.google.apps.framework.request.NotFoundException: No DesignTimeAgent found for project '{}'.",
                target.project
            )),
            Api::Cx => not_found(&format!(
                "com.google.apps.framework.request.NotFoundException: Agent 'projects/{}/locations/{}/agents/{}' does not exist.",
                target.project,
                target.location.unwrap_or_default(),
                target.agent.unwrap_or_default()
            )),
        };
    };
    if target.session.is_empty() || target.session.chars().count() > MAX_SESSION_ID {
        fake.count(|s| s.invalid_requests += 1);
        return invalid_argument(&format!("Session id should be at most {MAX_SESSION_ID} characters long."));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            fake.count(|s| s.invalid_requests += 1);
            return invalid_argument(&format!("Invalid JSON payload received. {e}"));
        }
    };
    // Unknown or mistyped fields are refused as Google's JSON parser does; then the query's rules.
    let invalid_json = |e: serde_json::Error| format!("Invalid JSON payload received. {e}");
    let query = match api {
        Api::Es => serde_json::from_value::<EsRequest>(value.clone()).map_err(invalid_json).and_then(EsRequest::query),
        Api::Cx => serde_json::from_value::<CxRequest>(value.clone()).map_err(invalid_json).and_then(CxRequest::query),
    };
    let query = match query {
        Ok(query) => query,
        Err(message) => {
            fake.count(|s| s.invalid_requests += 1);
            return invalid_argument(&message);
        }
    };
    let primary = |code: &str| code.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    if primary(&query.language_code) != primary(&agent.language_code) {
        fake.count(|s| s.invalid_requests += 1);
        return invalid_argument(&format!(
            "com.google.apps.framework.request.BadRequestException: Language '{}' is not supported by the agent.",
            query.language_code
        ));
    }
    fake.log_request(if api == Api::Es { "es" } else { "cx" }, tail, value);
    let intent = agent.match_input(query.text.as_deref(), query.event.as_deref());
    if let Some(fault) = intent.and_then(|i| i.fault.as_ref()) {
        let intent_name = intent.map_or("", |i| i.name.as_str());
        if let Some(delay) = fault.delay {
            actix_rt::time::sleep(delay).await;
        }
        if let Some(status) = fault.status {
            if fake.should_fail(target.session, intent_name, fault.times) {
                return match status {
                    503 => rpc_error(503, "UNAVAILABLE", "The service is currently unavailable."),
                    504 => rpc_error(504, "DEADLINE_EXCEEDED", "Deadline exceeded."),
                    429 => rpc_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Session requests'."),
                    403 => rpc_error(403, "PERMISSION_DENIED", "IAM permission 'dialogflow.sessions.detectIntent' denied."),
                    status => rpc_error(status, "INTERNAL", "Internal error encountered."),
                };
            }
        }
        if let Some(raw) = &fault.raw {
            return HttpResponse::Ok().json(raw);
        }
    }
    let answer = match api {
        Api::Es => es_answer(agent, &target, &query, intent),
        Api::Cx => cx_answer(agent, &target, &query, intent, enums_as_ints(&req)),
    };
    HttpResponse::Ok().json(answer)
}

fn response_id() -> String {
    use rand::{Rng, SeedableRng};
    let n: u128 = rand::rngs::StdRng::from_os_rng().random();
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A stable id for an intent, as Dialogflow shows its intents' UUIDs.
fn intent_id(name: &str) -> String {
    let hex = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(name.as_bytes()));
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn fallback_messages(agent: &Agent) -> Vec<Value> {
    agent.fallback.clone().unwrap_or_else(|| vec![json!({"text": {"text": ["Sorry, I didn't get that."]}})])
}

fn es_answer(agent: &Agent, target: &Target, query: &Query, intent: Option<&IntentConfig>) -> Value {
    let mut result = Map::new();
    result.insert("queryText".into(), json!(query.text.clone().or(query.event.clone()).unwrap_or_default()));
    result.insert("languageCode".into(), json!(query.language_code));
    let (name, display, action, parameters, messages, fallback) = match intent {
        Some(intent) => (
            intent_id(&intent.name),
            intent.name.clone(),
            intent.action.clone().unwrap_or_default(),
            intent.parameters.clone().unwrap_or_default(),
            intent.messages.clone(),
            false,
        ),
        // An unhandled event: an empty result, as Dialogflow gives.
        None if query.event.is_some() => {
            return json!({"responseId": response_id(), "queryResult": Value::Object(result)});
        }
        None => (
            intent_id("Default Fallback Intent"),
            "Default Fallback Intent".into(),
            "input.unknown".into(),
            Map::new(),
            fallback_messages(agent),
            true,
        ),
    };
    let first_text = messages.iter().find_map(|m| m.pointer("/text/text/0").and_then(Value::as_str)).unwrap_or("").to_owned();
    if !action.is_empty() {
        result.insert("action".into(), json!(action));
    }
    result.insert("parameters".into(), Value::Object(parameters));
    result.insert("allRequiredParamsPresent".into(), json!(true));
    if !first_text.is_empty() {
        result.insert("fulfillmentText".into(), json!(first_text));
    }
    result.insert("fulfillmentMessages".into(), Value::Array(messages));
    let mut intent_json = json!({"name": format!("projects/{}/agent/intents/{name}", target.project), "displayName": display});
    if fallback {
        intent_json["isFallback"] = json!(true);
    }
    result.insert("intent".into(), intent_json);
    result.insert("intentDetectionConfidence".into(), json!(if fallback { 1.0 } else { 0.9 }));
    json!({"responseId": response_id(), "queryResult": Value::Object(result)})
}

fn cx_answer(agent: &Agent, target: &Target, query: &Query, intent: Option<&IntentConfig>, ints: bool) -> Value {
    let agent_name = format!(
        "projects/{}/locations/{}/agents/{}",
        target.project,
        target.location.unwrap_or_default(),
        target.agent.unwrap_or_default()
    );
    let match_type = |name: &str, number: u32| if ints { json!(number) } else { json!(name) };
    let mut result = Map::new();
    if let Some(text) = &query.text {
        result.insert("text".into(), json!(text));
    }
    if let Some(event) = &query.event {
        result.insert("triggerEvent".into(), json!(event));
    }
    result.insert("languageCode".into(), json!(query.language_code));
    let (messages, matched) = match (intent, &query.event) {
        (Some(intent), Some(event)) => {
            (intent.messages.clone(), json!({"event": event, "matchType": match_type("EVENT", 6), "confidence": 1.0}))
        }
        (Some(intent), None) => (
            intent.messages.clone(),
            json!({
                "intent": {"name": format!("{agent_name}/intents/{}", intent_id(&intent.name)), "displayName": intent.name},
                "resolvedInput": query.text.clone().unwrap_or_default(),
                "matchType": match_type("INTENT", 1),
                "confidence": 0.9,
            }),
        ),
        (None, Some(event)) => (Vec::new(), json!({"event": event, "matchType": match_type("EVENT", 6), "confidence": 1.0})),
        (None, None) => (
            fallback_messages(agent),
            json!({"resolvedInput": query.text.clone().unwrap_or_default(), "matchType": match_type("NO_MATCH", 4), "confidence": 0.3}),
        ),
    };
    if let Some(parameters) = intent.and_then(|i| i.parameters.clone()) {
        result.insert("parameters".into(), Value::Object(parameters));
    }
    result.insert("responseMessages".into(), Value::Array(messages));
    result.insert("currentPage".into(), json!({"name": format!("{agent_name}/{START_PAGE}"), "displayName": "Start Page"}));
    result.insert("match".into(), matched);
    json!({"responseId": response_id(), "queryResult": Value::Object(result), "responseType": if ints { json!(2) } else { json!("FINAL") }})
}
