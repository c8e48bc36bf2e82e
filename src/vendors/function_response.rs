//! Parsing a LivePerson Functions-style answer (spec/third-party-bots.md §1.3, "LivePerson
//! Functions") into the core's `BotResponse`:
//!
//! `{"messages": [ … ], "context": {"action", "actionParameters", "encodedMetadata", "intentId",
//! "intentName", "confidenceScore", "structuredContent", "metadata"}}`
//!
//! `messages[]` entries are a string; `{structuredContent, metadata?, encodedMetadata?}`;
//! `{delay, typing?}`; `{text, messageAudience?, encodedMetadata?}`. The legacy single
//! structured content in `context.structuredContent` (+ `context.metadata`) is sent last;
//! `context.encodedMetadata` applies to every message that has none of its own. Unknown actions
//! are ignored with a warning; every other way to break the contract has its own code.

use base64::Engine;
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, Intent, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage, Ttr};
use serde_json::{Map, Value};

/// The largest `encodedMetadata` accepted (5 KB).
pub const MAX_ENCODED_METADATA: usize = 5 * 1024;
/// The most messages one answer may hold.
pub const MAX_MESSAGES: usize = 100;

/// Stable codes for answers that break the contract.
pub mod codes {
    /// An empty body (LivePerson: `…faas.missing-response-body`).
    pub const MISSING_RESPONSE_BODY: &str = "botvisor.function.response.missing-response-body";
    pub const NOT_JSON: &str = "botvisor.function.response.not-json";
    pub const NOT_AN_OBJECT: &str = "botvisor.function.response.not-an-object";
    pub const INVALID_MESSAGE: &str = "botvisor.function.response.invalid-message";
    pub const INVALID_ACTION: &str = "botvisor.function.response.invalid-action";
    pub const INVALID_FIELD: &str = "botvisor.function.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.function.response.invalid-encoded-metadata";
    pub const TOO_MANY_MESSAGES: &str = "botvisor.function.response.too-many-messages";
}

fn invalid(code: &str, message: impl Into<String>) -> VendorError {
    VendorError::InvalidResponse { code: code.into(), message: message.into() }
}

/// Parses a function's answer body (`None`: it was empty).
pub fn parse_function_response(body: Option<&Value>) -> Result<BotResponse, VendorError> {
    let body = body.ok_or_else(|| invalid(codes::MISSING_RESPONSE_BODY, "the function answered with an empty body"))?;
    let object = body.as_object().ok_or_else(|| invalid(codes::NOT_AN_OBJECT, "the answer must be a JSON object"))?;
    let empty = Map::new();
    let context = match object.get("context") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(context)) => context,
        Some(_) => return Err(invalid(codes::INVALID_FIELD, "context: must be an object")),
    };
    let default_encoded = encoded_metadata(context.get("encodedMetadata"), "context.encodedMetadata")?;
    let messages: &[Value] = match object.get("messages") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(invalid(codes::INVALID_FIELD, "messages: must be an array")),
    };
    if messages.len() > MAX_MESSAGES {
        return Err(invalid(codes::TOO_MANY_MESSAGES, format!("messages: {} entries, more than {MAX_MESSAGES}", messages.len())));
    }
    let mut response = BotResponse::default();
    for (index, message) in messages.iter().enumerate() {
        response.items.push(item(message, &format!("messages[{index}]"), default_encoded.as_ref())?);
    }
    // The legacy structured content goes last.
    if let Some(content) = context.get("structuredContent").filter(|c| !c.is_null()) {
        if !content.is_object() {
            return Err(invalid(codes::INVALID_FIELD, "context.structuredContent: must be an object"));
        }
        response.items.push(ResponseItem::StructuredContent(StructuredContentMessage {
            content: content.clone(),
            metadata: metadata(context.get("metadata"), "context.metadata")?,
            encoded_metadata: default_encoded.clone(),
        }));
    }
    response.action = action(context)?;
    if let Some(id) = context.get("intentId").and_then(Value::as_str).filter(|id| !id.is_empty()) {
        let bounded = |s: &str| s.chars().take(256).collect::<String>();
        response.intents.push(Intent {
            id: bounded(id),
            name: context.get("intentName").and_then(Value::as_str).map(bounded),
            confidence: context.get("confidenceScore").and_then(Value::as_f64).filter(|c| (0.0..=1.0).contains(c)),
        });
    }
    Ok(response)
}

