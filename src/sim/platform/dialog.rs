//! Dialog events: stored with their sequence and frame-level fields, and sent to every
//! connection of every participant agent, the publisher included (spec §4.4, §5.4, §10.7).

use serde_json::{json, Value};

use crate::sim::frames::notification;
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
        if sequence.is_some() {
            conversation.events.push(stored.clone());
            // Bounded when configured: the oldest go, in batches (amortized O(1) per event).
            if let Some(max) = self.config.max_dialog_events {
                if conversation.events.len() >= max.saturating_mul(2) {
                    let excess = conversation.events.len() - max;
                    conversation.events.drain(..excess);
                }
            }
        }
        let (frame, conns) = {
            let conversation = &self.conversations[dialog];
            let frame = notification(".ams.ms.OnlineEventDistribution", self.event_json(conversation, &stored));
            let conns: Vec<ConnId> = self.participant_agents(conversation).iter().flat_map(|agent| self.conns_of(agent)).collect();
            (frame, conns)
        };
        for conn in conns {
            self.notify(conn, frame.clone());
        }
        if role == "ASSIGNED_AGENT" {
            if let Some(text) = stored.event.get("message").and_then(Value::as_str) {
                self.agent_said(dialog, text);
            }
        }
        Ok(sequence)
    }

    /// A dialog event as UMS sends it (spec §5.4).
    pub fn event_json(&self, c: &Conversation, e: &DialogEvent) -> Value {
        let mut body = json!({
            "dialogId": c.id,
            "conversationId": c.id,
            "originatorId": e.originator_id,
            "originatorPId": e.originator_pid,
            "originatorMetadata": {"id": e.originator_pid, "role": e.role, "clientProperties": {"type": ".ClientProperties", "features": []}},
            "originatorClientProperties": {"type": ".ClientProperties", "features": []},
            "event": e.event,
            "messageAudience": e.audience,
        });
        if let Some(sequence) = e.sequence {
            body["sequence"] = json!(sequence);
            body["serverTimestamp"] = json!(e.server_timestamp);
        }
        if let Some(metadata) = &e.metadata {
            body["metadata"] = metadata.clone();
        }
        body
    }
}
