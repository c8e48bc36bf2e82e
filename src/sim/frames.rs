//! The websocket's JSON frames (spec §3.2): parsing requests, building responses and
//! notifications. Request type names are accepted short (`ms.PublishEvent`) or qualified
//! (`.ams.ms.PublishEvent`); notifications always go out `.ams.`-qualified.

use serde::Serialize;
use serde_json::{json, Value};

/// A parsed request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Echoed as `reqId` (string or number in; always a string out).
    pub id: String,
    /// The type without its `.ams.` / `.` prefix, e.g. `ms.PublishEvent`, `GetClock`.
    pub kind: String,
    pub body: Value,
    /// Frame-level fields as sent (`null` reads as absent); `validate::request` checks them.
    pub headers: Option<Value>,
    pub metadata: Option<Value>,
    pub encoded_metadata: Option<Value>,
}

impl Request {
    /// `encodedMetadata` as text (a validated request has a string or none).
    pub fn encoded_metadata(&self) -> Option<&str> {
        self.encoded_metadata.as_ref().and_then(Value::as_str)
    }
}

/// A frame that is not a usable request; answered with a 400 (`req_id` when it could be read).
#[derive(Debug, Clone, PartialEq)]
pub struct BadFrame {
    pub req_id: Option<String>,
    pub message: String,
}

/// Parses one text frame.
pub fn parse_request(text: &str) -> Result<Request, BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| BadFrame { req_id: None, message: format!("malformed JSON: {e}") })?;
    let Value::Object(mut map) = value else {
        return Err(BadFrame { req_id: None, message: "a frame must be a JSON object".into() });
    };
    let req_id = match map.get("id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 64 => Some(id.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let bad = |message: String| BadFrame { req_id: req_id.clone(), message };
    let Some(id) = req_id.clone() else {
        return Err(bad("id: required, a string of 1 to 64 characters or a number".into()));
    };
    if map.get("kind").and_then(Value::as_str) != Some("req") {
        return Err(bad("kind: must be \"req\"".into()));
    }
    let Some(kind) = map.get("type").and_then(Value::as_str) else {
        return Err(bad("type: required".into()));
    };
    let kind = kind.strip_prefix(".ams.").or_else(|| kind.strip_prefix('.')).unwrap_or(kind).to_owned();
    let body = match map.remove("body") {
        None | Some(Value::Null) => json!({}),
        // GetUserProfile sends its body as a JSON string; other bodies may be strings of JSON.
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        Some(other) => other,
    };
    let mut field = |name: &str| map.remove(name).filter(|v| !v.is_null());
    Ok(Request { id, kind, body, headers: field("headers"), metadata: field("metadata"), encoded_metadata: field("encodedMetadata") })
}

pub fn response(req_id: &str, code: u16, kind: &str, body: Value) -> String {
    json!({"kind": "resp", "reqId": req_id, "code": code, "type": kind, "body": body}).to_string()
}

/// An error response: string body, a non-`$Response` type (spec §4.6).
pub fn error_response(req_id: Option<&str>, code: u16, message: &str) -> String {
    json!({"kind": "resp", "reqId": req_id, "code": code, "type": ".ReqBody$StringResp", "body": message}).to_string()
}

pub fn string_response(req_id: &str, code: u16, message: &str) -> String {
    response(req_id, code, ".ReqBody$StringResp", Value::String(message.into()))
}

pub fn notification(kind: &str, body: Value) -> String {
    notification_of(kind, &body)
}

/// A notification written straight from a typed body (no tree: the hot ones).
pub fn notification_of(kind: &str, body: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Frame<'a, B> {
        kind: &'static str,
        #[serde(rename = "type")]
        kind_name: &'a str,
        body: &'a B,
    }
    // Our own bodies always serialize (no map has non-string keys).
    serde_json::to_string(&Frame { kind: "notification", kind_name: kind, body }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_qualified_types_and_numeric_ids_are_accepted() {
        let r = parse_request(r#"{"kind":"req","id":4,"type":"GetClock"}"#).unwrap();
        assert_eq!((r.id.as_str(), r.kind.as_str()), ("4", "GetClock"));
        let r = parse_request(r#"{"kind":"req","id":"a","type":".ams.ms.PublishEvent","body":{"dialogId":"d"},"headers":null,"metadata":[{"type":"ExternalId","id":"x"}],"encodedMetadata":null}"#).unwrap();
        assert_eq!(r.kind, "ms.PublishEvent");
        assert_eq!(r.metadata.unwrap()[0]["id"], "x");
        assert_eq!((r.headers, r.encoded_metadata), (None, None), "null reads as absent");
        let r = parse_request(r#"{"kind":"req","id":"a","type":"ms.PublishEvent","headers":{},"encodedMetadata":"ZW5j"}"#).unwrap();
        assert_eq!((r.headers.clone(), r.encoded_metadata()), (Some(json!({})), Some("ZW5j")));
        assert_eq!(parse_request(r#"{"kind":"req","id":"a","type":".GetClock"}"#).unwrap().kind, "GetClock");
        assert_eq!(
            parse_request(r#"{"kind":"req","id":"b","type":".ams.userprofile.GetUserProfile","body":"\"abc\""}"#).unwrap().body,
            json!("abc")
        );
    }

    #[test]
    fn bad_frames_say_what_is_wrong_and_keep_the_id_when_readable() {
        assert!(parse_request("{nope").unwrap_err().message.starts_with("malformed JSON"));
        assert_eq!(parse_request("[1]").unwrap_err().message, "a frame must be a JSON object");
        let e = parse_request(r#"{"kind":"req","id":"7"}"#).unwrap_err();
        assert_eq!((e.req_id.as_deref(), e.message.as_str()), (Some("7"), "type: required"));
        assert!(parse_request(r#"{"kind":"req","type":"GetClock"}"#).unwrap_err().message.starts_with("id:"));
    }
}
