//! The vendor call policy: one attempt's timeout, retries on timeout/5xx/429 with backoff, and
//! resends for a vendor that takes the input but answers nothing.

use std::rc::Rc;
use std::time::Duration;

use crate::errors::VendorError;
use crate::model::BotResponse;
use crate::ports::{VendorPort, VendorRequest};
use crate::settings::VendorCallSettings;

/// The least wait after a 429, whatever the vendor says (retry-policy recommendations).
const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// Calls the vendor under `policy`; returns its answer, or the last error once the attempts
/// (timeouts, 5xx, 429) or the resends (no answer) are used up. Other errors are final at once.
pub async fn call_vendor(
    vendor: Rc<dyn VendorPort>,
    request: VendorRequest,
    policy: &VendorCallSettings,
) -> Result<BotResponse, VendorError> {
    let mut attempt = 1;
    let mut resends = 0;
    loop {
        let result = match tokio::time::timeout(policy.timeout, vendor.send(request.clone())).await {
            Ok(result) => result,
            Err(_elapsed) => Err(VendorError::Timeout),
        };
        let error = match result {
            Ok(response) => return Ok(response),
            Err(error) => error,
        };
        let wait = match &error {
            VendorError::NoAnswer if resends < policy.message_resend_max_retries => {
                resends += 1;
                policy.retry_message_interval
            }
            VendorError::RateLimited { retry_after_ms } if attempt < policy.max_attempts => {
                attempt += 1;
                // At least 1 s; at most one call timeout, whatever the vendor asks for.
                Duration::from_millis(*retry_after_ms).clamp(MIN_RATE_LIMIT_WAIT, policy.timeout.max(MIN_RATE_LIMIT_WAIT))
            }
            VendorError::Timeout | VendorError::Server { .. } | VendorError::Connection { .. } if attempt < policy.max_attempts => {
                let wait = policy.retry_backoff.saturating_mul(1 << (attempt - 1).min(16));
                attempt += 1;
                wait
            }
            _ => return Err(error),
        };
        tracing::debug!(
            conversation_id = %request.conversation.conversation_id,
            error = %error,
            wait_ms = wait.as_millis() as u64,
            "vendor call failed, retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::model::{BotId, ConversationId};
    use crate::ports::{ConversationContext, VendorHealth, VendorInput, VendorResult};

    /// Answers each call with the next scripted result and records when it was called.
    struct Scripted {
        results: RefCell<Vec<Result<BotResponse, VendorError>>>,
        calls: Rc<RefCell<Vec<tokio::time::Instant>>>,
    }

    impl VendorPort for Scripted {
        fn send(&self, _request: VendorRequest) -> VendorResult<BotResponse> {
            self.calls.borrow_mut().push(tokio::time::Instant::now());
            let result = self.results.borrow_mut().remove(0);
            Box::pin(std::future::ready(result))
        }
        fn health(&self) -> VendorResult<VendorHealth> {
            Box::pin(std::future::ready(Ok(VendorHealth::Online)))
        }
    }

    fn request() -> VendorRequest {
        VendorRequest {
            bot_id: BotId::new("b"),
            conversation: ConversationContext {
                conversation_id: ConversationId::new("c"),
                dialog_id: "c".into(),
                skill_id: "1".into(),
                consumer_id: "consumer".into(),
                context: Default::default(),
                sdes: None,
                first_call: true,
                vendor_session: None,
            },
            input: VendorInput::Welcome { last_consumer_message: None, lp_event: Default::default() },
        }
    }

    /// Runs the policy against `results`; returns the outcome and the call times from start.
    fn run(results: Vec<Result<BotResponse, VendorError>>) -> (Result<BotResponse, VendorError>, Vec<Duration>) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let calls = Rc::new(RefCell::new(Vec::new()));
            let vendor = Rc::new(Scripted { results: RefCell::new(results), calls: calls.clone() });
            let start = tokio::time::Instant::now();
            let outcome = call_vendor(vendor, request(), &VendorCallSettings::default()).await;
            let times = calls.borrow().iter().map(|t| t.duration_since(start)).collect();
            (outcome, times)
        })
    }

    #[test]
    fn rate_limits_wait_at_least_a_second_and_at_most_a_call_timeout() {
        let (outcome, times) = run(vec![
            Err(VendorError::RateLimited { retry_after_ms: 0 }),
            Err(VendorError::RateLimited { retry_after_ms: 3_600_000 }),
            Ok(BotResponse::text("ok")),
        ]);
        assert_eq!(outcome, Ok(BotResponse::text("ok")));
        assert_eq!(times, [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(61)]);
    }

    #[test]
    fn request_errors_are_final_and_server_errors_use_every_attempt() {
        let (outcome, times) = run(vec![Err(VendorError::Request { message: "403".into() })]);
        assert_eq!(outcome.unwrap_err().code(), crate::errors::ErrorCode::VendorRequestFailed);
        assert_eq!(times.len(), 1);
        let server = || Err(VendorError::Server { status: 502 });
        let (outcome, times) = run(vec![server(), server(), server()]);
        assert_eq!(outcome, Err(VendorError::Server { status: 502 }));
        assert_eq!(times, [Duration::ZERO, Duration::from_secs(5), Duration::from_secs(15)]);
    }

    #[test]
    fn a_vendor_that_cannot_be_reached_is_tried_again_like_a_timeout() {
        let refused = || Err(VendorError::Connection { message: "connection refused".into() });
        let (outcome, times) = run(vec![refused(), Ok(BotResponse::text("ok"))]);
        assert_eq!(outcome, Ok(BotResponse::text("ok")));
        assert_eq!(times, [Duration::ZERO, Duration::from_secs(5)]);
        let (outcome, times) = run(vec![refused(), refused(), refused()]);
        assert_eq!(outcome.unwrap_err().code(), crate::errors::ErrorCode::VendorRequestFailed);
        assert_eq!(times.len(), 3);
    }
}
