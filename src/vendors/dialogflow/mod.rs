//! Google Dialogflow ES (v2) and CX (v3) vendors (spec/third-party-bots.md §1.3, the wire in
//! spec/vendor-apis.md): one `detectIntent` call per input, a Dialogflow session per
//! conversation, LivePerson's context in `queryParams.payload`.
//!
//! `es` and `cx` build each API's request and URL; `es_response` and `cx_response` parse the
//! answers (pure, golden-tested); `payloads` reads the custom payloads both share; this file holds
//! what both do the same way: the input (text, welcome event, the character-limit event), the
//! session id, and the HTTP exchange with its deadline, its 401 renewal and its error mapping.

pub mod cx;
pub mod cx_response;
pub mod es;
pub mod es_response;
pub mod payloads;

use std::rc::Rc;
use std::time::Duration;

use botvisor_actors::errors::VendorError;
use botvisor_actors::ports::{VendorInput, VendorRequest};
use serde_json::{json, Map, Value};

use crate::vendors::google_auth::{codes as auth_codes, GoogleTokenSource};

/// Dialogflow refuses text inputs longer than this (characters); longer consumer texts are sent
/// as the `DIALOGFLOW_CHAR_LIMIT` event instead, as LivePerson's connector does.
pub const MAX_TEXT_CHARS: usize = 256;
/// The event sent in place of a text over [`MAX_TEXT_CHARS`].
pub const CHAR_LIMIT_EVENT: &str = "DIALOGFLOW_CHAR_LIMIT";
/// The event that asks the agent to greet first.
pub const WELCOME_EVENT: &str = "WELCOME";
/// Dialogflow session ids are at most this long.
const MAX_SESSION_ID: usize = 36;
/// Answers larger than this are refused.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// What the agent is asked: words, or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryInput {
    Text(String),
    Event(&'static str),
}

/// The query for one vendor input: a welcome is the WELCOME event; a text over the limit is the
/// character-limit event.
pub fn query_input(input: &VendorInput) -> QueryInput {
    match input {
        VendorInput::Welcome { .. } => QueryInput::Event(WELCOME_EVENT),
        VendorInput::Message { text, .. } if text.chars().count() > MAX_TEXT_CHARS => QueryInput::Event(CHAR_LIMIT_EVENT),
        VendorInput::Message { text, .. } => QueryInput::Text(text.clone()),
    }
}

/// `queryParams.payload`: `{lpEvent, lpSdes}` (reachable from fulfillment webhooks as
/// `originalDetectIntentRequest.payload`). The welcome's `lpEvent` carries `lastConsumerMessage`.
pub fn lp_payload(request: &VendorRequest) -> Value {
    let lp_event = match &request.input {
        VendorInput::Message { lp_event, .. } => lp_event.to_value(),
        VendorInput::Welcome { last_consumer_message, lp_event } => {
            let mut event = lp_event.to_value();
            if !event.is_object() {
                event = Value::Object(Map::new());
            }
            if let Some(last) = last_consumer_message {
                event["lastConsumerMessage"] = json!(last);
            }
            event
        }
    };
    let mut payload = json!({"lpEvent": lp_event});
    if let Some(sdes) = &request.conversation.sdes {
        payload["lpSdes"] = (**sdes).clone();
    }
    payload
}

/// The Dialogflow session of a conversation: its id when Dialogflow takes it as it is (at most
/// 36 characters of letters, digits, `-` and `_`; LivePerson's conversation ids are UUIDs), a
/// stable hash of it otherwise.
pub fn session_id(conversation_id: &str) -> String {
    let fits = !conversation_id.is_empty()
        && conversation_id.len() <= MAX_SESSION_ID
        && conversation_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fits {
        conversation_id.to_owned()
    } else {
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(conversation_id.as_bytes()))
    }
}

