//! Parsing the Bot Framework activities a bot answered through Direct Line 3.0 into the core's
//! `BotResponse` (spec/third-party-bots.md §1.3 "Microsoft Direct Line").
//!
//! Per `message` activity, in order: `channelData.delay` (`{delay, typing}`), then either
//! `channelData.multiMessage[]` (`{type: "text" | "delay" | "private-message" |
//! "structured-content", value, encodedMetadata?}`) or the activity's `text` (private with
//! `channelData.messageAudience: "AGENTS_AND_MANAGERS"`, tagged with `channelData.encodedMetadata`,
//! with its `suggestedActions` as quick replies), `channelData.structuredContent` (+ `metadata`),
//! and its attachments (hero and thumbnail cards, images) as structured content. The action is
//! `channelData.action = {name, parameters}`, or the Bot Framework handoff event
//! (`handoff.initiate`, `value.skill`) as a transfer; one at most. `typing` and `trace`
//! activities say nothing; other types and other event names break the contract.

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage};
use serde_json::{json, Map, Value};

use crate::vendors::dialogflow::payloads::{parse_action, parse_payload, Codes, Payload};
use crate::vendors::lex_response::quick_replies;

/// Stable codes for Direct Line answers that break the contract (LivePerson's `…microsoft.*`).
pub mod codes {
    pub const NOT_AN_OBJECT: &str = "botvisor.microsoft.response.not-an-object";
    pub const NOT_JSON: &str = "botvisor.microsoft.response.not-json";
    pub const INVALID_TYPE: &str = "botvisor.microsoft.activity.invalid-type";
    pub const INVALID_NAME: &str = "botvisor.microsoft.activity.invalid-name";
    pub const MULTIPLE_ACTIONS: &str = "botvisor.microsoft.response.multiple-actions";
    pub const UNKNOWN_PAYLOAD: &str = "botvisor.microsoft.response.unknown-payload";
    pub const INVALID_FIELD: &str = "botvisor.microsoft.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.microsoft.response.invalid-encoded-metadata";
}

pub const CODES: Codes = Codes {
    not_an_object: codes::NOT_AN_OBJECT,
    missing_query_result: codes::INVALID_FIELD,
    multiple_actions: codes::MULTIPLE_ACTIONS,
    unknown_payload: codes::UNKNOWN_PAYLOAD,
    invalid_field: codes::INVALID_FIELD,
    invalid_encoded_metadata: codes::INVALID_ENCODED_METADATA,
};

/// The Bot Framework's handoff event (`EventFactory.createHandoffInitiation`).
pub const HANDOFF_EVENT: &str = "handoff.initiate";

/// Parses the bot's reply activities (in the order Direct Line listed them).
pub fn parse_activities(activities: &[Value]) -> Result<BotResponse, VendorError> {
    let c = &CODES;
    let mut response = BotResponse::default();
    let mut actions = Vec::new();
    for (index, activity) in activities.iter().enumerate() {
        let at = format!("activities[{index}]");
        let activity = activity.as_object().ok_or_else(|| c.invalid(codes::NOT_AN_OBJECT, format!("{at}: must be an object")))?;
        match activity.get("type").and_then(Value::as_str).unwrap_or("") {
            "message" => message(activity, &at, &mut response, &mut actions)?,
            "event" => {
                let name = activity.get("name").and_then(Value::as_str).unwrap_or("");
                if name != HANDOFF_EVENT {
                    return Err(c.invalid(codes::INVALID_NAME, format!("{at}.name {name:?}: the only event understood is {HANDOFF_EVENT}")));
                }
                let value = activity.get("value").cloned().unwrap_or(Value::Null);
                let skill = value.get("skill").and_then(Value::as_str).unwrap_or("").to_owned();
                let agent_id = value.get("agentId").and_then(Value::as_str).map(str::to_owned);
                actions.push(BotAction::Transfer { skill, agent_id });
            }
            "typing" | "trace" => {}
            other => {
                return Err(c.invalid(codes::INVALID_TYPE, format!("{at}.type {other:?}: a reply is a message (or the handoff event)")))
            }
        }
    }
    if actions.len() > 1 {
        return Err(c.invalid(codes::MULTIPLE_ACTIONS, format!("the replies hold {} actions; one at most", actions.len())));
    }
    response.action = actions.pop();
    Ok(response)
}

