//! Dialog events: stored with their sequence and frame-level fields, and sent to every
//! connection of every participant agent, the publisher included (spec §4.4, §5.4, §10.7).

use serde::Serialize;
use serde_json::Value;

use crate::sim::frames::notification_of;
use crate::sim::state::{now_ms, ConnId, Conversation, DialogEvent, SimState};

/// A dialog event to publish, with the frame-level fields it came with.
pub struct Publication {
    /// Old id for agents, PID for consumers.
    pub originator_id: String,
    pub originator_pid: String,
    pub role: &'static str,
    pub event: Value,
    pub metadata: Option<Value>,
    pub encoded_metadata: Option<String>,
    /// `ALL` or `AGENTS_AND_MANAGERS`.
    pub audience: String,
}

impl SimState {
    /// Stores a dialog event (checked beforehand: `validate::event`), and sends it to every
    /// connection of every participant agent (the publisher included). Returns its sequence
    /// (none for chat states).
    pub fn publish(&mut self, dialog: &str, publication: Publication) -> Result<Option<u64>, (u16, String)> {
        let Publication { originator_id, originator_pid, role, event, metadata, encoded_metadata, audience } = publication;
        let chat_state = event.get("type").and_then(Value::as_str) == Some("ChatStateEvent");
        let conversation = self.conversations.get_mut(dialog).ok_or((400, format!("dialogId: no dialog {dialog:?}")))?;
        if conversation.state != "OPEN" {
            return Err((400, "the conversation is closed".into()));
        }
        let sequence = (!chat_state).then(|| {
            let s = conversation.next_sequence;
            conversation.next_sequence += 1;
            s
        });
        let stored = DialogEvent {
            sequence,
            originator_id,
            originator_pid,
            role: role.into(),
            server_timestamp: now_ms(),
            event,
            metadata,
            encoded_metadata,
            audience,
        };
        conversation.updated_ts = stored.server_timestamp;
        let (frame, conns) = {
            let conversation = &self.conversations[dialog];
            let frame = notification_of(".ams.ms.OnlineEventDistribution", &EventBody::of(conversation, &stored));
            let conns: Vec<ConnId> = self.participant_agents(conversation).iter().flat_map(|agent| self.conns_of(agent)).collect();
            (frame, conns)
        };
        let said = (role == "ASSIGNED_AGENT").then(|| stored.event.get("message").and_then(Value::as_str).map(str::to_owned)).flatten();
        if sequence.is_some() {
            let max_events = self.config.max_dialog_events;
            let conversation = self.conversations.get_mut(dialog).ok_or((400, format!("dialogId: no dialog {dialog:?}")))?;
            conversation.events.push(stored);
            // Bounded when configured: the oldest go, in batches (amortized O(1) per event).
            if let Some(max) = max_events {
                if conversation.events.len() >= max.saturating_mul(2) {
                    let excess = conversation.events.len() - max;
                    conversation.events.drain(..excess);
                }
            }
        }
        for conn in conns {
            self.notify(conn, frame.clone());
        }
        if let Some(text) = said {
            self.agent_said(dialog, &text);
        }
        Ok(sequence)
    }

    /// A dialog event as UMS sends it (spec §5.4).
    pub fn event_json(&self, c: &Conversation, e: &DialogEvent) -> Value {
        serde_json::to_value(EventBody::of(c, e)).unwrap_or(Value::Null)
    }
}

/// A dialog event's notification body (spec §5.4), written without a tree: one is sent for
/// every message.
#[derive(Serialize)]
struct EventBody<'a> {
    #[serde(rename = "dialogId")]
    dialog_id: &'a str,
    #[serde(rename = "conversationId")]
    conversation_id: &'a str,
    #[serde(rename = "originatorId")]
    originator_id: &'a str,
    #[serde(rename = "originatorPId")]
    originator_pid: &'a str,
    #[serde(rename = "originatorMetadata")]
    originator_metadata: OriginatorMetadata<'a>,
    #[serde(rename = "originatorClientProperties")]
    client_properties: ClientProperties,
    event: &'a Value,
    #[serde(rename = "messageAudience")]
    message_audience: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u64>,
    #[serde(rename = "serverTimestamp", skip_serializing_if = "Option::is_none")]
    server_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
}

#[derive(Serialize)]
struct OriginatorMetadata<'a> {
    id: &'a str,
    role: &'a str,
    #[serde(rename = "clientProperties")]
    client_properties: ClientProperties,
}

#[derive(Serialize)]
struct ClientProperties {
    #[serde(rename = "type")]
    kind: &'static str,
    features: [u8; 0],
}

const CLIENT_PROPERTIES: ClientProperties = ClientProperties { kind: ".ClientProperties", features: [] };

impl<'a> EventBody<'a> {
    fn of(c: &'a Conversation, e: &'a DialogEvent) -> Self {
        EventBody {
            dialog_id: &c.id,
            conversation_id: &c.id,
            originator_id: &e.originator_id,
            originator_pid: &e.originator_pid,
            originator_metadata: OriginatorMetadata { id: &e.originator_pid, role: &e.role, client_properties: CLIENT_PROPERTIES },
            client_properties: CLIENT_PROPERTIES,
            event: &e.event,
            message_audience: &e.audience,
            sequence: e.sequence,
            server_timestamp: e.sequence.map(|_| e.server_timestamp),
            metadata: e.metadata.as_ref(),
        }
    }
}