fn item(message: &Value, at: &str, default_encoded: Option<&String>) -> Result<ResponseItem, VendorError> {
    let encoded = |object: &Map<String, Value>| -> Result<Option<String>, VendorError> {
        Ok(encoded_metadata(object.get("encodedMetadata"), &format!("{at}.encodedMetadata"))?.or_else(|| default_encoded.cloned()))
    };
    let object = match message {
        Value::String(text) => {
            return Ok(ResponseItem::Text(TextMessage {
                text: text.clone(),
                encoded_metadata: default_encoded.cloned(),
                ..TextMessage::default()
            }))
        }
        Value::Object(object) => object,
        _ => return Err(invalid(codes::INVALID_MESSAGE, format!("{at}: a message is a string or an object"))),
    };
    if let Some(content) = object.get("structuredContent") {
        let content =
            content.as_object().ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{at}.structuredContent: must be an object")))?;
        let metadata = metadata(object.get("metadata"), &format!("{at}.metadata"))?;
        // Quick replies: structured content holding `quickReplies` and a mandatory `message`.
        if let Some(quick_replies) = content.get("quickReplies") {
            let text = content
                .get("message")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{at}.structuredContent.message: quick replies need a message")))?;
            if !quick_replies.is_object() {
                return Err(invalid(codes::INVALID_FIELD, format!("{at}.structuredContent.quickReplies: must be an object")));
            }
            return Ok(ResponseItem::Text(TextMessage {
                text: text.to_owned(),
                audience: MessageAudience::All,
                quick_replies: Some(quick_replies.clone()),
                metadata,
                encoded_metadata: encoded(object)?,
            }));
        }
        return Ok(ResponseItem::StructuredContent(StructuredContentMessage {
            content: Value::Object(content.clone()),
            metadata,
            encoded_metadata: encoded(object)?,
        }));
    }
    if let Some(delay) = object.get("delay") {
        let seconds = delay
            .as_f64()
            .filter(|s| *s >= 0.0 && s.is_finite())
            .map(|s| s.ceil().min(f64::from(u32::MAX)) as u32)
            .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{at}.delay: must be a number of seconds")))?;
        let typing = match object.get("typing") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(typing)) => *typing,
            Some(_) => return Err(invalid(codes::INVALID_FIELD, format!("{at}.typing: must be true or false"))),
        };
        return Ok(ResponseItem::Delay { seconds, typing });
    }
    if let Some(text) = object.get("text") {
        let text = text.as_str().ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{at}.text: must be a string")))?;
        // Anything but the two values is refused: a malformed audience must never turn a
        // private note public.
        let audience = match object.get("messageAudience") {
            None | Some(Value::Null) => MessageAudience::All,
            Some(Value::String(s)) if s == "ALL" => MessageAudience::All,
            Some(Value::String(s)) if s == "AGENTS_AND_MANAGERS" => MessageAudience::AgentsAndManagers,
            Some(other) => {
                return Err(invalid(codes::INVALID_FIELD, format!("{at}.messageAudience: {other} is not ALL or AGENTS_AND_MANAGERS")))
            }
        };
        return Ok(ResponseItem::Text(TextMessage {
            text: text.to_owned(),
            audience,
            quick_replies: None,
            metadata: metadata(object.get("metadata"), &format!("{at}.metadata"))?,
            encoded_metadata: encoded(object)?,
        }));
    }
    Err(invalid(codes::INVALID_MESSAGE, format!("{at}: an object message holds structuredContent, delay or text")))
}

