//! Parsing a Dialogflow CX `DetectIntentResponse` (v3) into the core's `BotResponse`.
//!
//! Messages come from `queryResult.responseMessages` in order: text responses and custom
//! payloads (see `payloads`; an `action` payload is the bot's action). Two CX messages are
//! actions of their own: `liveAgentHandoff` transfers the conversation (to `metadata.skill`, and
//! `metadata.agentId` when given; to the bot's escalation skill otherwise) and `endInteraction`
//! closes it. More than one action in an answer is an error. Audio and telephony messages are
//! not for messaging and are ignored.

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, Intent, ResponseItem, TextMessage};
use serde_json::Value;

use crate::vendors::dialogflow::es_response::texts;
use crate::vendors::dialogflow::payloads::{Codes, Payload};

/// Stable codes for CX answers that break the contract.
pub mod codes {
    pub const NOT_AN_OBJECT: &str = "botvisor.dialogflow-cx.response.not-an-object";
    pub const MISSING_QUERY_RESULT: &str = "botvisor.dialogflow-cx.response.missing-query-result";
    /// LivePerson's `…dialogflowcx.parse-message.multiple-actions`.
    pub const MULTIPLE_ACTIONS: &str = "botvisor.dialogflow-cx.response.multiple-actions";
    pub const UNKNOWN_PAYLOAD: &str = "botvisor.dialogflow-cx.response.unknown-payload";
    pub const INVALID_FIELD: &str = "botvisor.dialogflow-cx.response.invalid-field";
    pub const INVALID_ENCODED_METADATA: &str = "botvisor.dialogflow-cx.response.invalid-encoded-metadata";
}

pub const CODES: Codes = Codes {
    not_an_object: codes::NOT_AN_OBJECT,
    missing_query_result: codes::MISSING_QUERY_RESULT,
    multiple_actions: codes::MULTIPLE_ACTIONS,
    unknown_payload: codes::UNKNOWN_PAYLOAD,
    invalid_field: codes::INVALID_FIELD,
    invalid_encoded_metadata: codes::INVALID_ENCODED_METADATA,
};

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
    let messages = match result.get("responseMessages") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(codes.invalid(codes.invalid_field, "queryResult.responseMessages: must be an array")),
    };
    for (index, message) in messages.iter().enumerate() {
        let at = format!("queryResult.responseMessages[{index}]");
        let message = message.as_object().ok_or_else(|| codes.invalid(codes.invalid_field, format!("{at}: must be an object")))?;
        if let Some(text) = message.get("text") {
            for line in texts(text, &format!("{at}.text.text"))
                .map_err(|_| codes.invalid(codes.invalid_field, format!("{at}.text.text: must be an array of strings")))?
            {
                response.items.push(ResponseItem::Text(TextMessage::plain(line)));
            }
        } else if let Some(payload) = message.get("payload") {
            match crate::vendors::dialogflow::payloads::parse_payload(payload, &format!("{at}.payload"), codes)? {
                Payload::Item(item) => response.items.push(item),
                Payload::Action(Some(action)) => actions.push(action),
                Payload::Action(None) => tracing::warn!(at, "unknown Dialogflow payload action ignored"),
            }
        } else if let Some(handoff) = message.get("liveAgentHandoff") {
            actions.push(handoff_action(handoff, &format!("{at}.liveAgentHandoff"))?);
        } else if message.contains_key("endInteraction") {
            actions.push(BotAction::CloseConversation { without_pcs: false });
        } else {
            let kind = message.keys().find(|k| !matches!(k.as_str(), "channel" | "responseType")).map_or("nothing", String::as_str);
            tracing::debug!(at, kind, "Dialogflow CX message kind not for messaging, ignored");
        }
    }
    if actions.len() > 1 {
        return Err(codes.invalid(
            codes.multiple_actions,
            format!("the answer holds {} actions (action payloads, liveAgentHandoff, endInteraction); one at most", actions.len()),
        ));
    }
    response.action = actions.pop();

    // The intent matched: `match.intent` (with `match.confidence`), or the older `intent`.
    let matched = result.get("match").and_then(|m| m.get("intent")).or_else(|| result.get("intent"));
    if let Some(intent) = matched.and_then(Value::as_object) {
        let name = intent.get("name").and_then(Value::as_str).unwrap_or("");
        let id = name.rsplit('/').next().unwrap_or(name);
        if !id.is_empty() {
            let confidence = result
                .get("match")
                .and_then(|m| m.get("confidence"))
                .and_then(Value::as_f64)
                .or_else(|| result.get("intentDetectionConfidence").and_then(Value::as_f64));
            response.intents.push(Intent {
                id: id.to_owned(),
                name: intent.get("displayName").and_then(Value::as_str).map(str::to_owned),
                confidence,
            });
        }
    }
    Ok(response)
}

/// `liveAgentHandoff`: a transfer to `metadata.skill` (and `metadata.agentId`), or to the
/// escalation skill when the metadata names none.
fn handoff_action(handoff: &Value, at: &str) -> Result<BotAction, VendorError> {
    let codes = &CODES;
    let metadata = match handoff.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(metadata)) => Some(metadata),
        Some(_) => return Err(codes.invalid(codes.invalid_field, format!("{at}.metadata: must be an object"))),
    };
    let text =
        |field: &str| metadata.and_then(|m| m.get(field)).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned);
    Ok(BotAction::Transfer { skill: text("skill").unwrap_or_default(), agent_id: text("agentId") })
}

