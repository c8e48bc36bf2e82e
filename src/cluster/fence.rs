//! The local fence: the node's ownership deadline as every platform session of its bots sees it.
//! Past it a session sends nothing more and does not connect: a node paused longer than its
//! lease (SIGSTOP, a GC pause, a frozen VM) wakes up fenced, before its cluster loop has even
//! looked, while another node may own its bots already. The cluster loop moves it forward as the
//! lease is renewed; it only ever reflects an acknowledged renewal, so it is conservative.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// `deadline` as milliseconds after `base`; `OPEN` when there is no lease (the embedded store).
#[derive(Clone, Debug)]
pub struct Fence {
    base: Instant,
    deadline_ms: Arc<AtomicU64>,
}

const OPEN: u64 = u64::MAX;

impl Fence {
    /// A fence that never closes (one node, no lease).
    pub fn open() -> Self {
        Self { base: Instant::now(), deadline_ms: Arc::new(AtomicU64::new(OPEN)) }
    }

    /// A fence closed until `set` gives it a deadline.
    pub fn closed() -> Self {
        Self { base: Instant::now(), deadline_ms: Arc::new(AtomicU64::new(0)) }
    }

    /// The node's ownership deadline (`None`: no lease, always open).
    pub fn set(&self, deadline: Option<Instant>) {
        let ms = match deadline {
            None => OPEN,
            Some(deadline) => u64::try_from(deadline.saturating_duration_since(self.base).as_millis()).unwrap_or(OPEN - 1),
        };
        self.deadline_ms.store(ms, Ordering::Release);
    }

    /// Whether a session may still talk to the platform at `now`.
    pub fn allows(&self, now: Instant) -> bool {
        let deadline = self.deadline_ms.load(Ordering::Acquire);
        deadline == OPEN || now.saturating_duration_since(self.base) < Duration::from_millis(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_closes_at_its_deadline_and_opens_when_it_moves() {
        let now = Instant::now();
        let fence = Fence::closed();
        assert!(!fence.allows(now), "closed until a deadline is known");
        fence.set(Some(now + Duration::from_secs(5)));
        assert!(fence.allows(now + Duration::from_millis(4999)));
        assert!(!fence.allows(now + Duration::from_secs(6)), "past the deadline");
        fence.set(Some(now + Duration::from_secs(10)));
        assert!(fence.allows(now + Duration::from_secs(6)), "a renewal moves it");
        fence.set(None);
        assert!(fence.allows(now + Duration::from_secs(3600)), "no lease: open");
        assert!(Fence::open().allows(now + Duration::from_secs(1 << 30)));
    }

    #[test]
    fn clones_share_the_deadline() {
        let fence = Fence::closed();
        let seen_by_a_session = fence.clone();
        fence.set(Some(Instant::now() + Duration::from_secs(1)));
        assert!(seen_by_a_session.allows(Instant::now()));
    }
}
