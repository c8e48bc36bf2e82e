//! The Messaging Agent API frames botvisor sends and reads (spec §3–§5): request bodies for the
//! core's commands (`write`), and notifications and history turned into the core's
//! `PlatformEvent`s and `DialogMessage`s (`read`). Pure functions; a frame that cannot be read is
//! an error naming why.
//!
//! The frames of every consumer message (its notification, the READ receipt and the answer, their
//! responses and echoes) are read into typed structs borrowing from the frame's text and written
//! from typed structs, without a `serde_json::Value` tree: that tree's allocations were most of
//! the engine's CPU per message.

pub mod known;
pub mod lenient;
pub mod read;
pub mod write;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub use known::KnownIds;
pub use read::{conversation_info, dialog_message, engagement_attributes, history_events, notification_events};
pub use write::*;

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

/// JSON text written once from a value: a request's body or metadata. Cheap to clone (a request
/// answered 429 is sent again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(Arc<str>);

impl RawJson {
    pub fn of(value: &impl Serialize) -> Self {
        // Serializing our own bodies (structs, `Value`s) cannot fail: no map has non-string keys.
        Self(Arc::from(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value (for tests and the rare reader).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// Frame-level extras of a request (spec §3.2): `metadata` and `encodedMetadata`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    pub metadata: Option<RawJson>,
    pub encoded_metadata: Option<String>,
}

/// A request frame, written straight to its text: `{"kind":"req","id","type","body",
/// "metadata"?,"encodedMetadata"?}`.
pub fn request(id: &str, kind: &str, body: &RawJson, extras: &Extras) -> String {
    let extra =
        extras.metadata.as_ref().map_or(0, |m| m.as_str().len() + 12) + extras.encoded_metadata.as_ref().map_or(0, |e| e.len() + 22);
    let mut frame = Vec::with_capacity(body.as_str().len() + id.len() + kind.len() + 40 + extra);
    frame.extend_from_slice(br#"{"kind":"req","id":"#);
    write_string(&mut frame, id);
    frame.extend_from_slice(br#","type":"#);
    write_string(&mut frame, kind);
    frame.extend_from_slice(br#","body":"#);
    frame.extend_from_slice(body.as_str().as_bytes());
    if let Some(metadata) = &extras.metadata {
        frame.extend_from_slice(br#","metadata":"#);
        frame.extend_from_slice(metadata.as_str().as_bytes());
    }
    if let Some(encoded) = &extras.encoded_metadata {
        frame.extend_from_slice(br#","encodedMetadata":"#);
        write_string(&mut frame, encoded);
    }
    frame.push(b'}');
    // Every part is UTF-8 (JSON text and serde_json's escaped strings).
    String::from_utf8(frame).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `text` as a JSON string, escaped.
fn write_string(frame: &mut Vec<u8>, text: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *frame, text);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_request_frame_is_the_json_of_its_parts_with_metadata_when_given() {
        let body = json!({"dialogId": "d\"1", "event": {"message": "héllo\n"}});
        let plain = request("bv-1", ".ams.ms.PublishEvent", &RawJson::of(&body), &Extras::default());
        let parsed: Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(parsed, json!({"kind": "req", "id": "bv-1", "type": ".ams.ms.PublishEvent", "body": body}));
        let extras =
            Extras { metadata: Some(RawJson::of(&json!([{"type": "ExternalId", "id": "x"}]))), encoded_metadata: Some("ZW5j\"".into()) };
        let parsed: Value = serde_json::from_str(&request("7\u{1}", "k", &RawJson::of(&json!({})), &extras)).unwrap();
        assert_eq!(
            parsed,
            json!({"kind": "req", "id": "7\u{1}", "type": "k", "body": {}, "metadata": [{"type": "ExternalId", "id": "x"}], "encodedMetadata": "ZW5j\""})
        );
    }

    #[test]
    fn the_agent_id_is_recognised_without_being_built() {
        let me = Identity { account: "acc".into(), user_id: "7".into(), pid: "pid-7".into() };
        assert!(me.is_agent_id(&me.agent_id()));
        for other in ["acc.77", "acc", "acc.7.1", "ac.7", "", "."] {
            assert!(!me.is_agent_id(other), "{other}");
        }
    }
}
