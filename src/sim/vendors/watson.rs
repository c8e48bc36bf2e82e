//! The fake Watson Assistant V2 and its IAM token endpoint.
//!
//! `POST /identity/token` (form `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=…`)
//! issues JWTs with `exp` and `iat` (IBM's SDK reads them); calls take `Bearer <token>` or basic
//! auth `apikey:<key>`. Sessions are made per call to `…/sessions` (201 `{session_id}`), on the
//! environment-scoped and the older paths, and expire when unused for the configured lifetime
//! (404 `{"error": "Invalid Session", "code": 404}`). Every call needs `?version=`. A message's
//! answer is the matched intent's `generic` (and `actions`) with the session's context; the
//! intent's `context` is merged into the skill's `user_defined` variables, which the session
//! keeps, as Watson does.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::sim::vendors::bots::{match_input, WatsonAssistant, WELCOME_EVENT};
use crate::sim::vendors::lex::uuid;
use crate::sim::vendors::{Stats, VendorFakes};

/// The skill whose variables the fake keeps.
const MAIN_SKILL: &str = "main skill";

struct Session {
    assistant: String,
    last_used: Instant,
    turns: u64,
    user_defined: Map<String, Value>,
}

pub struct WatsonState {
    pub stats: Mutex<Stats>,
    sessions: Mutex<HashMap<String, Session>>,
    /// The key the IAM tokens are signed with (made at start); replaced to revoke them all.
    key: Mutex<Vec<u8>>,
}

impl WatsonState {
    pub fn new() -> Self {
        Self { stats: Mutex::default(), sessions: Mutex::default(), key: Mutex::new(new_key()) }
    }

    pub fn expire_sessions(&self) {
        self.sessions.lock().expect("sessions lock").clear();
    }

    pub fn revoke_tokens(&self) {
        *self.key.lock().expect("key lock") = new_key();
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().expect("watson lock"));
    }
}

impl Default for WatsonState {
    fn default() -> Self {
        Self::new()
    }
}

fn new_key() -> Vec<u8> {
    (0..32).map(|_| rand::random::<u8>()).collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST))
        .json(json!({"error": message, "code": status}))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    apikey: String,
}

/// `POST /identity/token`.
pub async fn token(fakes: web::Data<VendorFakes>, form: web::Form<TokenForm>) -> HttpResponse {
    let watson = &fakes.watson;
    if form.grant_type != "urn:ibm:params:oauth:grant-type:apikey" {
        return HttpResponse::BadRequest().json(json!({
            "errorCode": "BXNIM0109E", "errorMessage": "Property missing or empty.", "context": {"requestId": uuid()}
        }));
    }
    if form.apikey != fakes.config.watson_api_key {
        watson.count(|s| s.unauthenticated += 1);
        return HttpResponse::BadRequest().json(json!({
            "errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found.", "context": {"requestId": uuid()}
        }));
    }
    let lifetime = fakes.config.watson_token_lifetime.as_secs();
    let iat = now_secs();
    let claims = json!({"iam_id": "iam-ServiceId-botvisor-sim", "sub": "ServiceId-botvisor-sim", "iat": iat, "exp": iat + lifetime, "iss": "https://iam.cloud.ibm.com/identity", "grant_type": form.grant_type});
    let key = watson.key.lock().expect("key lock").clone();
    let Ok(token) = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    ) else {
        return error(500, "token signing failed");
    };
    watson.count(|s| s.tokens_issued += 1);
    HttpResponse::Ok().json(json!({
        "access_token": token, "refresh_token": "not_supported", "token_type": "Bearer",
        "expires_in": lifetime, "expiration": iat + lifetime, "scope": "ibm openid"
    }))
}

