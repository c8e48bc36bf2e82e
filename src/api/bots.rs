//! The bot routes: list, add, read, edit, delete, start, stop, errors, open conversations.

use std::time::UNIX_EPOCH;

use actix_web::{web, HttpRequest, HttpResponse};
use botvisor_actors::bot::{BotStatus, ConversationView, GetBotStatus, GetConversations};
use botvisor_actors::conversation::GetConversationSnapshot;
use botvisor_actors::errors::{ErrorCode, ErrorReport};
use botvisor_actors::load::Capacity;
use botvisor_actors::model::BotState;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::errors::{report_response, ApiError};
use super::{AdminState, MAX_BODY_BYTES};
use crate::cluster::summary::{state_since_ms, BotSummary, Kpis, STATUS_KEY};
use crate::cluster::Ownership;
use crate::config::{BotConfig, Problem};
use crate::service::{ManagedBot, RegistryError};

fn unknown_bot(id: &str) -> HttpResponse {
    ApiError::UnknownBot(id.to_owned()).response()
}

fn registry_error(id: &str, failure: RegistryError) -> HttpResponse {
    let id = id.to_owned();
    match failure {
        RegistryError::NotFound => ApiError::UnknownBot(id),
        RegistryError::Exists => ApiError::BotExists(id),
        RegistryError::Running => ApiError::BotRunning(id),
        RegistryError::Invalid(problems) => ApiError::InvalidConfig { problems },
        RegistryError::Unavailable => ApiError::BotUnavailable,
        RegistryError::StartRefused(report) => {
            return report_response(actix_web::http::StatusCode::CONFLICT, report.code.as_str(), &report.message)
        }
        RegistryError::Launch(message) => ApiError::BotNotBuilt(message),
        RegistryError::Store(message) => ApiError::StoreFailed(message),
        RegistryError::OwnedElsewhere { node } => ApiError::OwnedElsewhere { bot: id, node },
    }
    .response()
}

fn report_json(report: &ErrorReport) -> Value {
    json!({"code": report.code.as_str(), "message": report.message, "error_id": report.error_id, "at": report.at_unix_ms()})
}

/// A bot as this node sees it; a bot another node owns shows what its owner last reported
/// (`reported_by`, `reported_at`) instead of this node's idle copy.
fn bot_json(bot: &ManagedBot, status: &BotStatus, owner: Option<&Ownership>, remote: Option<&BotSummary>) -> Value {
    let mut value = json!({
        "id": bot.id(),
        "name": bot.config().name,
        "deployment_status": bot.deployment_status(status.state == BotState::Offline).as_str(),
        "state": status.state.as_str(),
        "state_since": state_since_ms(status),
        "open_conversations": status.open_conversations,
        // Of those, kept as data until their next event (settled for `lifecycle.passivate_after`).
        "passive_conversations": status.passive_conversations,
        // Behind its messages (one over `load.overload_lag` late): AWAY until it catches up.
        "overloaded": status.overloaded,
        "capacity": {"recommended": status.load.recommended, "hard": status.load.hard, "low_water": status.load.low_water},
        // What the load asks routing for: AWAY from the recommended load until under low water.
        "availability": status.load.availability,
        "last_error": status.last_error.as_ref().map(report_json),
        "owner": owner.map(|o| json!({"node_id": o.node_id, "token": o.token.0})),
        "kpis": Kpis::of(status),
    });
    if let Some(summary) = remote {
        value["deployment_status"] = json!(if summary.state == "offline" { "offline" } else { "online" });
        value["state"] = json!(summary.state);
        value["state_since"] = json!(summary.state_since);
        value["open_conversations"] = json!(summary.open_conversations);
        value["last_error"] = serde_json::to_value(&summary.last_error).unwrap_or(Value::Null);
        value["kpis"] = serde_json::to_value(&summary.kpis).unwrap_or(Value::Null);
        value["reported_by"] = json!(summary.node_id);
        value["reported_at"] = json!(summary.reported_at);
    }
    value
}

