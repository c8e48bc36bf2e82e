//! The custom payloads Dialogflow ES and CX agents answer with (spec/third-party-bots.md §1.3):
//! structured content with metadata, a delay with typing, a private text, a text with encoded
//! metadata, and (CX, and ES too) an `action` object. Also the actions themselves, from a
//! payload or from an ES intent's action and parameters. Each vendor passes its own codes.

use base64::Engine;
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage, Ttr};
use serde_json::{Map, Value};

/// The largest `encodedMetadata` accepted (5 KB, LivePerson's limit).
pub const MAX_ENCODED_METADATA: usize = 5 * 1024;
/// The longest delay a payload may ask for.
pub const MAX_DELAY_SECONDS: u64 = 60;

/// One vendor's codes for answers that break the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codes {
    pub not_an_object: &'static str,
    pub missing_query_result: &'static str,
    pub multiple_actions: &'static str,
    pub unknown_payload: &'static str,
    pub invalid_field: &'static str,
    pub invalid_encoded_metadata: &'static str,
}

impl Codes {
    pub fn invalid(&self, code: &'static str, message: impl Into<String>) -> VendorError {
        VendorError::InvalidResponse { code: code.into(), message: message.into() }
    }

    fn field(&self, at: &str, what: &str) -> VendorError {
        self.invalid(self.invalid_field, format!("{at}: {what}"))
    }
}

/// What one custom payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Item(ResponseItem),
    /// An action; `None` for an action name the engine does not know (ignored, as LivePerson's
    /// connector does).
    Action(Option<BotAction>),
}

/// Reads one custom payload (`at` names it in errors, e.g. `queryResult.fulfillmentMessages[2].payload`).
pub fn parse_payload(payload: &Value, at: &str, codes: &Codes) -> Result<Payload, VendorError> {
    let object = payload.as_object().ok_or_else(|| codes.field(at, "must be an object"))?;
    let field_at = |field: &str| format!("{at}.{field}");
    if let Some(action) = object.get("action") {
        let action = action.as_object().ok_or_else(|| codes.field(&field_at("action"), "must be an object"))?;
        let name = action.get("name").and_then(Value::as_str).ok_or_else(|| codes.field(&field_at("action.name"), "must be a string"))?;
        let empty = Map::new();
        let parameters = match action.get("parameters") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(parameters)) => parameters,
            Some(_) => return Err(codes.field(&field_at("action.parameters"), "must be an object")),
        };
        return Ok(Payload::Action(parse_action(name, parameters, &field_at("action.parameters"), codes)?));
    }
    if let Some(content) = object.get("structuredContent") {
        let content = content.as_object().ok_or_else(|| codes.field(&field_at("structuredContent"), "must be an object"))?;
        let metadata = metadata(object, &field_at("metadata"), codes)?;
        let encoded_metadata = encoded_metadata(object, &field_at("encodedMetadata"), codes)?;
        // Quick replies are structured content holding `quickReplies` and a mandatory `message`:
        // a text with quick replies on the platform.
        if let Some(quick_replies) = content.get("quickReplies") {
            let message = content
                .get("message")
                .and_then(Value::as_str)
                .ok_or_else(|| codes.field(&field_at("structuredContent.message"), "quick replies need a message"))?;
            if !quick_replies.is_object() {
                return Err(codes.field(&field_at("structuredContent.quickReplies"), "must be an object"));
            }
            return Ok(Payload::Item(ResponseItem::Text(TextMessage {
                text: message.to_owned(),
                audience: MessageAudience::All,
                quick_replies: Some(quick_replies.clone()),
                metadata,
                encoded_metadata,
            })));
        }
        return Ok(Payload::Item(ResponseItem::StructuredContent(StructuredContentMessage {
            content: Value::Object(content.clone()),
            metadata,
            encoded_metadata,
        })));
    }
    if let Some(delay) = object.get("delay") {
        let seconds = match delay {
            Value::Number(n) => n.as_f64().filter(|s| s.is_finite() && *s >= 0.0),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0),
            _ => None,
        }
        .ok_or_else(|| codes.field(&field_at("delay"), "must be a number of seconds"))?;
        if seconds > MAX_DELAY_SECONDS as f64 {
            return Err(codes.field(&field_at("delay"), &format!("{seconds} s is longer than the {MAX_DELAY_SECONDS} s allowed")));
        }
        let typing = flag(object.get("typing"), true, &field_at("typing"), codes)?;
        return Ok(Payload::Item(ResponseItem::Delay { seconds: seconds.ceil() as u32, typing }));
    }
    if let Some(text) = object.get("textResponse") {
        let text = text.as_str().ok_or_else(|| codes.field(&field_at("textResponse"), "must be a string"))?;
        return Ok(Payload::Item(ResponseItem::Text(TextMessage {
            text: text.to_owned(),
            audience: audience(object, &field_at("messageAudience"), codes)?,
            quick_replies: None,
            metadata: metadata(object, &field_at("metadata"), codes)?,
            encoded_metadata: encoded_metadata(object, &field_at("encodedMetadata"), codes)?,
        })));
    }
    if object.contains_key("messageAudience") {
        let text = object.get("text").and_then(Value::as_str).ok_or_else(|| codes.field(&field_at("text"), "must be a string"))?;
        return Ok(Payload::Item(ResponseItem::Text(TextMessage {
            text: text.to_owned(),
            audience: audience(object, &field_at("messageAudience"), codes)?,
            quick_replies: None,
            metadata: metadata(object, &field_at("metadata"), codes)?,
            encoded_metadata: encoded_metadata(object, &field_at("encodedMetadata"), codes)?,
        })));
    }
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    Err(codes.invalid(
        codes.unknown_payload,
        format!("{at}: a custom payload with {keys:?} is none of structuredContent, delay, textResponse, messageAudience + text, action"),
    ))
}