/// Parses a Direct Line `GET …/activities` body's replies (the golden tests' entry):
/// `{"activities": [...]}`.
pub fn parse_response(body: &Value) -> Result<BotResponse, VendorError> {
    let c = &CODES;
    let activities = body
        .as_object()
        .ok_or_else(|| c.invalid(codes::NOT_AN_OBJECT, "the answer must be a JSON object"))?
        .get("activities")
        .and_then(Value::as_array)
        .ok_or_else(|| c.invalid(codes::INVALID_FIELD, "activities: must be an array"))?;
    parse_activities(activities)
}

fn message(activity: &Map<String, Value>, at: &str, response: &mut BotResponse, actions: &mut Vec<BotAction>) -> Result<(), VendorError> {
    let c = &CODES;
    let empty = Map::new();
    let channel_data = match activity.get("channelData") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(data)) => data,
        Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.channelData: must be an object"))),
    };
    let data_at = format!("{at}.channelData");
    if let Some(delay) = channel_data.get("delay").filter(|d| !d.is_null()) {
        match parse_payload(delay, &format!("{data_at}.delay"), c)? {
            Payload::Item(item @ ResponseItem::Delay { .. }) => response.items.push(item),
            _ => return Err(c.invalid(codes::INVALID_FIELD, format!("{data_at}.delay: {{delay, typing}}"))),
        }
    }
    let encoded = match channel_data.get("encodedMetadata") {
        None | Some(Value::Null) => None,
        Some(value) => match parse_payload(&json!({"textResponse": "", "encodedMetadata": value}), &data_at, c)? {
            Payload::Item(ResponseItem::Text(t)) => t.encoded_metadata,
            _ => None,
        },
    };
    if let Some(multi) = channel_data.get("multiMessage").filter(|m| !m.is_null()) {
        let multi = multi.as_array().ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{data_at}.multiMessage: must be an array")))?;
        for (i, part) in multi.iter().enumerate() {
            response.items.push(multi_part(part, &format!("{data_at}.multiMessage[{i}]"))?);
        }
    } else {
        let text = match activity.get("text") {
            None | Some(Value::Null) => "",
            Some(Value::String(text)) => text.as_str(),
            Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.text: must be a string"))),
        };
        let audience = match channel_data.get("messageAudience") {
            None | Some(Value::Null) => MessageAudience::All,
            Some(Value::String(s)) if s == "ALL" => MessageAudience::All,
            Some(Value::String(s)) if s == "AGENTS_AND_MANAGERS" => MessageAudience::AgentsAndManagers,
            Some(other) => {
                return Err(c.invalid(codes::INVALID_FIELD, format!("{data_at}.messageAudience: {other} is not ALL or AGENTS_AND_MANAGERS")))
            }
        };
        let buttons: Vec<(String, String)> = activity
            .get("suggestedActions")
            .and_then(|s| s.get("actions"))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(card_action).map(|(label, value, _)| (label, value)).collect())
            .unwrap_or_default();
        if !text.trim().is_empty() {
            response.items.push(ResponseItem::Text(TextMessage {
                text: text.to_owned(),
                audience,
                quick_replies: (!buttons.is_empty() && audience == MessageAudience::All).then(|| quick_replies(&buttons)),
                metadata: None,
                encoded_metadata: encoded.clone(),
            }));
        }
    }
    if let Some(content) = channel_data.get("structuredContent").filter(|s| !s.is_null()) {
        let mut payload = json!({"structuredContent": content});
        for key in ["metadata", "encodedMetadata"] {
            if let Some(value) = channel_data.get(key) {
                payload[key] = value.clone();
            }
        }
        match parse_payload(&payload, &data_at, c)? {
            Payload::Item(item) => response.items.push(item),
            Payload::Action(_) => {}
        }
    }
    if let Some(attachments) = activity.get("attachments").and_then(Value::as_array) {
        for (i, attachment) in attachments.iter().enumerate() {
            if let Some(item) = attachment_item(attachment, &format!("{at}.attachments[{i}]"))? {
                response.items.push(item);
            }
        }
    }
    if let Some(action) = channel_data.get("action").filter(|a| !a.is_null()) {
        let action_at = format!("{data_at}.action");
        let name = action
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{action_at}.name: must be a string")))?;
        let parameters = match action.get("parameters") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(parameters)) => parameters,
            Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{action_at}.parameters: must be an object"))),
        };
        match parse_action(name, parameters, &format!("{action_at}.parameters"), c)? {
            Some(action) => actions.push(action),
            None => tracing::warn!(at = action_at, name, "unknown Direct Line action ignored"),
        }
    }
    Ok(())
}

