//! Parsing a Custom Endpoint answer (spec/third-party-bots.md §2.4) into the core's
//! `BotResponse`. Each way an answer can break the contract has its own code; unknown actions
//! are ignored with a warning, as LivePerson's connector does.

use base64::Engine;
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, Intent, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage, Ttr};
use serde_json::Value;

/// The largest `encodedMetadata` accepted (5 KB).
pub const MAX_ENCODED_METADATA: usize = 5 * 1024;

/// Stable codes for answers that break the contract.
pub mod codes {
    pub const NOT_AN_OBJECT: &str = "botvisor.custom-endpoint.response.not-an-object";
    pub const MISSING_RESPONSE: &str = "botvisor.custom-endpoint.response.missing-response";
    pub const MULTIPLE_ACTIONS: &str = "botvisor.custom-endpoint.response.multiple-actions";
    pub const UNKNOWN_ITEM_TYPE: &str = "botvisor.custom-endpoint.response.unknown-item-type";
    pub const INVALID_FIELD: &str = "botvisor.custom-endpoint.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.custom-endpoint.response.invalid-encoded-metadata";
    pub const NOT_JSON: &str = "botvisor.custom-endpoint.response.not-json";
}

fn invalid(code: &str, message: impl Into<String>) -> VendorError {
    VendorError::InvalidResponse { code: code.into(), message: message.into() }
}

/// Parses the body of `POST …/events`.
pub fn parse_response(body: &Value) -> Result<BotResponse, VendorError> {
    let object = body.as_object().ok_or_else(|| invalid(codes::NOT_AN_OBJECT, "the answer must be a JSON object"))?;
    let items = object
        .get("response")
        .ok_or_else(|| invalid(codes::MISSING_RESPONSE, "the answer has no \"response\" array"))?
        .as_array()
        .ok_or_else(|| invalid(codes::INVALID_FIELD, "response: must be an array"))?;
    let mut response = BotResponse::default();
    for (index, item) in items.iter().enumerate() {
        let at = |field: &str| format!("response[{index}].{field}");
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: must be a string", at("type"))))?;
        let data = item
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: must be an object", at("data"))))?;
        match kind {
            "TEXT" => response.items.push(ResponseItem::Text(text(data, &at)?)),
            "STRUCTURED_CONTENT" => {
                let content = data
                    .get("structuredContent")
                    .filter(|c| c.is_object())
                    .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: must be an object", at("data.structuredContent"))))?;
                // Quick replies are structured content holding `quickReplies` and a mandatory
                // `message` (spec §1.1): a text with quick replies on the platform.
                if let Some(quick_replies) = content.get("quickReplies") {
                    let message = content.get("message").and_then(Value::as_str).ok_or_else(|| {
                        invalid(codes::INVALID_FIELD, format!("{}: quick replies need a message", at("data.structuredContent.message")))
                    })?;
                    if !quick_replies.is_object() {
                        return Err(invalid(
                            codes::INVALID_FIELD,
                            format!("{}: must be an object", at("data.structuredContent.quickReplies")),
                        ));
                    }
                    response.items.push(ResponseItem::Text(TextMessage {
                        text: message.to_owned(),
                        audience: MessageAudience::All,
                        quick_replies: Some(quick_replies.clone()),
                        metadata: metadata(data, &at)?,
                        encoded_metadata: encoded_metadata(data, &at)?,
                    }));
                    continue;
                }
                response.items.push(ResponseItem::StructuredContent(StructuredContentMessage {
                    content: content.clone(),
                    metadata: metadata(data, &at)?,
                    encoded_metadata: encoded_metadata(data, &at)?,
                }));
            }
            "DELAY" => {
                let seconds = match data.get("seconds") {
                    Some(Value::Number(n)) => n.as_f64().filter(|s| *s >= 0.0).map(|s| s.ceil() as u32),
                    Some(Value::String(s)) => s.parse::<f64>().ok().filter(|s| *s >= 0.0).map(|s| s.ceil() as u32),
                    _ => None,
                }
                .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: must be a number of seconds", at("data.seconds"))))?;
                let typing = match data.get("typing") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(invalid(codes::INVALID_FIELD, format!("{}: must be true or false", at("data.typing")))),
                };
                response.items.push(ResponseItem::Delay { seconds, typing });
            }
            "ACTION" => {
                let Some(action) = action(data, &at)? else { continue };
                if response.action.is_some() {
                    return Err(invalid(codes::MULTIPLE_ACTIONS, "an answer may hold one ACTION at most"));
                }
                response.action = Some(action);
            }
            other => {
                return Err(invalid(
                    codes::UNKNOWN_ITEM_TYPE,
                    format!("{}: unknown item type {other:?} (TEXT, STRUCTURED_CONTENT, DELAY, ACTION)", at("type")),
                ))
            }
        }
    }
    if let Some(intents) = body.pointer("/analytics/intents").and_then(Value::as_array) {
        for intent in intents {
            if let Some(id) = intent.get("id").and_then(Value::as_str) {
                response.intents.push(Intent {
                    id: id.to_owned(),
                    name: intent.get("description").and_then(Value::as_str).map(str::to_owned),
                    confidence: intent.get("confidenceScore").and_then(Value::as_f64),
                });
            }
        }
    }
    Ok(response)
}

