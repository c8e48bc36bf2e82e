//! The Messaging Agent API frames botvisor sends and reads (spec §3–§5): request bodies for the
//! core's commands, and notifications and history turned into the core's `PlatformEvent`s and
//! `DialogMessage`s. Pure functions; a frame that cannot be read is an error naming why.

use botvisor_actors::model::{
    AnswerKey, Availability, ChatState, ConversationId, ConversationInfo, DialogMessage, JsonText, MessageAudience, MessageContent,
    Originator, OutboundMessage, Participant, ParticipantRole, ParticipantState, RingId, Sequence, Ttr,
};
use botvisor_actors::ports::PlatformEvent;
use serde_json::{json, Value};

/// Who this session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    /// `config.userId` from login.
    pub user_id: String,
    /// `config.userPid` from login: how the platform names this agent's own messages.
    pub pid: String,
}

impl Identity {
    /// The "old id" `account.userId`, as in participants and `agentUserId`.
    pub fn agent_id(&self) -> String {
        format!("{}.{}", self.account, self.user_id)
    }

    /// Whether `id` is [`Identity::agent_id`] (without building it: this runs for every event).
    pub fn is_agent_id(&self, id: &str) -> bool {
        id.split_once('.').is_some_and(|(account, user)| account == self.account && user == self.user_id)
    }
}

/// Frame-level extras of a request (spec §3.2): `metadata` and `encodedMetadata`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    pub metadata: Option<Value>,
    pub encoded_metadata: Option<String>,
}

