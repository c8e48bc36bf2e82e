//! The error hook: on every bot error, an HTTP POST (URL configured per bot) with the error code,
//! message and id, the conversation, the bot, the vendor and the vendor input that failed.
//! Fire-and-forget with a short timeout: it never blocks the escalation. No credentials are ever
//! part of the event.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use botvisor_actors::ports::{BotErrorEvent, ErrorHookPort};
use serde_json::json;

use crate::http::{shared_client, TlsError};

/// One POST's timeout.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(3);
/// Deliveries in flight per bot, at most: beyond it reports are dropped and counted (a slow
/// hook under an error storm must not pile up tasks and memory).
pub const MAX_HOOK_DELIVERIES_IN_FLIGHT: usize = 64;

/// What became of a bot's error reports (the admin API's metrics read them from any thread).
#[derive(Debug, Default)]
pub struct HookCounters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl HookCounters {
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Posts error events to a URL. Create it on the bot's thread.
pub struct HttpErrorHook {
    url: String,
    client: awc::Client,
    in_flight: Rc<Cell<usize>>,
    counters: Arc<HookCounters>,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the error hook URL must start with http:// or https://")]
    BadUrl,
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl HttpErrorHook {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(url: &str, ca: Option<PathBuf>) -> Result<Self, HookError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(HookError::BadUrl);
        }
        Ok(Self { url: url.to_owned(), client: shared_client(ca.as_deref())?, in_flight: Rc::new(Cell::new(0)), counters: Arc::default() })
    }

    pub fn counters(&self) -> Arc<HookCounters> {
        self.counters.clone()
    }
}

impl ErrorHookPort for HttpErrorHook {
    fn report(&self, event: BotErrorEvent) {
        let body = json!({
            "botId": event.bot_id,
            "conversationId": event.conversation_id,
            "error": {"code": event.error.code.as_str(), "message": event.error.message, "errorId": event.error.error_id},
            "vendor": event.vendor,
            "vendorRequest": event.vendor_request,
        });
        if self.in_flight.get() >= MAX_HOOK_DELIVERIES_IN_FLIGHT {
            let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    max_in_flight = MAX_HOOK_DELIVERIES_IN_FLIGHT,
                    "error hook reports dropped: the hook is slower than the errors come"
                );
            }
            return;
        }
        self.in_flight.set(self.in_flight.get() + 1);
        let request = self.client.post(&self.url).timeout(HOOK_TIMEOUT).send_json(&body);
        // The URL may carry a key in its query: logs name only the origin.
        let url = self.url.split(['?', '#']).next().unwrap_or("").split('/').take(3).collect::<Vec<_>>().join("/");
        let (in_flight, counters) = (self.in_flight.clone(), self.counters.clone());
        actix_rt::spawn(async move {
            // The whole delivery is bounded, the answer's body included.
            let delivered = tokio::time::timeout(HOOK_TIMEOUT, async {
                let mut response = request.await.map_err(|e| e.to_string())?;
                let _ = response.body().limit(64 * 1024).await;
                Ok::<_, String>(response.status())
            })
            .await;
            in_flight.set(in_flight.get().saturating_sub(1));
            match delivered {
                Ok(Ok(status)) if status.is_success() => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Ok(status)) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%url, %status, "the error hook refused the report");
                }
                Ok(Err(error)) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%url, %error, "the error hook could not be reached");
                }
                Err(_) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%url, "the error hook did not answer in time");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botvisor_actors::errors::{ErrorCode, ErrorReport};

    fn event() -> BotErrorEvent {
        BotErrorEvent {
            bot_id: "b".into(),
            conversation_id: None,
            error: ErrorReport::new(ErrorCode::VendorTimeout, "slow"),
            vendor: "fake",
            vendor_request: None,
        }
    }

    #[actix_rt::test]
    async fn a_hook_that_never_answers_holds_at_most_64_reports_and_counts_the_rest() {
        // Takes connections and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hook = HttpErrorHook::new(&format!("http://{}/hook", silent.local_addr().unwrap()), None).unwrap();
        for _ in 0..100 {
            hook.report(event());
        }
        let counters = hook.counters();
        assert_eq!(counters.dropped(), 100 - MAX_HOOK_DELIVERIES_IN_FLIGHT as u64);
        assert_eq!(hook.in_flight.get(), MAX_HOOK_DELIVERIES_IN_FLIGHT);
    }
}