/// One `multiMessage` item.
fn multi_part(part: &Value, at: &str) -> Result<ResponseItem, VendorError> {
    let c = &CODES;
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    let value = part.get("value").unwrap_or(&Value::Null);
    let encoded = part.get("encodedMetadata").cloned().unwrap_or(Value::Null);
    let payload = match kind {
        "text" => json!({"textResponse": value, "encodedMetadata": encoded}),
        "private-message" => json!({"messageAudience": "AGENTS_AND_MANAGERS", "text": value}),
        "delay" => json!({"delay": value, "typing": false}),
        // encodedMetadata inside a structured content's value is ignored (LivePerson's rule); the
        // item's own applies.
        "structured-content" => json!({
            "structuredContent": value.get("structuredContent").cloned().unwrap_or(Value::Null),
            "metadata": value.get("metadata").cloned().unwrap_or(Value::Null),
            "encodedMetadata": encoded,
        }),
        other => {
            return Err(c.invalid(
                codes::UNKNOWN_PAYLOAD,
                format!("{at}.type {other:?} is none of text, delay, private-message, structured-content"),
            ))
        }
    };
    match parse_payload(&payload, at, c)? {
        Payload::Item(item) => Ok(item),
        Payload::Action(_) => Err(c.invalid(codes::UNKNOWN_PAYLOAD, format!("{at}: not a message"))),
    }
}

/// A card action: (label, the text sent back, a URL to open).
fn card_action(action: &Value) -> Option<(String, String, Option<String>)> {
    let label = action.get("title").and_then(Value::as_str)?.to_owned();
    let value = action.get("value").and_then(Value::as_str).unwrap_or(&label).to_owned();
    let url = (action.get("type").and_then(Value::as_str) == Some("openUrl")).then(|| value.clone());
    Some((label, value, url))
}

/// Hero and thumbnail cards and images as LivePerson structured content; other attachments
/// (adaptive cards, files) are not for messaging and are skipped.
fn attachment_item(attachment: &Value, at: &str) -> Result<Option<ResponseItem>, VendorError> {
    let c = &CODES;
    let content_type = attachment.get("contentType").and_then(Value::as_str).unwrap_or("");
    let elements = match content_type {
        "application/vnd.microsoft.card.hero" | "application/vnd.microsoft.card.thumbnail" => {
            let card = attachment
                .get("content")
                .and_then(Value::as_object)
                .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.content: must be an object")))?;
            let mut elements = Vec::new();
            for image in card.get("images").and_then(Value::as_array).into_iter().flatten() {
                if let Some(url) = image.get("url").and_then(Value::as_str) {
                    elements.push(json!({"type": "image", "url": url, "tooltip": image.get("alt").and_then(Value::as_str).unwrap_or("")}));
                }
            }
            for (field, bold) in [("title", true), ("subtitle", false), ("text", false)] {
                if let Some(text) = card.get(field).and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
                    let mut element = json!({"type": "text", "text": text, "tooltip": text});
                    if bold {
                        element["style"] = json!({"bold": true});
                    }
                    elements.push(element);
                }
            }
            for button in card.get("buttons").and_then(Value::as_array).into_iter().flatten() {
                if let Some((label, value, url)) = card_action(button) {
                    let action = match url {
                        Some(uri) => json!({"type": "link", "name": label, "uri": uri}),
                        None => json!({"type": "publishText", "text": value}),
                    };
                    elements.push(json!({"type": "button", "title": label, "tooltip": label, "click": {"actions": [action]}}));
                }
            }
            elements
        }
        image if image.starts_with("image/") => {
            let url = attachment
                .get("contentUrl")
                .and_then(Value::as_str)
                .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.contentUrl: required for an image")))?;
            vec![json!({"type": "image", "url": url, "tooltip": attachment.get("name").and_then(Value::as_str).unwrap_or("")})]
        }
        other => {
            tracing::warn!(at, content_type = other, "Direct Line attachment not supported for messaging, skipped");
            return Ok(None);
        }
    };
    if elements.is_empty() {
        return Ok(None);
    }
    Ok(Some(ResponseItem::StructuredContent(StructuredContentMessage {
        content: json!({"type": "vertical", "elements": elements}),
        metadata: None,
        encoded_metadata: None,
    })))
}
