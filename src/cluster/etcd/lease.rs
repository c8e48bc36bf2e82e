//! The node's lease and the task that keeps it: granted at connect, renewed every TTL/3 over
//! etcd's keep-alive stream, the stream re-opened whenever it dies (it does on an etcd leader
//! change or when the member the client talks to goes away), and a new lease granted when the
//! old one is lost (expired or revoked: every owner key went with it).
//!
//! The local ownership deadline is the send time of the last *acknowledged* renewal + TTL −
//! margin on the monotonic clock: etcd counts the TTL from when it received that renewal, which
//! is after we sent it, so past our deadline the lease may be gone but before it, it is not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, LeaseKeepAliveStream, LeaseKeeper, PutOptions};
use tokio::time::Instant;

use super::call::Failure;
use super::keys::Keys;
use super::settings::EtcdSettings;

/// The lease as the store sees it; written by the keeper task only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseView {
    /// The lease the node's owner and member keys are bound to now.
    pub id: i64,
    /// Counts the leases this store has held: a change means every ownership taken under an
    /// earlier one is gone.
    pub generation: u64,
    /// Past it, the node must consider that it owns nothing.
    pub deadline: Instant,
    pub counters: LeaseCounters,
}

/// What the keeper has done since connect (for the node's metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseCounters {
    /// Renewals etcd acknowledged.
    pub renewals: u64,
    /// Renewals (or grants, registrations, stream openings) that failed or went unanswered.
    pub renewal_failures: u64,
    /// Leases found expired or revoked (a new one was granted).
    pub leases_lost: u64,
}

/// Shared between the store and its keeper task.
#[derive(Debug)]
pub struct SharedLease {
    view: Mutex<LeaseView>,
}

impl SharedLease {
    pub fn new(id: i64, deadline: Instant) -> Self {
        Self { view: Mutex::new(LeaseView { id, generation: 1, deadline, counters: LeaseCounters::default() }) }
    }

    pub fn view(&self) -> LeaseView {
        *self.view.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut LeaseView)) {
        change(&mut self.view.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }

    /// A renewal sent at `sent` was acknowledged: the deadline moves on (never back).
    pub fn renewed(&self, id: i64, sent: Instant, settings: &EtcdSettings) {
        let deadline = deadline_after(sent, settings);
        self.update(|view| {
            if view.id == id {
                view.counters.renewals += 1;
                view.deadline = view.deadline.max(deadline);
            }
        });
    }

    /// A renewal (or a step towards one) failed.
    pub fn failed(&self) {
        self.update(|view| view.counters.renewal_failures += 1);
    }

    /// The lease is gone: the deadline is now, at the latest.
    pub fn lost(&self, now: Instant) {
        self.update(|view| {
            view.counters.leases_lost += 1;
            view.deadline = view.deadline.min(now);
        });
    }

    /// The node let go of its lease: the deadline is now, at the latest.
    pub fn left(&self, now: Instant) {
        self.update(|view| view.deadline = view.deadline.min(now));
    }

    /// A new lease, granted by a request sent at `sent`.
    pub fn granted(&self, id: i64, sent: Instant, settings: &EtcdSettings) {
        self.update(|view| {
            view.id = id;
            view.generation += 1;
            view.deadline = deadline_after(sent, settings);
        });
    }
}

/// The local ownership deadline after a renewal (or grant) sent at `sent` was acknowledged.
pub fn deadline_after(sent: Instant, settings: &EtcdSettings) -> Instant {
    // An overflow would mean a TTL of centuries, which validate() refuses: fall back to "now".
    sent.checked_add(settings.deadline_after_renewal()).unwrap_or(sent)
}

/// One call, bounded by `timeout`.
async fn bounded<T>(timeout: Duration, call: impl std::future::Future<Output = Result<T, etcd_client::Error>>) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure::of(&error)),
        Err(_) => Err(Failure::Unavailable(format!("no answer within {timeout:?}"))),
    }
}

/// Where the keeper is.
enum Phase {
    /// No lease: grant one.
    Grant,
    /// A lease without this node's member key on it.
    Register,
    /// A lease without a keep-alive stream.
    Open,
    /// Renewing over an open stream.
    Renew(Box<Renewing>),
}

/// An open keep-alive stream: requests go out through the keeper, answers come back in order.
struct Renewing {
    keeper: LeaseKeeper,
    stream: LeaseKeepAliveStream,
}

/// The background task that keeps the lease; it runs until the store aborts it.
pub struct LeaseKeeperTask {
    pub client: Client,
    pub settings: Arc<EtcdSettings>,
    pub keys: Keys,
    pub node_id: String,
    /// This node's `Member` as JSON, put on each new lease.
    pub member_json: Vec<u8>,
    pub shared: Arc<SharedLease>,
}

