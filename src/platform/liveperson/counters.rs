//! A session's counters, readable from any thread (the admin API's metrics).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct SessionCounters {
    /// Reconnect attempts armed after a lost or failed connection.
    reconnects: AtomicU64,
    /// Logins the platform refused or rate limited, or that failed on the way.
    login_failures: AtomicU64,
    /// Frames that could not be read or were not expected.
    bad_frames: AtomicU64,
    /// Times the socket stopped being read because the bot's mailbox was full.
    read_pauses: AtomicU64,
}

impl SessionCounters {
    pub fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_login_failure(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_read_pause(&self) {
        self.read_pauses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read_pauses(&self) -> u64 {
        self.read_pauses.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub fn login_failures(&self) -> u64 {
        self.login_failures.load(Ordering::Relaxed)
    }

    pub fn bad_frames(&self) -> u64 {
        self.bad_frames.load(Ordering::Relaxed)
    }
}
