//! Parsing an IBM Watson Assistant V2 message answer into the core's `BotResponse`
//! (spec/third-party-bots.md §1.3 "IBM Watson Assistant").
//!
//! `output.generic[]` in order: `text`; `image` (structured content: the image, its title and
//! description); `option` and `suggestion` (a text with quick replies); `pause` (`time` in
//! milliseconds, rounded up to whole seconds, with `typing`); `user_defined` (one of the payloads
//! every vendor shares: structured content with metadata, a delay, a private text, a text with
//! encoded metadata, an action; see `dialogflow::payloads`). Actions are `output.actions[]`
//! items `{"name", "type": "client", "parameters"}`; one at most. `encodedMetadata` from the
//! context (`…user_defined.encodedMetadata`, or the top-level V1 place) tags every message that
//! has none of its own; the caller keeps it sticky across answers until the bot changes it.

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, Intent, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage};
use serde_json::{json, Map, Value};

use crate::vendors::dialogflow::payloads::{parse_action, parse_payload, Codes, Payload, MAX_DELAY_SECONDS, MAX_ENCODED_METADATA};
use crate::vendors::lex_response::quick_replies;

/// Stable codes for Watson answers that break the contract.
pub mod codes {
    pub const NOT_AN_OBJECT: &str = "botvisor.watsonv2.response.not-an-object";
    pub const NOT_JSON: &str = "botvisor.watsonv2.response.not-json";
    pub const MISSING_OUTPUT: &str = "botvisor.watsonv2.response.missing-output";
    pub const MULTIPLE_ACTIONS: &str = "botvisor.watsonv2.response.multiple-actions";
    pub const UNKNOWN_PAYLOAD: &str = "botvisor.watsonv2.response.unknown-payload";
    pub const INVALID_FIELD: &str = "botvisor.watsonv2.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.watsonv2.response.invalid-encoded-metadata";
    /// Watson forgot the session (expired): a new one is made and the input sent again (logged,
    /// not escalated).
    pub const INVALID_SESSION: &str = "botvisor.watsonv2.invalid-session";
}

pub const CODES: Codes = Codes {
    not_an_object: codes::NOT_AN_OBJECT,
    missing_query_result: codes::MISSING_OUTPUT,
    multiple_actions: codes::MULTIPLE_ACTIONS,
    unknown_payload: codes::UNKNOWN_PAYLOAD,
    invalid_field: codes::INVALID_FIELD,
    invalid_encoded_metadata: codes::INVALID_ENCODED_METADATA,
};