/// A request frame, written straight to its text (no tree is built around the body: this runs
/// for every answer and receipt). The same JSON as `{"kind":"req","id","type","body",
/// "metadata"?,"encodedMetadata"?}`.
pub fn request(id: &str, kind: &str, body: Value, extras: &Extras) -> String {
    let mut frame = String::with_capacity(128);
    let quoted = |text: &str| Value::from(text).to_string();
    frame.push_str(r#"{"kind":"req","id":"#);
    frame.push_str(&quoted(id));
    frame.push_str(r#","type":"#);
    frame.push_str(&quoted(kind));
    frame.push_str(r#","body":"#);
    frame.push_str(&body.to_string());
    if let Some(metadata) = &extras.metadata {
        frame.push_str(r#","metadata":"#);
        frame.push_str(&metadata.to_string());
    }
    if let Some(encoded) = &extras.encoded_metadata {
        frame.push_str(r#","encodedMetadata":"#);
        frame.push_str(&quoted(encoded));
    }
    frame.push('}');
    frame
}

pub fn set_agent_state(me: &Identity, availability: Availability) -> (&'static str, Value) {
    let availability = match availability {
        Availability::Online => "ONLINE",
        Availability::Occupied => "OCCUPIED",
        Availability::Away => "AWAY",
    };
    (".ams.routing.SetAgentState", json!({"availability": availability, "channels": ["MESSAGING"], "agentUserId": me.agent_id()}))
}

pub fn subscribe_ex_conversations(me: &Identity) -> (&'static str, Value) {
    (".ams.aam.SubscribeExConversations", json!({"agentIds": [me.agent_id()], "convState": ["OPEN"]}))
}

pub fn subscribe_routing_tasks(me: &Identity) -> (&'static str, Value) {
    (".ams.routing.SubscribeRoutingTasks", json!({"channelType": "MESSAGING", "agentId": me.agent_id(), "brandId": me.account}))
}

pub fn update_ring_state(ring: &RingId, accept: bool) -> (&'static str, Value) {
    (".ams.routing.UpdateRingState", json!({"ringId": ring.as_str(), "ringState": if accept { "ACCEPTED" } else { "REJECTED" }}))
}

/// The history from sequence `from` on. `newerThanSequence` reads as exclusive while the
/// consumer-side `fromSeq` is inclusive, and which one the server applies is not documented: ask
/// from one below, so the boundary message comes either way (the caller drops what is below
/// `from`). At 0 it stays 0, as LivePerson's SDK asks (`fromSeq || 0`) for a whole dialog.
pub fn query_messages(dialog: &str, from: Sequence) -> (&'static str, Value) {
    (".ams.ms.QueryMessages", json!({"dialogId": dialog, "newerThanSequence": from.saturating_sub(1)}))
}

/// PublishEvent for a bot message, with the answer key as ExternalId metadata.
pub fn publish(conversation: &str, dialog: &str, message: &OutboundMessage, answer: Option<&AnswerKey>) -> (&'static str, Value, Extras) {
    let mut metadata: Vec<Value> = Vec::new();
    let (body, encoded) = match message {
        OutboundMessage::Text(text) => {
            let mut event = json!({"type": "ContentEvent", "contentType": "text/plain", "message": text.text});
            if let Some(quick_replies) = &text.quick_replies {
                event["quickReplies"] = quick_replies.clone();
            }
            if let Some(Value::Array(items)) = &text.metadata {
                metadata.extend(items.iter().cloned());
            }
            let mut body = json!({"dialogId": dialog, "conversationId": conversation, "event": event});
            if text.audience == MessageAudience::AgentsAndManagers {
                body["messageAudience"] = json!("AGENTS_AND_MANAGERS");
            }
            (body, text.encoded_metadata.clone())
        }
        OutboundMessage::StructuredContent(sc) => {
            if let Some(Value::Array(items)) = &sc.metadata {
                metadata.extend(items.iter().cloned());
            }
            (
                json!({"dialogId": dialog, "conversationId": conversation, "event": {"type": "RichContentEvent", "content": sc.content}}),
                sc.encoded_metadata.clone(),
            )
        }
    };
    // One ExternalId per message (reports pick cards by it): when the vendor set its own, the
    // answer key stays out; history still tells the message answered what the bot had read
    // before it (see the core's history analysis).
    if let Some(key) = answer.filter(|_| !metadata.iter().any(|m| m["type"] == "ExternalId")) {
        metadata.push(json!({"type": "ExternalId", "id": key.external_id()}));
    }
    (".ams.ms.PublishEvent", body, Extras { metadata: (!metadata.is_empty()).then_some(Value::Array(metadata)), encoded_metadata: encoded })
}

pub fn chat_state(dialog: &str, state: ChatState) -> (&'static str, Value) {
    let state = match state {
        ChatState::Composing => "COMPOSING",
        ChatState::Active => "ACTIVE",
    };
    (".ams.ms.PublishEvent", json!({"dialogId": dialog, "event": {"type": "ChatStateEvent", "chatState": state}}))
}

pub fn read_receipt(dialog: &str, sequences: &[Sequence]) -> (&'static str, Value) {
    (
        ".ams.ms.PublishEvent",
        json!({"dialogId": dialog, "event": {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": sequences}}),
    )
}

/// Transfer to a skill: remove the assigned agent and update the skill in one request.
pub fn transfer_to_skill(me: &Identity, conversation: &str, skill_id: &str) -> (&'static str, Value) {
    (
        ".ams.cm.UpdateConversationField",
        json!({"conversationId": conversation, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "userId": me.agent_id(), "role": "ASSIGNED_AGENT"},
            {"field": "Skill", "type": "UPDATE", "skill": skill_id},
        ]}),
    )
}

/// Transfer to an agent: the target is SUGGESTED on the skill until it accepts.
pub fn transfer_to_agent(me: &Identity, conversation: &str, agent_id: &str, skill_id: &str) -> (&'static str, Value) {
    let target = if agent_id.contains('.') { agent_id.to_owned() } else { format!("{}.{agent_id}", me.account) };
    (
        ".ams.cm.UpdateConversationField",
        json!({"conversationId": conversation, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "userId": me.agent_id(), "role": "ASSIGNED_AGENT"},
            {"field": "ParticipantsChange", "type": "SUGGEST", "userId": target, "role": "ASSIGNED_AGENT"},
            {"field": "Skill", "type": "UPDATE", "skill": skill_id},
        ]}),
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

pub fn change_ttr(conversation: &str, ttr: Ttr, seconds: &TtrSeconds) -> (&'static str, Value) {
    let (kind, value) = match ttr {
        Ttr::Urgent => ("URGENT", seconds.urgent),
        Ttr::Normal => ("NORMAL", seconds.normal),
        Ttr::Prioritized => ("PRIORITIZED", seconds.prioritized),
        Ttr::Custom { seconds } => ("CUSTOM", seconds),
    };
    let field = json!({"field": "TTRField", "ttrType": kind, "value": value});
    (".ams.cm.UpdateConversationField", json!({"conversationId": conversation, "conversationField": [field]}))
}

/// Close: with the survey, close the main dialog (its survey dialog follows); without, close
/// the conversation (which skips the survey).
pub fn close(conversation: &str, with_survey: bool) -> (&'static str, Value) {
    let field = if with_survey {
        json!({"field": "DialogChange", "type": "UPDATE", "dialog": {"dialogId": conversation, "state": "CLOSE", "closedBy": "AGENT", "closedCause": "Completed"}})
    } else {
        json!({"field": "ConversationStateField", "conversationState": "CLOSE"})
    };
    (".ams.cm.UpdateConversationField", json!({"conversationId": conversation, "conversationField": [field]}))
}

pub fn get_user_profile(consumer_id: &str) -> (&'static str, Value) {
    (".ams.userprofile.GetUserProfile", Value::String(consumer_id.to_owned()))
}

// ---- reading ---------------------------------------------------------------------------------

/// A dialog event (live or from history) as the core sees it. `consumer` is the conversation's
/// consumer PID when known (an event may name its originator only by PID).
pub fn dialog_message(me: &Identity, raw: &Value, consumer: Option<&str>) -> Result<DialogMessage, String> {
    let dialog = raw.get("dialogId").and_then(Value::as_str).ok_or("dialogId missing")?;
    let event = raw.get("event").ok_or("event missing")?;
    let sequence = raw.get("sequence").and_then(Value::as_u64).ok_or("sequence missing")?;
    let pid = raw
        .get("originatorPId")
        .and_then(Value::as_str)
        .or_else(|| raw.pointer("/originatorMetadata/id").and_then(Value::as_str))
        .unwrap_or("");
    let role = raw.pointer("/originatorMetadata/role").and_then(Value::as_str).unwrap_or("");
    let originator =
        if (!pid.is_empty() && pid == me.pid) || raw.get("originatorId").and_then(Value::as_str).is_some_and(|id| me.is_agent_id(id)) {
            Originator::Me
        } else if role == "CONSUMER" || (!pid.is_empty() && consumer == Some(pid)) {
            Originator::Consumer
        } else if role.is_empty() {
            Originator::System
        } else {
            Originator::OtherAgent(raw.get("originatorId").and_then(Value::as_str).unwrap_or(pid).to_owned())
        };
    let content = match event.get("type").and_then(Value::as_str) {
        Some("ContentEvent") => match (event.get("contentType").and_then(Value::as_str), event.get("message")) {
            (Some("hosted/file"), Some(file)) => MessageContent::File {
                relative_path: file.get("relativePath").and_then(Value::as_str).unwrap_or("").to_owned(),
                file_type: file.get("fileType").and_then(Value::as_str).unwrap_or("").to_owned(),
                caption: file.get("caption").and_then(Value::as_str).map(str::to_owned),
            },
            (_, Some(Value::String(text))) => MessageContent::Text(text.clone()),
            _ => MessageContent::Other(event.clone()),
        },
        Some("RichContentEvent") => MessageContent::RichContent(event.get("content").cloned().unwrap_or(Value::Null)),
        Some("AcceptStatusEvent") => MessageContent::AcceptStatus {
            status: event.get("status").and_then(Value::as_str).unwrap_or("").to_owned(),
            sequences: event
                .get("sequenceList")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
        },
        _ => MessageContent::Other(event.clone()),
    };
    let raw_timestamp = raw.get("serverTimestamp").and_then(Value::as_i64).unwrap_or(0);
    let answer = raw
        .get("metadata")
        .and_then(Value::as_array)
        .and_then(|items| items.iter().filter(|m| m["type"] == "ExternalId").find_map(|m| m["id"].as_str().and_then(AnswerKey::parse)));
    // Only a consumer's event travels to a vendor (`lpEvent`); the others (the bot's own
    // echoes, receipts, other agents) are not kept, which spares two of every three events the
    // copy on the session's thread.
    let raw = if originator == Originator::Consumer { JsonText::new(raw) } else { JsonText::default() };
    Ok(DialogMessage { dialog_id: dialog.into(), sequence, originator, content, server_timestamp: raw_timestamp, answer, raw })
}

/// The conversation of an ExConversation change, with every participant and its state.
pub fn conversation_info(result: &Value) -> Result<ConversationInfo, String> {
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
    let mut participants = Vec::new();
    if let Some(list) = main.and_then(|d| d.get("participantsDetails")).and_then(Value::as_array) {
        for p in list {
            if let (Some(pid), Some(role)) = (p["id"].as_str(), p["role"].as_str().and_then(role)) {
                let state = if p["state"] == "SUGGESTED" { ParticipantState::Suggested } else { ParticipantState::Active };
                participants.push(Participant { id: pid.to_owned(), role, state });
            }
        }
    } else if let Some(map) = details.get("participants").and_then(Value::as_object) {
        for (name, ids) in map {
            for pid in ids.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Some(role) = role(name) {
                    participants.push(Participant { id: pid.to_owned(), role, state: ParticipantState::Active });
                }
            }
        }
    }
    let consumer = details.pointer("/participants/CONSUMER/0").and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(ConversationInfo {
        conversation_id: id.into(),
        main_dialog_id: main.and_then(|d| d["dialogId"].as_str()).unwrap_or(id).into(),
        skill_id: match details.get("skillId") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        consumer_id: consumer,
        participants,
        context: JsonText::new(details.get("context").unwrap_or(&Value::Null)),
    })
}

/// The core's events for one notification frame, and the problems of the parts that could not be
/// read (each change of a frame is read on its own). Unknown types give none (the caller counts
/// and logs them). `consumer_of` gives a conversation's consumer PID when known.
pub fn notification_events(
    me: &Identity,
    frame: &Value,
    consumer_of: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<PlatformEvent>, Vec<String>), String> {
    let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
    let body = frame.get("body").ok_or("body missing")?;
    let mut events = Vec::new();
    let mut problems = Vec::new();
    match kind {
        ".ams.routing.RoutingTaskNotification" => {
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
            for change in body.get("changes").and_then(Value::as_array).ok_or("changes missing")? {
                let info = match conversation_info(&change["result"]) {
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
        ".ams.ms.OnlineEventDistribution" => {
            let conversation =
                body.get("conversationId").or_else(|| body.get("dialogId")).and_then(Value::as_str).ok_or("dialogId missing")?;
            let event = &body["event"];
            if event["type"] == "ChatStateEvent" {
                let consumer = body.pointer("/originatorMetadata/role").and_then(Value::as_str) == Some("CONSUMER");
                if consumer {
                    events.push(PlatformEvent::ConsumerTyping {
                        conversation_id: conversation.into(),
                        typing: event["chatState"] == "COMPOSING",
                    });
                }
            } else {
                let consumer = consumer_of(conversation);
                events.push(PlatformEvent::Message {
                    conversation_id: conversation.into(),
                    message: dialog_message(me, body, consumer.as_deref())?,
                });
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
    use botvisor_actors::model::{StructuredContentMessage, TextMessage};

    use super::*;

    fn me() -> Identity {
        Identity { account: "acc".into(), user_id: "7".into(), pid: "pid-7".into() }
    }

    #[test]
    fn a_request_frame_is_the_json_of_its_parts_with_metadata_when_given() {
        let body = json!({"dialogId": "d\"1", "event": {"message": "héllo\n"}});
        let plain = request("bv-1", ".ams.ms.PublishEvent", body.clone(), &Extras::default());
        let parsed: Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(parsed, json!({"kind": "req", "id": "bv-1", "type": ".ams.ms.PublishEvent", "body": body}));
        let extras = Extras { metadata: Some(json!([{"type": "ExternalId", "id": "x"}])), encoded_metadata: Some("ZW5j\"".into()) };
        let parsed: Value = serde_json::from_str(&request("7", "k", json!({}), &extras)).unwrap();
        assert_eq!(
            parsed,
            json!({"kind": "req", "id": "7", "type": "k", "body": {}, "metadata": [{"type": "ExternalId", "id": "x"}], "encodedMetadata": "ZW5j\""})
        );
    }

    #[test]
    fn the_agent_id_is_recognised_without_being_built() {
        let me = me();
        assert!(me.is_agent_id(&me.agent_id()));
        for other in ["acc.77", "acc", "acc.7.1", "ac.7", "", "."] {
            assert!(!me.is_agent_id(other), "{other}");
        }
    }

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
            assert_eq!(body["conversationField"], json!([{"field": "TTRField", "ttrType": kind, "value": value}]));
        }
    }

    #[test]
    fn the_history_query_includes_the_boundary_message_either_way_it_is_read() {
        assert_eq!(query_messages("d", 7).1["newerThanSequence"], 6);
        assert_eq!(query_messages("d", 0).1["newerThanSequence"], 0);
    }

    #[test]
    fn a_vendor_external_id_is_the_only_one() {
        let key = AnswerKey { conversation_id: "c".into(), answers: Some(3), item: 0 };
        let card = OutboundMessage::StructuredContent(StructuredContentMessage {
            content: json!({"type": "vertical", "elements": []}),
            metadata: Some(json!([{"type": "ExternalId", "id": "CARD"}])),
            encoded_metadata: None,
        });
        let (_, _, extras) = publish("c", "c", &card, Some(&key));
        assert_eq!(extras.metadata.unwrap(), json!([{"type": "ExternalId", "id": "CARD"}]));
    }

    #[test]
    fn publish_carries_the_answer_key_audience_and_quick_replies() {
        let text = TextMessage { quick_replies: Some(json!({"type": "quickReplies"})), ..TextMessage::private("note") };
        let key = AnswerKey { conversation_id: "c".into(), answers: Some(3), item: 1 };
        let text = TextMessage { encoded_metadata: Some("ZW5j".into()), ..text };
        let (kind, body, extras) = publish("c", "c", &OutboundMessage::Text(text), Some(&key));
        assert_eq!(kind, ".ams.ms.PublishEvent");
        assert_eq!(body["messageAudience"], "AGENTS_AND_MANAGERS");
        assert_eq!(body["event"]["quickReplies"]["type"], "quickReplies");
        assert_eq!(extras.metadata.clone().unwrap(), json!([{"type": "ExternalId", "id": "botvisor:c:3:1"}]));
        let frame: Value = serde_json::from_str(&request("r1", kind, body, &extras)).unwrap();
        assert_eq!(frame["encodedMetadata"], "ZW5j", "encodedMetadata is a frame-level field");
        assert!(frame["body"].get("encodedMetadata").is_none());
    }

    #[test]
    fn own_messages_are_recognised_by_pid_and_keys_read_back() {
        let raw = json!({"dialogId": "c", "sequence": 4, "originatorPId": "pid-7", "originatorMetadata": {"id": "pid-7", "role": "ASSIGNED_AGENT"},
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hi"}, "metadata": [{"type": "ExternalId", "id": "botvisor:c:3:0"}]});
        let m = dialog_message(&me(), &raw, None).unwrap();
        assert_eq!(m.originator, Originator::Me);
        assert_eq!(m.answer.unwrap().answers, Some(3));
        let consumer = json!({"dialogId": "c", "sequence": 5, "originatorPId": "x", "originatorMetadata": {"role": "CONSUMER"}, "event": {"type": "RichContentEvent", "content": {"type": "map"}}});
        let m = dialog_message(&me(), &consumer, None).unwrap();
        assert_eq!((m.originator, matches!(m.content, MessageContent::RichContent(_))), (Originator::Consumer, true));
        assert!(dialog_message(&me(), &json!({"dialogId": "c"}), None).unwrap_err().contains("event"));
        // Named by PID only: recognised through the conversation's consumer.
        let bare = json!({"dialogId": "c", "sequence": 6, "originatorPId": "cons", "originatorMetadata": null, "event": {"type": "ContentEvent", "message": "hi"}});
        assert_eq!(dialog_message(&me(), &bare, Some("cons")).unwrap().originator, Originator::Consumer);
    }

    #[test]
    fn ex_conversation_changes_give_participants_with_their_states() {
        let frame = json!({"kind": "notification", "type": ".ams.aam.ExConversationChangeNotification", "body": {"changes": [{"type": "UPSERT", "result": {"convId": "c",
            "conversationDetails": {"skillId": "12", "state": "OPEN", "participants": {"CONSUMER": ["cons"], "ASSIGNED_AGENT": ["acc.7"]}, "participantsPId": {},
                "dialogs": [{"dialogId": "c", "dialogType": "MAIN", "participantsDetails": [{"id": "cons", "role": "CONSUMER", "state": "ACTIVE"}, {"id": "acc.7", "role": "ASSIGNED_AGENT", "state": "ACTIVE"}, {"id": "acc.9", "role": "ASSIGNED_AGENT", "state": "SUGGESTED"}]}]}}}]}});
        let (events, problems) = notification_events(&me(), &frame, &|_| None).unwrap();
        assert!(problems.is_empty());
        let [PlatformEvent::ConversationUpdated(info)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(info.assignment_of("acc.7"), Some(ParticipantState::Active));
        assert_eq!(info.assignment_of("acc.9"), Some(ParticipantState::Suggested));
        assert_eq!((info.skill_id.as_str(), info.consumer_id.as_str()), ("12", "cons"));
    }

    #[test]
    fn rings_offered_and_withdrawn() {
        let frame = |state: &str| json!({"type": ".ams.routing.RoutingTaskNotification", "body": {"changes": [{"type": "UPSERT", "result": {"conversationId": "c", "skillId": "1", "ringsDetails": [{"ringId": "r1", "ringState": state}]}}]}});
        let events = |state: &str| notification_events(&me(), &frame(state), &|_| None).unwrap().0;
        assert!(matches!(events("WAITING")[..], [PlatformEvent::RingOffered { .. }]));
        assert!(matches!(events("EXPIRED")[..], [PlatformEvent::RingWithdrawn { .. }]));
        assert!(events("ACCEPTED").is_empty());
    }

    #[test]
    fn a_ring_without_a_conversation_is_a_problem_not_a_ring() {
        for conversation in [json!(null), json!(""), json!(7)] {
            let frame = json!({"type": ".ams.routing.RoutingTaskNotification", "body": {"changes": [{"type": "UPSERT", "result": {"conversationId": conversation, "skillId": "1", "ringsDetails": [{"ringId": "r1", "ringState": "WAITING"}]}}]}});
            let (events, problems) = notification_events(&me(), &frame, &|_| None).unwrap();
            assert!(events.is_empty(), "{events:?}");
            assert_eq!(problems, ["ring r1 names no conversationId"]);
        }
    }
}
