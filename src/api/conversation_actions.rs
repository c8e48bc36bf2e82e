//! Conversation actions from outside, as LivePerson exposes them to brands:
//! `POST /v1/bots/{id}/conversations/{cid}/{transfer|close|ttr|messages}`. Each is handed to the
//! conversation's actor, which carries it out in order with its other work and with the rules of
//! the vendor's actions: a transfer to an unknown skill escalates with
//! `botvisor.action.transfer-skill-not-existing`, and so on. The answer comes once it is done.
//!
//! Bodies: transfer `{"skill", "agent_id"?}`; close `{"without_pcs"?}`; ttr `{"ttr_type":
//! "URGENT"|"NORMAL"|"PRIORITIZED"|"CUSTOM", "seconds"?}`; messages `{"messages": [{"text",
//! "private"?} | {"structured_content", "metadata"?}]}` (1 to 10).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use botvisor_actors::bot::GetConversation;
use botvisor_actors::conversation::{CommandOutcome, CommandRefused, ConversationCommand, RunCommand};
use botvisor_actors::model::{ResponseItem, StructuredContentMessage, TextMessage, Ttr};
use serde::Deserialize;
use serde_json::{json, Value};

use super::bots::{parse_json, read_body};
use super::errors::ApiError;
use super::AdminState;
use crate::config::Problem;