/// Whether the call carries a valid IAM token or the API key as basic auth.
fn authenticated(fakes: &VendorFakes, req: &HttpRequest) -> bool {
    let Some(header) = req.headers().get("authorization").and_then(|v| v.to_str().ok()) else { return false };
    if let Some(token) = header.strip_prefix("Bearer ") {
        let key = fakes.watson.key.lock().expect("key lock").clone();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.required_spec_claims = ["exp", "iat"].iter().map(|s| s.to_string()).collect();
        return jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(&key), &validation).is_ok();
    }
    if let Some(basic) = header.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok().and_then(|b| String::from_utf8(b).ok());
        return decoded.as_deref() == Some(&format!("apikey:{}", fakes.config.watson_api_key));
    }
    false
}

/// The checks every call shares: credentials, `version`, the assistant.
#[allow(clippy::result_large_err)] // answered at once, never stored
fn checked<'a>(fakes: &'a VendorFakes, req: &HttpRequest, assistant: &str) -> Result<&'a WatsonAssistant, HttpResponse> {
    if !authenticated(fakes, req) {
        fakes.watson.count(|s| s.unauthenticated += 1);
        return Err(error(401, "Unauthorized"));
    }
    let version = web::Query::<HashMap<String, String>>::from_query(req.query_string()).ok().and_then(|q| q.get("version").cloned());
    if version.is_none_or(|v| v.is_empty()) {
        fakes.watson.count(|s| s.invalid_requests += 1);
        return Err(error(400, "Missing required query parameter `version`"));
    }
    fakes.bots.watson.iter().find(|a| a.assistant_id == assistant).ok_or_else(|| error(404, "Resource not found"))
}

async fn create(fakes: web::Data<VendorFakes>, req: HttpRequest, assistant: &str) -> HttpResponse {
    if let Err(refusal) = checked(&fakes, &req, assistant) {
        return refusal;
    }
    let id = uuid();
    let session = Session { assistant: assistant.to_owned(), last_used: Instant::now(), turns: 0, user_defined: Map::new() };
    fakes.watson.sessions.lock().expect("sessions lock").insert(id.clone(), session);
    fakes.watson.count(|s| {
        s.sessions_created += 1;
        s.log(req.path(), Value::Null);
    });
    HttpResponse::Created().json(json!({"session_id": id}))
}

pub async fn create_session(fakes: web::Data<VendorFakes>, req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (_, assistant) = path.into_inner();
    create(fakes, req, &assistant).await
}

pub async fn create_session_in(fakes: web::Data<VendorFakes>, req: HttpRequest, path: web::Path<(String, String, String)>) -> HttpResponse {
    let (_, assistant, _) = path.into_inner();
    create(fakes, req, &assistant).await
}

pub async fn delete_session(fakes: web::Data<VendorFakes>, req: HttpRequest, path: web::Path<(String, String, String)>) -> HttpResponse {
    let (_, assistant, session) = path.into_inner();
    if let Err(refusal) = checked(&fakes, &req, &assistant) {
        return refusal;
    }
    fakes.watson.sessions.lock().expect("sessions lock").remove(&session);
    HttpResponse::Ok().json(json!({}))
}

pub async fn delete_session_in(
    fakes: web::Data<VendorFakes>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
) -> HttpResponse {
    let (instance, assistant, _, session) = path.into_inner();
    delete_session(fakes, req, web::Path::from((instance, assistant, session))).await
}

pub async fn message(
    fakes: web::Data<VendorFakes>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, assistant, session) = path.into_inner();
    respond(fakes, req, &assistant, &session, &body).await
}

pub async fn message_in(
    fakes: web::Data<VendorFakes>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, assistant, _, session) = path.into_inner();
    respond(fakes, req, &assistant, &session, &body).await
}

