//! Notifications and history read into the core's `PlatformEvent`s and `DialogMessage`s. Dialog
//! events (every consumer message, receipt and echo) are read into typed structs that borrow from
//! the frame's text; conversation and routing changes, rare, through `Value`.

use std::sync::Arc;

use botvisor_actors::model::{
    AnswerKey, ConversationId, ConversationInfo, DialogId, DialogMessage, JsonText, MessageContent, Originator, Participant,
    ParticipantRole, ParticipantState, RingId,
};
use botvisor_actors::ports::PlatformEvent;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::known::KnownIds;
use super::lenient::{Object, Str, I64, U64};
use super::Identity;

/// A dialog event as `OnlineEventDistribution` and `QueryMessages` carry it (spec §5.3).
#[derive(Deserialize, Default)]
#[serde(default)]
struct DialogEventFields<'a> {
    #[serde(rename = "dialogId", borrow)]
    dialog_id: Str<'a>,
    #[serde(rename = "conversationId", borrow)]
    conversation_id: Str<'a>,
    sequence: U64,
    #[serde(rename = "originatorId", borrow)]
    originator_id: Str<'a>,
    #[serde(rename = "originatorPId", borrow)]
    originator_pid: Str<'a>,
    #[serde(rename = "originatorMetadata", borrow)]
    originator_metadata: Object<OriginatorMetadata<'a>>,
    #[serde(rename = "serverTimestamp")]
    server_timestamp: I64,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OriginatorMetadata<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    role: Str<'a>,
}

/// The fields of a dialog event's `event` botvisor reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct EventFields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(rename = "contentType", borrow)]
    content_type: Str<'a>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(borrow)]
    status: Str<'a>,
    #[serde(rename = "sequenceList", borrow)]
    sequence_list: Option<&'a RawValue>,
    #[serde(rename = "chatState", borrow)]
    chat_state: Str<'a>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FileFields<'a> {
    #[serde(rename = "relativePath", borrow)]
    relative_path: Str<'a>,
    #[serde(rename = "fileType", borrow)]
    file_type: Str<'a>,
    #[serde(borrow)]
    caption: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MetadataItem<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    id: Str<'a>,
}

