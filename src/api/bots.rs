//! The bot routes: list, add, read, edit, delete, start, stop, errors, open conversations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpRequest, HttpResponse};
use botvisor_actors::bot::{BotStatus, GetBotStatus, GetConversations};
use botvisor_actors::conversation::GetConversationSnapshot;
use botvisor_actors::errors::ErrorReport;
use botvisor_actors::model::BotState;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{error, AdminState, MAX_BODY_BYTES};
use crate::config::BotConfig;
use crate::service::{ManagedBot, RegistryError};

fn unknown_bot(id: &str) -> HttpResponse {
    error(404, "unknown_bot", &format!("no bot with id {id:?}; GET /v1/bots lists them"))
}

fn registry_error(id: &str, failure: RegistryError) -> HttpResponse {
    match failure {
        RegistryError::NotFound => unknown_bot(id),
        RegistryError::Exists => error(409, "bot_exists", &format!("a bot with id {id:?} exists; PUT /v1/bots/{id} changes it")),
        RegistryError::Running => error(409, "bot_running", &format!("bot {id:?} is running; stop it first (POST /v1/bots/{id}/stop)")),
        RegistryError::Invalid(problems) => HttpResponse::BadRequest().json(json!({
            "code": "invalid_config",
            "message": problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            "problems": problems.iter().map(|p| json!({"path": p.path, "message": p.message})).collect::<Vec<_>>(),
        })),
        RegistryError::Unavailable => error(503, "bot_unavailable", "the bot's actor does not answer"),
        RegistryError::StartRefused(report) => error(409, report.code.as_str(), &report.message),
        RegistryError::Launch(message) => error(422, "bot_not_built", &message),
        RegistryError::Store(message) => error(500, "store_failed", &format!("the change was not made: {message}")),
    }
}

fn report_json(report: &ErrorReport) -> Value {
    json!({"code": report.code.as_str(), "message": report.message, "error_id": report.error_id, "at": report.at_unix_ms()})
}

fn since_ms(status: &BotStatus) -> u128 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    now.saturating_sub(status.since.elapsed()).as_millis()
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

fn bot_json(bot: &ManagedBot, status: &BotStatus) -> Value {
    let stats = &status.stats;
    let total = stats.conversations_started;
    json!({
        "id": bot.id(),
        "name": bot.config.name,
        "deployment_status": bot.deployment_status(status.state == BotState::Offline).as_str(),
        "state": status.state.as_str(),
        "state_since": since_ms(status),
        "open_conversations": status.open_conversations,
        "capacity": {"recommended": status.load.recommended, "hard": status.load.hard},
        "last_error": status.last_error.as_ref().map(report_json),
        "kpis": {
            "total_conversations": total,
            "closed_pct": pct(stats.closed, total),
            "transferred_pct": pct(stats.transferred, total),
            "escalated_pct": pct(stats.escalated, total),
        },
    })
}

/// A bot's status and its configuration, secrets redacted.
fn bot_with_config_json(bot: &ManagedBot, status: &BotStatus) -> Value {
    let mut value = bot_json(bot, status);
    value["config"] = serde_json::to_value(bot.config.redacted()).unwrap_or(Value::Null);
    value
}

async fn status_of(bot: &ManagedBot) -> Result<BotStatus, HttpResponse> {
    bot.addr.send(GetBotStatus).await.map_err(|_| error(503, "bot_unavailable", "the bot's actor does not answer"))
}

async fn show(bot: &ManagedBot, status_code: u16) -> HttpResponse {
    match status_of(bot).await {
        Ok(status) => HttpResponse::build(actix_web::http::StatusCode::from_u16(status_code).unwrap_or_default()).json(bot_with_config_json(bot, &status)),
        Err(response) => response,
    }
}

