//! Parsing a Dialogflow ES `DetectIntentResponse` (v2) into the core's `BotResponse`.
//!
//! Messages come from `queryResult.fulfillmentMessages` in order (the default platform's only):
//! text responses, native quick replies, and custom payloads (see `payloads`); the deprecated
//! `fulfillmentText` is used only when there are no messages. The action is the intent's action
//! string (`TRANSFER`, `CLOSE_CONVERSATION`, `CHANGE_TTR`, `INVOCATION`) with the intent's
//! parameters; Dialogflow's own actions (`input.welcome`, …) are not the bot's and are ignored.
//! An `action` payload counts as an action too, and more than one is an error.

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, Intent, MessageAudience, ResponseItem, TextMessage};
use serde_json::{json, Map, Value};

use crate::vendors::dialogflow::payloads::{parse_action, parse_payload, Codes, Payload};

/// Stable codes for ES answers that break the contract.
pub mod codes {
    pub const NOT_AN_OBJECT: &str = "botvisor.dialogflow-es.response.not-an-object";
    pub const MISSING_QUERY_RESULT: &str = "botvisor.dialogflow-es.response.missing-query-result";
    pub const MULTIPLE_ACTIONS: &str = "botvisor.dialogflow-es.response.multiple-actions";
    pub const UNKNOWN_PAYLOAD: &str = "botvisor.dialogflow-es.response.unknown-payload";
    pub const INVALID_FIELD: &str = "botvisor.dialogflow-es.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.dialogflow-es.response.invalid-encoded-metadata";
}

pub const CODES: Codes = Codes {
    not_an_object: codes::NOT_AN_OBJECT,
    missing_query_result: codes::MISSING_QUERY_RESULT,
    multiple_actions: codes::MULTIPLE_ACTIONS,
    unknown_payload: codes::UNKNOWN_PAYLOAD,
    invalid_field: codes::INVALID_FIELD,
    invalid_encoded_metadata: codes::INVALID_ENCODED_METADATA,
};

/// The native quick replies' layout on the platform.
const QUICK_REPLIES_PER_ROW: usize = 8;

/// Parses the body of `…/sessions/{session}:detectIntent`.
pub fn parse_response(body: &Value) -> Result<BotResponse, VendorError> {
    let codes = &CODES;
    let object = body.as_object().ok_or_else(|| codes.invalid(codes.not_an_object, "the answer must be a JSON object"))?;
    let result = object
        .get("queryResult")
        .ok_or_else(|| codes.invalid(codes.missing_query_result, "the answer has no queryResult"))?
        .as_object()
        .ok_or_else(|| codes.invalid(codes.invalid_field, "queryResult: must be an object"))?;
    let mut response = BotResponse::default();
    let mut actions: Vec<BotAction> = Vec::new();

    let empty = Vec::new();
    let messages = match result.get("fulfillmentMessages") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(codes.invalid(codes.invalid_field, "queryResult.fulfillmentMessages: must be an array")),
    };
    for (index, message) in messages.iter().enumerate() {
        let at = format!("queryResult.fulfillmentMessages[{index}]");
        let message = message.as_object().ok_or_else(|| codes.invalid(codes.invalid_field, format!("{at}: must be an object")))?;
        if !default_platform(message.get("platform")) {
            continue;
        }
        if let Some(text) = message.get("text") {
            for line in texts(text, &format!("{at}.text.text"))? {
                response.items.push(ResponseItem::Text(TextMessage::plain(line)));
            }
        } else if let Some(payload) = message.get("payload") {
            match parse_payload(payload, &format!("{at}.payload"), codes)? {
                Payload::Item(item) => response.items.push(item),
                Payload::Action(Some(action)) => actions.push(action),
                Payload::Action(None) => tracing::warn!(at, "unknown Dialogflow payload action ignored"),
            }
        } else if let Some(replies) = message.get("quickReplies") {
            response.items.push(ResponseItem::Text(quick_replies(replies, &format!("{at}.quickReplies"))?));
        } else {
            let kind = message.keys().find(|k| *k != "platform").map_or("nothing", String::as_str);
            tracing::warn!(at, kind, "Dialogflow ES message kind not supported for messaging, ignored");
        }
    }
    if messages.is_empty() {
        if let Some(text) = result.get("fulfillmentText").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
            response.items.push(ResponseItem::Text(TextMessage::plain(text)));
        }
    }

    let action_name = match result.get("action") {
        None | Some(Value::Null) => "",
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(codes.invalid(codes.invalid_field, "queryResult.action: must be a string")),
    };
    if !action_name.is_empty() {
        let empty = Map::new();
        let parameters = match result.get("parameters") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(parameters)) => parameters,
            Some(_) => return Err(codes.invalid(codes.invalid_field, "queryResult.parameters: must be an object")),
        };
        if let Some(action) = parse_action(action_name, parameters, "queryResult.parameters", codes)? {
            actions.insert(0, action);
        }
    }
    if actions.len() > 1 {
        return Err(codes.invalid(
            codes.multiple_actions,
            format!("the answer holds {} actions (the intent's action and action payloads); one at most", actions.len()),
        ));
    }
    response.action = actions.pop();

    if let Some(intent) = result.get("intent").and_then(Value::as_object) {
        let name = intent.get("name").and_then(Value::as_str).unwrap_or("");
        let id = name.rsplit('/').next().unwrap_or(name);
        if !id.is_empty() {
            response.intents.push(Intent {
                id: id.to_owned(),
                name: intent.get("displayName").and_then(Value::as_str).map(str::to_owned),
                confidence: result.get("intentDetectionConfidence").and_then(Value::as_f64),
            });
        }
    }
    Ok(response)
}

