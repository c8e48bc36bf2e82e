//! One bounded HTTP exchange for the vendors that need more than a JSON POST (Lex's signed
//! bytes, Watson's forms and sessions, Direct Line's GETs): the deadline covers the answer's body,
//! the body is capped, and transport failures become the `VendorError`s the core retries.

use std::time::Duration;

use actix_web::web::Bytes;
use botvisor_actors::errors::VendorError;
use serde_json::Value;

/// Answers larger than this are refused.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A request to send.
pub struct Exchange<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    /// The body and its content type.
    pub body: Option<(Vec<u8>, &'a str)>,
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The headers the vendors' errors are told by (lower-case names).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`None` when empty or not JSON).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `Retry-After` in milliseconds (default a second).
    pub fn retry_after_ms(&self) -> u64 {
        self.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map_or(1000, |s| s.saturating_mul(1000))
    }
}

/// Sends the request; a timeout (connecting, sending or reading) is `VendorError::Timeout`, any
/// other transport failure a `Request` error naming the method and URL (never a header).
pub async fn send(client: &awc::Client, request: Exchange<'_>) -> Result<Answer, VendorError> {
    let Exchange { method, url, headers, body, timeout } = request;
    let shown = format!("{method} {}", url.split('?').next().unwrap_or(url));
    let call = async {
        let method_value = actix_web::http::Method::from_bytes(method.as_bytes())
            .map_err(|_| VendorError::Request { message: format!("{shown}: not an HTTP method") })?;
        let mut builder = client.request(method_value, url).timeout(timeout);
        for (name, value) in &headers {
            builder = builder.insert_header((name.as_str(), value.as_str()));
        }
        let sent = match body {
            Some((bytes, content_type)) => builder.insert_header(("Content-Type", content_type)).send_body(bytes).await,
            None => builder.send().await,
        };
        let mut response = sent.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => VendorError::Timeout,
            awc::error::SendRequestError::Url(e) => VendorError::Request { message: format!("{shown}: {e}") },
            other => VendorError::Connection { message: format!("{shown}: {other}") },
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "retry-after" | "x-amzn-errortype" | "content-type"))
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let body = response.body().limit(MAX_BODY).await.map_err(|e| match e {
            awc::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => VendorError::Timeout,
            awc::error::PayloadError::Overflow => {
                VendorError::Request { message: format!("the answer of {shown} is larger than {MAX_BODY} bytes") }
            }
            other => VendorError::Connection { message: format!("reading the answer of {shown}: {other}") },
        })?;
        Ok(Answer { status, headers, body })
    };
    tokio::time::timeout(timeout, call).await.unwrap_or(Err(VendorError::Timeout))
}

/// A bounded map of conversation → the vendor's session, newest wins; beyond `max` entries it
/// starts over (the store still has every session, so nothing is lost but a lookup).
pub struct SessionCache {
    sessions: std::cell::RefCell<std::collections::HashMap<String, Value>>,
    max: usize,
}

impl SessionCache {
    pub fn new(max: usize) -> Self {
        Self { sessions: Default::default(), max }
    }

    /// The session this adapter last used for the conversation, else what the store kept.
    pub fn get(&self, conversation: &str, stored: Option<&Value>) -> Option<Value> {
        self.sessions.borrow().get(conversation).cloned().or_else(|| stored.cloned())
    }

    pub fn put(&self, conversation: &str, session: Value) {
        let mut sessions = self.sessions.borrow_mut();
        if sessions.len() >= self.max && !sessions.contains_key(conversation) {
            sessions.clear();
        }
        sessions.insert(conversation.to_owned(), session);
    }

    pub fn remove(&self, conversation: &str) {
        self.sessions.borrow_mut().remove(conversation);
    }
}