/// Anything but the two values is refused: a malformed audience must never turn a private
/// note public.
fn audience(object: &Map<String, Value>, at: &str, codes: &Codes) -> Result<MessageAudience, VendorError> {
    match object.get("messageAudience") {
        None | Some(Value::Null) => Ok(MessageAudience::All),
        Some(Value::String(s)) if s == "ALL" => Ok(MessageAudience::All),
        Some(Value::String(s)) if s == "AGENTS_AND_MANAGERS" => Ok(MessageAudience::AgentsAndManagers),
        Some(other) => Err(codes.field(at, &format!("{other} is not ALL or AGENTS_AND_MANAGERS"))),
    }
}

fn metadata(object: &Map<String, Value>, at: &str, codes: &Codes) -> Result<Option<Value>, VendorError> {
    match object.get("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(Value::Array(items.clone()))),
        Some(object @ Value::Object(_)) => Ok(Some(Value::Array(vec![object.clone()]))),
        Some(_) => Err(codes.field(at, "must be an array")),
    }
}

fn encoded_metadata(object: &Map<String, Value>, at: &str, codes: &Codes) -> Result<Option<String>, VendorError> {
    let Some(value) = object.get("encodedMetadata").filter(|v| !v.is_null()) else { return Ok(None) };
    let encoded = value.as_str().ok_or_else(|| codes.invalid(codes.invalid_encoded_metadata, format!("{at}: must be a base64 string")))?;
    if encoded.len() > MAX_ENCODED_METADATA {
        return Err(codes.invalid(codes.invalid_encoded_metadata, format!("{at}: {} bytes, over the 5 KB limit", encoded.len())));
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| codes.invalid(codes.invalid_encoded_metadata, format!("{at}: not base64")))?;
    Ok(Some(encoded.to_owned()))
}

/// A boolean as Dialogflow may carry it: `true`, or the string `"true"` (an intent parameter).
fn flag(value: Option<&Value>, default: bool, at: &str, codes: &Codes) -> Result<bool, VendorError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => Ok(s.eq_ignore_ascii_case("true")),
        Some(Value::String(s)) if s.is_empty() => Ok(default),
        Some(_) => Err(codes.field(at, "must be true or false")),
    }
}

/// A string parameter; numbers (Dialogflow's parameters are doubles: `42.0`) become digits.
fn text_parameter(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..1e15).contains(&f) => Some(format!("{}", f as u64)),
            _ => Some(n.to_string()),
        },
        _ => None,
    }
}