/// Messages for the default platform only (others are for Facebook, Slack, …).
fn default_platform(platform: Option<&Value>) -> bool {
    match platform {
        None | Some(Value::Null) => true,
        Some(Value::String(p)) => p == "PLATFORM_UNSPECIFIED",
        Some(Value::Number(n)) => n.as_u64() == Some(0),
        Some(_) => false,
    }
}

/// A text response's lines (`{"text": ["…", …]}`); blank lines are not sent.
pub fn texts(text: &Value, at: &str) -> Result<Vec<String>, VendorError> {
    let codes = &CODES;
    let lines = match text.get("text") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(lines)) => lines,
        Some(_) => return Err(codes.invalid(codes.invalid_field, format!("{at}: must be an array of strings"))),
    };
    lines
        .iter()
        .filter(|line| !line.as_str().is_some_and(|l| l.trim().is_empty()))
        .map(|line| {
            line.as_str().map(str::to_owned).ok_or_else(|| codes.invalid(codes.invalid_field, format!("{at}: must be an array of strings")))
        })
        .collect()
}

/// Native quick replies (`{"title", "quickReplies": ["…"]}`) as LivePerson quick replies.
fn quick_replies(replies: &Value, at: &str) -> Result<TextMessage, VendorError> {
    let codes = &CODES;
    let title = replies.get("title").and_then(Value::as_str).filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        codes.invalid(codes.invalid_field, format!("{at}.title: quick replies need a title (the message shown with them)"))
    })?;
    let options = replies
        .get("quickReplies")
        .and_then(Value::as_array)
        .ok_or_else(|| codes.invalid(codes.invalid_field, format!("{at}.quickReplies: must be an array of strings")))?;
    let buttons = options
        .iter()
        .map(|option| {
            let option = option.as_str().ok_or_else(|| codes.invalid(codes.invalid_field, format!("{at}.quickReplies: must be an array of strings")))?;
            Ok(json!({"type": "button", "tooltip": option, "title": option, "click": {"actions": [{"type": "publishText", "text": option}]}}))
        })
        .collect::<Result<Vec<_>, VendorError>>()?;
    Ok(TextMessage {
        text: title.to_owned(),
        audience: MessageAudience::All,
        quick_replies: Some(
            json!({"type": "quickReplies", "itemsPerRow": QUICK_REPLIES_PER_ROW.min(buttons.len().max(1)), "replies": buttons}),
        ),
        metadata: None,
        encoded_metadata: None,
    })
}

#[cfg(test)]
mod tests {
    use botvisor_actors::model::Ttr;

    use super::*;

    fn code(result: Result<BotResponse, VendorError>) -> String {
        match result {
            Err(VendorError::InvalidResponse { code, .. }) => code,
            other => panic!("expected an invalid response, got {other:?}"),
        }
    }

