//! The function vendor: the bot's logic in an HTTP function (any FaaS URL) speaking LivePerson
//! Functions' bodies (spec/third-party-bots.md §1.3). One POST per input:
//!
//! `{"convId", "message", "event"?: {"name": "welcome"}, "context": {"lpEvent", "lpSdes"?}}`
//!
//! and the answer parsed by `function_response`. The core applies the call timeout, retries
//! (timeouts, 5xx, 429) and escalation; this adapter maps one call. Pre and post hooks wrap the
//! body and the answer when the bot has them.

use std::rc::Rc;
use std::time::Duration;

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult};
use serde_json::{json, Value};

use crate::config::http_call::HttpCall;
use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::{post_json, shared_client, CallFailure, TlsError};
use crate::vendors::function_response::{codes, parse_function_response};

/// Answers larger than this are refused.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct FunctionVendor {
    inner: Rc<Inner>,
}

struct Inner {
    call: HttpCall,
    client: awc::Client,
    hooks: VendorHooks,
}

impl FunctionVendor {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(call: HttpCall, hooks: VendorHooks) -> Result<Self, TlsError> {
        let client = shared_client(call.ca.as_deref())?;
        Ok(Self { inner: Rc::new(Inner { call, client, hooks }) })
    }
}

/// The function's input for one vendor request.
pub fn function_body(request: &VendorRequest) -> Value {
    let conversation = &request.conversation;
    let mut context = json!({});
    let (message, event, lp_event) = match &request.input {
        VendorInput::Message { text, lp_event, .. } => (text.clone(), None, lp_event.to_value()),
        VendorInput::Welcome { last_consumer_message, lp_event } => {
            let mut lp_event = lp_event.to_value();
            if let Some(last) = last_consumer_message {
                lp_event["lastConsumerMessage"] = json!(last);
            }
            (String::new(), Some(json!({"name": "welcome"})), lp_event)
        }
    };
    context["lpEvent"] = lp_event;
    if let Some(sdes) = &conversation.sdes {
        context["lpSdes"] = (**sdes).clone();
    }
    let mut body = json!({"convId": conversation.conversation_id, "message": message, "context": context});
    if let Some(event) = event {
        body["event"] = event;
    }
    body
}

impl Inner {
    async fn send(&self, request: VendorRequest) -> Result<BotResponse, VendorError> {
        let conversation_id = request.conversation.conversation_id.to_string();
        let body = self.hooks.before(&conversation_id, "faas", function_body(&request)).await?;
        let answer = post_json(&self.client, &self.call.url, self.call.header.as_ref(), &body, self.call.timeout, MAX_BODY).await.map_err(
            |failure| match failure {
                CallFailure::Timeout(_) => VendorError::Timeout,
                CallFailure::NotJson { status: 200..=299 } => {
                    VendorError::InvalidResponse { code: codes::NOT_JSON.into(), message: "the function's answer is not JSON".into() }
                }
                CallFailure::NotJson { status } => status_error(status, None),
                CallFailure::Transport(message) => {
                    VendorError::Connection { message: format!("the function could not be called: {message}") }
                }
                other => VendorError::Request { message: format!("the function could not be called: {other}") },
            },
        )?;
        if !(200..300).contains(&answer.status) {
            return Err(status_error(answer.status, answer.retry_after_ms));
        }
        let answer = self.hooks.after(&conversation_id, "faas", answer.body).await?;
        parse_function_response(answer.as_ref())
    }
}

fn status_error(status: u16, retry_after_ms: Option<u64>) -> VendorError {
    match status {
        408 => VendorError::Timeout,
        429 => VendorError::RateLimited { retry_after_ms: retry_after_ms.unwrap_or(1000) },
        500..=599 => VendorError::Server { status },
        _ => VendorError::Request { message: format!("the function answered {status}") },
    }
}

impl VendorPort for FunctionVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }

    /// A function has no health endpoint: it is online while it can be configured.
    fn health(&self) -> VendorResult<VendorHealth> {
        Box::pin(std::future::ready(Ok(VendorHealth::Online)))
    }

    fn name(&self) -> &'static str {
        "function"
    }
}

/// The function's timeout when the bot's vendor call timeout is longer (LivePerson's limit).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
