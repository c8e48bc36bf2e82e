//! Inbound dispatch: a text frame from the platform → a response to correlate, or the core's
//! events for a notification; fragmented frames put together (bounded). Pure: the session actor
//! only carries out what these functions decide.

use botvisor_actors::errors::PlatformError;
use botvisor_actors::model::ConversationId;
use botvisor_actors::ports::PlatformEvent;
use serde_json::Value;

use crate::platform::liveperson::frames::{self, Identity};

/// A fragmented frame reassembles to at most this size.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A frame that cannot be used: its type (or kind) and why. Counted and logged (rate-limited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    pub kind: String,
    pub why: String,
}

impl BadFrame {
    fn new(kind: &str, why: impl Into<String>) -> Self {
        Self { kind: kind.to_owned(), why: why.into() }
    }
}

/// What a text frame is.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// The response to request `id`. A 401 means the token is no good any more.
    Response {
        id: String,
        status: u16,
        result: Result<Value, PlatformError>,
    },
    Notification(Value),
}

pub fn parse(text: &str) -> Result<Inbound, BadFrame> {
    let mut frame: Value = serde_json::from_str(text).map_err(|e| BadFrame::new("unparsable", e.to_string()))?;
    match frame.get("kind").and_then(Value::as_str) {
        Some("resp") => {
            let id = match frame.get("reqId") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Null) | None => return Err(BadFrame::new("resp", "no reqId")),
                Some(other) => other.to_string(),
            };
            let status = frame.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(0);
            let body = frame.as_object_mut().and_then(|f| f.remove("body")).unwrap_or(Value::Null);
            let result = if (200..300).contains(&status) {
                Ok(body)
            } else {
                let message = body.as_str().map(str::to_owned).unwrap_or_else(|| body.to_string());
                Err(PlatformError::Rejected { status, message })
            };
            Ok(Inbound::Response { id, status, result })
        }
        Some("notification") => Ok(Inbound::Notification(frame)),
        other => Err(BadFrame::new(other.unwrap_or("?"), "unknown frame kind")),
    }
}

/// The core's events for one notification, in order, and what could not be read.
#[derive(Debug, Default)]
pub struct Dispatch {
    pub events: Vec<PlatformEvent>,
    pub problems: Vec<BadFrame>,
}

/// Turns a notification into the core's events. `snapshot`: this is the subscription's first
/// conversation notification (every open conversation of the agent), so a fully read one ends
/// with `OpenConversations` to reconcile what the bot holds.
pub fn dispatch(me: &Identity, frame: &Value, snapshot: bool, consumer_of: &dyn Fn(&str) -> Option<String>) -> Dispatch {
    let kind = frame["type"].as_str().unwrap_or("?");
    let mut dispatch = Dispatch::default();
    match frames::notification_events(me, frame, consumer_of) {
        Ok((events, problems)) => {
            dispatch.problems = problems.into_iter().map(|why| BadFrame::new(kind, why)).collect();
            if events.is_empty() && dispatch.problems.is_empty() && !is_known_quiet(frame) {
                dispatch.problems.push(BadFrame::new(kind, "not a notification botvisor uses"));
            }
            let open: Vec<ConversationId> = events
                .iter()
                .filter_map(|e| match e {
                    PlatformEvent::ConversationUpdated(info) => Some(info.conversation_id.clone()),
                    _ => None,
                })
                .collect();
            dispatch.events = events;
            // Reconcile only on a snapshot read in full: an unreadable change must not make the
            // bot let go of its conversation.
            if snapshot && dispatch.problems.is_empty() {
                dispatch.events.push(PlatformEvent::OpenConversations { conversation_ids: open });
            }
        }
        Err(error) => dispatch.problems.push(BadFrame::new(kind, error)),
    }
    dispatch
}

/// Whether this is the notification a conversation subscription's snapshot comes as.
pub fn is_conversation_notification(frame: &Value) -> bool {
    frame["type"] == ".ams.aam.ExConversationChangeNotification"
}

/// Notifications that carry nothing for the core and are fine to ignore quietly.
fn is_known_quiet(frame: &Value) -> bool {
    matches!(
        frame["type"].as_str(),
        Some(
            ".ams.routing.AgentStateNotification"
                | ".ams.routing.RoutingTaskNotification"
                | ".ams.aam.ExConversationChangeNotification"
                | ".ams.ms.OnlineEventDistribution"
        )
    )
}

/// A fragmented text frame being put together.
#[derive(Debug, Default)]
pub struct Fragments {
    partial: Option<Vec<u8>>,
}