/// `metadata`: an array (one object is wrapped).
fn metadata(value: Option<&Value>, at: &str) -> Result<Option<Value>, VendorError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(Value::Array(items.clone()))),
        Some(object @ Value::Object(_)) => Ok(Some(Value::Array(vec![object.clone()]))),
        Some(_) => Err(invalid(codes::INVALID_FIELD, format!("{at}: must be an array"))),
    }
}

fn encoded_metadata(value: Option<&Value>, at: &str) -> Result<Option<String>, VendorError> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(None) };
    let encoded = value.as_str().ok_or_else(|| invalid(codes::INVALID_ENCODED_METADATA, format!("{at}: must be a base64 string")))?;
    if encoded.len() > MAX_ENCODED_METADATA {
        return Err(invalid(codes::INVALID_ENCODED_METADATA, format!("{at}: {} bytes, over the 5 KB limit", encoded.len())));
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid(codes::INVALID_ENCODED_METADATA, format!("{at}: not base64")))?;
    Ok(Some(encoded.to_owned()))
}

/// `context.action` with `context.actionParameters`; `None` without one, or for an unknown one
/// (ignored with a warning, as LivePerson's connector does).
fn action(context: &Map<String, Value>) -> Result<Option<BotAction>, VendorError> {
    let name = match context.get("action") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(invalid(codes::INVALID_ACTION, "context.action: must be a string")),
    };
    if !matches!(name, "TRANSFER" | "CLOSE_CONVERSATION" | "CHANGE_TTR" | "INVOCATION") {
        tracing::warn!(action = name, "unknown function action ignored");
        return Ok(None);
    }
    let empty = Map::new();
    let parameters = match context.get("actionParameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(parameters)) => parameters,
        Some(_) => return Err(invalid(codes::INVALID_ACTION, "context.actionParameters: must be an object")),
    };
    let string = |field: &str| match parameters.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let flag = |field: &str| -> Result<bool, VendorError> {
        match parameters.get(field) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(_) => Err(invalid(codes::INVALID_ACTION, format!("context.actionParameters.{field}: must be true or false"))),
        }
    };
    Ok(Some(match name {
        "TRANSFER" => {
            let agent_id = string("agentId");
            // An agent transfer may leave the skill out (the core then uses the escalation skill).
            let skill = match (string("skill"), &agent_id) {
                (Some(skill), _) => skill,
                (None, Some(_)) => String::new(),
                (None, None) => return Err(invalid(codes::INVALID_ACTION, "context.actionParameters.skill: required for TRANSFER")),
            };
            BotAction::Transfer { skill, agent_id }
        }
        "CLOSE_CONVERSATION" => BotAction::CloseConversation { without_pcs: flag("withoutPcs")? },
        "CHANGE_TTR" => BotAction::ChangeTtr(match string("ttrType").as_deref() {
            Some("URGENT") => Ttr::Urgent,
            Some("NORMAL") => Ttr::Normal,
            Some("PRIORITIZED") => Ttr::Prioritized,
            Some("CUSTOM") => Ttr::Custom {
                seconds: string("value")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| invalid(codes::INVALID_ACTION, "context.actionParameters.value: seconds required for CUSTOM"))?,
            },
            other => {
                return Err(invalid(
                    codes::INVALID_ACTION,
                    format!("context.actionParameters.ttrType: {other:?} is not URGENT, NORMAL, PRIORITIZED or CUSTOM"),
                ))
            }
        }),
        "INVOCATION" => BotAction::InvokeFunction {
            lambda_uuid: string("lambdaUuid")
                .ok_or_else(|| invalid(codes::INVALID_ACTION, "context.actionParameters.lambdaUuid: required for INVOCATION"))?,
            payload: parameters.get("payload").cloned().unwrap_or(Value::Null),
            fail_on_error: flag("failOnError")?,
        },
        _ => unreachable!("unknown actions returned above"),
    }))
}