    /// An answer as Dialogflow ES gives it, with every message kind the connector documents.
    #[test]
    fn golden_every_message_kind_and_the_intent() {
        let body = json!({
            "responseId": "r-1",
            "queryResult": {
                "queryText": "show me everything",
                "action": "input.everything",
                "parameters": {},
                "allRequiredParamsPresent": true,
                "fulfillmentText": "Hello",
                "fulfillmentMessages": [
                    {"text": {"text": ["Hello", ""]}},
                    {"text": {"text": ["Facebook only"]}, "platform": "FACEBOOK"},
                    {"payload": {"structuredContent": {"type": "vertical", "elements": [{"type": "text", "text": "card"}]}, "metadata": [{"type": "ExternalId", "id": "CARD-1"}]}},
                    {"payload": {"delay": 2, "typing": true}},
                    {"payload": {"messageAudience": "AGENTS_AND_MANAGERS", "text": "a note for agents"}},
                    {"payload": {"textResponse": "tagged", "encodedMetadata": "ZXhhbXBsZQ=="}},
                    {"quickReplies": {"title": "Pick one", "quickReplies": ["Yes", "No"]}},
                    {"card": {"title": "not for messaging"}}
                ],
                "intent": {"name": "projects/demo/agent/intents/0b7c-everything", "displayName": "everything"},
                "intentDetectionConfidence": 0.87,
                "languageCode": "en"
            }
        });
        let r = parse_response(&body).unwrap();
        assert_eq!(r.items.len(), 6, "{r:?}");
        assert_eq!(r.items[0], ResponseItem::Text(TextMessage::plain("Hello")));
        assert!(matches!(&r.items[1], ResponseItem::StructuredContent(sc) if sc.metadata.as_ref().unwrap()[0]["id"] == "CARD-1"));
        assert_eq!(r.items[2], ResponseItem::Delay { seconds: 2, typing: true });
        assert_eq!(r.items[3], ResponseItem::Text(TextMessage::private("a note for agents")));
        assert!(matches!(&r.items[4], ResponseItem::Text(t) if t.encoded_metadata.as_deref() == Some("ZXhhbXBsZQ==")));
        let ResponseItem::Text(replies) = &r.items[5] else { panic!() };
        assert_eq!(replies.text, "Pick one");
        assert_eq!(replies.quick_replies.as_ref().unwrap()["replies"][1]["click"]["actions"][0]["text"], "No");
        assert_eq!(r.action, None, "Dialogflow's own action names are not the bot's");
        assert_eq!(r.intents, [Intent { id: "0b7c-everything".into(), name: Some("everything".into()), confidence: Some(0.87) }]);
    }

    #[test]
    fn golden_actions_from_the_intent() {
        let answer = |action: &str, parameters: Value| {
            parse_response(
                &json!({"queryResult": {"action": action, "parameters": parameters, "fulfillmentMessages": [{"text": {"text": ["ok"]}}]}}),
            )
        };
        assert_eq!(
            answer("TRANSFER", json!({"skill": "billing"})).unwrap().action,
            Some(BotAction::Transfer { skill: "billing".into(), agent_id: None })
        );
        assert_eq!(
            answer("CLOSE_CONVERSATION", json!({"withoutPcs": true})).unwrap().action,
            Some(BotAction::CloseConversation { without_pcs: true })
        );
        assert_eq!(answer("CHANGE_TTR", json!({"ttrType": "PRIORITIZED"})).unwrap().action, Some(BotAction::ChangeTtr(Ttr::Prioritized)));
        assert!(matches!(
            answer("INVOCATION", json!({"lambdaUuid": "u", "payload": "{}"})).unwrap().action,
            Some(BotAction::InvokeFunction { .. })
        ));
        let only_text = parse_response(&json!({"queryResult": {"fulfillmentText": "fallback text"}})).unwrap();
        assert_eq!(only_text, BotResponse::text("fallback text"), "fulfillmentText when there are no messages");
        assert!(parse_response(&json!({"queryResult": {"queryText": "x"}})).unwrap().is_empty(), "the core escalates an empty answer");
    }

    #[test]
    fn golden_malformed_answers_have_their_codes() {
        assert_eq!(code(parse_response(&json!([]))), codes::NOT_AN_OBJECT);
        assert_eq!(code(parse_response(&json!({"responseId": "r"}))), codes::MISSING_QUERY_RESULT);
        assert_eq!(code(parse_response(&json!({"queryResult": {"fulfillmentMessages": {}}}))), codes::INVALID_FIELD);
        assert_eq!(code(parse_response(&json!({"queryResult": {"fulfillmentMessages": [{"text": {"text": [1]}}]}}))), codes::INVALID_FIELD);
        assert_eq!(code(parse_response(&json!({"queryResult": {"action": "TRANSFER", "parameters": {}}}))), codes::INVALID_FIELD);
        assert_eq!(
            code(parse_response(&json!({"queryResult": {"fulfillmentMessages": [{"payload": {"colour": "red"}}]}}))),
            codes::UNKNOWN_PAYLOAD
        );
        let two = json!({"queryResult": {"action": "CLOSE_CONVERSATION", "fulfillmentMessages": [{"payload": {"action": {"name": "TRANSFER", "parameters": {"skill": "x"}}}}]}});
        assert_eq!(code(parse_response(&two)), codes::MULTIPLE_ACTIONS);
        let bad_metadata = json!({"queryResult": {"fulfillmentMessages": [{"payload": {"textResponse": "x", "encodedMetadata": "%%%"}}]}});
        assert_eq!(code(parse_response(&bad_metadata)), codes::INVALID_ENCODED_METADATA);
        let no_title = json!({"queryResult": {"fulfillmentMessages": [{"quickReplies": {"quickReplies": ["a"]}}]}});
        assert_eq!(code(parse_response(&no_title)), codes::INVALID_FIELD);
    }
}
