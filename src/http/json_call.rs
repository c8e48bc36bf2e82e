//! One JSON POST with everything bounded, for the calls botvisor makes on a bot's behalf (a
//! function vendor, the bot's functions, its hooks): the deadline covers the answer's body, the
//! body is capped, and what came back is sorted into a status and JSON (or why not).

use std::time::Duration;

use serde_json::Value;

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAnswer {
    pub status: u16,
    /// `None` for an empty body.
    pub body: Option<Value>,
    /// `Retry-After` in milliseconds, when the answer names one in seconds.
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallFailure {
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer ({status}) is not JSON")]
    NotJson { status: u16 },
}

/// POSTs `body` to `url` with `header`, waiting at most `timeout` for the whole answer.
pub async fn post_json(
    client: &awc::Client,
    url: &str,
    header: Option<&(String, String)>,
    body: &Value,
    timeout: Duration,
    max_body: usize,
) -> Result<JsonAnswer, CallFailure> {
    let call = async {
        let mut request = client.post(url).timeout(timeout);
        if let Some((name, value)) = header {
            request = request.insert_header((name.as_str(), value.as_str()));
        }
        let mut response = request.send_json(body).await.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => CallFailure::Timeout(timeout),
            other => CallFailure::Transport(format!("POST {url}: {other}")),
        })?;
        let status = response.status().as_u16();
        let retry_after_ms = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s.saturating_mul(1000));
        let bytes = response.body().limit(max_body).await.map_err(|e| match e {
            awc::error::PayloadError::Overflow => CallFailure::TooLarge(max_body),
            awc::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => CallFailure::Timeout(timeout),
            other => CallFailure::Transport(format!("reading the answer of {url}: {other}")),
        })?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(serde_json::from_slice(&bytes).map_err(|_| CallFailure::NotJson { status })?)
        };
        Ok(JsonAnswer { status, body, retry_after_ms })
    };
    tokio::time::timeout(timeout, call).await.unwrap_or(Err(CallFailure::Timeout(timeout)))
}
