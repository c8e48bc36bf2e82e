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
            VendorError::Timeout | VendorError::Server { .. } if attempt < policy.max_attempts => {
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
