//! Pre and post hooks around every vendor call (LivePerson's "Third-Party Bots Pre/Post Hook"):
//! an HTTP POST before the request goes to the vendor, which may change it, and one after the
//! answer comes back, which may change it — and so what the bot does.
//!
//! Pre: `{"hook": "pre", "conversationId", "vendor", "request": <the vendor request body>}`,
//! answered `{"request": <the body to send>}`. Post: `{"hook": "post", "conversationId",
//! "vendor", "response": <the vendor's answer body, or null>}`, answered `{"response": …}`. An
//! empty answer (or 204) leaves the body as it was. A hook that times out, answers anything but
//! 2xx, or answers a body of another shape fails the call with `botvisor.hook.failed`, which
//! takes the escalation path (a hook is the bot's own code: it is not retried).

use std::rc::Rc;

use botvisor_actors::errors::VendorError;
use serde_json::{json, Value};

use crate::config::http_call::HttpCall;
use crate::http::{post_json, shared_client, TlsError};

/// A hook's timeout when none is configured (LivePerson asks hooks to answer within a second).
pub const DEFAULT_HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A hook's answer larger than this is refused.
const MAX_HOOK_ANSWER: usize = 1024 * 1024;

/// The hooks of one bot (none, one or both). Cheap to clone.
#[derive(Clone, Default)]
pub struct VendorHooks {
    pre: Option<Rc<Hook>>,
    post: Option<Rc<Hook>>,
}

struct Hook {
    call: HttpCall,
    client: awc::Client,
}

impl VendorHooks {
    /// Create them on the bot's arbiter: they use that thread's shared HTTP clients.
    pub fn new(pre: Option<HttpCall>, post: Option<HttpCall>) -> Result<Self, TlsError> {
        let hook =
            |call: HttpCall| -> Result<Rc<Hook>, TlsError> { Ok(Rc::new(Hook { client: shared_client(call.ca.as_deref())?, call })) };
        Ok(Self { pre: pre.map(hook).transpose()?, post: post.map(hook).transpose()? })
    }

    pub fn is_empty(&self) -> bool {
        self.pre.is_none() && self.post.is_none()
    }

    /// The request body to send to the vendor: `request`, or what the pre hook made of it.
    pub async fn before(&self, conversation_id: &str, vendor: &str, request: Value) -> Result<Value, VendorError> {
        let Some(hook) = &self.pre else { return Ok(request) };
        let body = json!({"hook": "pre", "conversationId": conversation_id, "vendor": vendor, "request": request});
        match hook.call("pre", &body).await? {
            None => Ok(request),
            Some(mut answer) => match answer.get_mut("request").map(Value::take) {
                Some(request) if request.is_object() => Ok(request),
                _ => {
                    Err(VendorError::Hook { which: "pre", message: "the answer must be {\"request\": {…}} (or empty to keep it)".into() })
                }
            },
        }
    }

    /// The vendor's answer as the bot is to read it: `response`, or what the post hook made of it.
    pub async fn after(&self, conversation_id: &str, vendor: &str, response: Option<Value>) -> Result<Option<Value>, VendorError> {
        let Some(hook) = &self.post else { return Ok(response) };
        let body = json!({"hook": "post", "conversationId": conversation_id, "vendor": vendor, "response": response});
        match hook.call("post", &body).await? {
            None => Ok(response),
            Some(mut answer) => match answer.get_mut("response").map(Value::take) {
                Some(Value::Null) => Ok(None),
                Some(response) => Ok(Some(response)),
                None => {
                    Err(VendorError::Hook { which: "post", message: "the answer must be {\"response\": …} (or empty to keep it)".into() })
                }
            },
        }
    }
}

impl Hook {
    /// The hook's answer body, `None` when empty.
    async fn call(&self, which: &'static str, body: &Value) -> Result<Option<Value>, VendorError> {
        let answer = post_json(&self.client, &self.call.url, self.call.header.as_ref(), body, self.call.timeout, MAX_HOOK_ANSWER)
            .await
            .map_err(|failure| VendorError::Hook { which, message: failure.to_string() })?;
        if !(200..300).contains(&answer.status) {
            return Err(VendorError::Hook { which, message: format!("it answered {}", answer.status) });
        }
        Ok(answer.body)
    }
}