/// What the bot's owner last reported, when another node owns it.
async fn remote_summary(state: &AdminState, owner: Option<&Ownership>) -> Option<BotSummary> {
    let owner = owner.filter(|o| o.node_id != state.store.node_id())?;
    let bytes = state.store.get_state(&owner.bot_id, STATUS_KEY).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// A bot's status and its configuration, secrets redacted.
fn bot_with_config_json(bot: &ManagedBot, status: &BotStatus, owner: Option<&Ownership>, remote: Option<&BotSummary>) -> Value {
    let mut value = bot_json(bot, status, owner, remote);
    value["config"] = serde_json::to_value(bot.config().redacted()).unwrap_or(Value::Null);
    value
}

/// The bot's status; a bot whose actor died is shown offline with `botvisor.bot.actor-stopped`
/// (one dead bot never takes the listing, the metrics or the other bots down).
async fn status_of(bot: &ManagedBot) -> BotStatus {
    match bot.addr.send(GetBotStatus).await {
        Ok(status) => status,
        Err(_) => dead_status(bot),
    }
}

fn dead_status(bot: &ManagedBot) -> BotStatus {
    let report = ErrorReport::new(
        ErrorCode::BotActorStopped,
        format!("the bot's actor stopped unexpectedly; start it again (POST /v1/bots/{}/start) to rebuild it", bot.id()),
    );
    BotStatus {
        bot_id: bot.id().into(),
        state: BotState::Offline,
        since: tokio::time::Instant::now(),
        last_error: Some(report),
        open_conversations: 0,
        passive_conversations: 0,
        overloaded: false,
        load: Default::default(),
        stats: Default::default(),
        conversation_errors: Vec::new(),
        vendor: Default::default(),
    }
}

/// Who owns the bot, cluster-wide, as the store says (this node's own hold when the store does
/// not answer).
async fn owner_of(state: &AdminState, bot: &ManagedBot) -> Option<Ownership> {
    match state.store.owner(bot.id()).await {
        Ok(owner) => owner,
        Err(_) => bot.ownership(),
    }
}

async fn show(state: &AdminState, bot: &ManagedBot, status_code: u16) -> HttpResponse {
    let status = status_of(bot).await;
    let owner = owner_of(state, bot).await;
    let remote = remote_summary(state, owner.as_ref()).await;
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status_code).unwrap_or_default()).json(bot_with_config_json(
        bot,
        &status,
        owner.as_ref(),
        remote.as_ref(),
    ))
}

/// One bot's configuration from a request body: JSON, or TOML with `Content-Type:
/// application/toml`; the same schema as a `[[bots]]` entry of the configuration file.
async fn read_bot(req: &HttpRequest, payload: web::Payload) -> Result<BotConfig, HttpResponse> {
    let body = read_body(payload).await?;
    let toml = req.headers().get("content-type").and_then(|h| h.to_str().ok()).is_some_and(|t| t.starts_with("application/toml"));
    parse_bot(&body, toml).map_err(|error| error.response())
}

/// One bot's configuration from a request body's text (TOML when `toml`, else JSON); an error is
/// `botvisor.api.invalid-config` with the field's path. Pure: the fuzz targets call it too.
pub fn parse_bot(text: &str, toml: bool) -> Result<BotConfig, ApiError> {
    // Messages only (toml's Display would quote the source line, which may hold a secret); a
    // syntax error names its line and column, a type error the field's path.
    let parsed = if toml {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize::<_, BotConfig>(deserializer).map_err(|e| {
            let at = e.inner().span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                format!(
                    " (line {}, column {})",
                    before.matches('\n').count() + 1,
                    before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1
                )
            });
            (e.path().to_string(), format!("{}{}", e.inner().message().trim_end(), at.unwrap_or_default()))
        })
    } else {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, BotConfig>(&mut deserializer).map_err(|e| (e.path().to_string(), e.inner().to_string()))
    };
    parsed.map_err(|(path, message)| {
        let path = if path == "." { String::new() } else { path };
        ApiError::InvalidConfig { problems: vec![Problem { path, message }] }
    })
}

/// The request body as text, bounded.
pub(super) async fn read_body(mut payload: web::Payload) -> Result<String, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadBody(format!("the body could not be read: {e}")).response())?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge(MAX_BODY_BYTES).response());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadBody("the body is not UTF-8".into()).response())
}