/// Whether a path segment from the configuration may go into a URL as it is.
pub fn is_path_segment(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Where and how a Dialogflow API is called; shared by both vendors.
pub struct DialogflowHttp {
    pub client: awc::Client,
    pub tokens: Rc<GoogleTokenSource>,
    /// One exchange's deadline, body included.
    pub timeout: Duration,
}

/// Codes shared by both APIs' exchanges.
pub mod codes {
    /// A 2xx answer whose body is not JSON.
    pub const NOT_JSON: &str = "botvisor.dialogflow.response.not-json";
}

impl DialogflowHttp {
    /// POSTs `body` with the bearer; a 401 renews the token once. A 2xx answer's JSON, or the
    /// error the core acts on: timeouts, 5xx and 429 are retried by the core, the rest escalate.
    pub async fn post(&self, url: &str, body: &Value) -> Result<Value, VendorError> {
        let mut renewed = false;
        loop {
            let token = self.tokens.bearer(renewed).await?;
            let (status, bytes) =
                tokio::time::timeout(self.timeout, self.exchange(url, body, &token)).await.map_err(|_| VendorError::Timeout)??;
            if status == 401 && !renewed {
                renewed = true;
                continue;
            }
            return answer(url, status, &bytes);
        }
    }

    async fn exchange(&self, url: &str, body: &Value, token: &str) -> Result<(u16, actix_web::web::Bytes), VendorError> {
        let mut response = self
            .client
            .post(url)
            .timeout(self.timeout)
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send_json(body)
            .await
            .map_err(|e| match e {
                awc::error::SendRequestError::Timeout => VendorError::Timeout,
                awc::error::SendRequestError::Url(e) => VendorError::Request { message: format!("POST {url}: {e}") },
                other => VendorError::Connection { message: format!("POST {url}: {other}") },
            })?;
        let status = response.status().as_u16();
        let bytes = response.body().limit(MAX_BODY).await.map_err(|e| match e {
            awc::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => VendorError::Timeout,
            other => VendorError::Request { message: format!("reading the answer of POST {url} failed: {other}") },
        })?;
        Ok((status, bytes))
    }
}

/// Maps a status and body to the answer or the error (Google's errors are `google.rpc.Status`:
/// `{"error": {"code", "message", "status"}}`; their message is shown, it holds no secret).
fn answer(url: &str, status: u16, bytes: &[u8]) -> Result<Value, VendorError> {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    if (200..300).contains(&status) {
        return parsed.ok_or_else(|| VendorError::InvalidResponse {
            code: codes::NOT_JSON.into(),
            message: format!("POST {url} answered {status} with a body that is not JSON"),
        });
    }
    let google = parsed.as_ref().and_then(|b| b.get("error"));
    let google_status = google.and_then(|e| e.get("status")).and_then(Value::as_str).unwrap_or("");
    let google_message = google.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("");
    let said = if google_status.is_empty() { String::new() } else { format!(" {google_status}: {google_message}") };
    Err(match status {
        401 => VendorError::Request {
            message: format!(
                "{}: Dialogflow refused a fresh token too (401{said}); check that the service account has the Dialogflow API Client role",
                auth_codes::UNAUTHENTICATED
            ),
        },
        429 => VendorError::RateLimited { retry_after_ms: 1000 },
        500..=599 => VendorError::Server { status },
        403 => VendorError::Request {
            message: format!("Dialogflow refused the request (403{said}); check the project and the account's roles"),
        },
        404 => VendorError::Request {
            message: format!("Dialogflow does not know {url} (404{said}); check the project, location, agent and environment"),
        },
        _ => VendorError::Request { message: format!("Dialogflow refused the request ({status}{said})") },
    })
}

#[cfg(test)]
mod tests {
    use botvisor_actors::model::JsonText;
    use botvisor_actors::ports::InputKind;

    use super::*;

    #[test]
    fn welcome_and_long_texts_become_events() {
        let message = |text: &str| VendorInput::Message {
            text: text.into(),
            kind: InputKind::Text,
            sequences: vec![1],
            lp_event: JsonText::default(),
        };
        assert_eq!(query_input(&message("hi")), QueryInput::Text("hi".into()));
        assert_eq!(query_input(&message(&"é".repeat(256))), QueryInput::Text("é".repeat(256)), "256 characters, not bytes, are fine");
        assert_eq!(query_input(&message(&"a".repeat(257))), QueryInput::Event(CHAR_LIMIT_EVENT));
        let welcome = VendorInput::Welcome { last_consumer_message: None, lp_event: JsonText::default() };
        assert_eq!(query_input(&welcome), QueryInput::Event(WELCOME_EVENT));
    }

    #[test]
    fn session_ids_are_conversation_ids_when_dialogflow_takes_them() {
        assert_eq!(session_id("4f1b6a4e-9d0e-4a51-8d52-2b8f7c0e9a11"), "4f1b6a4e-9d0e-4a51-8d52-2b8f7c0e9a11");
        let long = session_id(&"x".repeat(40));
        assert_eq!(long.len(), 32);
        assert_eq!(long, session_id(&"x".repeat(40)), "stable");
        assert_ne!(session_id("a/b"), "a/b");
    }

    #[test]
    fn errors_map_to_what_the_core_retries_or_escalates() {
        let body = br#"{"error": {"code": 404, "message": "No agent", "status": "NOT_FOUND"}}"#;
        assert!(matches!(answer("u", 404, body), Err(VendorError::Request { message }) if message.contains("NOT_FOUND: No agent")));
        assert_eq!(answer("u", 503, b""), Err(VendorError::Server { status: 503 }));
        assert!(matches!(answer("u", 429, b""), Err(VendorError::RateLimited { .. })));
        assert!(matches!(answer("u", 200, b"<html>"), Err(VendorError::InvalidResponse { code, .. }) if code == codes::NOT_JSON));
        assert_eq!(answer("u", 200, b"{}"), Ok(json!({})));
    }
}
