//! Parsing an Amazon Lex V2 `RecognizeText` answer into the core's `BotResponse`
//! (spec/third-party-bots.md §1.3 "Amazon Lex"; the wire in spec/vendor-apis.md).
//!
//! `messages[]` in order: `PlainText` is a text; `CustomPayload` is JSON — LivePerson's action
//! markup `{"type": "ACTION", "params": {"action", "data"}}`, or one of the payloads every vendor
//! shares (structured content with metadata, a delay, a private text, a text with encoded
//! metadata; see `dialogflow::payloads`); `ImageResponseCard` becomes structured content (a card
//! with its image, title and subtitle, its buttons as buttons) or, without an image, a text with
//! quick replies. SSML is not for messaging. An intent Lex gave up on (`state: "Failed"`: the
//! fallback after the maximum number of retries) takes the default escalation.

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, Intent, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage};
use serde_json::{json, Map, Value};

use crate::vendors::dialogflow::payloads::{parse_action, parse_payload, Codes, Payload};

/// Stable codes for Lex answers that break the contract (LivePerson's `…lex.*` names).
pub mod codes {
    pub const NOT_AN_OBJECT: &str = "botvisor.lex.response.not-an-object";
    pub const NOT_JSON: &str = "botvisor.lex.response.not-json";
    pub const MULTIPLE_ACTIONS: &str = "botvisor.lex.response.multiple-actions";
    pub const CUSTOM_PAYLOAD_MALFORMED: &str = "botvisor.lex.response.custom-payload-malformed";
    pub const CUSTOM_PAYLOAD_NO_PARAMS: &str = "botvisor.lex.response.custom-payload-no-params";
    pub const CUSTOM_PAYLOAD_TYPE_NOT_SUPPORTED: &str = "botvisor.lex.response.custom-payload-type-not-supported";
    pub const MESSAGE_FORMAT_NOT_SUPPORTED: &str = "botvisor.lex.response.message-format-not-supported";
    pub const INVALID_FIELD: &str = "botvisor.lex.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.lex.response.invalid-encoded-metadata";
    /// Lex gave up on the intent (the maximum number of retries): the default escalation.
    pub const INTENT_FAILED: &str = "botvisor.lex.response.intent-failed";
}

pub const CODES: Codes = Codes {
    not_an_object: codes::NOT_AN_OBJECT,
    missing_query_result: codes::INVALID_FIELD,
    multiple_actions: codes::MULTIPLE_ACTIONS,
    unknown_payload: codes::CUSTOM_PAYLOAD_TYPE_NOT_SUPPORTED,
    invalid_field: codes::INVALID_FIELD,
    invalid_encoded_metadata: codes::INVALID_ENCODED_METADATA,
};

/// Quick replies per row on the platform.
const QUICK_REPLIES_PER_ROW: usize = 8;

/// Parses the body of `…/sessions/{sessionId}/text`.
pub fn parse_response(body: &Value) -> Result<BotResponse, VendorError> {
    let c = &CODES;
    let object = body.as_object().ok_or_else(|| c.invalid(codes::NOT_AN_OBJECT, "the answer must be a JSON object"))?;
    let intent = object.get("sessionState").and_then(|s| s.get("intent")).filter(|i| !i.is_null());
    if let Some(intent) = intent {
        if intent.get("state").and_then(Value::as_str) == Some("Failed") {
            let name = intent.get("name").and_then(Value::as_str).unwrap_or("?");
            return Err(c.invalid(
                codes::INTENT_FAILED,
                format!("Lex gave up on intent {name:?} (state Failed: the maximum number of retries was reached)"),
            ));
        }
    }
    let mut response = BotResponse::default();
    let mut actions: Vec<BotAction> = Vec::new();
    let empty = Vec::new();
    let messages = match object.get("messages") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(c.invalid(codes::INVALID_FIELD, "messages: must be an array")),
    };
    for (index, message) in messages.iter().enumerate() {
        let at = format!("messages[{index}]");
        let content_type = message.get("contentType").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content").and_then(Value::as_str);
        match content_type {
            "PlainText" => {
                let text = content.ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.content: must be a string")))?;
                if !text.trim().is_empty() {
                    response.items.push(ResponseItem::Text(TextMessage::plain(text)));
                }
            }
            "CustomPayload" => {
                let text = content.ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.content: must be a string")))?;
                let payload: Value = serde_json::from_str(text)
                    .map_err(|e| c.invalid(codes::CUSTOM_PAYLOAD_MALFORMED, format!("{at}.content: not JSON ({e})")))?;
                match custom_payload(&payload, &format!("{at}.content"))? {
                    Payload::Item(item) => response.items.push(item),
                    Payload::Action(Some(action)) => actions.push(action),
                    Payload::Action(None) => tracing::warn!(at, "unknown Lex action ignored"),
                }
            }
            "ImageResponseCard" => {
                let card = message
                    .get("imageResponseCard")
                    .and_then(Value::as_object)
                    .ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.imageResponseCard: must be an object")))?;
                response.items.push(image_card(card, &format!("{at}.imageResponseCard"))?);
            }
            other => {
                return Err(c.invalid(
                    codes::MESSAGE_FORMAT_NOT_SUPPORTED,
                    format!("{at}.contentType {other:?} is not supported for messaging (PlainText, CustomPayload, ImageResponseCard)"),
                ))
            }
        }
    }
    if actions.len() > 1 {
        return Err(c.invalid(codes::MULTIPLE_ACTIONS, format!("the answer holds {} actions; one at most", actions.len())));
    }
    response.action = actions.pop();
    if let Some(intent) = intent {
        if let Some(name) = intent.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            let confidence = object
                .get("interpretations")
                .and_then(Value::as_array)
                .and_then(|all| all.iter().find(|i| i.pointer("/intent/name").and_then(Value::as_str) == Some(name)))
                .and_then(|i| i.pointer("/nluConfidence/score").or_else(|| i.get("nluConfidence")))
                .and_then(Value::as_f64);
            response.intents.push(Intent { id: name.to_owned(), name: Some(name.to_owned()), confidence });
        }
    }
    Ok(response)
}

