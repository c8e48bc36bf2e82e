//! The bot lifecycle: Offline, Online, Vendor Interruption, Service Interruption.
//!
//! Pure: inputs (start, stop, session and vendor health news) and `now` in, the state and the
//! time it was entered out.

use tokio::time::Instant;

use crate::errors::{ErrorCode, ErrorReport};
use crate::model::BotState;

/// Where the platform session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Not connected yet (starting) or stopped.
    Down,
    Connected,
    /// Was connected or tried to, and failed; being retried.
    Lost,
}

/// One bot's lifecycle.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    running: bool,
    session: SessionStatus,
    vendor_online: bool,
    vendor_failures: u32,
    state: BotState,
    since: Instant,
    last_error: Option<ErrorReport>,
}

impl Lifecycle {
    pub fn new(now: Instant) -> Self {
        Self {
            running: false,
            session: SessionStatus::Down,
            vendor_online: true,
            vendor_failures: 0,
            state: BotState::Offline,
            since: now,
            last_error: None,
        }
    }

    pub fn state(&self) -> BotState {
        self.state
    }

    pub fn since(&self) -> Instant {
        self.since
    }

    pub fn last_error(&self) -> Option<&ErrorReport> {
        self.last_error.as_ref()
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    pub fn session(&self) -> SessionStatus {
        self.session
    }

    /// Start was asked for and the vendor is online: the session is being opened.
    pub fn start(&mut self, now: Instant) -> Option<(BotState, BotState)> {
        self.running = true;
        self.session = SessionStatus::Down;
        self.vendor_online = true;
        self.vendor_failures = 0;
        self.settle(now)
    }

    /// Start was refused (e.g. the vendor is not online): the bot stays Offline with the reason.
    pub fn refuse_start(&mut self, report: ErrorReport, now: Instant) -> Option<(BotState, BotState)> {
        self.running = false;
        self.last_error = Some(report);
        self.settle(now)
    }

    pub fn stop(&mut self, now: Instant) -> Option<(BotState, BotState)> {
        self.running = false;
        self.session = SessionStatus::Down;
        self.settle(now)
    }

    pub fn session_connected(&mut self, now: Instant) -> Option<(BotState, BotState)> {
        self.session = SessionStatus::Connected;
        self.settle(now)
    }

    pub fn session_lost(&mut self, report: ErrorReport, now: Instant) -> Option<(BotState, BotState)> {
        self.session = SessionStatus::Lost;
        self.last_error = Some(report);
        self.settle(now)
    }

    /// Another session took the agent over: reported, not fought — the bot goes Offline.
    pub fn kicked(&mut self, now: Instant) -> Option<(BotState, BotState)> {
        self.running = false;
        self.session = SessionStatus::Down;
        self.last_error = Some(ErrorReport::new(
            ErrorCode::SessionKicked,
            "another session logged in as this bot's agent and took over; make sure only one \
             botvisor node or tool uses this bot user, then start the bot again",
        ));
        self.settle(now)
    }

    /// The session gave up (login refused, reconnects exhausted): Offline with its error.
    pub fn session_ended(&mut self, report: ErrorReport, now: Instant) -> Option<(BotState, BotState)> {
        self.running = false;
        self.session = SessionStatus::Down;
        self.last_error = Some(report);
        self.settle(now)
    }

    /// A health check passed.
    pub fn vendor_healthy(&mut self, now: Instant) -> Option<(BotState, BotState)> {
        self.vendor_failures = 0;
        self.vendor_online = true;
        self.settle(now)
    }

    /// A health check failed; after `threshold` in a row the vendor counts as down.
    pub fn vendor_unhealthy(&mut self, report: ErrorReport, threshold: u32, now: Instant) -> Option<(BotState, BotState)> {
        self.vendor_failures = self.vendor_failures.saturating_add(1);
        if self.vendor_failures >= threshold.max(1) {
            if self.vendor_online {
                self.last_error = Some(report);
            }
            self.vendor_online = false;
        }
        self.settle(now)
    }

    /// Recomputes the state; returns `(from, to)` when it changed.
    fn settle(&mut self, now: Instant) -> Option<(BotState, BotState)> {
        let state = match (self.running, self.session, self.vendor_online) {
            (false, _, _) => BotState::Offline,
            (true, SessionStatus::Lost, _) => BotState::ServiceInterruption,
            (true, SessionStatus::Down, _) => BotState::Offline,
            (true, SessionStatus::Connected, true) => BotState::Online,
            (true, SessionStatus::Connected, false) => BotState::VendorInterruption,
        };
        if state == self.state {
            return None;
        }
        let from = std::mem::replace(&mut self.state, state);
        self.since = now;
        Some((from, state))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn report() -> ErrorReport {
        ErrorReport::new(ErrorCode::SessionLost, "x")
    }

    #[test]
    fn the_four_states_and_when_they_were_entered() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(t0);
        assert_eq!(l.state(), BotState::Offline);
        assert_eq!(l.start(t0), None, "starting stays Offline until the session is up");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.session_connected(t1), Some((BotState::Offline, BotState::Online)));
        assert_eq!(l.since(), t1);
        let vendor_down = ErrorReport::new(ErrorCode::VendorNotOnline, "down");
        assert_eq!(l.vendor_unhealthy(vendor_down.clone(), 2, t1), None, "one failure is below the threshold");
        assert_eq!(l.vendor_unhealthy(vendor_down, 2, t1), Some((BotState::Online, BotState::VendorInterruption)));
        assert_eq!(l.last_error().unwrap().code, ErrorCode::VendorNotOnline);
        assert_eq!(l.session_lost(report(), t1), Some((BotState::VendorInterruption, BotState::ServiceInterruption)));
        l.vendor_healthy(t1);
        assert_eq!(l.session_connected(t1), Some((BotState::ServiceInterruption, BotState::Online)));
        assert_eq!(l.kicked(t1), Some((BotState::Online, BotState::Offline)));
        assert_eq!(l.last_error().unwrap().code, ErrorCode::SessionKicked);
        assert!(!l.is_running());
    }

    #[test]
    fn a_refused_start_keeps_the_reason() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(t0);
        l.refuse_start(ErrorReport::new(ErrorCode::VendorNotOnline, "vendor says maintenance"), t0);
        assert_eq!(l.state(), BotState::Offline);
        assert_eq!(l.last_error().unwrap().message, "vendor says maintenance");
    }
}
