//! The bot's functions (`INVOCATION`, `INVOKE_FUNCTION`): an HTTP POST to the configured URL with
//! `{lambdaUuid}` replaced by the function id, carrying
//! `{"lambdaUuid", "payload", "conversationId", "botId"}`. A 2xx answer is success (its body is
//! not used: a function's output never reaches the conversation); a timeout, a refusal or any
//! other status is a failure, which the core escalates or records as the action's `failOnError`
//! says.

use botvisor_actors::ports::{FunctionInvocation, FunctionPort, LocalFuture};
use serde_json::json;

use crate::config::http_call::HttpCall;
use crate::config::FUNCTION_ID_PLACEHOLDER;
use crate::http::{post_json, shared_client, CallFailure, TlsError};

/// A function's answer is read up to this (and then ignored).
const MAX_ANSWER: usize = 64 * 1024;

pub struct HttpFunctions {
    call: HttpCall,
    client: awc::Client,
}

impl HttpFunctions {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(call: HttpCall) -> Result<Self, TlsError> {
        Ok(Self { client: shared_client(call.ca.as_deref())?, call })
    }

    /// The function's URL: the id percent-encoded into the placeholder.
    fn url(&self, lambda_uuid: &str) -> String {
        let id: String = lambda_uuid
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        self.call.url.replace(FUNCTION_ID_PLACEHOLDER, &id)
    }
}

impl FunctionPort for HttpFunctions {
    fn invoke(&self, invocation: FunctionInvocation) -> LocalFuture<Result<(), String>> {
        let url = self.url(&invocation.lambda_uuid);
        let body = json!({
            "lambdaUuid": invocation.lambda_uuid,
            "payload": invocation.payload,
            "conversationId": invocation.conversation_id,
            "botId": invocation.bot_id,
        });
        let (client, header, timeout) = (self.client.clone(), self.call.header.clone(), self.call.timeout);
        Box::pin(async move {
            match post_json(&client, &url, header.as_ref(), &body, timeout, MAX_ANSWER).await {
                Ok(answer) if (200..300).contains(&answer.status) => Ok(()),
                Ok(answer) => Err(format!("the function answered {}", answer.status)),
                // The body is not used: a 2xx that is not JSON is still a success.
                Err(CallFailure::NotJson { status: 200..=299 }) => Ok(()),
                Err(CallFailure::NotJson { status }) => Err(format!("the function answered {status}")),
                Err(failure) => Err(failure.to_string()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn the_function_id_is_encoded_into_the_url() {
        let call = HttpCall {
            url: "http://fn.example/f/{lambdaUuid}/run".into(),
            header: None,
            ca: None,
            timeout: std::time::Duration::from_secs(1),
        };
        let functions = HttpFunctions::new(call).unwrap();
        assert_eq!(functions.url("7c1a-orders"), "http://fn.example/f/7c1a-orders/run");
        assert_eq!(functions.url("../admin?x=1"), "http://fn.example/f/..%2Fadmin%3Fx%3D1/run");
    }
}