fn fields<'a, T: Deserialize<'a> + Default>(raw: &'a RawValue) -> Result<T, String> {
    match serde_json::from_str::<Object<T>>(raw.get()) {
        Ok(Object(Some(fields))) => Ok(fields),
        Ok(Object(None)) => Err("not an object".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

fn value(raw: Option<&RawValue>) -> Value {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok()).unwrap_or(Value::Null)
}

/// The events of a QueryMessages response body (an array).
pub fn history_events(body: &RawValue) -> Result<Vec<&RawValue>, String> {
    serde_json::from_str(body.get()).map_err(|_| "QueryMessages answered without an array".to_owned())
}

/// A dialog event (live or from history) as the core sees it. `consumer` is the conversation's
/// consumer PID when known (an event may name its originator only by PID).
pub fn dialog_message(me: &Identity, raw: &RawValue, consumer: Option<&str>) -> Result<DialogMessage, String> {
    let fields: DialogEventFields = fields(raw)?;
    let event = fields.event.ok_or("event missing")?;
    message_of(me, &fields, (event, self::fields(event)), raw, consumer)
}

/// An OnlineEventDistribution body: a consumer's typing, or a dialog message.
fn dialog_event(me: &Identity, body: &RawValue, known: &KnownIds) -> Result<Option<PlatformEvent>, String> {
    let fields: DialogEventFields = fields(body)?;
    let conversation = fields.conversation_id.as_deref().or(fields.dialog_id.as_deref()).ok_or("dialogId missing")?;
    let event = fields.event.ok_or("event missing")?;
    let event_fields: Result<EventFields, String> = self::fields(event);
    if let Some(chat) = event_fields.as_ref().ok().filter(|e| e.kind.as_deref() == Some("ChatStateEvent")) {
        let role = fields.originator_metadata.0.as_ref().and_then(|m| m.role.as_deref());
        return Ok((role == Some("CONSUMER")).then(|| PlatformEvent::ConsumerTyping {
            conversation_id: conversation.into(),
            typing: chat.chat_state.as_deref() == Some("COMPOSING"),
        }));
    }
    // Only needed when the event does not say it is the consumer's (looked up once per message).
    let says_consumer = fields.originator_metadata.0.as_ref().and_then(|m| m.role.as_deref()) == Some("CONSUMER");
    let consumer = if says_consumer { None } else { known.consumer_of(conversation) };
    let message = message_of(me, &fields, (event, event_fields), body, consumer.as_deref())?;
    Ok(Some(PlatformEvent::Message { conversation_id: conversation.into(), message }))
}

fn message_of(
    me: &Identity,
    fields: &DialogEventFields,
    event: (&RawValue, Result<EventFields, String>),
    raw: &RawValue,
    consumer: Option<&str>,
) -> Result<DialogMessage, String> {
    let dialog = fields.dialog_id.as_deref().ok_or("dialogId missing")?;
    let sequence = fields.sequence.0.ok_or("sequence missing")?;
    let metadata = fields.originator_metadata.0.as_ref();
    let pid = fields.originator_pid.as_deref().or_else(|| metadata.and_then(|m| m.id.as_deref())).unwrap_or("");
    let role = metadata.and_then(|m| m.role.as_deref()).unwrap_or("");
    let originator_id = fields.originator_id.as_deref();
    let originator = if (!pid.is_empty() && pid == me.pid) || originator_id.is_some_and(|id| me.is_agent_id(id)) {
        Originator::Me
    } else if role == "CONSUMER" || (!pid.is_empty() && consumer == Some(pid)) {
        Originator::Consumer
    } else if role.is_empty() {
        Originator::System
    } else {
        Originator::OtherAgent(originator_id.unwrap_or(pid).to_owned())
    };
    let content = content_of(event);
    let answer = fields.metadata.and_then(answer_key);
    // Only a consumer's event travels to a vendor (`lpEvent`); the others (the bot's own
    // echoes, receipts, other agents) are not kept.
    let raw = if originator == Originator::Consumer { JsonText::from_json(raw.get()) } else { JsonText::default() };
    Ok(DialogMessage {
        dialog_id: dialog.into(),
        sequence,
        originator,
        content,
        server_timestamp: fields.server_timestamp.0.unwrap_or(0),
        answer,
        raw,
    })
}

fn content_of((event, fields): (&RawValue, Result<EventFields, String>)) -> MessageContent {
    let Ok(fields) = fields else { return MessageContent::Other(value(Some(event))) };
    match fields.kind.as_deref() {
        Some("ContentEvent") => match (fields.content_type.as_deref(), fields.message) {
            (Some("hosted/file"), Some(file)) => {
                let file: FileFields = self::fields(file).unwrap_or_default();
                MessageContent::File {
                    relative_path: file.relative_path.as_deref().unwrap_or("").to_owned(),
                    file_type: file.file_type.as_deref().unwrap_or("").to_owned(),
                    caption: file.caption.as_deref().map(str::to_owned),
                }
            }
            (_, Some(message)) => match serde_json::from_str::<String>(message.get()) {
                Ok(text) => MessageContent::Text(text),
                Err(_) => MessageContent::Other(value(Some(event))),
            },
            _ => MessageContent::Other(value(Some(event))),
        },
        Some("RichContentEvent") => MessageContent::RichContent(value(fields.content)),
        Some("AcceptStatusEvent") => MessageContent::AcceptStatus {
            status: fields.status.as_deref().unwrap_or("").to_owned(),
            sequences: fields
                .sequence_list
                .and_then(|list| serde_json::from_str::<Vec<U64>>(list.get()).ok())
                .map(|list| list.into_iter().filter_map(|s| s.0).collect())
                .unwrap_or_default(),
        },
        _ => MessageContent::Other(value(Some(event))),
    }
}

/// The answer key of one of this bot's messages: the first ExternalId item that is one.
fn answer_key(metadata: &RawValue) -> Option<AnswerKey> {
    let items: Vec<Object<MetadataItem>> = serde_json::from_str(metadata.get()).ok()?;
    items
        .iter()
        .filter_map(|item| item.0.as_ref())
        .filter(|item| item.kind.as_deref() == Some("ExternalId"))
        .find_map(|item| item.id.as_deref().and_then(AnswerKey::parse))
}

/// The conversation of an ExConversation change, with every participant and its state.
pub fn conversation_info(result: &Value, known: &KnownIds) -> Result<ConversationInfo, String> {
    let id = result.get("convId").and_then(Value::as_str).ok_or("convId missing")?;
    let details = result.get("conversationDetails").ok_or("conversationDetails missing")?;
    let role = |name: &str| match name {
        "CONSUMER" => Some(ParticipantRole::Consumer),
        "ASSIGNED_AGENT" => Some(ParticipantRole::AssignedAgent),
        "AGENT" => Some(ParticipantRole::Agent),
        "MANAGER" => Some(ParticipantRole::Manager),
        "READER" => Some(ParticipantRole::Reader),
        "CONTROLLER" => Some(ParticipantRole::Controller),
        _ => None,
    };
    let main = details
        .get("dialogs")
        .and_then(Value::as_array)
        .and_then(|dialogs| dialogs.iter().find(|d| d["dialogType"] == "MAIN").or(dialogs.first()));
    // Ids are shared where they repeat: the consumer's with its participant entry and with what
    // the session knows, an agent's and the skill's across conversations.
    let consumer: Arc<str> = match details.pointer("/participants/CONSUMER/0").and_then(Value::as_str) {
        Some(pid) => known.consumer(id, pid),
        None => Arc::from(""),
    };
    let participant_id = |pid: &str, role: ParticipantRole| match role {
        ParticipantRole::Consumer if *consumer == *pid => consumer.clone(),
        ParticipantRole::Consumer => Arc::from(pid),
        _ => known.recurring(pid),
    };
    let mut participants = Vec::new();
    if let Some(list) = main.and_then(|d| d.get("participantsDetails")).and_then(Value::as_array) {
        for p in list {
            if let (Some(pid), Some(role)) = (p["id"].as_str(), p["role"].as_str().and_then(role)) {
                let state = if p["state"] == "SUGGESTED" { ParticipantState::Suggested } else { ParticipantState::Active };
                participants.push(Participant { id: participant_id(pid, role), role, state });
            }
        }
    } else if let Some(map) = details.get("participants").and_then(Value::as_object) {
        for (name, ids) in map {
            for pid in ids.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Some(role) = role(name) {
                    participants.push(Participant { id: participant_id(pid, role), role, state: ParticipantState::Active });
                }
            }
        }
    }
    participants.shrink_to_fit();
    let conversation_id = ConversationId::from(id);
    let main_dialog_id = match main.and_then(|d| d["dialogId"].as_str()) {
        Some(dialog) if dialog != id => DialogId::from(dialog),
        _ => DialogId::new(conversation_id.shared()),
    };
    Ok(ConversationInfo {
        conversation_id,
        main_dialog_id,
        skill_id: match details.get("skillId") {
            Some(Value::String(s)) => known.recurring(s),
            Some(other) => known.recurring(&other.to_string()),
            None => Arc::from(""),
        },
        consumer_id: consumer,
        participants,
        context: JsonText::new(details.get("context").unwrap_or(&Value::Null)),
    })
}

/// The core's events for one notification of type `kind`, and the problems of the parts that
/// could not be read (each change of a frame is read on its own). Unknown types give none (the
/// caller counts and logs them). `known` gives a conversation's consumer PID when known, and the
/// ids the session already holds.
pub fn notification_events(
    me: &Identity,
    kind: &str,
    body: Option<&RawValue>,
    known: &KnownIds,
) -> Result<(Vec<PlatformEvent>, Vec<String>), String> {
    let body = body.ok_or("body missing")?;
    let mut events = Vec::new();
    let mut problems = Vec::new();
    match kind {
        ".ams.ms.OnlineEventDistribution" => events.extend(dialog_event(me, body, known)?),
        ".ams.routing.RoutingTaskNotification" => {
            let body = value(Some(body));
            for change in body.get("changes").and_then(Value::as_array).ok_or("changes missing")? {
                let result = &change["result"];
                let conversation = result["conversationId"].as_str().filter(|c| !c.is_empty());
                for ring in result["ringsDetails"].as_array().into_iter().flatten() {
                    let Some(ring_id) = ring["ringId"].as_str() else {
                        problems.push("a ring without a ringId".to_owned());
                        continue;
                    };
                    match (change["type"].as_str(), ring["ringState"].as_str(), conversation) {
                        // A ring for no conversation cannot be accepted: a bad frame, not a ring.
                        (Some("UPSERT"), Some("WAITING"), None) => problems.push(format!("ring {ring_id} names no conversationId")),
                        (Some("UPSERT"), Some("WAITING"), Some(conversation)) => events.push(PlatformEvent::RingOffered {
                            ring: RingId::new(ring_id),
                            conversation_id: ConversationId::new(conversation),
                            skill_id: result["skillId"].as_str().unwrap_or("").to_owned(),
                        }),
                        (_, Some("ACCEPTED" | "AUTO_ACCEPT"), _) => {}
                        _ => events.push(PlatformEvent::RingWithdrawn { ring: RingId::new(ring_id) }),
                    }
                }
            }
        }
        ".ams.aam.ExConversationChangeNotification" => {
            let body = value(Some(body));
            for change in body.get("changes").and_then(Value::as_array).ok_or("changes missing")? {
                let info = match conversation_info(&change["result"], known) {
                    Ok(info) => info,
                    Err(problem) => {
                        problems.push(problem);
                        continue;
                    }
                };
                match change["type"].as_str() {
                    Some("DELETE") => events.push(PlatformEvent::ConversationRemoved { conversation_id: info.conversation_id }),
                    _ if change["result"]["conversationDetails"]["state"] == "CLOSE" => {
                        events.push(PlatformEvent::ConversationRemoved { conversation_id: info.conversation_id })
                    }
                    _ => events.push(PlatformEvent::ConversationUpdated(info)),
                }
            }
        }
        _ => {}
    }
    Ok((events, problems))
}

/// The core's engagement attributes (`{authenticatedSdes, unauthenticatedSdes}`) from a
/// GetUserProfile body (spec §4.7).
pub fn engagement_attributes(profile: &Value) -> Value {
    let mut authenticated: Vec<Value> = Vec::new();
    for list in [profile.pointer("/authenticatedData/lp_sdes"), profile.pointer("/claims/lp_sdes")].into_iter().flatten() {
        authenticated.extend(list.as_array().into_iter().flatten().cloned());
    }
    let mut personal = serde_json::Map::new();
    for (key, field) in [("firstname", "firstName"), ("lastname", "lastName")] {
        if let Some(value) = profile.get(field).filter(|v| !v.is_null()) {
            personal.insert(key.into(), value.clone());
        }
    }
    let private = profile.get("privateData").cloned().unwrap_or(Value::Null);
    json!({
        "authenticatedSdes": {"SDEs": authenticated},
        "unauthenticatedSdes": {"personal": personal, "privateData": private},
    })
}

#[cfg(test)]
mod tests {
    use botvisor_actors::model::MessageContent;

    use super::*;

    fn me() -> Identity {
        Identity { account: "acc".into(), user_id: "7".into(), pid: "pid-7".into() }
    }

    fn raw(value: &Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(value).unwrap()
    }

    fn message(value: Value, consumer: Option<&str>) -> Result<DialogMessage, String> {
        dialog_message(&me(), &raw(&value), consumer)
    }

    fn events(kind: &str, body: Value) -> (Vec<PlatformEvent>, Vec<String>) {
        notification_events(&me(), kind, Some(&raw(&body)), &KnownIds::default()).unwrap()
    }

    #[test]
    fn own_messages_are_recognised_by_pid_and_keys_read_back() {
        let m = message(json!({"dialogId": "c", "sequence": 4, "originatorPId": "pid-7", "originatorMetadata": {"id": "pid-7", "role": "ASSIGNED_AGENT"},
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hi"}, "metadata": [{"type": "BotResponse"}, {"type": "ExternalId", "id": "botvisor:c:3:0"}]}), None).unwrap();
        assert_eq!(m.originator, Originator::Me);
        assert_eq!(m.answer.unwrap().answers, Some(3));
        assert_eq!(m.raw, JsonText::default(), "the bot's own events are not kept");
        let consumer = json!({"dialogId": "c", "sequence": 5, "originatorPId": "x", "originatorMetadata": {"role": "CONSUMER"}, "event": {"type": "RichContentEvent", "content": {"type": "map"}}});
        let m = message(consumer.clone(), None).unwrap();
        assert_eq!(m.originator, Originator::Consumer);
        assert_eq!(m.content, MessageContent::RichContent(json!({"type": "map"})));
        assert_eq!(m.raw.to_value(), consumer, "a consumer's event is kept whole for the vendor");
        assert!(message(json!({"dialogId": "c"}), None).unwrap_err().contains("event"));
        assert!(message(json!({"dialogId": "c", "event": {}}), None).unwrap_err().contains("sequence"));
        assert!(message(json!(["c"]), None).is_err());
        // Named by PID only: recognised through the conversation's consumer.
        let bare = json!({"dialogId": "c", "sequence": 6, "originatorPId": "cons", "originatorMetadata": null, "event": {"type": "ContentEvent", "message": "hi"}});
        assert_eq!(message(bare, Some("cons")).unwrap().originator, Originator::Consumer);
        let other = json!({"dialogId": "c", "sequence": 7, "originatorId": "acc.9", "originatorPId": "p9", "originatorMetadata": {"role": "AGENT"}, "event": {"type": "ContentEvent", "message": "hi"}});
        assert_eq!(message(other, Some("cons")).unwrap().originator, Originator::OtherAgent("acc.9".into()));
    }

    #[test]
    fn every_content_kind_is_read_and_odd_fields_do_not_lose_the_message() {
        let content = |event: Value| {
            message(json!({"dialogId": "c", "sequence": 1, "originatorMetadata": {"role": "CONSUMER"}, "event": event}), None)
                .unwrap()
                .content
        };
        assert_eq!(
            content(json!({"type": "ContentEvent", "contentType": "text/plain", "message": "é\n\"x\""})),
            MessageContent::Text("é\n\"x\"".into())
        );
        assert_eq!(
            content(
                json!({"type": "ContentEvent", "contentType": "hosted/file", "message": {"relativePath": "/a.png", "fileType": "PNG", "caption": "c"}})
            ),
            MessageContent::File { relative_path: "/a.png".into(), file_type: "PNG".into(), caption: Some("c".into()) }
        );
        assert_eq!(
            content(json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [1, "x", 3]})),
            MessageContent::AcceptStatus { status: "READ".into(), sequences: vec![1, 3] }
        );
        assert_eq!(
            content(json!({"type": "ContentEvent", "message": 7})),
            MessageContent::Other(json!({"type": "ContentEvent", "message": 7}))
        );
        assert_eq!(content(json!({"type": "Mystery", "x": [1]})), MessageContent::Other(json!({"type": "Mystery", "x": [1]})));
        assert_eq!(content(json!([1])), MessageContent::Other(json!([1])));
        // A field of an odd type is read as absent, and the message still comes.
        let m = message(
            json!({"dialogId": "c", "sequence": 2, "serverTimestamp": "soon", "originatorId": 5, "metadata": {"type": "ExternalId"},
            "originatorMetadata": {"role": "CONSUMER", "id": ["x"]}, "event": {"type": "ContentEvent", "message": "hi"}}),
            None,
        )
        .unwrap();
        assert_eq!((m.content, m.server_timestamp, m.answer), (MessageContent::Text("hi".into()), 0, None));
    }

    #[test]
    fn live_events_give_messages_and_consumer_typing() {
        let body = |role: &str, event: Value| json!({"sequence": 3, "dialogId": "c", "conversationId": "c", "originatorMetadata": {"role": role}, "event": event});
        let (typing, _) =
            events(".ams.ms.OnlineEventDistribution", body("CONSUMER", json!({"type": "ChatStateEvent", "chatState": "COMPOSING"})));
        assert!(matches!(typing[..], [PlatformEvent::ConsumerTyping { typing: true, .. }]));
        let (agent_typing, _) =
            events(".ams.ms.OnlineEventDistribution", body("ASSIGNED_AGENT", json!({"type": "ChatStateEvent", "chatState": "COMPOSING"})));
        assert!(agent_typing.is_empty());
        let (said, _) = events(".ams.ms.OnlineEventDistribution", body("CONSUMER", json!({"type": "ContentEvent", "message": "hi"})));
        let [PlatformEvent::Message { conversation_id, message }] = said.as_slice() else { panic!("{said:?}") };
        assert_eq!((conversation_id.as_str(), message.content.text()), ("c", Some("hi")));
        assert!(notification_events(&me(), ".ams.ms.OnlineEventDistribution", None, &KnownIds::default()).unwrap_err().contains("body"));
        assert!(notification_events(&me(), ".ams.ms.OnlineEventDistribution", Some(&raw(&json!({"event": {}}))), &KnownIds::default())
            .unwrap_err()
            .contains("dialogId"));
    }

    #[test]
    fn ex_conversation_changes_give_participants_with_their_states() {
        let (events, problems) = events(
            ".ams.aam.ExConversationChangeNotification",
            json!({"changes": [{"type": "UPSERT", "result": {"convId": "c",
            "conversationDetails": {"skillId": "12", "state": "OPEN", "participants": {"CONSUMER": ["cons"], "ASSIGNED_AGENT": ["acc.7"]}, "participantsPId": {},
                "dialogs": [{"dialogId": "c", "dialogType": "MAIN", "participantsDetails": [{"id": "cons", "role": "CONSUMER", "state": "ACTIVE"}, {"id": "acc.7", "role": "ASSIGNED_AGENT", "state": "ACTIVE"}, {"id": "acc.9", "role": "ASSIGNED_AGENT", "state": "SUGGESTED"}]}]}}}]}),
        );
        assert!(problems.is_empty());
        let [PlatformEvent::ConversationUpdated(info)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(info.assignment_of("acc.7"), Some(ParticipantState::Active));
        assert_eq!(info.assignment_of("acc.9"), Some(ParticipantState::Suggested));
        assert_eq!((&*info.skill_id, &*info.consumer_id), ("12", "cons"));
        let consumer = info.participants.iter().find(|p| p.role == ParticipantRole::Consumer).unwrap();
        assert!(Arc::ptr_eq(&consumer.id, &info.consumer_id), "the consumer's id is held once");
        assert_eq!(info.main_dialog_id.as_str(), "c");
    }

    #[test]
    fn rings_offered_and_withdrawn() {
        let body = |state: &str| json!({"changes": [{"type": "UPSERT", "result": {"conversationId": "c", "skillId": "1", "ringsDetails": [{"ringId": "r1", "ringState": state}]}}]});
        let rings = |state: &str| events(".ams.routing.RoutingTaskNotification", body(state)).0;
        assert!(matches!(rings("WAITING")[..], [PlatformEvent::RingOffered { .. }]));
        assert!(matches!(rings("EXPIRED")[..], [PlatformEvent::RingWithdrawn { .. }]));
        assert!(rings("ACCEPTED").is_empty());
    }

    #[test]
    fn a_ring_without_a_conversation_is_a_problem_not_a_ring() {
        for conversation in [json!(null), json!(""), json!(7)] {
            let body = json!({"changes": [{"type": "UPSERT", "result": {"conversationId": conversation, "skillId": "1", "ringsDetails": [{"ringId": "r1", "ringState": "WAITING"}]}}]});
            let (events, problems) = events(".ams.routing.RoutingTaskNotification", body);
            assert!(events.is_empty(), "{events:?}");
            assert_eq!(problems, ["ring r1 names no conversationId"]);
        }
    }

    #[test]
    fn history_is_an_array_of_events() {
        let body = raw(&json!([{"sequence": 1}, {"sequence": 2}]));
        assert_eq!(history_events(&body).unwrap().len(), 2);
        assert!(history_events(&raw(&json!({"sequence": 1}))).is_err());
    }
}
