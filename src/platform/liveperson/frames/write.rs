//! Request bodies for the core's commands (spec §4), as JSON text. The two written for every
//! consumer message, the READ receipt and the answer's PublishEvent, are serialized from typed
//! structs; the rest, rare, from `json!` values.

use botvisor_actors::model::{AnswerKey, Availability, ChatState, MessageAudience, OutboundMessage, RingId, Sequence, Ttr};
use serde::Serialize;
use serde_json::{json, Value};

use super::{Extras, Identity, RawJson};

/// A PublishEvent body (spec §4.3).
#[derive(Serialize)]
struct PublishBody<'a> {
    #[serde(rename = "dialogId")]
    dialog_id: &'a str,
    #[serde(rename = "conversationId", skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    event: PublishedEvent<'a>,
    #[serde(rename = "messageAudience", skip_serializing_if = "Option::is_none")]
    message_audience: Option<&'static str>,
}

/// The event of a PublishEvent, tagged by `type` (the platform's names, all ending in `Event`).
#[derive(Serialize)]
#[serde(tag = "type")]
#[allow(clippy::enum_variant_names)]
enum PublishedEvent<'a> {
    ContentEvent {
        #[serde(rename = "contentType")]
        content_type: &'static str,
        message: &'a str,
        #[serde(rename = "quickReplies", skip_serializing_if = "Option::is_none")]
        quick_replies: Option<&'a Value>,
    },
    RichContentEvent {
        content: &'a Value,
    },
    AcceptStatusEvent {
        status: &'static str,
        #[serde(rename = "sequenceList")]
        sequence_list: &'a [Sequence],
    },
    ChatStateEvent {
        #[serde(rename = "chatState")]
        chat_state: &'static str,
    },
}

/// One item of a message's frame-level `metadata`: the answer key as an ExternalId.
#[derive(Serialize)]
struct ExternalId<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
}

pub fn set_agent_state(me: &Identity, availability: Availability) -> (&'static str, RawJson) {
    let availability = match availability {
        Availability::Online => "ONLINE",
        Availability::Occupied => "OCCUPIED",
        Availability::Away => "AWAY",
    };
    (
        ".ams.routing.SetAgentState",
        RawJson::of(&json!({"availability": availability, "channels": ["MESSAGING"], "agentUserId": me.agent_id()})),
    )
}

pub fn subscribe_ex_conversations(me: &Identity) -> (&'static str, RawJson) {
    (".ams.aam.SubscribeExConversations", RawJson::of(&json!({"agentIds": [me.agent_id()], "convState": ["OPEN"]})))
}

pub fn subscribe_routing_tasks(me: &Identity) -> (&'static str, RawJson) {
    (
        ".ams.routing.SubscribeRoutingTasks",
        RawJson::of(&json!({"channelType": "MESSAGING", "agentId": me.agent_id(), "brandId": me.account})),
    )
}

pub fn update_ring_state(ring: &RingId, accept: bool) -> (&'static str, RawJson) {
    (
        ".ams.routing.UpdateRingState",
        RawJson::of(&json!({"ringId": ring.as_str(), "ringState": if accept { "ACCEPTED" } else { "REJECTED" }})),
    )
}

/// The history from sequence `from` on. `newerThanSequence` reads as exclusive while the
/// consumer-side `fromSeq` is inclusive, and which one the server applies is not documented: ask
/// from one below, so the boundary message comes either way (the caller drops what is below
/// `from`). At 0 it stays 0, as LivePerson's SDK asks (`fromSeq || 0`) for a whole dialog.
pub fn query_messages(dialog: &str, from: Sequence) -> (&'static str, RawJson) {
    (".ams.ms.QueryMessages", RawJson::of(&json!({"dialogId": dialog, "newerThanSequence": from.saturating_sub(1)})))
}

/// The keep-alive request.
pub fn get_clock() -> (&'static str, RawJson) {
    (".GetClock", RawJson::of(&json!({})))
}