#[cfg(test)]
mod tests {
    use botvisor_actors::model::Ttr;
    use serde_json::json;

    use super::*;

    fn code(result: Result<BotResponse, VendorError>) -> String {
        match result {
            Err(VendorError::InvalidResponse { code, .. }) => code,
            other => panic!("expected an invalid response, got {other:?}"),
        }
    }

    /// An answer as Dialogflow CX gives it: texts, every payload, an action payload, the match.
    #[test]
    fn golden_every_message_kind_and_the_match() {
        let body = json!({
            "responseId": "r-1",
            "queryResult": {
                "text": "everything",
                "languageCode": "en",
                "responseMessages": [
                    {"text": {"text": ["Hello"]}},
                    {"payload": {"structuredContent": {"type": "vertical", "elements": []}, "metadata": [{"type": "ExternalId", "id": "C"}]}},
                    {"payload": {"delay": 1, "typing": false}},
                    {"payload": {"messageAudience": "AGENTS_AND_MANAGERS", "text": "note"}},
                    {"payload": {"textResponse": "tagged", "encodedMetadata": "ZXhhbXBsZQ=="}},
                    {"outputAudioText": {"text": "for phones"}},
                    {"payload": {"action": {"name": "CHANGE_TTR", "parameters": {"ttrType": "URGENT"}}}}
                ],
                "currentPage": {"name": "projects/p/locations/global/agents/a/flows/00000000-0000-0000-0000-000000000000/pages/START_PAGE", "displayName": "Start Page"},
                "match": {"intent": {"name": "projects/p/locations/global/agents/a/intents/i-42", "displayName": "everything"}, "matchType": "INTENT", "confidence": 0.93}
            }
        });
        let r = parse_response(&body).unwrap();
        assert_eq!(r.items.len(), 5, "{r:?}");
        assert_eq!(r.items[0], ResponseItem::Text(TextMessage::plain("Hello")));
        assert_eq!(r.items[2], ResponseItem::Delay { seconds: 1, typing: false });
        assert_eq!(r.items[3], ResponseItem::Text(TextMessage::private("note")));
        assert_eq!(r.action, Some(BotAction::ChangeTtr(Ttr::Urgent)));
        assert_eq!(r.intents, [Intent { id: "i-42".into(), name: Some("everything".into()), confidence: Some(0.93) }]);
    }

    #[test]
    fn golden_handoff_and_end_interaction() {
        let answer = |message: Value| parse_response(&json!({"queryResult": {"responseMessages": [{"text": {"text": ["bye"]}}, message]}}));
        assert_eq!(
            answer(json!({"liveAgentHandoff": {"metadata": {"skill": "billing", "agentId": "7"}}})).unwrap().action,
            Some(BotAction::Transfer { skill: "billing".into(), agent_id: Some("7".into()) })
        );
        assert_eq!(
            answer(json!({"liveAgentHandoff": {}})).unwrap().action,
            Some(BotAction::Transfer { skill: String::new(), agent_id: None }),
            "no skill: the escalation skill"
        );
        assert_eq!(answer(json!({"endInteraction": {}})).unwrap().action, Some(BotAction::CloseConversation { without_pcs: false }));
        assert_eq!(
            answer(json!({"payload": {"action": {"name": "CLOSE_CONVERSATION", "parameters": {"withoutPcs": true}}}})).unwrap().action,
            Some(BotAction::CloseConversation { without_pcs: true })
        );
    }

    #[test]
    fn golden_malformed_answers_have_their_codes() {
        assert_eq!(code(parse_response(&json!("x"))), codes::NOT_AN_OBJECT);
        assert_eq!(code(parse_response(&json!({}))), codes::MISSING_QUERY_RESULT);
        assert_eq!(code(parse_response(&json!({"queryResult": {"responseMessages": [{"text": {"text": "flat"}}]}}))), codes::INVALID_FIELD);
        let two = json!({"queryResult": {"responseMessages": [{"endInteraction": {}}, {"liveAgentHandoff": {}}]}});
        assert_eq!(code(parse_response(&two)), codes::MULTIPLE_ACTIONS);
        let two_payloads = json!({"queryResult": {"responseMessages": [
            {"payload": {"action": {"name": "CLOSE_CONVERSATION"}}},
            {"payload": {"action": {"name": "CHANGE_TTR", "parameters": {"ttrType": "URGENT"}}}}]}});
        assert_eq!(code(parse_response(&two_payloads)), codes::MULTIPLE_ACTIONS);
        assert_eq!(code(parse_response(&json!({"queryResult": {"responseMessages": [{"payload": {"foo": 1}}]}}))), codes::UNKNOWN_PAYLOAD);
        assert_eq!(
            code(parse_response(&json!({"queryResult": {"responseMessages": [{"liveAgentHandoff": {"metadata": "x"}}]}}))),
            codes::INVALID_FIELD
        );
        assert_eq!(
            code(parse_response(&json!({"queryResult": {"responseMessages": [{"payload": {"delay": 1, "typing": "maybe"}}]}}))),
            codes::INVALID_FIELD
        );
    }
}