/// One bot's configuration from a request body: JSON, or TOML with `Content-Type:
/// application/toml`; the same schema as a `[[bots]]` entry of the configuration file.
async fn read_bot(req: &HttpRequest, mut payload: web::Payload) -> Result<BotConfig, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| error(400, "bad_body", &format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(error(413, "body_too_large", &format!("a bot's configuration is at most {MAX_BODY_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let text = std::str::from_utf8(&body).map_err(|_| error(400, "bad_body", "the body is not UTF-8"))?;
    let toml = req.headers().get("content-type").and_then(|h| h.to_str().ok()).is_some_and(|t| t.starts_with("application/toml"));
    let parsed = if toml {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize::<_, BotConfig>(deserializer).map_err(|e| (e.path().to_string(), e.inner().message().to_owned()))
    } else {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, BotConfig>(&mut deserializer).map_err(|e| (e.path().to_string(), e.inner().to_string()))
    };
    parsed.map_err(|(path, message)| {
        let path = if path == "." { String::new() } else { path };
        HttpResponse::BadRequest().json(json!({
            "code": "invalid_config",
            "message": if path.is_empty() { message.clone() } else { format!("{path}: {message}") },
            "problems": [{"path": path, "message": message}],
        }))
    })
}

pub async fn list(state: web::Data<AdminState>) -> HttpResponse {
    let mut bots = Vec::new();
    for bot in state.registry.list() {
        match status_of(&bot).await {
            Ok(status) => bots.push(bot_json(&bot, &status)),
            Err(response) => return response,
        }
    }
    HttpResponse::Ok().json(bots)
}

#[derive(serde::Deserialize)]
pub struct AddQuery {
    #[serde(default)]
    start: bool,
}

/// `POST /v1/bots[?start=true]` → 201 with the bot (not started unless `start=true`).
pub async fn add(state: web::Data<AdminState>, req: HttpRequest, query: web::Query<AddQuery>, payload: web::Payload) -> HttpResponse {
    let config = match read_bot(&req, payload).await {
        Ok(config) => config,
        Err(response) => return response,
    };
    let id = config.id.clone();
    match state.registry.add(config, query.start).await {
        Ok(bot) => {
            tracing::info!(bot_id = %id, "bot added through the admin API");
            show(&bot, 201).await
        }
        Err(failure) => registry_error(&id, failure),
    }
}

pub async fn get(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    match state.registry.get(&path) {
        Some(bot) => show(&bot, 200).await,
        None => unknown_bot(&path),
    }
}

/// `PUT /v1/bots/{id}`: only when stopped; `"***"` keeps a secret as it was.
pub async fn replace(state: web::Data<AdminState>, req: HttpRequest, path: web::Path<String>, payload: web::Payload) -> HttpResponse {
    let id = path.into_inner();
    if state.registry.get(&id).is_none() {
        return unknown_bot(&id);
    }
    let config = match read_bot(&req, payload).await {
        Ok(config) => config,
        Err(response) => return response,
    };
    if config.id != id {
        return error(400, "id_mismatch", &format!("the body's id {:?} is not the path's {id:?}; a bot's id cannot change", config.id));
    }
    match state.registry.replace(&id, config).await {
        Ok(bot) => {
            tracing::info!(bot_id = %id, "bot changed through the admin API");
            show(&bot, 200).await
        }
        Err(failure) => registry_error(&id, failure),
    }
}

/// `DELETE /v1/bots/{id}`: only when stopped → 204.
pub async fn remove(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    match state.registry.remove(&path).await {
        Ok(()) => {
            tracing::info!(bot_id = %path, "bot deleted through the admin API");
            HttpResponse::NoContent().finish()
        }
        Err(failure) => registry_error(&path, failure),
    }
}

pub async fn start(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    match state.registry.start(&path).await {
        Ok(bot) => show(&bot, 200).await,
        Err(failure) => registry_error(&path, failure),
    }
}

/// Stopping leaves the bot's open conversations on the platform untouched.
pub async fn stop(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    match state.registry.stop(&path).await {
        Ok(bot) => show(&bot, 200).await,
        Err(failure) => registry_error(&path, failure),
    }
}

/// The bot's error log (bounded, newest last).
pub async fn errors(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    let Some(bot) = state.registry.get(&path) else { return unknown_bot(&path) };
    match status_of(&bot).await {
        Ok(status) => HttpResponse::Ok().json(
            status
                .conversation_errors
                .iter()
                .map(|e| {
                    let mut value = report_json(&e.report);
                    value["conversation_id"] = json!(e.conversation_id);
                    value
                })
                .collect::<Vec<_>>(),
        ),
        Err(response) => response,
    }
}

/// The bot's open conversations as its actors see them.
pub async fn conversations(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    let Some(bot) = state.registry.get(&path) else { return unknown_bot(&path) };
    let Ok(conversations) = bot.addr.send(GetConversations).await else {
        return error(503, "bot_unavailable", "the bot's actor does not answer");
    };
    let mut list = Vec::with_capacity(conversations.len());
    for (id, actor) in conversations {
        let snapshot = match actor {
            Some(actor) => actor.send(GetConversationSnapshot).await.ok(),
            None => None,
        };
        list.push(match snapshot {
            Some(s) => json!({
                "conversation_id": id, "phase": s.phase,
                "since": s.taken_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
                "answered_below": s.answered_below,
                "waiting_messages": s.waiting_messages, "vendor_calls": s.vendor_calls,
                "last_error": s.last_error.as_ref().map(report_json),
            }),
            None => json!({"conversation_id": id, "phase": "starting"}),
        });
    }
    HttpResponse::Ok().json(list)
}