/// PublishEvent for a bot message, with the answer key as ExternalId metadata.
pub fn publish(conversation: &str, dialog: &str, message: &OutboundMessage, answer: Option<&AnswerKey>) -> (&'static str, RawJson, Extras) {
    let (body, vendor_metadata, encoded) = match message {
        OutboundMessage::Text(text) => {
            let event = PublishedEvent::ContentEvent {
                content_type: "text/plain",
                message: &text.text,
                quick_replies: text.quick_replies.as_ref(),
            };
            let audience = (text.audience == MessageAudience::AgentsAndManagers).then_some("AGENTS_AND_MANAGERS");
            let body = PublishBody { dialog_id: dialog, conversation_id: Some(conversation), event, message_audience: audience };
            (RawJson::of(&body), &text.metadata, &text.encoded_metadata)
        }
        OutboundMessage::StructuredContent(sc) => {
            let event = PublishedEvent::RichContentEvent { content: &sc.content };
            let body = PublishBody { dialog_id: dialog, conversation_id: Some(conversation), event, message_audience: None };
            (RawJson::of(&body), &sc.metadata, &sc.encoded_metadata)
        }
    };
    let vendor_items = match vendor_metadata {
        Some(Value::Array(items)) if !items.is_empty() => Some(items),
        _ => None,
    };
    // One ExternalId per message (reports pick cards by it): when the vendor set its own, the
    // answer key stays out; history still tells the message answered what the bot had read
    // before it (see the core's history analysis).
    let metadata = match (vendor_items, answer) {
        (None, None) => None,
        (None, Some(key)) => Some(RawJson::of(&[ExternalId { kind: "ExternalId", id: &key.external_id() }])),
        (Some(items), key) => {
            let mut items = items.clone();
            if let Some(key) = key.filter(|_| !items.iter().any(|m| m["type"] == "ExternalId")) {
                items.push(json!({"type": "ExternalId", "id": key.external_id()}));
            }
            Some(RawJson::of(&items))
        }
    };
    (".ams.ms.PublishEvent", body, Extras { metadata, encoded_metadata: encoded.clone() })
}

pub fn chat_state(dialog: &str, state: ChatState) -> (&'static str, RawJson) {
    let chat_state = match state {
        ChatState::Composing => "COMPOSING",
        ChatState::Active => "ACTIVE",
    };
    let body = PublishBody {
        dialog_id: dialog,
        conversation_id: None,
        event: PublishedEvent::ChatStateEvent { chat_state },
        message_audience: None,
    };
    (".ams.ms.PublishEvent", RawJson::of(&body))
}

pub fn read_receipt(dialog: &str, sequences: &[Sequence]) -> (&'static str, RawJson) {
    let event = PublishedEvent::AcceptStatusEvent { status: "READ", sequence_list: sequences };
    (".ams.ms.PublishEvent", RawJson::of(&PublishBody { dialog_id: dialog, conversation_id: None, event, message_audience: None }))
}

/// Transfer to a skill: remove the assigned agent and update the skill in one request.
pub fn transfer_to_skill(me: &Identity, conversation: &str, skill_id: &str) -> (&'static str, RawJson) {
    (
        ".ams.cm.UpdateConversationField",
        RawJson::of(&json!({"conversationId": conversation, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "userId": me.agent_id(), "role": "ASSIGNED_AGENT"},
            {"field": "Skill", "type": "UPDATE", "skill": skill_id},
        ]})),
    )
}

/// Transfer to an agent: the target is SUGGESTED on the skill until it accepts.
pub fn transfer_to_agent(me: &Identity, conversation: &str, agent_id: &str, skill_id: &str) -> (&'static str, RawJson) {
    let target = if agent_id.contains('.') { agent_id.to_owned() } else { format!("{}.{agent_id}", me.account) };
    (
        ".ams.cm.UpdateConversationField",
        RawJson::of(&json!({"conversationId": conversation, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "userId": me.agent_id(), "role": "ASSIGNED_AGENT"},
            {"field": "ParticipantsChange", "type": "SUGGEST", "userId": target, "role": "ASSIGNED_AGENT"},
            {"field": "Skill", "type": "UPDATE", "skill": skill_id},
        ]})),
    )
}

/// The seconds sent with each named TTR type: LivePerson's `TTRChange` schema requires `value`
/// for every type (CUSTOM takes the vendor's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtrSeconds {
    pub urgent: u64,
    pub prioritized: u64,
    pub normal: u64,
}

impl Default for TtrSeconds {
    fn default() -> Self {
        Self { urgent: 300, prioritized: 600, normal: 3600 }
    }
}

pub fn change_ttr(conversation: &str, ttr: Ttr, seconds: &TtrSeconds) -> (&'static str, RawJson) {
    let (kind, value) = match ttr {
        Ttr::Urgent => ("URGENT", seconds.urgent),
        Ttr::Normal => ("NORMAL", seconds.normal),
        Ttr::Prioritized => ("PRIORITIZED", seconds.prioritized),
        Ttr::Custom { seconds } => ("CUSTOM", seconds),
    };
    let field = json!({"field": "TTRField", "ttrType": kind, "value": value});
    (".ams.cm.UpdateConversationField", RawJson::of(&json!({"conversationId": conversation, "conversationField": [field]})))
}

/// Close: with the survey, close the main dialog (its survey dialog follows); without, close
/// the conversation (which skips the survey).
pub fn close(conversation: &str, with_survey: bool) -> (&'static str, RawJson) {
    let field = if with_survey {
        json!({"field": "DialogChange", "type": "UPDATE", "dialog": {"dialogId": conversation, "state": "CLOSE", "closedBy": "AGENT", "closedCause": "Completed"}})
    } else {
        json!({"field": "ConversationStateField", "conversationState": "CLOSE"})
    };
    (".ams.cm.UpdateConversationField", RawJson::of(&json!({"conversationId": conversation, "conversationField": [field]})))
}

