//! Inbound dispatch: a text frame from the platform → a response to correlate, or the core's
//! events for a notification; fragmented frames put together (bounded). Pure: the session actor
//! only carries out what these functions decide.

use std::borrow::Cow;

use actix_http::ws::CloseCode;
use botvisor_actors::errors::PlatformError;
use botvisor_actors::model::ConversationId;
use botvisor_actors::ports::PlatformEvent;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::platform::liveperson::frames::lenient::{Str, U64};
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

/// A response's body: JSON text, parsed by whoever asked (most ignore it).
pub type ResponseBody = Box<RawValue>;

/// What a text frame is.
#[derive(Debug)]
pub enum Inbound<'a> {
    /// The response to request `id`. A 401 means the token is no good any more.
    Response {
        id: String,
        status: u16,
        result: Result<ResponseBody, PlatformError>,
    },
    Notification(Notification<'a>),
}

/// A notification: its type and body, borrowed from the frame's text.
#[derive(Debug)]
pub struct Notification<'a> {
    pub kind: Cow<'a, str>,
    pub body: Option<&'a RawValue>,
}

/// The frame's envelope (spec §3): only what tells it apart is read now; the body stays text.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope<'a> {
    #[serde(borrow)]
    kind: Str<'a>,
    #[serde(rename = "reqId", borrow)]
    req_id: Option<&'a RawValue>,
    code: U64,
    #[serde(rename = "type", borrow)]
    kind_name: Str<'a>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

pub fn parse(text: &str) -> Result<Inbound<'_>, BadFrame> {
    if !text.trim_start().starts_with('{') {
        return Err(BadFrame::new("unparsable", "a frame is a JSON object"));
    }
    let frame: Envelope = serde_json::from_str(text).map_err(|e| BadFrame::new("unparsable", e.to_string()))?;
    match frame.kind.as_deref() {
        Some("resp") => {
            let id = match frame.req_id.map(RawValue::get) {
                None | Some("null") => return Err(BadFrame::new("resp", "no reqId")),
                Some(quoted) if quoted.starts_with('"') => {
                    serde_json::from_str::<String>(quoted).map_err(|e| BadFrame::new("resp", e.to_string()))?
                }
                Some(other) => other.to_owned(),
            };
            let status = frame.code.0.and_then(|c| u16::try_from(c).ok()).unwrap_or(0);
            let result = if (200..300).contains(&status) {
                Ok(frame.body.unwrap_or(RawValue::NULL).to_owned())
            } else {
                let message = match frame.body.map(RawValue::get) {
                    None => "null".to_owned(),
                    Some(quoted) if quoted.starts_with('"') => serde_json::from_str(quoted).unwrap_or_else(|_| quoted.to_owned()),
                    Some(other) => other.to_owned(),
                };
                Err(PlatformError::Rejected { status, message })
            };
            Ok(Inbound::Response { id, status, result })
        }
        Some("notification") => {
            Ok(Inbound::Notification(Notification { kind: frame.kind_name.0.unwrap_or(Cow::Borrowed("?")), body: frame.body }))
        }
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
pub fn dispatch(me: &Identity, frame: &Notification, snapshot: bool, known: &frames::KnownIds) -> Dispatch {
    let kind: &str = &frame.kind;
    let mut dispatch = Dispatch::default();
    match frames::notification_events(me, kind, frame.body, known) {
        Ok((events, problems)) => {
            dispatch.problems = problems.into_iter().map(|why| BadFrame::new(kind, why)).collect();
            if events.is_empty() && dispatch.problems.is_empty() && !is_known_quiet(kind) {
                dispatch.problems.push(BadFrame::new(kind, "not a notification botvisor uses"));
            }
            if snapshot && dispatch.problems.is_empty() {
                // Reconcile only on a snapshot read in full: an unreadable change must not make
                // the bot let go of its conversation.
                let open: Vec<ConversationId> = events
                    .iter()
                    .filter_map(|e| match e {
                        PlatformEvent::ConversationUpdated(info) => Some(info.conversation_id.clone()),
                        _ => None,
                    })
                    .collect();
                dispatch.events = events;
                dispatch.events.push(PlatformEvent::OpenConversations { conversation_ids: open });
            } else {
                dispatch.events = events;
            }
        }
        Err(error) => dispatch.problems.push(BadFrame::new(kind, error)),
    }
    dispatch
}

/// Whether this is the notification a conversation subscription's snapshot comes as.
pub fn is_conversation_notification(frame: &Notification) -> bool {
    frame.kind == ".ams.aam.ExConversationChangeNotification"
}

/// Notifications that carry nothing for the core and are fine to ignore quietly.
fn is_known_quiet(kind: &str) -> bool {
    matches!(
        kind,
        ".ams.routing.AgentStateNotification"
            | ".ams.routing.RoutingTaskNotification"
            | ".ams.aam.ExConversationChangeNotification"
            | ".ams.ms.OnlineEventDistribution"
    )
}

/// A fragmented message being put together.
#[derive(Debug, Default)]
pub struct Fragments {
    partial: Partial,
}

#[derive(Debug, Default)]
enum Partial {
    #[default]
    None,
    Text(Vec<u8>),
    /// A binary message (not part of the protocol): its fragments are skipped.
    Binary,
}

/// A fragment that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FragmentError {
    /// A binary message: counted and skipped, the connection goes on.
    Skipped(BadFrame),
    /// A websocket protocol violation (RFC 6455 §5.4, §8.1): the connection must end, with this
    /// close code.
    Fatal(BadFrame, CloseCode),
}

