//! Rate limit for the "platform frame not used" log line: a peer that sends garbage as fast as it
//! can must not fill a disk with our logs. The first `burst` bad frames of each window are logged
//! one by one; the rest are only counted, and the count is logged once as a summary when the
//! window is over (with the next bad frame, or at the next keepalive tick).

use std::time::Duration;

use tokio::time::Instant;

/// Bad frames logged one by one per window.
pub const BAD_FRAMES_LOGGED_PER_WINDOW: u32 = 10;
/// The window.
pub const BAD_FRAME_LOG_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct BadFrameLog {
    window: Duration,
    burst: u32,
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// What to do with one bad frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogDecision {
    /// Log this frame.
    pub log: bool,
    /// Bad frames of the previous window that were not logged (log a summary first).
    pub summary: Option<u64>,
}

impl Default for BadFrameLog {
    fn default() -> Self {
        Self::new(BAD_FRAME_LOG_WINDOW, BAD_FRAMES_LOGGED_PER_WINDOW)
    }
}

impl BadFrameLog {
    pub fn new(window: Duration, burst: u32) -> Self {
        Self { window, burst, window_start: None, logged: 0, suppressed: 0 }
    }

    /// A bad frame arrived at `now`.
    pub fn note(&mut self, now: Instant) -> LogDecision {
        let summary = self.roll(now);
        if self.window_start.is_none() {
            self.window_start = Some(now);
        }
        if self.logged < self.burst {
            self.logged += 1;
            LogDecision { log: true, summary }
        } else {
            self.suppressed += 1;
            LogDecision { log: false, summary }
        }
    }

    /// The count of frames not logged in a window that is over, once.
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        self.roll(now)
    }

    /// Starts a new window when the current one is over; returns what it suppressed.
    fn roll(&mut self, now: Instant) -> Option<u64> {
        let start = self.window_start?;
        if now.saturating_duration_since(start) < self.window {
            return None;
        }
        self.window_start = None;
        self.logged = 0;
        Some(std::mem::take(&mut self.suppressed)).filter(|n| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_the_burst_then_one_summary_per_window() {
        let t0 = Instant::now();
        let mut log = BadFrameLog::new(Duration::from_secs(60), 3);
        let decisions: Vec<LogDecision> = (0..1000).map(|_| log.note(t0)).collect();
        assert_eq!(decisions.iter().filter(|d| d.log).count(), 3);
        assert!(decisions.iter().all(|d| d.summary.is_none()));
        assert_eq!(log.flush(t0 + Duration::from_secs(59)), None, "the window is not over");
        assert_eq!(log.flush(t0 + Duration::from_secs(60)), Some(997));
        assert_eq!(log.flush(t0 + Duration::from_secs(120)), None, "reported once");
        let next = log.note(t0 + Duration::from_secs(121));
        assert_eq!(next, LogDecision { log: true, summary: None }, "a new window logs again");
    }

    #[test]
    fn the_summary_rides_on_the_first_frame_of_the_next_window() {
        let t0 = Instant::now();
        let mut log = BadFrameLog::new(Duration::from_secs(10), 1);
        log.note(t0);
        log.note(t0);
        log.note(t0);
        assert_eq!(log.note(t0 + Duration::from_secs(11)), LogDecision { log: true, summary: Some(2) });
    }
}