/// Parses a message answer; `sticky` is the `encodedMetadata` an earlier answer set. Returns the
/// response and the `encodedMetadata` in force after it.
pub fn parse_response_with(body: &Value, sticky: Option<&str>) -> Result<(BotResponse, Option<String>), VendorError> {
    let c = &CODES;
    let object = body.as_object().ok_or_else(|| c.invalid(codes::NOT_AN_OBJECT, "the answer must be a JSON object"))?;
    let output = object
        .get("output")
        .ok_or_else(|| c.invalid(codes::MISSING_OUTPUT, "the answer has no output"))?
        .as_object()
        .ok_or_else(|| c.invalid(codes::INVALID_FIELD, "output: must be an object"))?;
    let encoded = context_encoded_metadata(object.get("context"))?.or_else(|| sticky.map(str::to_owned));
    let mut response = BotResponse::default();
    let mut actions: Vec<BotAction> = Vec::new();
    let empty = Vec::new();
    let generic = match output.get("generic") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(items)) => items,
        Some(_) => return Err(c.invalid(codes::INVALID_FIELD, "output.generic: must be an array")),
    };
    for (index, item) in generic.iter().enumerate() {
        let at = format!("output.generic[{index}]");
        let item = item.as_object().ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}: must be an object")))?;
        let string = |field: &str| item.get(field).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned);
        match item.get("response_type").and_then(Value::as_str).unwrap_or("") {
            "text" => match item.get("text") {
                Some(Value::String(text)) if text.trim().is_empty() => {}
                Some(Value::String(text)) => response.items.push(ResponseItem::Text(TextMessage::plain(text))),
                _ => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.text: must be a string"))),
            },
            "image" => {
                let source = string("source").ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.source: required")))?;
                let title = string("title");
                let mut elements = vec![json!({"type": "image", "url": source, "tooltip": title.clone().unwrap_or_default()})];
                if let Some(title) = &title {
                    elements.push(json!({"type": "text", "text": title, "tooltip": title, "style": {"bold": true}}));
                }
                if let Some(description) = string("description") {
                    elements.push(json!({"type": "text", "text": description, "tooltip": description}));
                }
                response.items.push(ResponseItem::StructuredContent(StructuredContentMessage {
                    content: json!({"type": "vertical", "elements": elements}),
                    metadata: None,
                    encoded_metadata: None,
                }));
            }
            "option" => {
                let title = string("title").ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.title: required")))?;
                let text = match string("description") {
                    Some(description) => format!("{title}\n{description}"),
                    None => title,
                };
                let options = item
                    .get("options")
                    .and_then(Value::as_array)
                    .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.options: must be an array")))?;
                let buttons = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        let label = o.get("label").and_then(Value::as_str);
                        let value = o.pointer("/value/input/text").and_then(Value::as_str).or(label);
                        match (label, value) {
                            (Some(label), Some(value)) => Ok((label.to_owned(), value.to_owned())),
                            _ => Err(c.invalid(codes::INVALID_FIELD, format!("{at}.options[{i}]: label and value.input.text are strings"))),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                response.items.push(ResponseItem::Text(with_replies(text, &buttons)));
            }
            "suggestion" => {
                let title = string("title").unwrap_or_else(|| "Did you mean:".into());
                let suggestions = item
                    .get("suggestions")
                    .and_then(Value::as_array)
                    .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.suggestions: must be an array")))?;
                let buttons: Vec<(String, String)> = suggestions
                    .iter()
                    .filter_map(|s| {
                        let label = s.get("label").and_then(Value::as_str)?;
                        let value = s.pointer("/value/input/text").and_then(Value::as_str).unwrap_or(label);
                        Some((label.to_owned(), value.to_owned()))
                    })
                    .collect();
                response.items.push(ResponseItem::Text(with_replies(title, &buttons)));
            }
            "pause" => {
                let ms = item
                    .get("time")
                    .and_then(Value::as_f64)
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.time: milliseconds")))?;
                let seconds = (ms / 1000.0).ceil();
                if seconds > MAX_DELAY_SECONDS as f64 {
                    return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.time: longer than {MAX_DELAY_SECONDS} s")));
                }
                let typing = match item.get("typing") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.typing: true or false"))),
                };
                response.items.push(ResponseItem::Delay { seconds: seconds as u32, typing });
            }
            "user_defined" => {
                let payload = item.get("user_defined").unwrap_or(&Value::Null);
                match parse_payload(payload, &format!("{at}.user_defined"), c)? {
                    Payload::Item(item) => response.items.push(item),
                    Payload::Action(Some(action)) => actions.push(action),
                    Payload::Action(None) => tracing::warn!(at, "unknown Watson user-defined action ignored"),
                }
            }
            other => tracing::warn!(at, kind = other, "Watson response type not supported for messaging, ignored"),
        }
    }
    if let Some(list) = output.get("actions").filter(|a| !a.is_null()) {
        let list = list.as_array().ok_or_else(|| c.invalid(codes::INVALID_FIELD, "output.actions: must be an array"))?;
        for (index, action) in list.iter().enumerate() {
            let at = format!("output.actions[{index}]");
            let name = action
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.name: must be a string")))?;
            let empty = Map::new();
            let parameters = match action.get("parameters") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(parameters)) => parameters,
                Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.parameters: must be an object"))),
            };
            match parse_action(name, parameters, &format!("{at}.parameters"), c)? {
                Some(action) => actions.push(action),
                None => tracing::warn!(at, name, "unknown Watson action ignored"),
            }
        }
    }
    if actions.len() > 1 {
        return Err(c.invalid(codes::MULTIPLE_ACTIONS, format!("the answer holds {} actions; one at most", actions.len())));
    }
    response.action = actions.pop();
    if let Some(encoded) = &encoded {
        for item in &mut response.items {
            match item {
                ResponseItem::Text(text) if text.encoded_metadata.is_none() => text.encoded_metadata = Some(encoded.clone()),
                ResponseItem::StructuredContent(sc) if sc.encoded_metadata.is_none() => sc.encoded_metadata = Some(encoded.clone()),
                _ => {}
            }
        }
    }
    if let Some(intent) = output.get("intents").and_then(Value::as_array).and_then(|i| i.first()) {
        if let Some(name) = intent.get("intent").and_then(Value::as_str) {
            response.intents.push(Intent {
                id: name.to_owned(),
                name: Some(name.to_owned()),
                confidence: intent.get("confidence").and_then(Value::as_f64),
            });
        }
    }
    Ok((response, encoded))
}

/// Parses a message answer with no sticky metadata (the golden tests' entry).
pub fn parse_response(body: &Value) -> Result<BotResponse, VendorError> {
    parse_response_with(body, None).map(|(response, _)| response)
}

fn with_replies(text: String, buttons: &[(String, String)]) -> TextMessage {
    TextMessage {
        text,
        audience: MessageAudience::All,
        quick_replies: (!buttons.is_empty()).then(|| quick_replies(buttons)),
        metadata: None,
        encoded_metadata: None,
    }
}

/// `encodedMetadata` from the answer's context: a skill's `user_defined` / `skill_variables`, or
/// the top level; checked as LivePerson checks it (base64, at most 5 KB).
fn context_encoded_metadata(context: Option<&Value>) -> Result<Option<String>, VendorError> {
    let c = &CODES;
    let Some(context) = context.filter(|c| c.is_object()) else { return Ok(None) };
    let mut found = context.get("encodedMetadata");
    if let Some(skills) = context.get("skills").and_then(Value::as_object) {
        for skill in skills.values() {
            for place in ["user_defined", "skill_variables"] {
                if let Some(value) = skill.get(place).and_then(|p| p.get("encodedMetadata")) {
                    found = Some(value);
                }
            }
        }
    }
    let Some(value) = found.filter(|v| !v.is_null()) else { return Ok(None) };
    let encoded = value.as_str().ok_or_else(|| c.invalid(codes::INVALID_ENCODED_METADATA, "context.encodedMetadata: must be a string"))?;
    if encoded.is_empty() {
        return Ok(None);
    }
    if encoded.len() > MAX_ENCODED_METADATA {
        return Err(c.invalid(codes::INVALID_ENCODED_METADATA, "context.encodedMetadata: over the 5 KB limit"));
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| c.invalid(codes::INVALID_ENCODED_METADATA, "context.encodedMetadata: not base64"))?;
    Ok(Some(encoded.to_owned()))
}