async fn respond(fakes: web::Data<VendorFakes>, req: HttpRequest, assistant_id: &str, session_id: &str, body: &[u8]) -> HttpResponse {
    let assistant = match checked(&fakes, &req, assistant_id) {
        Ok(assistant) => assistant,
        Err(refusal) => return refusal,
    };
    let invalid = |message: &str| {
        fakes.watson.count(|s| s.invalid_requests += 1);
        error(400, message)
    };
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(_) => return invalid("Invalid JSON input"),
        }
    };
    fakes.watson.count(|s| s.log(req.path(), request.clone()));
    let input = request.get("input").cloned().unwrap_or(json!({}));
    if !input.is_object() {
        return invalid("input: must be an object");
    }
    if input.get("message_type").is_some_and(|t| !matches!(t.as_str(), Some("text" | "search"))) {
        return invalid("input.message_type: text or search");
    }
    let text = match input.get("text") {
        None | Some(Value::Null) => "",
        Some(Value::String(text)) if text.chars().count() <= 2048 => text.as_str(),
        Some(Value::String(_)) => return invalid("input.text: at most 2048 characters"),
        Some(_) => return invalid("input.text: must be a string"),
    };
    if text.contains(['\n', '\t', '\r']) {
        return invalid("input.text: cannot contain carriage return, newline, or tab characters");
    }
    let context_user_defined = request.pointer(&format!("/context/skills/{MAIN_SKILL}/user_defined")).cloned();
    if context_user_defined.as_ref().is_some_and(|u| !u.is_object()) {
        return invalid("context.skills.main skill.user_defined: must be an object");
    }
    // The session: known, not expired, of this assistant.
    let lifetime = fakes.config.watson_session_lifetime;
    let (turns, mut user_defined) = {
        let mut sessions = fakes.watson.sessions.lock().expect("sessions lock");
        match sessions.get_mut(session_id) {
            Some(session) if session.assistant == assistant_id && session.last_used.elapsed() < lifetime => {
                session.last_used = Instant::now();
                session.turns += 1;
                (session.turns, session.user_defined.clone())
            }
            _ => {
                sessions.remove(session_id);
                return error(404, "Invalid Session");
            }
        }
    };
    if let Some(Value::Object(variables)) = context_user_defined {
        user_defined.extend(variables);
    }
    let event = text.is_empty().then_some(WELCOME_EVENT);
    let intent = match_input(&assistant.intents, Some(text), event);
    let (name, answer) = match intent {
        Some(intent) => {
            if let Some(fault) = &intent.fault {
                if fakes.should_fail(session_id, &intent.name, fault.times) {
                    if let Some(delay) = fault.delay {
                        actix_rt::time::sleep(delay).await;
                    }
                    if let Some(status) = fault.status {
                        return error(status, "The fake assistant was told to fail");
                    }
                    if let Some(raw) = &fault.raw {
                        return HttpResponse::Ok().json(raw);
                    }
                }
            }
            (Some(intent.name.as_str()), intent.answer.clone())
        }
        None => (
            None,
            assistant
                .fallback
                .clone()
                .unwrap_or_else(|| json!({"generic": [{"response_type": "text", "text": "I didn't understand. You can try rephrasing."}]})),
        ),
    };
    if let Some(Value::Object(variables)) = answer.get("context") {
        user_defined.extend(variables.clone());
    }
    if let Some(session) = fakes.watson.sessions.lock().expect("sessions lock").get_mut(session_id) {
        session.user_defined = user_defined.clone();
    }
    let mut output = json!({
        "generic": answer.get("generic").cloned().unwrap_or(json!([])),
        "intents": name.map_or(json!([]), |n| json!([{"intent": n, "confidence": 0.95}])),
        "entities": [],
    });
    if let Some(actions) = answer.get("actions") {
        output["actions"] = actions.clone();
    }
    let user_id = request.get("user_id").and_then(Value::as_str).unwrap_or("anonymous");
    let mut response = json!({"output": output, "user_id": user_id});
    let return_context = input.pointer("/options/return_context").and_then(Value::as_bool).unwrap_or(false);
    if return_context {
        response["context"] = json!({
            "global": {"system": {"turn_count": turns, "user_id": user_id}, "session_id": session_id},
            "skills": {MAIN_SKILL: {"user_defined": user_defined, "system": {"state": "e30="}}},
        });
    }
    HttpResponse::Ok().json(response)
}