fn text(data: &Value, at: &dyn Fn(&str) -> String) -> Result<TextMessage, VendorError> {
    let message = data
        .get("message")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: must be a string", at("data.message"))))?;
    // Anything but the two values is refused: a malformed audience must never turn a private
    // note public.
    let audience = match data.get("messageAudience") {
        None | Some(Value::Null) => MessageAudience::All,
        Some(Value::String(s)) if s == "ALL" => MessageAudience::All,
        Some(Value::String(s)) if s == "AGENTS_AND_MANAGERS" => MessageAudience::AgentsAndManagers,
        Some(other) => {
            return Err(invalid(codes::INVALID_FIELD, format!("{}: {other} is not ALL or AGENTS_AND_MANAGERS", at("data.messageAudience"))))
        }
    };
    Ok(TextMessage {
        text: message.to_owned(),
        audience,
        quick_replies: data.get("quickReplies").filter(|q| q.is_object()).cloned(),
        metadata: metadata(data, at)?,
        encoded_metadata: encoded_metadata(data, at)?,
    })
}

/// `metadata`: an array in every example (the OpenAPI says object; one object is wrapped).
fn metadata(data: &Value, at: &dyn Fn(&str) -> String) -> Result<Option<Value>, VendorError> {
    match data.get("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(Value::Array(items.clone()))),
        Some(object @ Value::Object(_)) => Ok(Some(Value::Array(vec![object.clone()]))),
        Some(_) => Err(invalid(codes::INVALID_FIELD, format!("{}: must be an array", at("data.metadata")))),
    }
}

