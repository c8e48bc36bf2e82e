//! The fake Direct Line 3.0 service (`/v3/directline`): conversations (started with the secret or
//! a token; `201 {conversationId, token, expires_in, streamUrl}`), activities with watermarks, and
//! tokens (`/tokens/generate`, `/tokens/refresh`). Each activity a client posts is stamped (id
//! `{conversation}|{n:07}`, timestamp, `channelId: "directline"`, `serviceUrl`, `recipient`) and
//! forwarded to the bot's `/api/messages` as the Bot Framework channel does; the post is answered
//! when the bot's turn is over, or 502 when the bot takes longer than the configured timeout (15 s
//! at Microsoft) or fails. The bot's replies come back on `serviceUrl`:
//! `POST /v3/conversations/{id}/activities/{replyToId}` and `…/activities`. Without a configured
//! bot the built-in one (`bot`) takes the turn in process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::sim::vendors::lex::uuid;
use crate::sim::vendors::{bot, Stats, VendorFakes};

/// How long a token lives.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The bot's id in every conversation.
pub const BOT_ID: &str = "botvisor-sim-bot";

struct Conversation {
    activities: Vec<Value>,
}

#[derive(Default)]
pub struct DirectLineState {
    pub stats: Mutex<Stats>,
    conversations: Mutex<HashMap<String, Conversation>>,
    tokens: Mutex<HashMap<String, Instant>>,
}

impl DirectLineState {
    pub fn expire_conversations(&self) {
        self.conversations.lock().expect("conversations lock").clear();
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().expect("directline lock"));
    }

    fn issue_token(&self) -> String {
        let token = format!("dl-token-{}", uuid().replace('-', ""));
        let mut tokens = self.tokens.lock().expect("tokens lock");
        let now = Instant::now();
        tokens.retain(|_, until| *until > now);
        tokens.insert(token.clone(), now + TOKEN_LIFETIME);
        token
    }

    /// Adds an activity to a conversation: its id, its timestamp. `None` for an unknown one.
    pub fn append(&self, conversation_id: &str, mut activity: Value) -> Option<String> {
        let mut conversations = self.conversations.lock().expect("conversations lock");
        let conversation = conversations.get_mut(conversation_id)?;
        let id = format!("{conversation_id}|{:07}", conversation.activities.len());
        activity["id"] = json!(id);
        activity["timestamp"] = json!(timestamp());
        activity["channelId"] = json!("directline");
        activity["conversation"] = json!({"id": conversation_id});
        conversation.activities.push(activity);
        Some(id)
    }
}

fn timestamp() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("{ms}")
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST))
        .json(json!({"error": {"code": code, "message": message}}))
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "))
}

/// The secret, or a token issued and not expired.
fn authenticated(fakes: &VendorFakes, req: &HttpRequest) -> bool {
    let Some(bearer) = bearer(req) else { return false };
    if bearer == fakes.config.directline_secret {
        return true;
    }
    fakes.directline.tokens.lock().expect("tokens lock").get(bearer).is_some_and(|until| Instant::now() < *until)
}

fn refuse(fakes: &VendorFakes) -> HttpResponse {
    fakes.directline.count(|s| s.unauthenticated += 1);
    error(403, "BadArgument", "Invalid token or secret")
}

/// `POST /v3/directline/conversations`.
pub async fn start_conversation(fakes: web::Data<VendorFakes>, req: HttpRequest) -> HttpResponse {
    if !authenticated(&fakes, &req) {
        return refuse(&fakes);
    }
    let id: String = uuid().replace('-', "").chars().take(22).collect::<String>() + "-us";
    fakes.directline.conversations.lock().expect("conversations lock").insert(id.clone(), Conversation { activities: Vec::new() });
    fakes.directline.count(|s| s.conversations_started += 1);
    let token = fakes.directline.issue_token();
    let ws = fakes.origin.replacen("http", "ws", 1);
    // The channel tells the bot it joined the conversation.
    let update =
        json!({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID, "name": "Bot"}], "from": {"id": "directline-channel"}});
    if let Some(activity) = stamp(&fakes, &id, update) {
        let fakes = fakes.clone();
        actix_rt::spawn(async move {
            let _ = forward(&fakes, activity).await;
        });
    }
    HttpResponse::Created().json(json!({
        "conversationId": id, "token": token, "expires_in": TOKEN_LIFETIME.as_secs(),
        "streamUrl": format!("{ws}/v3/directline/conversations/{id}/stream?watermark=-&t={token}"),
        "referenceGrammarId": uuid(),
    }))
}

/// `GET /v3/directline/conversations/{id}` (a client reconnecting).
pub async fn reconnect(fakes: web::Data<VendorFakes>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authenticated(&fakes, &req) {
        return refuse(&fakes);
    }
    let id = path.into_inner();
    if !fakes.directline.conversations.lock().expect("conversations lock").contains_key(&id) {
        return error(404, "BadArgument", "Conversation not found");
    }
    let token = fakes.directline.issue_token();
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let watermark = query.get("watermark").filter(|w| w.parse::<usize>().is_ok()).map_or("-", String::as_str);
    let ws = fakes.origin.replacen("http", "ws", 1);
    HttpResponse::Ok().json(json!({
        "conversationId": id, "token": token, "expires_in": TOKEN_LIFETIME.as_secs(),
        "streamUrl": format!("{ws}/v3/directline/conversations/{id}/stream?watermark={watermark}&t={token}"),
    }))
}