/// A JSON body of type `T`; a field of the wrong type or unknown names its path.
pub(super) async fn read_json<T: serde::de::DeserializeOwned>(payload: web::Payload) -> Result<T, HttpResponse> {
    let text = read_body(payload).await?;
    parse_json(&text).map_err(|error| error.response())
}

/// `T` from a JSON body's text; an error is `botvisor.api.invalid-config` naming the field's path.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ApiError::InvalidConfig { problems: vec![Problem { path, message: e.inner().to_string() }] }
    })
}

/// `PATCH /v1/bots/{id}/capacity`: any of `recommended`, `hard`, `low_water`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityChange {
    recommended: Option<usize>,
    hard: Option<usize>,
    low_water: Option<usize>,
}

impl CapacityChange {
    /// `current` with the fields this change gives replaced.
    pub fn applied_to(&self, current: Capacity) -> Capacity {
        Capacity {
            recommended: self.recommended.unwrap_or(current.recommended),
            hard: self.hard.unwrap_or(current.hard),
            low_water: self.low_water.unwrap_or(current.low_water),
        }
    }
}

/// Changes a bot's capacity in place, running or not (nothing open is dropped).
pub async fn set_capacity(state: web::Data<AdminState>, path: web::Path<String>, payload: web::Payload) -> HttpResponse {
    let Some(bot) = state.registry.get(&path) else { return unknown_bot(&path) };
    let change: CapacityChange = match read_json(payload).await {
        Ok(change) => change,
        Err(response) => return response,
    };
    let Some(current) = crate::service::registry::capacity_of(&bot.config()) else {
        return ApiError::BotUnavailable.response();
    };
    let capacity = change.applied_to(current);
    match state.registry.set_capacity(&path, capacity).await {
        Ok(applied_here) => {
            tracing::info!(bot_id = %path, ?capacity, applied_here, "capacity changed through the admin API");
            show(&state, &bot, 200).await
        }
        Err(failure) => registry_error(&path, failure),
    }
}

pub async fn list(state: web::Data<AdminState>) -> HttpResponse {
    let mut bots = Vec::new();
    for bot in state.registry.list() {
        let status = status_of(&bot).await;
        let owner = owner_of(&state, &bot).await;
        let remote = remote_summary(&state, owner.as_ref()).await;
        bots.push(bot_json(&bot, &status, owner.as_ref(), remote.as_ref()));
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
            show(&state, &bot, 201).await
        }
        Err(failure) => registry_error(&id, failure),
    }
}

pub async fn get(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    match state.registry.get(&path) {
        Some(bot) => show(&state, &bot, 200).await,
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
        return ApiError::IdMismatch { body: config.id, path: id }.response();
    }
    match state.registry.replace(&id, config).await {
        Ok(bot) => {
            tracing::info!(bot_id = %id, "bot changed through the admin API");
            show(&state, &bot, 200).await
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
        Ok(bot) => show(&state, &bot, 200).await,
        Err(failure) => registry_error(&path, failure),
    }
}

/// Stopping leaves the bot's open conversations on the platform untouched.
pub async fn stop(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    match state.registry.stop(&path).await {
        Ok(bot) => show(&state, &bot, 200).await,
        Err(failure) => registry_error(&path, failure),
    }
}

/// The bot's error log (bounded, newest last).
pub async fn errors(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    let Some(bot) = state.registry.get(&path) else { return unknown_bot(&path) };
    let status = status_of(&bot).await;
    HttpResponse::Ok().json(
        status
            .conversation_errors
            .iter()
            .map(|e| {
                let mut value = report_json(&e.report);
                value["conversation_id"] = json!(e.conversation_id);
                value
            })
            .collect::<Vec<_>>(),
    )
}

/// The bot's open conversations as its actors see them.
pub async fn conversations(state: web::Data<AdminState>, path: web::Path<String>) -> HttpResponse {
    let Some(bot) = state.registry.get(&path) else { return unknown_bot(&path) };
    let Ok(conversations) = bot.addr.send(GetConversations).await else {
        return ApiError::BotUnavailable.response();
    };
    let mut list = Vec::with_capacity(conversations.len());
    for (id, actor) in conversations {
        let snapshot = match actor {
            ConversationView::Running(actor) => actor.send(GetConversationSnapshot).await.ok(),
            ConversationView::Passive(snapshot) => Some(snapshot),
            ConversationView::Starting => None,
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