impl Fragments {
    /// Takes one continuation item: the whole text when it is complete.
    pub fn push(&mut self, item: actix_http::ws::Item) -> Result<Option<String>, FragmentError> {
        use actix_http::ws::Item;
        let fatal = |why: &str, code| Err(FragmentError::Fatal(BadFrame::new("text", why), code));
        match (item, &mut self.partial) {
            (Item::FirstText(_) | Item::FirstBinary(_), Partial::Text(_) | Partial::Binary) => {
                self.partial = Partial::None;
                fatal("a new message began before the last one ended", CloseCode::Protocol)
            }
            (Item::FirstText(bytes), Partial::None) => {
                if bytes.len() > MAX_FRAME_BYTES {
                    return fatal("fragmented message over 16 MiB", CloseCode::Size);
                }
                self.partial = Partial::Text(bytes.to_vec());
                Ok(None)
            }
            (Item::FirstBinary(_), Partial::None) => {
                self.partial = Partial::Binary;
                Err(FragmentError::Skipped(BadFrame::new("binary", "binary frames are not part of the protocol")))
            }
            (Item::Continue(_) | Item::Last(_), Partial::None) => fatal("a continuation without a first fragment", CloseCode::Protocol),
            (Item::Continue(_), Partial::Binary) => Ok(None),
            (Item::Last(_), Partial::Binary) => {
                self.partial = Partial::None;
                Ok(None)
            }
            (Item::Continue(bytes) | Item::Last(bytes), Partial::Text(buffer)) if buffer.len() + bytes.len() > MAX_FRAME_BYTES => {
                let _ = bytes;
                self.partial = Partial::None;
                fatal("fragmented message over 16 MiB", CloseCode::Size)
            }
            (Item::Continue(bytes), Partial::Text(buffer)) => {
                buffer.extend_from_slice(&bytes);
                Ok(None)
            }
            (Item::Last(bytes), Partial::Text(buffer)) => {
                buffer.extend_from_slice(&bytes);
                let whole = std::mem::take(buffer);
                self.partial = Partial::None;
                String::from_utf8(whole).map(Some).or_else(|_| fatal("a text message that is not UTF-8", CloseCode::Invalid))
            }
        }
    }

