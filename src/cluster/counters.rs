//! What the cluster loop did, readable from any thread (the admin API's metrics).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ClusterCounters {
    handoffs: AtomicU64,
    takeovers: AtomicU64,
    session_drops: AtomicU64,
    unreachable_members: AtomicU64,
}

impl ClusterCounters {
    pub fn count_handoff(&self) {
        self.handoffs.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_takeover(&self) {
        self.takeovers.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count_session_drop(&self) {
        self.session_drops.fetch_add(1, Ordering::Relaxed);
    }
    pub fn set_unreachable_members(&self, n: usize) {
        self.unreachable_members.store(n as u64, Ordering::Relaxed);
    }
    /// Other members this node sees listed but not renewing their lease (rebalancing waits).
    pub fn unreachable_members(&self) -> u64 {
        self.unreachable_members.load(Ordering::Relaxed)
    }
    /// Bots this node handed to another one.
    pub fn handoffs(&self) -> u64 {
        self.handoffs.load(Ordering::Relaxed)
    }
    /// Bots this node became the owner of.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(Ordering::Relaxed)
    }
    /// Times the ownership deadline passed and every session was dropped.
    pub fn session_drops(&self) -> u64 {
        self.session_drops.load(Ordering::Relaxed)
    }
}