fn encoded_metadata(data: &Value, at: &dyn Fn(&str) -> String) -> Result<Option<String>, VendorError> {
    let Some(value) = data.get("encodedMetadata").filter(|v| !v.is_null()) else { return Ok(None) };
    let encoded = value
        .as_str()
        .ok_or_else(|| invalid(codes::INVALID_ENCODED_METADATA, format!("{}: must be a base64 string", at("data.encodedMetadata"))))?;
    if encoded.len() > MAX_ENCODED_METADATA {
        return Err(invalid(
            codes::INVALID_ENCODED_METADATA,
            format!("{}: {} bytes, over the 5 KB limit", at("data.encodedMetadata"), encoded.len()),
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid(codes::INVALID_ENCODED_METADATA, format!("{}: not base64", at("data.encodedMetadata"))))?;
    Ok(Some(encoded.to_owned()))
}

/// The action, or `None` for an unknown one (ignored with a warning).
fn action(data: &Value, at: &dyn Fn(&str) -> String) -> Result<Option<BotAction>, VendorError> {
    let name = data
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: must be a string", at("data.name"))))?;
    if !matches!(name, "TRANSFER" | "CLOSE_CONVERSATION" | "CHANGE_TTR" | "INVOKE_FUNCTION") {
        tracing::warn!(action = name, "unknown Custom Endpoint action ignored");
        return Ok(None);
    }
    let empty = Value::Object(Default::default());
    let parameters = data.get("parameters").filter(|p| !p.is_null()).unwrap_or(&empty);
    if !parameters.is_object() {
        return Err(invalid(codes::INVALID_FIELD, format!("{}: must be an object", at("data.parameters"))));
    }
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
            Some(_) => Err(invalid(codes::INVALID_FIELD, format!("{}: must be true or false", at(&format!("data.parameters.{field}"))))),
        }
    };
    Ok(Some(match name {
        "TRANSFER" => {
            let agent_id = string("agentId");
            // Our proposal (spec §2.6.1): skillName required, tolerated missing for an agent
            // transfer (an empty skill: the core uses the escalation skill).
            let skill = match (string("skillName"), &agent_id) {
                (Some(skill), _) => skill,
                (None, Some(_)) => String::new(),
                (None, None) => {
                    return Err(invalid(codes::INVALID_FIELD, format!("{}: required for TRANSFER", at("data.parameters.skillName"))))
                }
            };
            BotAction::Transfer { skill, agent_id }
        }
        "CLOSE_CONVERSATION" => BotAction::CloseConversation { without_pcs: flag("withoutPcs")? },
        "CHANGE_TTR" => {
            let ttr = match string("ttrType").as_deref() {
                Some("URGENT") => Ttr::Urgent,
                Some("NORMAL") => Ttr::Normal,
                Some("PRIORITIZED") => Ttr::Prioritized,
                Some("CUSTOM") => {
                    let seconds = match parameters.get("value") {
                        Some(Value::Number(n)) => n.as_u64(),
                        Some(Value::String(s)) => s.parse().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        invalid(codes::INVALID_FIELD, format!("{}: seconds required for CUSTOM", at("data.parameters.value")))
                    })?;
                    Ttr::Custom { seconds }
                }
                other => {
                    return Err(invalid(
                        codes::INVALID_FIELD,
                        format!("{}: {other:?} is not URGENT, NORMAL, PRIORITIZED or CUSTOM", at("data.parameters.ttrType")),
                    ))
                }
            };
            BotAction::ChangeTtr(ttr)
        }
        "INVOKE_FUNCTION" => BotAction::InvokeFunction {
            lambda_uuid: string("lambdaUuid")
                .ok_or_else(|| invalid(codes::INVALID_FIELD, format!("{}: required", at("data.parameters.lambdaUuid"))))?,
            payload: parameters.get("payload").cloned().unwrap_or(Value::Null),
            fail_on_error: flag("failOnError")?,
        },
        _ => unreachable!("unknown actions returned above"),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(result: Result<BotResponse, VendorError>) -> String {
        match result {
            Err(VendorError::InvalidResponse { code, .. }) => code,
            other => panic!("expected an invalid response, got {other:?}"),
        }
    }

    #[test]
    fn every_item_type_and_action_of_the_contract() {
        let body = json!({"response": [
            {"type": "TEXT", "data": {"message": "Hello", "encodedMetadata": "ZXhhbXBsZQ==", "metadata": [{"type": "ExternalId", "id": "x"}]}},
            {"type": "TEXT", "data": {"message": "for agents", "messageAudience": "AGENTS_AND_MANAGERS"}},
            {"type": "STRUCTURED_CONTENT", "data": {"structuredContent": {"type": "vertical", "elements": []}, "metadata": [{"type": "ExternalId", "id": "CARD"}]}},
            {"type": "DELAY", "data": {"seconds": 4}},
            {"type": "DELAY", "data": {"seconds": 1, "typing": false}},
            {"type": "ACTION", "data": {"name": "TRANSFER", "parameters": {"skillName": "billing", "agentId": "42"}}}
        ], "analytics": {"intents": [{"id": "greeting", "description": "Greeting", "confidenceScore": 0.9}]}});
        let r = parse_response(&body).unwrap();
        assert_eq!(r.items.len(), 5);
        let ResponseItem::Text(first) = &r.items[0] else { panic!() };
        assert_eq!((first.text.as_str(), first.encoded_metadata.as_deref()), ("Hello", Some("ZXhhbXBsZQ==")));
        assert!(matches!(&r.items[1], ResponseItem::Text(t) if t.audience == MessageAudience::AgentsAndManagers));
        assert!(matches!(&r.items[2], ResponseItem::StructuredContent(sc) if sc.metadata.as_ref().unwrap()[0]["id"] == "CARD"));
        assert_eq!(r.items[3], ResponseItem::Delay { seconds: 4, typing: true });
        assert_eq!(r.items[4], ResponseItem::Delay { seconds: 1, typing: false });
        assert_eq!(r.action, Some(BotAction::Transfer { skill: "billing".into(), agent_id: Some("42".into()) }));
        assert_eq!(r.intents[0].confidence, Some(0.9));
    }

    #[test]
    fn actions() {
        let one = |action: Value| parse_response(&json!({"response": [{"type": "ACTION", "data": action}]}));
        assert_eq!(one(json!({"name": "CLOSE_CONVERSATION"})).unwrap().action, Some(BotAction::CloseConversation { without_pcs: false }));
        assert_eq!(
            one(json!({"name": "CLOSE_CONVERSATION", "parameters": {"withoutPcs": true}})).unwrap().action,
            Some(BotAction::CloseConversation { without_pcs: true })
        );
        assert_eq!(
            one(json!({"name": "CHANGE_TTR", "parameters": {"ttrType": "URGENT"}})).unwrap().action,
            Some(BotAction::ChangeTtr(Ttr::Urgent))
        );
        assert_eq!(
            one(json!({"name": "CHANGE_TTR", "parameters": {"ttrType": "CUSTOM", "value": "300"}})).unwrap().action,
            Some(BotAction::ChangeTtr(Ttr::Custom { seconds: 300 }))
        );
        assert!(matches!(
            one(json!({"name": "INVOKE_FUNCTION", "parameters": {"lambdaUuid": "u-1", "payload": {"a": 1}, "failOnError": true}}))
                .unwrap()
                .action,
            Some(BotAction::InvokeFunction { fail_on_error: true, .. })
        ));
        assert_eq!(one(json!({"name": "SING_A_SONG"})).unwrap().action, None, "unknown actions are ignored");
        assert_eq!(one(json!({"name": "SING_A_SONG", "parameters": [1]})).unwrap().action, None, "whatever their parameters");
        assert_eq!(
            one(json!({"name": "TRANSFER", "parameters": {"skillName": "b", "agentId": 42}})).unwrap().action,
            Some(BotAction::Transfer { skill: "b".into(), agent_id: Some("42".into()) })
        );
        assert_eq!(
            one(json!({"name": "TRANSFER", "parameters": {"agentId": "42"}})).unwrap().action,
            Some(BotAction::Transfer { skill: String::new(), agent_id: Some("42".into()) })
        );
        assert_eq!(
            one(json!({"name": "CHANGE_TTR", "parameters": {"ttrType": "CUSTOM", "value": 90}})).unwrap().action,
            Some(BotAction::ChangeTtr(Ttr::Custom { seconds: 90 }))
        );
    }

    #[test]
    fn each_malformed_answer_has_its_code() {
        assert_eq!(code(parse_response(&json!([]))), codes::NOT_AN_OBJECT);
        assert_eq!(code(parse_response(&json!({"analytics": {}}))), codes::MISSING_RESPONSE);
        let two = json!({"response": [
            {"type": "ACTION", "data": {"name": "CLOSE_CONVERSATION"}},
            {"type": "ACTION", "data": {"name": "TRANSFER", "parameters": {"skillName": "x"}}}]});
        assert_eq!(code(parse_response(&two)), codes::MULTIPLE_ACTIONS);
        assert_eq!(code(parse_response(&json!({"response": [{"type": "VIDEO", "data": {}}]}))), codes::UNKNOWN_ITEM_TYPE);
        assert_eq!(code(parse_response(&json!({"response": [{"type": "TEXT", "data": {"message": 5}}]}))), codes::INVALID_FIELD);
        assert_eq!(code(parse_response(&json!({"response": [{"type": "DELAY", "data": {"seconds": "soon"}}]}))), codes::INVALID_FIELD);
        assert_eq!(
            code(parse_response(&json!({"response": [{"type": "ACTION", "data": {"name": "TRANSFER", "parameters": {}}}]}))),
            codes::INVALID_FIELD
        );
        assert_eq!(
            code(parse_response(
                &json!({"response": [{"type": "ACTION", "data": {"name": "CHANGE_TTR", "parameters": {"ttrType": "SOONISH"}}}]})
            )),
            codes::INVALID_FIELD
        );
        let not_base64 = json!({"response": [{"type": "TEXT", "data": {"message": "x", "encodedMetadata": "not base64!"}}]});
        assert_eq!(code(parse_response(&not_base64)), codes::INVALID_ENCODED_METADATA);
        let big = json!({"response": [{"type": "TEXT", "data": {"message": "x", "encodedMetadata": "QUFB".repeat(1400)}}]});
        assert_eq!(code(parse_response(&big)), codes::INVALID_ENCODED_METADATA);
    }

    #[test]
    fn quick_replies_come_as_structured_content_and_become_a_text_with_replies() {
        let body = json!({"response": [{"type": "STRUCTURED_CONTENT", "data": {"structuredContent": {"quickReplies": {"type": "quickReplies", "itemsPerRow": 2, "replies": []}, "message": "Pick one"}}}]});
        let r = parse_response(&body).unwrap();
        assert!(matches!(&r.items[0], ResponseItem::Text(t) if t.text == "Pick one" && t.quick_replies.is_some()));
        let no_message = json!({"response": [{"type": "STRUCTURED_CONTENT", "data": {"structuredContent": {"quickReplies": {}}}}]});
        assert_eq!(code(parse_response(&no_message)), codes::INVALID_FIELD);
        let bad_audience = json!({"response": [{"type": "TEXT", "data": {"message": "note", "messageAudience": ["AGENTS_AND_MANAGERS"]}}]});
        assert_eq!(code(parse_response(&bad_audience)), codes::INVALID_FIELD, "never public by mistake");
    }

    #[test]
    fn an_empty_response_parses_and_the_core_escalates_it() {
        let r = parse_response(&json!({"response": [], "analytics": {"intents": []}})).unwrap();
        assert!(r.is_empty());
    }
}
