//! One store call against etcd: each attempt bounded by the call timeout, an unavailable etcd
//! retried with a doubling backoff a bounded number of times, and etcd's errors sorted into what
//! the store answers (`Unavailable`, or a refusal that no retry would change).
//!
//! Every call the store retries is safe to repeat: reads, and Txns whose compare makes a repeat
//! of an applied write a no-op or the same write (see `store.rs`).

use std::future::Future;
use std::time::Duration;

use tonic::Code;

use crate::cluster::StoreError;

/// How many times, and how far apart, a call is tried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub call_timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry `n` (1-based): doubled each time, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What an etcd error means for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// etcd is down, unreachable, without a leader or too slow: worth another try.
    Unavailable(String),
    /// The lease named in the request is gone (expired or revoked): the node owns nothing.
    LeaseNotFound,
    /// etcd refused the request (credentials, permissions, a bad argument): a retry changes
    /// nothing.
    Refused(String),
}

impl Failure {
    pub fn of(error: &etcd_client::Error) -> Self {
        use etcd_client::Error;
        match error {
            Error::GRpcStatus(status) => Self::of_status(status.code(), status.message()),
            Error::LeaseKeepAliveError(message) if message.contains("lease not found") => Self::LeaseNotFound,
            Error::InvalidArgs(_) | Error::InvalidUri(_) | Error::EndpointError(_) | Error::InvalidMetadataValue(_) => {
                Self::Refused(error.to_string())
            }
            _ => Self::Unavailable(error.to_string()),
        }
    }

    fn of_status(code: Code, message: &str) -> Self {
        match code {
            Code::NotFound if message.contains("lease not found") => Self::LeaseNotFound,
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal => Self::Unavailable(format!("{code:?}: {message}")),
            _ => Self::Refused(format!("{code:?}: {message}")),
        }
    }

    pub fn into_store_error(self, what: &str) -> StoreError {
        match self {
            Self::Unavailable(message) => StoreError::Unavailable(format!("etcd {what}: {message}")),
            Self::LeaseNotFound => StoreError::Unavailable(format!("etcd {what}: this node's lease was lost; a new one is being granted")),
            Self::Refused(message) => StoreError::Io(format!("etcd refused {what}: {message}")),
        }
    }
}

/// Runs `attempt` until it succeeds, etcd refuses it, or `policy.attempts` tries (each bounded by
/// `policy.call_timeout`) found etcd unavailable. `what` names the call in errors and logs.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, what: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let mut last = Failure::Unavailable("not tried".to_owned());
    for n in 1..=policy.attempts.max(1) {
        match tokio::time::timeout(policy.call_timeout, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => match Failure::of(&error) {
                refused @ Failure::Refused(_) => return Err(refused.into_store_error(what)),
                failure => last = failure,
            },
            Err(_) => last = Failure::Unavailable(format!("no answer within {:?}", policy.call_timeout)),
        }
        if n < policy.attempts {
            tracing::debug!(call = what, attempt = n, failure = ?last, "etcd call failed; retrying");
            tokio::time::sleep(policy.backoff(n)).await;
        }
    }
    Err(last.into_store_error(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            call_timeout: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let policy = policy();
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(3), Duration::from_millis(300));
        assert_eq!(policy.backoff(40), Duration::from_millis(300));
    }

    #[test]
    fn etcd_errors_are_sorted_by_what_a_retry_can_change() {
        let status = |code, message: &str| etcd_client::Error::GRpcStatus(tonic::Status::new(code, message));
        assert!(matches!(Failure::of(&status(Code::Unavailable, "etcdserver: leader changed")), Failure::Unavailable(_)));
        assert!(matches!(Failure::of(&status(Code::DeadlineExceeded, "")), Failure::Unavailable(_)));
        assert_eq!(Failure::of(&status(Code::NotFound, "etcdserver: requested lease not found")), Failure::LeaseNotFound);
        assert!(matches!(Failure::of(&status(Code::PermissionDenied, "etcdserver: permission denied")), Failure::Refused(_)));
        assert!(matches!(Failure::of(&status(Code::InvalidArgument, "etcdserver: user name is empty")), Failure::Refused(_)));
        assert_eq!(Failure::of(&etcd_client::Error::LeaseKeepAliveError("lease not found".into())), Failure::LeaseNotFound);
        assert!(matches!(Failure::of(&etcd_client::Error::LeaseKeepAliveError("channel closed".into())), Failure::Unavailable(_)));
    }

    #[tokio::test]
    async fn an_unavailable_etcd_is_tried_a_bounded_number_of_times() {
        tokio::time::pause();
        let mut tries = 0;
        let result: Result<(), _> = with_retries(&policy(), "get", || {
            tries += 1;
            async { Err(etcd_client::Error::GRpcStatus(tonic::Status::unavailable("no leader"))) }
        })
        .await;
        assert_eq!(tries, 4);
        assert!(matches!(result, Err(StoreError::Unavailable(m)) if m.contains("no leader")));
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_a_hung_call_times_out() {
        tokio::time::pause();
        let mut tries = 0;
        let result: Result<(), _> = with_retries(&policy(), "put", || {
            tries += 1;
            async { Err(etcd_client::Error::GRpcStatus(tonic::Status::permission_denied("permission denied"))) }
        })
        .await;
        assert_eq!(tries, 1);
        assert!(matches!(result, Err(StoreError::Io(_))));

        let start = tokio::time::Instant::now();
        let result: Result<(), _> = with_retries(&policy(), "get", std::future::pending).await;
        assert!(matches!(result, Err(StoreError::Unavailable(m)) if m.contains("no answer")));
        // Four timeouts and three backoffs (100 + 200 + 300 ms); tokio's timer rounds up to 1 ms.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(4600) && elapsed < Duration::from_millis(4620), "{elapsed:?}");
    }
}
