//! Request correlation: each request frame gets an id; its response (or its deadline) resolves
//! the caller's reply. At most `max_pending` wait for a response; more wait in order for a slot
//! (a burst of rings), up to `max_queued`; beyond that a request fails at once.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use botvisor_actors::errors::PlatformError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::platform::liveperson::frames::{self, Extras, RawJson};
use crate::platform::liveperson::session::inbound::ResponseBody;

pub type Reply = oneshot::Sender<Result<ResponseBody, PlatformError>>;

struct Pending {
    reply: Reply,
    deadline: Instant,
}

struct Queued {
    kind: &'static str,
    body: RawJson,
    extras: Extras,
    reply: Reply,
    /// A queued request times out from when it was asked, waiting included.
    deadline: Instant,
}

/// A request frame to write now: its id (to fail it if the write fails) and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub id: String,
    pub text: String,
}

pub struct RequestTable {
    pending: HashMap<String, Pending>,
    queued: VecDeque<Queued>,
    next_id: u64,
    max_pending: usize,
    max_queued: usize,
    timeout: Duration,
}

impl RequestTable {
    pub fn new(max_pending: usize, max_queued: usize, timeout: Duration) -> Self {
        Self { pending: HashMap::new(), queued: VecDeque::new(), next_id: 0, max_pending: max_pending.max(1), max_queued, timeout }
    }

    /// Takes a request: the frame to write now, or `None` when it waits for a slot (or was
    /// refused: its reply has the error).
    pub fn submit(&mut self, kind: &'static str, body: RawJson, extras: Extras, reply: Reply, now: Instant) -> Option<Outgoing> {
        let deadline = now.checked_add(self.timeout).unwrap_or(now);
        if self.pending.len() >= self.max_pending || !self.queued.is_empty() {
            if self.queued.len() >= self.max_queued {
                let message = format!("over {} requests wait for the platform", self.max_queued);
                let _ = reply.send(Err(PlatformError::Rejected { status: 503, message }));
            } else {
                self.queued.push_back(Queued { kind, body, extras, reply, deadline });
            }
            return None;
        }
        Some(self.register(kind, body, &extras, reply, deadline))
    }

    fn register(&mut self, kind: &str, body: RawJson, extras: &Extras, reply: Reply, deadline: Instant) -> Outgoing {
        self.next_id += 1;
        let id = format!("bv-{}", self.next_id);
        let text = frames::request(&id, kind, &body, extras);
        self.pending.insert(id.clone(), Pending { reply, deadline });
        Outgoing { id, text }
    }

    /// Resolves a request by its response; `false` when no request waits under that id (late or
    /// unknown).
    pub fn resolve(&mut self, id: &str, result: Result<ResponseBody, PlatformError>) -> bool {
        match self.pending.remove(id) {
            Some(pending) => {
                let _ = pending.reply.send(result);
                true
            }
            None => false,
        }
    }

    /// Fails what is past its deadline.
    pub fn expire(&mut self, now: Instant) {
        let expired: Vec<String> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| id.clone()).collect();
        for id in expired {
            self.resolve(&id, Err(PlatformError::Timeout));
        }
        while self.queued.front().is_some_and(|q| q.deadline <= now) {
            if let Some(queued) = self.queued.pop_front() {
                let _ = queued.reply.send(Err(PlatformError::Timeout));
            }
        }
    }

    /// Moves waiting requests into free slots: the frames to write, in order.
    pub fn take_ready(&mut self) -> Vec<Outgoing> {
        let mut ready = Vec::new();
        while self.pending.len() < self.max_pending {
            let Some(next) = self.queued.pop_front() else { break };
            if next.reply.is_closed() {
                continue; // the asker gave up
            }
            ready.push(self.register(next.kind, next.body, &next.extras, next.reply, next.deadline));
        }
        ready
    }

    /// Fails every request, waiting or queued (the connection is gone).
    pub fn fail_all(&mut self, error: PlatformError) {
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
        for queued in self.queued.drain(..) {
            let _ = queued.reply.send(Err(error.clone()));
        }
    }

    /// Requests awaiting a response.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    type Answer = oneshot::Receiver<Result<ResponseBody, PlatformError>>;

    fn ask(table: &mut RequestTable, now: Instant) -> (Option<Outgoing>, Answer) {
        let (tx, rx) = oneshot::channel();
        let (kind, body) = frames::get_clock();
        (table.submit(kind, body, Extras::default(), tx, now), rx)
    }

    /// What an answer says, as text.
    fn got(answer: &mut Answer) -> Result<String, PlatformError> {
        answer.try_recv().expect("answered").map(|body| body.get().to_owned())
    }

    fn body(text: &str) -> ResponseBody {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn beyond_the_limit_requests_wait_in_order_and_go_out_as_slots_free() {
        let now = Instant::now();
        let mut table = RequestTable::new(2, 10, Duration::from_secs(10));
        let (a, mut a_reply) = ask(&mut table, now);
        let (b, _) = ask(&mut table, now);
        let (c, mut c_reply) = ask(&mut table, now);
        let (d, _) = ask(&mut table, now);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(c.is_none() && d.is_none(), "the third and fourth wait");
        assert!(table.take_ready().is_empty(), "no slot free yet");
        assert!(table.resolve(&a.id, Ok(body(r#""ok""#))));
        assert_eq!(got(&mut a_reply), Ok(r#""ok""#.to_owned()));
        let ready = table.take_ready();
        assert_eq!(ready.len(), 1, "one slot freed, one goes out");
        assert!(ready[0].text.contains(&ready[0].id) && ready[0].id != b.id);
        assert!(c_reply.try_recv().is_err(), "sent, not answered yet");
        assert!(!table.resolve("bv-999", Ok(body("null"))), "an unknown id is reported");
    }

    #[test]
    fn a_full_queue_refuses_and_deadlines_fail_waiting_and_queued_requests() {
        let now = Instant::now();
        let mut table = RequestTable::new(1, 1, Duration::from_secs(10));
        let (_, mut sent) = ask(&mut table, now);
        let (_, mut queued) = ask(&mut table, now);
        let (_, mut refused) = ask(&mut table, now);
        assert!(matches!(got(&mut refused), Err(PlatformError::Rejected { status: 503, .. })));
        table.expire(now + Duration::from_secs(9));
        assert!(sent.try_recv().is_err(), "not yet");
        table.expire(now + Duration::from_secs(10));
        assert_eq!(got(&mut sent), Err(PlatformError::Timeout));
        assert_eq!(got(&mut queued), Err(PlatformError::Timeout));
        assert_eq!(table.in_flight(), 0);
    }

    #[test]
    fn a_lost_connection_fails_everything() {
        let now = Instant::now();
        let mut table = RequestTable::new(1, 5, Duration::from_secs(10));
        let (_, mut first) = ask(&mut table, now);
        let (_, mut second) = ask(&mut table, now);
        table.fail_all(PlatformError::NotConnected);
        assert_eq!(got(&mut first), Err(PlatformError::NotConnected));
        assert_eq!(got(&mut second), Err(PlatformError::NotConnected));
    }

    #[test]
    fn an_absurd_timeout_does_not_overflow() {
        let mut table = RequestTable::new(1, 1, Duration::MAX);
        let (out, _) = ask(&mut table, Instant::now());
        assert!(out.is_some());
    }
}