/// How often a stream looks for new activities, and the longest it stays open.
const STREAM_TICK: Duration = Duration::from_millis(20);
const STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// `GET /v3/directline/conversations/{id}/stream?watermark=&t=` (a websocket, as `streamUrl`
/// names it): every activity of the conversation from the watermark (or from now, with `-`) as
/// activity sets `{"activities", "watermark"}`, as they come. The token in `t` (or the bearer)
/// must be valid; the stream ends when the client closes it, the conversation expires, or after
/// ten minutes.
pub async fn stream(
    fakes: web::Data<VendorFakes>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let id = path.into_inner();
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let token_ok = query.get("t").is_some_and(|t| {
        *t == fakes.config.directline_secret
            || fakes.directline.tokens.lock().expect("tokens lock").get(t).is_some_and(|until| Instant::now() < *until)
    });
    if !token_ok && !authenticated(&fakes, &req) {
        return Ok(refuse(&fakes));
    }
    let Some(length) = fakes.directline.conversations.lock().expect("conversations lock").get(&id).map(|c| c.activities.len()) else {
        return Ok(error(404, "BadArgument", "Conversation not found"));
    };
    let mut sent = match query.get("watermark").map(String::as_str) {
        None | Some("" | "-") => length,
        Some(w) => match w.parse::<usize>() {
            Ok(w) => w.min(length),
            Err(_) => return Ok(error(400, "BadArgument", "Invalid watermark")),
        },
    };
    let (response, mut session, mut messages) = actix_ws::handle(&req, body)?;
    fakes.directline.count(|s| s.streams_opened += 1);
    let fakes = fakes.into_inner();
    actix_rt::spawn(async move {
        let ends = Instant::now() + STREAM_LIFETIME;
        let mut tick = tokio::time::interval(STREAM_TICK);
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(actix_ws::Message::Ping(bytes))) => { let _ = session.pong(&bytes).await; }
                    Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                _ = tick.tick() => {
                    if Instant::now() >= ends {
                        break;
                    }
                    let set = {
                        let conversations = fakes.directline.conversations.lock().expect("conversations lock");
                        let Some(conversation) = conversations.get(&id) else { break };
                        let fresh: Vec<Value> = conversation.activities.iter().skip(sent)
                            .filter(|a| a["type"] != "conversationUpdate" || a.get("membersAdded").is_none())
                            .cloned()
                            .collect();
                        let total = conversation.activities.len();
                        let set = (total > sent).then(|| json!({"activities": fresh, "watermark": total.to_string()}));
                        sent = total;
                        set
                    };
                    if let Some(set) = set {
                        if session.text(set.to_string()).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

/// An activity as the channel sends it to the bot (not yet in the conversation).
fn stamp(fakes: &VendorFakes, conversation_id: &str, mut activity: Value) -> Option<Value> {
    activity["serviceUrl"] = json!(fakes.origin);
    activity["channelId"] = json!("directline");
    activity["recipient"] = json!({"id": BOT_ID, "name": "Bot", "role": "bot"});
    let id = fakes.directline.append(conversation_id, activity.clone())?;
    activity["id"] = json!(id);
    activity["timestamp"] = json!(timestamp());
    activity["conversation"] = json!({"id": conversation_id});
    Some(activity)
}

/// Gives the activity to the bot and waits for its turn to end; the status Direct Line answers
/// its poster otherwise (502 for a slow or failing bot).
async fn forward(fakes: &VendorFakes, activity: Value) -> Result<(), (u16, &'static str, String)> {
    let timeout = fakes.config.directline_bot_timeout;
    let turn = async {
        match &fakes.config.directline_bot {
            None => bot::turn(fakes, &activity).await.map_err(|status| format!("the bot answered {status}")),
            Some(url) => {
                let client = crate::http::shared_client(None).map_err(|e| e.to_string())?;
                let response = client.post(url).timeout(timeout).send_json(&activity).await.map_err(|e| e.to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the bot answered {}", response.status()))
                }
            }
        }
    };
    match tokio::time::timeout(timeout, turn).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err((502, "BotError", message)),
        Err(_) => Err((502, "BotTimeout", "Failed to send activity: bot timed out".into())),
    }
}

/// `POST /v3/directline/conversations/{id}/activities`.
pub async fn post_activity(fakes: web::Data<VendorFakes>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    if !authenticated(&fakes, &req) {
        return refuse(&fakes);
    }
    let id = path.into_inner();
    let Ok(mut activity) = serde_json::from_slice::<Value>(&body) else {
        fakes.directline.count(|s| s.invalid_requests += 1);
        return error(400, "BadArgument", "The activity is not JSON");
    };
    fakes.directline.count(|s| s.log(req.path(), activity.clone()));
    if !activity.is_object() || !activity.get("type").is_some_and(Value::is_string) {
        fakes.directline.count(|s| s.invalid_requests += 1);
        return error(400, "BadArgument", "An activity needs a type");
    }
    if !activity.get("from").is_some_and(|f| f.get("id").is_some_and(Value::is_string)) {
        activity["from"] = json!({"id": format!("dl_{}", uuid().replace('-', ""))});
    }
    activity["from"]["role"] = json!("user");
    let Some(stamped) = stamp(&fakes, &id, activity) else {
        return error(404, "BadArgument", "Conversation not found");
    };
    let activity_id = stamped["id"].as_str().unwrap_or_default().to_owned();
    match forward(&fakes, stamped).await {
        Ok(()) => HttpResponse::Ok().json(json!({"id": activity_id})),
        Err((status, code, message)) => error(status, code, &message),
    }
}

/// `GET /v3/directline/conversations/{id}/activities?watermark=`.
pub async fn get_activities(fakes: web::Data<VendorFakes>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authenticated(&fakes, &req) {
        return refuse(&fakes);
    }
    let id = path.into_inner();
    fakes.directline.count(|s| s.activity_polls += 1);
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let from = match query.get("watermark").map(String::as_str) {
        None | Some("" | "-") => 0,
        Some(w) => match w.parse::<usize>() {
            Ok(w) => w,
            Err(_) => return error(400, "BadArgument", "Invalid watermark"),
        },
    };
    let conversations = fakes.directline.conversations.lock().expect("conversations lock");
    let Some(conversation) = conversations.get(&id) else { return error(404, "BadArgument", "Conversation not found") };
    let activities: Vec<Value> = conversation
        .activities
        .iter()
        .skip(from)
        .filter(|a| a["type"] != "conversationUpdate" || a.get("membersAdded").is_none())
        .cloned()
        .collect();
    HttpResponse::Ok().json(json!({"activities": activities, "watermark": conversation.activities.len().to_string()}))
}

/// `POST /v3/directline/tokens/generate` (with the secret): a token for a new conversation.
pub async fn generate_token(fakes: web::Data<VendorFakes>, req: HttpRequest) -> HttpResponse {
    if bearer(&req) != Some(fakes.config.directline_secret.as_str()) {
        return refuse(&fakes);
    }
    let token = fakes.directline.issue_token();
    fakes.directline.count(|s| s.tokens_issued += 1);
    HttpResponse::Ok().json(json!({"conversationId": Value::Null, "token": token, "expires_in": TOKEN_LIFETIME.as_secs()}))
}

/// `POST /v3/directline/tokens/refresh` (with a token): a fresh token.
pub async fn refresh_token(fakes: web::Data<VendorFakes>, req: HttpRequest) -> HttpResponse {
    if !authenticated(&fakes, &req) || bearer(&req) == Some(fakes.config.directline_secret.as_str()) {
        return refuse(&fakes);
    }
    let token = fakes.directline.issue_token();
    fakes.directline.count(|s| s.tokens_issued += 1);
    HttpResponse::Ok().json(json!({"token": token, "expires_in": TOKEN_LIFETIME.as_secs()}))
}

/// A bot's reply: `POST /v3/conversations/{id}/activities/{replyToId}`.
pub async fn bot_reply(fakes: web::Data<VendorFakes>, path: web::Path<(String, String)>, body: web::Bytes) -> HttpResponse {
    let (conversation, reply_to) = path.into_inner();
    take_from_bot(&fakes, &conversation, Some(reply_to), &body)
}

/// A bot's message not in reply: `POST /v3/conversations/{id}/activities`.
pub async fn bot_send(fakes: web::Data<VendorFakes>, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    take_from_bot(&fakes, &path.into_inner(), None, &body)
}

fn take_from_bot(fakes: &VendorFakes, conversation: &str, reply_to: Option<String>, body: &[u8]) -> HttpResponse {
    let Ok(mut activity) = serde_json::from_slice::<Value>(body) else { return error(400, "BadArgument", "The activity is not JSON") };
    if !activity.is_object() {
        return error(400, "BadArgument", "An activity is an object");
    }
    if let Some(reply_to) = reply_to {
        if activity.get("replyToId").is_none_or(Value::is_null) {
            activity["replyToId"] = json!(reply_to);
        }
    }
    if !activity.get("from").is_some_and(Value::is_object) {
        activity["from"] = json!({"id": BOT_ID});
    }
    activity["from"]["role"] = json!("bot");
    match fakes.directline.append(conversation, activity) {
        Some(id) => HttpResponse::Ok().json(json!({"id": id})),
        None => error(404, "BadArgument", "Conversation not found"),
    }
}

/// The bot's reply as the built-in bot sends it (in process).
pub fn reply_in_process(fakes: &VendorFakes, conversation: &str, reply_to: &str, activity: Value) -> bool {
    let body = serde_json::to_vec(&activity).unwrap_or_default();
    take_from_bot(fakes, conversation, Some(reply_to.to_owned()), &body).status().is_success()
}
