//! A reference Custom Endpoint service (the four endpoints of spec/third-party-bots.md §2.3 and a
//! client-credentials token endpoint) with utterance triggers, on 127.0.0.1 for the tests.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

#[derive(Default)]
pub struct ReferenceState {
    /// What the state endpoint answers (`online`, `offline`, …).
    pub state: String,
    pub conversations: HashSet<String>,
    pub tokens: HashSet<String>,
    pub token_requests: u32,
    /// What the token endpoint answers as `expires_in` (3600 when unset).
    pub token_lifetime: Option<Value>,
    /// The next event call is answered 401 (the token expired).
    pub expire_next: bool,
    /// The next event call for a known conversation answers 404 (the service forgot it).
    pub forget_next: bool,
    /// Failures left per conversation for the "flaky" trigger.
    pub flaky: HashMap<String, u32>,
    /// Every event received: (type, text).
    pub events: Vec<(String, String)>,
    /// When each event arrived.
    pub event_times: Vec<tokio::time::Instant>,
    pub creations: u32,
    /// Bodies POSTed to `/hook` (the error hook's receiver).
    pub hook_reports: Vec<Value>,
}

pub struct Reference {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ReferenceState>>,
    server: actix_web::dev::ServerHandle,
}

impl Reference {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn set_state(&self, state: &str) {
        self.state.lock().unwrap().state = state.into();
    }

    pub fn events(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().events.clone()
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

pub fn start() -> Reference {
    let state = Arc::new(Mutex::new(ReferenceState { state: "online".into(), ..ReferenceState::default() }));
    let shared = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/token", web::post().to(token))
            .route(
                "/hook",
                web::post().to(|state: web::Data<Mutex<ReferenceState>>, body: web::Json<Value>| async move {
                    state.lock().unwrap().hook_reports.push(body.into_inner());
                    HttpResponse::Ok().finish()
                }),
            )
            .route("/v1/bots/{bot}/environments", web::get().to(|| async { HttpResponse::Ok().json(json!(["draft"])) }))
            .route("/v1/bots/{bot}/environments/{env}/state", web::get().to(bot_state))
            .route("/v1/bots/{bot}/environments/{env}/conversations/{conv}", web::put().to(create))
            .route("/v1/bots/{bot}/environments/{env}/conversations/{conv}/events", web::post().to(event))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Reference { addr, state, server: handle }
}

async fn token(state: web::Data<Mutex<ReferenceState>>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_secret").map(String::as_str) != Some("s3cret")
    {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    let token = format!("tok-{}", s.token_requests);
    s.tokens.insert(token.clone());
    let lifetime = s.token_lifetime.clone().unwrap_or(json!(3600));
    HttpResponse::Ok().json(json!({"access_token": token, "token_type": "bearer", "expires_in": lifetime}))
}

fn authorized(state: &ReferenceState, req: &HttpRequest) -> bool {
    let token = req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
    state.tokens.contains(token)
}

async fn bot_state(state: web::Data<Mutex<ReferenceState>>, req: HttpRequest) -> HttpResponse {
    let s = state.lock().unwrap();
    if !authorized(&s, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!({"state": s.state, "version": "1.0.0"}))
}

async fn create(
    state: web::Data<Mutex<ReferenceState>>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let mut s = state.lock().unwrap();
    if !authorized(&s, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    if body.get("context").is_none() {
        return HttpResponse::BadRequest().json(json!({"error": "context required"}));
    }
    s.creations += 1;
    s.conversations.insert(path.into_inner().2);
    HttpResponse::NoContent().finish()
}

fn text(message: &str) -> Value {
    json!({"type": "TEXT", "data": {"message": message}})
}

fn action(name: &str, parameters: Value) -> Value {
    json!({"type": "ACTION", "data": {"name": name, "parameters": parameters}})
}

async fn event(
    state: web::Data<Mutex<ReferenceState>>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let conversation = path.into_inner().2;
    let message = body.pointer("/data/message").and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
    let slow = {
        let mut s = state.lock().unwrap();
        if std::mem::take(&mut s.expire_next) {
            s.tokens.clear();
        }
        if !authorized(&s, &req) {
            return HttpResponse::Unauthorized().finish();
        }
        if std::mem::take(&mut s.forget_next) {
            s.conversations.remove(&conversation);
        }
        if !s.conversations.contains(&conversation) {
            return HttpResponse::NotFound().json(json!({"error": "unknown conversation"}));
        }
        s.events.push((kind.clone(), message.clone()));
        s.event_times.push(tokio::time::Instant::now());
        if message == "flaky" {
            let left = s.flaky.entry(conversation.clone()).or_insert(2);
            if *left > 0 {
                *left -= 1;
                return HttpResponse::ServiceUnavailable().finish();
            }
        }
        message == "slow"
    };
    if slow {
        actix_rt::time::sleep(Duration::from_secs(30)).await;
    }
    let response = match (kind.as_str(), message.as_str()) {
        ("START", _) => vec![text("Welcome!")],
        (_, "transfer") => vec![text("Transferring you to billing"), action("TRANSFER", json!({"skillName": "billing"}))],
        (_, "close") => vec![text("Goodbye"), action("CLOSE_CONVERSATION", json!({"withoutPcs": true}))],
        (_, "urgent") => vec![text("Marked urgent"), action("CHANGE_TTR", json!({"ttrType": "URGENT"}))],
        (_, "card") => vec![
            json!({"type": "STRUCTURED_CONTENT", "data": {"structuredContent": {"type": "vertical", "elements": [{"type": "text", "text": "A card"}]}, "metadata": [{"type": "ExternalId", "id": "CARD"}]}}),
        ],
        (_, "delay") => vec![json!({"type": "DELAY", "data": {"seconds": 1, "typing": true}}), text("after a pause")],
        (_, "menu") => vec![
            json!({"type": "STRUCTURED_CONTENT", "data": {"structuredContent": {"message": "Pick one", "quickReplies": {"type": "quickReplies", "itemsPerRow": 2, "replies": [
            {"type": "button", "title": "Yes", "click": {"actions": [{"type": "publishText", "text": "yes"}]}},
            {"type": "button", "title": "No", "click": {"actions": [{"type": "publishText", "text": "no"}]}}]}}}}),
        ],
        (_, "private") => vec![
            text("public part"),
            json!({"type": "TEXT", "data": {"message": "a note for agents", "messageAudience": "AGENTS_AND_MANAGERS"}}),
        ],
        (_, "error") => return HttpResponse::InternalServerError().finish(),
        (_, "garbage") => return HttpResponse::Ok().json(json!({"response": [{"type": "HOLOGRAM", "data": {}}]})),
        (_, other) => vec![text(&format!("echo: {other}"))],
    };
    HttpResponse::Ok()
        .json(json!({"response": response, "analytics": {"intents": [{"id": "test", "description": "Test", "confidenceScore": 1}]}}))
}