pub fn get_user_profile(consumer_id: &str) -> (&'static str, RawJson) {
    (".ams.userprofile.GetUserProfile", RawJson::of(&consumer_id))
}

#[cfg(test)]
mod tests {
    use botvisor_actors::model::{StructuredContentMessage, TextMessage};

    use super::super::request;
    use super::*;

    #[test]
    fn ttr_changes_carry_a_value_for_every_type_as_the_schema_requires() {
        let seconds = TtrSeconds::default();
        for (ttr, kind, value) in [
            (Ttr::Urgent, "URGENT", 300),
            (Ttr::Prioritized, "PRIORITIZED", 600),
            (Ttr::Normal, "NORMAL", 3600),
            (Ttr::Custom { seconds: 42 }, "CUSTOM", 42),
        ] {
            let (_, body) = change_ttr("c", ttr, &seconds);
            assert_eq!(body.to_value()["conversationField"], json!([{"field": "TTRField", "ttrType": kind, "value": value}]));
        }
    }

    #[test]
    fn the_history_query_includes_the_boundary_message_either_way_it_is_read() {
        assert_eq!(query_messages("d", 7).1.to_value()["newerThanSequence"], 6);
        assert_eq!(query_messages("d", 0).1.to_value()["newerThanSequence"], 0);
    }

    #[test]
    fn a_vendor_external_id_is_the_only_one() {
        let key = AnswerKey { conversation_id: "c".into(), answers: Some(3), item: 0 };
        let card = OutboundMessage::StructuredContent(StructuredContentMessage {
            content: json!({"type": "vertical", "elements": []}),
            metadata: Some(json!([{"type": "ExternalId", "id": "CARD"}])),
            encoded_metadata: None,
        });
        let (_, body, extras) = publish("c", "d", &card, Some(&key));
        assert_eq!(extras.metadata.unwrap().to_value(), json!([{"type": "ExternalId", "id": "CARD"}]));
        assert_eq!(
            body.to_value(),
            json!({"dialogId": "d", "conversationId": "c", "event": {"type": "RichContentEvent", "content": {"type": "vertical", "elements": []}}})
        );
        let other = OutboundMessage::StructuredContent(StructuredContentMessage {
            content: json!({}),
            metadata: Some(json!([{"type": "BotResponse", "intents": []}])),
            encoded_metadata: None,
        });
        let (_, _, extras) = publish("c", "d", &other, Some(&key));
        assert_eq!(
            extras.metadata.unwrap().to_value(),
            json!([{"type": "BotResponse", "intents": []}, {"type": "ExternalId", "id": "botvisor:c:3:0"}]),
            "the vendor's other metadata is kept, the answer key after it"
        );
        let (_, _, extras) = publish("c", "d", &OutboundMessage::Text(TextMessage::private("x")), None);
        assert_eq!(extras.metadata, None);
    }

    #[test]
    fn publish_carries_the_answer_key_audience_and_quick_replies() {
        let text = TextMessage { quick_replies: Some(json!({"type": "quickReplies"})), ..TextMessage::private("note \"1\"") };
        let key = AnswerKey { conversation_id: "c".into(), answers: Some(3), item: 1 };
        let text = TextMessage { encoded_metadata: Some("ZW5j".into()), ..text };
        let (kind, body, extras) = publish("c", "c", &OutboundMessage::Text(text), Some(&key));
        assert_eq!(kind, ".ams.ms.PublishEvent");
        assert_eq!(
            body.to_value(),
            json!({"dialogId": "c", "conversationId": "c", "messageAudience": "AGENTS_AND_MANAGERS",
                "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "note \"1\"", "quickReplies": {"type": "quickReplies"}}})
        );
        assert_eq!(extras.metadata.clone().unwrap().to_value(), json!([{"type": "ExternalId", "id": "botvisor:c:3:1"}]));
        let frame: Value = serde_json::from_str(&request("r1", kind, &body, &extras)).unwrap();
        assert_eq!(frame["encodedMetadata"], "ZW5j", "encodedMetadata is a frame-level field");
        assert!(frame["body"].get("encodedMetadata").is_none());
    }

    #[test]
    fn receipts_and_chat_states_are_the_documented_events() {
        assert_eq!(
            read_receipt("d", &[4, 5]).1.to_value(),
            json!({"dialogId": "d", "event": {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [4, 5]}})
        );
        assert_eq!(
            chat_state("d", ChatState::Composing).1.to_value(),
            json!({"dialogId": "d", "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"}})
        );
        assert_eq!(get_user_profile("p\"1").1.to_value(), json!("p\"1"));
    }
}