impl LeaseKeeperTask {
    /// Keeps the lease granted at connect (its member key already put, its first renewal at
    /// `granted_at`).
    pub async fn run(self, granted_at: Instant) {
        let mut phase = Phase::Open;
        let mut last_sent = granted_at;
        let mut failures: u32 = 0;
        loop {
            let id = self.shared.view().id;
            let mut client = self.client.clone();
            let call_timeout = self.settings.call_timeout;
            phase = match phase {
                Phase::Grant => {
                    let sent = Instant::now();
                    match bounded(call_timeout, client.lease_grant(self.settings.lease_ttl_secs(), None)).await {
                        Ok(granted) => {
                            self.shared.granted(granted.id(), sent, &self.settings);
                            last_sent = sent;
                            tracing::info!(node_id = %self.node_id, lease_id = granted.id(), "new lease granted");
                            Phase::Register
                        }
                        Err(failure) => self.retry_later(Phase::Grant, &mut failures, "granting a lease", failure).await,
                    }
                }
                Phase::Register => {
                    let put = client.put(self.keys.member(&self.node_id), self.member_json.clone(), Some(PutOptions::new().with_lease(id)));
                    match bounded(call_timeout, put).await {
                        Ok(_) => {
                            failures = 0;
                            Phase::Open
                        }
                        Err(Failure::LeaseNotFound) => self.lose(id),
                        Err(failure) => self.retry_later(Phase::Register, &mut failures, "registering the member", failure).await,
                    }
                }
                Phase::Open => {
                    // Opening the stream renews the lease once and waits for its answer.
                    let sent = Instant::now();
                    match bounded(call_timeout, client.lease_keep_alive(id)).await {
                        Ok((keeper, stream)) => {
                            self.shared.renewed(id, sent, &self.settings);
                            last_sent = sent;
                            failures = 0;
                            Phase::Renew(Box::new(Renewing { keeper, stream }))
                        }
                        Err(Failure::LeaseNotFound) => self.lose(id),
                        Err(failure) => self.retry_later(Phase::Open, &mut failures, "opening the lease keep-alive", failure).await,
                    }
                }
                Phase::Renew(mut renewing) => {
                    tokio::time::sleep_until(last_sent.checked_add(self.settings.renew_interval()).unwrap_or(last_sent)).await;
                    let sent = Instant::now();
                    let answer = async {
                        renewing.keeper.keep_alive().await?;
                        renewing.stream.message().await
                    };
                    let wait = call_timeout.min(self.settings.renew_interval());
                    match tokio::time::timeout(wait, answer).await {
                        Ok(Ok(Some(renewed))) if renewed.ttl() > 0 => {
                            self.shared.renewed(id, sent, &self.settings);
                            last_sent = sent;
                            Phase::Renew(renewing)
                        }
                        Ok(Ok(Some(_))) => self.lose(id),
                        Ok(Ok(None)) => self.reopen("the keep-alive stream ended".to_owned()),
                        Ok(Err(error)) => self.reopen(error.to_string()),
                        Err(_) => self.reopen(format!("no renewal acknowledged within {wait:?}")),
                    }
                }
            };
        }
    }

    fn lose(&self, id: i64) -> Phase {
        self.shared.lost(Instant::now());
        tracing::warn!(node_id = %self.node_id, lease_id = id, "the lease was lost (expired or revoked); every bot it owned is gone");
        Phase::Grant
    }

    fn reopen(&self, reason: String) -> Phase {
        self.shared.failed();
        tracing::info!(node_id = %self.node_id, reason, "lease keep-alive stream lost; re-opening it");
        Phase::Open
    }

    /// Waits a doubling backoff, capped at the renewal interval so a short outage costs at most
    /// one renewal, then tries `phase` again.
    async fn retry_later(&self, phase: Phase, failures: &mut u32, what: &str, failure: Failure) -> Phase {
        *failures = failures.saturating_add(1);
        self.shared.failed();
        let wait = self.backoff(*failures);
        tracing::warn!(node_id = %self.node_id, failure = ?failure, attempt = *failures, "{what} failed; retrying");
        tokio::time::sleep(wait).await;
        phase
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.settings.initial_backoff.saturating_mul(factor).min(self.settings.max_backoff).min(self.settings.renew_interval())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EtcdSettings {
        let mut settings = EtcdSettings::new(vec!["http://127.0.0.1:2379".into()]);
        settings.lease_ttl = Duration::from_secs(10);
        settings.deadline_margin = Duration::from_secs(1);
        settings
    }

    #[tokio::test]
    async fn the_deadline_is_the_acknowledged_send_time_plus_ttl_less_the_margin() {
        tokio::time::pause();
        let settings = settings();
        let start = Instant::now();
        let shared = SharedLease::new(7, deadline_after(start, &settings));
        assert_eq!(shared.view().deadline, start + Duration::from_secs(9));
        shared.renewed(7, start + Duration::from_secs(3), &settings);
        assert_eq!(shared.view().deadline, start + Duration::from_secs(12));
        // An older renewal never moves it back; another lease's never moves it at all.
        shared.renewed(7, start + Duration::from_secs(1), &settings);
        shared.renewed(8, start + Duration::from_secs(6), &settings);
        assert_eq!(shared.view().deadline, start + Duration::from_secs(12));
    }

    #[tokio::test]
    async fn a_lost_lease_passes_the_deadline_at_once_and_a_new_one_is_another_generation() {
        tokio::time::pause();
        let settings = settings();
        let start = Instant::now();
        let shared = SharedLease::new(7, deadline_after(start, &settings));
        shared.lost(start + Duration::from_secs(2));
        assert_eq!(shared.view().deadline, start + Duration::from_secs(2));
        shared.granted(9, start + Duration::from_secs(3), &settings);
        shared.renewed(9, start + Duration::from_secs(3), &settings);
        let counters = LeaseCounters { renewals: 1, renewal_failures: 0, leases_lost: 1 };
        assert_eq!(shared.view(), LeaseView { id: 9, generation: 2, deadline: start + Duration::from_secs(12), counters });
    }
}