/// A custom payload: LivePerson's action markup, or a shared payload.
fn custom_payload(payload: &Value, at: &str) -> Result<Payload, VendorError> {
    let c = &CODES;
    let object = payload.as_object().ok_or_else(|| c.invalid(codes::CUSTOM_PAYLOAD_MALFORMED, format!("{at}: must be a JSON object")))?;
    match object.get("type").and_then(Value::as_str) {
        Some("ACTION") => {
            let params = object
                .get("params")
                .and_then(Value::as_object)
                .ok_or_else(|| c.invalid(codes::CUSTOM_PAYLOAD_NO_PARAMS, format!("{at}: an ACTION needs params {{action, data}}")))?;
            let name = params
                .get("action")
                .and_then(Value::as_str)
                .ok_or_else(|| c.invalid(codes::CUSTOM_PAYLOAD_NO_PARAMS, format!("{at}.params.action: must be a string")))?;
            let empty = Map::new();
            let data = match params.get("data") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(data)) => data,
                Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.params.data: must be an object"))),
            };
            Ok(Payload::Action(parse_action(name, data, &format!("{at}.params.data"), c)?))
        }
        Some(other) => Err(c.invalid(codes::CUSTOM_PAYLOAD_TYPE_NOT_SUPPORTED, format!("{at}.type {other:?} is not ACTION"))),
        None => parse_payload(payload, at, c),
    }
}

/// An image response card: structured content when it has an image, else a text with quick
/// replies (its buttons).
fn image_card(card: &Map<String, Value>, at: &str) -> Result<ResponseItem, VendorError> {
    let c = &CODES;
    let text = |field: &str| -> Result<Option<String>, VendorError> {
        match card.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(c.invalid(codes::INVALID_FIELD, format!("{at}.{field}: must be a string"))),
        }
    };
    let title = text("title")?.ok_or_else(|| c.invalid(codes::INVALID_FIELD, format!("{at}.title: required")))?;
    let subtitle = text("subtitle")?;
    let image = text("imageUrl")?;
    let empty = Vec::new();
    let buttons = match card.get("buttons") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(buttons)) => buttons,
        Some(_) => return Err(c.invalid(codes::INVALID_FIELD, format!("{at}.buttons: must be an array"))),
    };
    let buttons = buttons
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let label = b.get("text").and_then(Value::as_str);
            let value = b.get("value").and_then(Value::as_str).or(label);
            match (label, value) {
                (Some(label), Some(value)) => Ok((label.to_owned(), value.to_owned())),
                _ => Err(c.invalid(codes::INVALID_FIELD, format!("{at}.buttons[{i}]: text and value are strings"))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(image) = image else {
        let text = match &subtitle {
            Some(subtitle) => format!("{title}\n{subtitle}"),
            None => title,
        };
        return Ok(ResponseItem::Text(TextMessage {
            text,
            audience: MessageAudience::All,
            quick_replies: (!buttons.is_empty()).then(|| quick_replies(&buttons)),
            metadata: None,
            encoded_metadata: None,
        }));
    };
    let mut elements = vec![
        json!({"type": "image", "url": image, "tooltip": title}),
        json!({"type": "text", "text": title, "tooltip": title, "style": {"bold": true}}),
    ];
    if let Some(subtitle) = subtitle {
        elements.push(json!({"type": "text", "text": subtitle, "tooltip": subtitle}));
    }
    for (label, value) in &buttons {
        elements.push(
            json!({"type": "button", "title": label, "tooltip": label, "click": {"actions": [{"type": "publishText", "text": value}]}}),
        );
    }
    Ok(ResponseItem::StructuredContent(StructuredContentMessage {
        content: json!({"type": "vertical", "elements": elements}),
        metadata: None,
        encoded_metadata: None,
    }))
}

/// Buttons as LivePerson quick replies: label shown, value sent back.
pub fn quick_replies(buttons: &[(String, String)]) -> Value {
    let replies: Vec<Value> = buttons
        .iter()
        .map(|(label, value)| {
            json!({"type": "button", "tooltip": label, "title": label, "click": {"actions": [{"type": "publishText", "text": value}]}})
        })
        .collect();
    json!({"type": "quickReplies", "itemsPerRow": QUICK_REPLIES_PER_ROW.min(replies.len().max(1)), "replies": replies})
}