    /// Forgets a half-assembled message (a new connection).
    pub fn clear(&mut self) {
        self.partial = Partial::None;
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

    fn response(text: &str) -> (String, u16, Result<String, PlatformError>) {
        match parse(text).unwrap() {
            Inbound::Response { id, status, result } => (id, status, result.map(|body| body.get().to_owned())),
            other => panic!("{other:?}"),
        }
    }

    fn notification(frame: &serde_json::Value) -> String {
        frame.to_string()
    }

    #[test]
    fn responses_carry_their_id_status_and_result() {
        assert_eq!(response(r#"{"kind":"resp","reqId":"bv-1","code":200,"body":{"x":1}}"#), ("bv-1".into(), 200, Ok(r#"{"x":1}"#.into())));
        assert_eq!(response(r#"{"kind":"resp","reqId":"bv-\"2","code":204}"#), ("bv-\"2".into(), 204, Ok("null".into())));
        assert_eq!(
            response(r#"{"kind":"resp","reqId":5,"code":400,"body":"bad \"x\""}"#),
            ("5".into(), 400, Err(PlatformError::Rejected { status: 400, message: "bad \"x\"".into() }))
        );
        assert_eq!(
            response(r#"{"kind":"resp","reqId":"r","code":500,"body":{"error":"no"}}"#).2,
            Err(PlatformError::Rejected { status: 500, message: r#"{"error":"no"}"#.into() })
        );
        assert_eq!(parse(r#"{"kind":"resp","code":200}"#).unwrap_err().why, "no reqId");
        assert_eq!(parse(r#"{"kind":"resp","reqId":null,"code":200}"#).unwrap_err().why, "no reqId");
        assert_eq!(parse("{not json").unwrap_err().kind, "unparsable");
        assert_eq!(parse(r#"["resp"]"#).unwrap_err().kind, "unparsable");
        assert_eq!(parse(r#"{"kind":"mystery"}"#).unwrap_err().why, "unknown frame kind");
        assert_eq!(parse(r#"{"kind":7}"#).unwrap_err().why, "unknown frame kind");
        assert_eq!(response(r#"{"kind":"resp","reqId":"bv-2","code":99999999}"#).1, 0, "an absurd code is not a success");
        assert_eq!(response(r#"{"kind":"resp","reqId":"bv-2","code":"200","body":{}}"#).1, 0, "nor is a code that is not a number");
    }

    #[test]
    fn a_snapshot_read_in_full_reconciles_and_one_with_problems_does_not() {
        let change = |id: &str| json!({"type": "UPSERT", "result": {"convId": id, "conversationDetails": {"skillId": "1", "state": "OPEN", "participants": {"CONSUMER": ["c"]}, "dialogs": []}}});
        let dispatched = |frame: &serde_json::Value, snapshot: bool| {
            let text = notification(frame);
            let Inbound::Notification(notification) = parse(&text).unwrap() else { panic!("not a notification") };
            assert_eq!(is_conversation_notification(&notification), frame["type"] == ".ams.aam.ExConversationChangeNotification");
            dispatch(&me(), &notification, snapshot, &frames::KnownIds::default())
        };
        let frame = json!({"kind": "notification", "type": ".ams.aam.ExConversationChangeNotification", "body": {"changes": [change("c1"), change("c2")]}});
        let d = dispatched(&frame, true);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(matches!(d.events.last(), Some(PlatformEvent::OpenConversations { conversation_ids }) if conversation_ids.len() == 2));
        let broken = json!({"kind": "notification", "type": ".ams.aam.ExConversationChangeNotification", "body": {"changes": [change("c1"), {"type": "UPSERT", "result": {}}]}});
        let d = dispatched(&broken, true);
        assert_eq!(d.problems.len(), 1);
        assert!(!d.events.iter().any(|e| matches!(e, PlatformEvent::OpenConversations { .. })), "no reconcile on a partial snapshot");
        let unknown = json!({"kind": "notification", "type": ".ams.Mystery", "body": {}});
        assert_eq!(dispatched(&unknown, false).problems[0].why, "not a notification botvisor uses");
        let untyped = json!({"kind": "notification", "body": {}});
        assert_eq!(dispatched(&untyped, false).problems[0].kind, "?");
    }

    #[test]
    fn fragments_are_put_together_bounded() {
        let fatal = |result: Result<Option<String>, FragmentError>| match result {
            Err(FragmentError::Fatal(bad, code)) => (bad.why, code),
            other => panic!("{other:?}"),
        };
        let mut fragments = Fragments::default();
        assert_eq!(fragments.push(Item::FirstText(Bytes::from_static(b"{\"a\":"))).unwrap(), None);
        assert_eq!(fragments.push(Item::Continue(Bytes::from_static(b" 1"))).unwrap(), None);
        assert_eq!(fragments.push(Item::Last(Bytes::from_static(b"}"))).unwrap().as_deref(), Some("{\"a\": 1}"));
        assert_eq!(fatal(fragments.push(Item::Last(Bytes::from_static(b"x")))).1, CloseCode::Protocol, "a continuation with no start");
        fragments.push(Item::FirstText(Bytes::from(vec![b'a'; MAX_FRAME_BYTES - 1]))).unwrap();
        assert_eq!(
            fatal(fragments.push(Item::Continue(Bytes::from_static(b"bb")))),
            ("fragmented message over 16 MiB".into(), CloseCode::Size)
        );
        fragments.push(Item::FirstText(Bytes::from_static(b"\xff"))).unwrap();
        assert_eq!(fatal(fragments.push(Item::Last(Bytes::from_static(b"\xfe")))).1, CloseCode::Invalid, "not UTF-8");
        fragments.push(Item::FirstText(Bytes::from_static(b"x"))).unwrap();
        assert_eq!(fatal(fragments.push(Item::FirstText(Bytes::from_static(b"y")))).1, CloseCode::Protocol, "a start within a message");
        // A binary message is skipped whole, fragments and all, and the next text is read.
        assert!(matches!(fragments.push(Item::FirstBinary(Bytes::new())), Err(FragmentError::Skipped(_))));
        assert_eq!(fragments.push(Item::Continue(Bytes::from_static(b"\x00"))).unwrap(), None);
        assert_eq!(fragments.push(Item::Last(Bytes::from_static(b"\x00"))).unwrap(), None);
        fragments.push(Item::FirstText(Bytes::from_static(b"o"))).unwrap();
        assert_eq!(fragments.push(Item::Last(Bytes::from_static(b"k"))).unwrap().as_deref(), Some("ok"));
    }
}
