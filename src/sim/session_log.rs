//! Every login, connection, kick, revocation and disconnection the simulator saw, with its time
//! (`GET /sim/v1/sessions`): what the chaos benchmark reads to prove that no bot ever had two
//! sessions at once. Bounded: the oldest entries go first.

use std::collections::VecDeque;

use serde::Serialize;

/// Entries kept, at most.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEventKind {
    /// A login succeeded (a new session).
    Login,
    /// A websocket opened for a session.
    Connect,
    /// A connection was closed because another one of the same agent opened (4409).
    Kick,
    /// A session ended by the platform (a new login, an expired token), its sockets closed.
    Revoke,
    /// A websocket closed from the agent's side (or dropped).
    Disconnect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub login: String,
    pub kind: SessionEventKind,
    /// The connection, for the events about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
}

#[derive(Debug, Default)]
pub struct SessionLog {
    total: u64,
    events: VecDeque<SessionEvent>,
}

impl SessionLog {
    pub fn push(&mut self, event: SessionEvent) {
        self.total += 1;
        if self.events.len() == MAX_ENTRIES {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Events seen since the start (more than kept once the log is full).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The kept events of `login` (all when `None`), oldest first.
    pub fn events(&self, login: Option<&str>) -> Vec<SessionEvent> {
        self.events.iter().filter(|e| login.is_none_or(|l| e.login == l)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded_and_filters_by_login() {
        let mut log = SessionLog::default();
        for i in 0..(MAX_ENTRIES + 5) {
            let login = if i % 2 == 0 { "a" } else { "b" };
            log.push(SessionEvent { at_ms: i as i64, login: login.into(), kind: SessionEventKind::Connect, conn: Some(i as u64) });
        }
        assert_eq!(log.total(), (MAX_ENTRIES + 5) as u64);
        assert_eq!(log.events(None).len(), MAX_ENTRIES);
        assert_eq!(log.events(None)[0].at_ms, 5, "the oldest went first");
        assert!(log.events(Some("a")).iter().all(|e| e.login == "a"));
    }
}