impl Fragments {
    /// Takes one continuation item: the whole text when it is complete.
    pub fn push(&mut self, item: actix_http::ws::Item) -> Result<Option<String>, BadFrame> {
        use actix_http::ws::Item;
        match item {
            Item::FirstText(bytes) => {
                if bytes.len() > MAX_FRAME_BYTES {
                    return Err(BadFrame::new("text", "fragmented frame over 16 MiB"));
                }
                self.partial = Some(bytes.to_vec());
                Ok(None)
            }
            Item::FirstBinary(_) => {
                self.partial = None;
                Err(BadFrame::new("binary", "binary frames are not part of the protocol"))
            }
            Item::Continue(bytes) | Item::Last(bytes) if self.partial.is_none() => {
                let _ = bytes;
                Err(BadFrame::new("continuation", "a continuation without a first fragment"))
            }
            Item::Continue(bytes) => self.append(&bytes).map(|()| None),
            Item::Last(bytes) => {
                self.append(&bytes)?;
                let whole = self.partial.take().unwrap_or_default();
                String::from_utf8(whole).map(Some).map_err(|_| BadFrame::new("text", "not UTF-8"))
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), BadFrame> {
        let buffer = self.partial.get_or_insert_with(Vec::new);
        if buffer.len() + bytes.len() > MAX_FRAME_BYTES {
            self.partial = None;
            return Err(BadFrame::new("text", "fragmented frame over 16 MiB"));
        }
        buffer.extend_from_slice(bytes);
        Ok(())
    }

    /// Forgets a half-assembled frame (a new connection).
    pub fn clear(&mut self) {
        self.partial = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::Item;
    use actix_web::web::Bytes;
    use serde_json::json;

    fn me() -> Identity {
        Identity { account: "a".into(), user_id: "7".into(), pid: "pid-7".into() }
    }

    #[test]
    fn responses_carry_their_id_status_and_result() {
        let ok = parse(r#"{"kind":"resp","reqId":"bv-1","code":200,"body":{"x":1}}"#).unwrap();
        assert_eq!(ok, Inbound::Response { id: "bv-1".into(), status: 200, result: Ok(json!({"x": 1})) });
        let numeric = parse(r#"{"kind":"resp","reqId":5,"code":400,"body":"bad"}"#).unwrap();
        assert_eq!(
            numeric,
            Inbound::Response { id: "5".into(), status: 400, result: Err(PlatformError::Rejected { status: 400, message: "bad".into() }) }
        );
        assert_eq!(parse(r#"{"kind":"resp","code":200}"#).unwrap_err().why, "no reqId");
        assert_eq!(parse("{not json").unwrap_err().kind, "unparsable");
        assert_eq!(parse(r#"{"kind":"mystery"}"#).unwrap_err().why, "unknown frame kind");
        let huge_code = parse(r#"{"kind":"resp","reqId":"bv-2","code":99999999}"#).unwrap();
        assert!(matches!(huge_code, Inbound::Response { status: 0, .. }), "an absurd code is not a success");
    }

    #[test]
    fn a_snapshot_read_in_full_reconciles_and_one_with_problems_does_not() {
        let change = |id: &str| json!({"type": "UPSERT", "result": {"convId": id, "conversationDetails": {"skillId": "1", "state": "OPEN", "participants": {"CONSUMER": ["c"]}, "dialogs": []}}});
        let frame = json!({"kind": "notification", "type": ".ams.aam.ExConversationChangeNotification", "body": {"changes": [change("c1"), change("c2")]}});
        let d = dispatch(&me(), &frame, true, &|_| None);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(matches!(d.events.last(), Some(PlatformEvent::OpenConversations { conversation_ids }) if conversation_ids.len() == 2));
        let broken = json!({"kind": "notification", "type": ".ams.aam.ExConversationChangeNotification", "body": {"changes": [change("c1"), {"type": "UPSERT", "result": {}}]}});
        let d = dispatch(&me(), &broken, true, &|_| None);
        assert_eq!(d.problems.len(), 1);
        assert!(!d.events.iter().any(|e| matches!(e, PlatformEvent::OpenConversations { .. })), "no reconcile on a partial snapshot");
        let unknown = json!({"kind": "notification", "type": ".ams.Mystery", "body": {}});
        assert_eq!(dispatch(&me(), &unknown, false, &|_| None).problems[0].why, "not a notification botvisor uses");
    }

    #[test]
    fn fragments_are_put_together_bounded() {
        let mut fragments = Fragments::default();
        assert_eq!(fragments.push(Item::FirstText(Bytes::from_static(b"{\"a\":"))).unwrap(), None);
        assert_eq!(fragments.push(Item::Continue(Bytes::from_static(b" 1"))).unwrap(), None);
        assert_eq!(fragments.push(Item::Last(Bytes::from_static(b"}"))).unwrap().as_deref(), Some("{\"a\": 1}"));
        assert!(fragments.push(Item::Last(Bytes::from_static(b"x"))).is_err(), "a continuation with no start");
        fragments.push(Item::FirstText(Bytes::from(vec![b'a'; MAX_FRAME_BYTES - 1]))).unwrap();
        assert_eq!(fragments.push(Item::Continue(Bytes::from_static(b"bb"))).unwrap_err().why, "fragmented frame over 16 MiB");
        assert!(fragments.push(Item::FirstBinary(Bytes::new())).is_err());
    }
}