/// The action named `name` with its parameters (`skill`, `agentId`, `withoutPcs`, `ttrType`,
/// `value`, `lambdaUuid`, `payload`, `failOnError`), or `None` when the name is not one of
/// TRANSFER, CLOSE_CONVERSATION, CHANGE_TTR and INVOCATION.
pub fn parse_action(name: &str, parameters: &Map<String, Value>, at: &str, codes: &Codes) -> Result<Option<BotAction>, VendorError> {
    let parameter_at = |field: &str| format!("{at}.{field}");
    Ok(Some(match name {
        "TRANSFER" => {
            let agent_id = text_parameter(parameters.get("agentId"));
            let skill = match (text_parameter(parameters.get("skill")), &agent_id) {
                (Some(skill), _) => skill,
                // An agent with no skill: the core falls back to the escalation skill.
                (None, Some(_)) => String::new(),
                (None, None) => return Err(codes.field(&parameter_at("skill"), "required for TRANSFER")),
            };
            BotAction::Transfer { skill, agent_id }
        }
        "CLOSE_CONVERSATION" => {
            BotAction::CloseConversation { without_pcs: flag(parameters.get("withoutPcs"), false, &parameter_at("withoutPcs"), codes)? }
        }
        "CHANGE_TTR" => {
            let ttr = match text_parameter(parameters.get("ttrType")).as_deref() {
                Some("URGENT") => Ttr::Urgent,
                Some("NORMAL") => Ttr::Normal,
                Some("PRIORITIZED") => Ttr::Prioritized,
                Some("CUSTOM") => {
                    let seconds = text_parameter(parameters.get("value"))
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| codes.field(&parameter_at("value"), "seconds required for CUSTOM"))?;
                    Ttr::Custom { seconds }
                }
                other => {
                    return Err(codes.field(&parameter_at("ttrType"), &format!("{other:?} is not URGENT, NORMAL, PRIORITIZED or CUSTOM")))
                }
            };
            BotAction::ChangeTtr(ttr)
        }
        "INVOCATION" => {
            let lambda_uuid =
                text_parameter(parameters.get("lambdaUuid")).ok_or_else(|| codes.field(&parameter_at("lambdaUuid"), "required"))?;
            // The payload is a JSON string in LivePerson's templates; an object is taken as it is.
            let payload = match parameters.get("payload") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            BotAction::InvokeFunction {
                lambda_uuid,
                payload,
                fail_on_error: flag(parameters.get("failOnError"), false, &parameter_at("failOnError"), codes)?,
            }
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CODES: Codes = Codes {
        not_an_object: "t.not-an-object",
        missing_query_result: "t.missing-query-result",
        multiple_actions: "t.multiple-actions",
        unknown_payload: "t.unknown-payload",
        invalid_field: "t.invalid-field",
        invalid_encoded_metadata: "t.invalid-encoded-metadata",
    };

    fn parse(payload: Value) -> Result<Payload, VendorError> {
        parse_payload(&payload, "p", &CODES)
    }

    fn code(result: Result<Payload, VendorError>) -> String {
        match result {
            Err(VendorError::InvalidResponse { code, .. }) => code,
            other => panic!("expected an invalid response, got {other:?}"),
        }
    }

    #[test]
    fn every_documented_payload() {
        let card = parse(json!({"structuredContent": {"type": "vertical", "elements": []}, "metadata": [{"type": "ExternalId", "id": "A"}], "encodedMetadata": "ZXhhbXBsZQ=="})).unwrap();
        assert!(
            matches!(&card, Payload::Item(ResponseItem::StructuredContent(sc)) if sc.metadata.as_ref().unwrap()[0]["id"] == "A" && sc.encoded_metadata.as_deref() == Some("ZXhhbXBsZQ=="))
        );
        assert_eq!(parse(json!({"delay": 3, "typing": false})).unwrap(), Payload::Item(ResponseItem::Delay { seconds: 3, typing: false }));
        assert_eq!(parse(json!({"delay": 1.5})).unwrap(), Payload::Item(ResponseItem::Delay { seconds: 2, typing: true }));
        assert_eq!(
            parse(json!({"messageAudience": "AGENTS_AND_MANAGERS", "text": "note"})).unwrap(),
            Payload::Item(ResponseItem::Text(TextMessage::private("note")))
        );
        let encoded = parse(json!({"textResponse": "hi", "encodedMetadata": "ZXhhbXBsZQ=="})).unwrap();
        assert!(
            matches!(&encoded, Payload::Item(ResponseItem::Text(t)) if t.text == "hi" && t.encoded_metadata.as_deref() == Some("ZXhhbXBsZQ=="))
        );
        let replies =
            parse(json!({"structuredContent": {"quickReplies": {"type": "quickReplies", "replies": []}, "message": "Pick"}})).unwrap();
        assert!(matches!(&replies, Payload::Item(ResponseItem::Text(t)) if t.text == "Pick" && t.quick_replies.is_some()));
        assert_eq!(
            parse(json!({"action": {"name": "TRANSFER", "parameters": {"skill": "billing", "agentId": 42.0}}})).unwrap(),
            Payload::Action(Some(BotAction::Transfer { skill: "billing".into(), agent_id: Some("42".into()) }))
        );
        assert_eq!(parse(json!({"action": {"name": "DANCE"}})).unwrap(), Payload::Action(None), "unknown actions are ignored");
    }

    #[test]
    fn actions_and_their_parameters() {
        let action = |name: &str, parameters: Value| parse_action(name, parameters.as_object().unwrap(), "a", &CODES);
        assert_eq!(
            action("CLOSE_CONVERSATION", json!({"withoutPcs": "true"})).unwrap(),
            Some(BotAction::CloseConversation { without_pcs: true })
        );
        assert_eq!(action("CLOSE_CONVERSATION", json!({})).unwrap(), Some(BotAction::CloseConversation { without_pcs: false }));
        assert_eq!(action("CHANGE_TTR", json!({"ttrType": "URGENT"})).unwrap(), Some(BotAction::ChangeTtr(Ttr::Urgent)));
        assert_eq!(
            action("CHANGE_TTR", json!({"ttrType": "CUSTOM", "value": 120.0})).unwrap(),
            Some(BotAction::ChangeTtr(Ttr::Custom { seconds: 120 }))
        );
        assert_eq!(
            action("INVOCATION", json!({"lambdaUuid": "u-1", "payload": "{\"a\": 1}", "failOnError": true})).unwrap(),
            Some(BotAction::InvokeFunction { lambda_uuid: "u-1".into(), payload: json!({"a": 1}), fail_on_error: true })
        );
        assert_eq!(
            action("TRANSFER", json!({"agentId": "7"})).unwrap(),
            Some(BotAction::Transfer { skill: String::new(), agent_id: Some("7".into()) })
        );
        assert_eq!(code(action("TRANSFER", json!({})).map(|_| Payload::Action(None))), CODES.invalid_field);
        assert_eq!(code(action("CHANGE_TTR", json!({"ttrType": "SOON"})).map(|_| Payload::Action(None))), CODES.invalid_field);
        assert_eq!(action("input.welcome", json!({})).unwrap(), None);
    }

    #[test]
    fn malformed_payloads_have_their_codes() {
        assert_eq!(code(parse(json!("text"))), CODES.invalid_field);
        assert_eq!(code(parse(json!({"colour": "red"}))), CODES.unknown_payload);
        assert_eq!(code(parse(json!({"delay": "soon"}))), CODES.invalid_field);
        assert_eq!(code(parse(json!({"delay": 3600}))), CODES.invalid_field);
        assert_eq!(code(parse(json!({"messageAudience": "EVERYONE", "text": "x"}))), CODES.invalid_field, "never public by mistake");
        assert_eq!(code(parse(json!({"textResponse": "x", "encodedMetadata": "not base64!"}))), CODES.invalid_encoded_metadata);
        assert_eq!(code(parse(json!({"textResponse": "x", "encodedMetadata": "QUFB".repeat(1400)}))), CODES.invalid_encoded_metadata);
        assert_eq!(code(parse(json!({"structuredContent": {"quickReplies": {}}}))), CODES.invalid_field);
        assert_eq!(code(parse(json!({"action": {"parameters": {}}}))), CODES.invalid_field);
    }
}