/// How long the API waits for the conversation to carry a command out.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages one command may send.
pub const MAX_MESSAGES: usize = 10;
/// The longest text one message may hold.
pub const MAX_TEXT_CHARS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    skill: String,
    #[serde(default)]
    agent_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    #[serde(default)]
    without_pcs: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtrBody {
    ttr_type: String,
    #[serde(default)]
    seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesBody {
    messages: Vec<MessageBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    structured_content: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidConfig { problems: vec![Problem { path: path.to_owned(), message: message.into() }] }
}

/// The command a request asks for, or what is wrong with it.
async fn command(action: &str, payload: web::Payload) -> Result<ConversationCommand, HttpResponse> {
    // An unknown action is a 404 whatever its body.
    if !ACTIONS.contains(&action) {
        return Err(ApiError::NotFound.response());
    }
    let text = read_body(payload).await?;
    parse_command(action, &text).map_err(|error| error.response())
}

/// The actions a conversation takes.
pub const ACTIONS: [&str; 4] = ["transfer", "close", "ttr", "messages"];

/// The command an action's JSON body asks for, or what is wrong with it (`botvisor.api.*`).
/// Pure: the fuzz targets call it too.
pub fn parse_command(action: &str, text: &str) -> Result<ConversationCommand, ApiError> {
    match action {
        "transfer" => {
            let body: TransferBody = parse_json(text)?;
            if body.skill.trim().is_empty() {
                return Err(invalid("skill", "name the skill to transfer to (case sensitive)"));
            }
            Ok(ConversationCommand::Transfer { skill: body.skill, agent_id: body.agent_id.filter(|a| !a.is_empty()) })
        }
        "close" => {
            let body: CloseBody = parse_json(text)?;
            Ok(ConversationCommand::Close { without_pcs: body.without_pcs })
        }
        "ttr" => {
            let body: TtrBody = parse_json(text)?;
            let ttr = match (body.ttr_type.as_str(), body.seconds) {
                ("URGENT", None) => Ttr::Urgent,
                ("NORMAL", None) => Ttr::Normal,
                ("PRIORITIZED", None) => Ttr::Prioritized,
                ("CUSTOM", Some(seconds)) if (1..=2_592_000).contains(&seconds) => Ttr::Custom { seconds },
                ("CUSTOM", _) => return Err(invalid("seconds", "CUSTOM takes seconds, from 1 to 2592000 (30 days)")),
                ("URGENT" | "NORMAL" | "PRIORITIZED", Some(_)) => return Err(invalid("seconds", "only CUSTOM takes seconds")),
                (other, _) => return Err(invalid("ttr_type", format!("{other:?} is not URGENT, NORMAL, PRIORITIZED or CUSTOM"))),
            };
            Ok(ConversationCommand::ChangeTtr(ttr))
        }
        "messages" => {
            let body: MessagesBody = parse_json(text)?;
            if body.messages.is_empty() || body.messages.len() > MAX_MESSAGES {
                return Err(invalid("messages", format!("1 to {MAX_MESSAGES} messages")));
            }
            let mut items = Vec::with_capacity(body.messages.len());
            for (i, message) in body.messages.into_iter().enumerate() {
                let at = |field: &str| format!("messages[{i}].{field}");
                let metadata = match message.metadata {
                    None | Some(Value::Null) => None,
                    Some(array @ Value::Array(_)) => Some(array),
                    Some(_) => return Err(invalid(&at("metadata"), "an array of metadata objects")),
                };
                items.push(match (message.text, message.structured_content) {
                    (Some(text), None) if !text.trim().is_empty() && text.chars().count() <= MAX_TEXT_CHARS => {
                        let mut text = if message.private { TextMessage::private(text) } else { TextMessage::plain(text) };
                        text.metadata = metadata;
                        ResponseItem::Text(text)
                    }
                    (Some(_), None) => return Err(invalid(&at("text"), format!("1 to {MAX_TEXT_CHARS} characters"))),
                    (None, Some(content @ Value::Object(_))) if !message.private => {
                        ResponseItem::StructuredContent(StructuredContentMessage { content, metadata, encoded_metadata: None })
                    }
                    (None, Some(_)) if message.private => return Err(invalid(&at("private"), "structured content cannot be private")),
                    (None, Some(_)) => return Err(invalid(&at("structured_content"), "must be an object")),
                    _ => return Err(invalid(&format!("messages[{i}]"), "give text or structured_content (one of them)")),
                });
            }
            Ok(ConversationCommand::Send(items))
        }
        _ => Err(ApiError::NotFound),
    }
}

/// `POST /v1/bots/{id}/conversations/{cid}/{action}`.
pub async fn act(state: web::Data<AdminState>, path: web::Path<(String, String, String)>, payload: web::Payload) -> HttpResponse {
    let (bot_id, conversation_id, action) = path.into_inner();
    let Some(bot) = state.registry.get(&bot_id) else { return ApiError::UnknownBot(bot_id).response() };
    let command = match command(&action, payload).await {
        Ok(command) => command,
        Err(response) => return response,
    };
    if !bot.is_running() {
        if let Ok(Some(owner)) = state.store.owner(&bot_id).await {
            if owner.node_id != state.store.node_id() {
                return ApiError::OwnedElsewhere { bot: bot_id, node: owner.node_id }.response();
            }
        }
        return ApiError::BotNotRunning(bot_id).response();
    }
    let unknown = || ApiError::UnknownConversation { bot: bot_id.clone(), conversation: conversation_id.clone() }.response();
    let Ok(Some(conversation)) = bot.addr.send(GetConversation { conversation_id: conversation_id.as_str().into() }).await else {
        return unknown();
    };
    let outcome = match tokio::time::timeout(COMMAND_TIMEOUT, conversation.send(RunCommand(command))).await {
        Err(_) => return ApiError::CommandTimeout(COMMAND_TIMEOUT.as_secs()).response(),
        Ok(Err(_)) => return ApiError::ConversationEnded(CommandRefused::Ended.to_string()).response(),
        Ok(Ok(outcome)) => outcome,
    };
    tracing::info!(bot_id = %bot_id, conversation_id = %conversation_id, action, ?outcome, "conversation action from the admin API");
    match outcome {
        Ok(CommandOutcome::Done) => HttpResponse::Ok().json(json!({"outcome": "done"})),
        Ok(CommandOutcome::Transferred { skill, agent_id }) => {
            HttpResponse::Ok().json(json!({"outcome": "transferred", "skill": skill, "agent_id": agent_id}))
        }
        Ok(CommandOutcome::Closed) => HttpResponse::Ok().json(json!({"outcome": "closed"})),
        Ok(CommandOutcome::Interrupted) => HttpResponse::Accepted().json(json!({"outcome": "interrupted",
            "message": "the session dropped once the messages were out; the action is carried out after the reconnect"})),
        // Escalated as a vendor's failed action would be: the action's own code, 422.
        Ok(CommandOutcome::Escalated(report)) => HttpResponse::UnprocessableEntity().json(json!({
            "code": report.code.as_str(), "message": report.message, "error_id": report.error_id, "escalated": true,
        })),
        Err(refused @ CommandRefused::Busy) => ApiError::ConversationBusy(refused.to_string()).response(),
        Err(refused @ CommandRefused::Ended) => ApiError::ConversationEnded(refused.to_string()).response(),
        Err(refused @ CommandRefused::Disconnected) => ApiError::SessionDown(refused.to_string()).response(),
    }
}
