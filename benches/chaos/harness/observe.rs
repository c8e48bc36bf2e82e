//! The cluster as the nodes report it: one thread asks each reachable node's `GET /v1/cluster`
//! in turn, one after the other (so every observation is later than the one before it: each
//! node reads etcd linearizably), and keeps what it saw — the members and each bot's owner and
//! fencing token — with the time it asked. The run reads failover times and steadiness from it;
//! the token check reads every observation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::http;
use super::processes::ADMIN_TIMEOUT;

/// Pause between two rounds of asking every node.
const POLL_PAUSE: Duration = Duration::from_millis(100);

/// What one node said at one time.
#[derive(Debug, Clone)]
pub struct Observation {
    /// When it was asked, since the run began.
    pub at: Duration,
    /// The node asked.
    pub via: usize,
    /// Live members: node id and capacity weight.
    pub members: Vec<(String, u32)>,
    /// Bot id → (owner node id, token).
    pub owners: BTreeMap<String, (String, i64)>,
}

impl Observation {
    /// From a `/v1/cluster` answer.
    pub fn parse(at: Duration, via: usize, view: &Value) -> Option<Observation> {
        let mut members = Vec::new();
        let mut owners = BTreeMap::new();
        for member in view["members"].as_array()? {
            let node = member["node_id"].as_str()?.to_owned();
            let capacity = if member["drained"] == true { 0 } else { member["capacity"].as_u64().unwrap_or(1) as u32 };
            for bot in member["bots"].as_array().into_iter().flatten() {
                owners.insert(bot["id"].as_str()?.to_owned(), (node.clone(), bot["token"].as_i64()?));
            }
            members.push((node, capacity));
        }
        members.sort();
        Some(Observation { at, via, members, owners })
    }
}

#[derive(Default)]
struct State {
    /// Each node's admin address while it may be asked (not paused, cut off or down).
    pollable: Vec<Option<String>>,
    /// Rounds of asking completed.
    cycles: u64,
    /// Every observation not yet taken by the run, oldest first.
    pending: Vec<Observation>,
    /// The latest observation (kept when the pending ones are taken).
    latest: Option<Observation>,
}

pub struct Observer {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    start: Instant,
}

impl Observer {
    /// Starts asking `nodes` (admin addresses; `None`: not yet).
    pub fn start(start: Instant, nodes: usize) -> Observer {
        let state = Arc::new(Mutex::new(State { pollable: vec![None; nodes], ..State::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || poll(start, &state, &stop))
        };
        Observer { state, stop, thread: Some(thread), start }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Since the run began.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Asks node `i` at `admin` from now on (`None`: stops asking it), and waits (bounded) until a
    /// round of asking has begun after the change, so no answer from before it is still awaited.
    pub fn set_pollable(&self, i: usize, admin: Option<String>) {
        let before = {
            let mut state = self.lock();
            state.pollable[i] = admin;
            state.cycles
        };
        let start = Instant::now();
        while self.lock().cycles < before + 1 && start.elapsed() < ADMIN_TIMEOUT * 4 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every observation since the last take, oldest first.
    pub fn take(&self) -> Vec<Observation> {
        std::mem::take(&mut self.lock().pending)
    }

    pub fn latest(&self) -> Option<Observation> {
        self.lock().latest.clone()
    }

    /// Waits (at most `bound`) for an observation made at or after `since` for which `holds`;
    /// its time since `since`.
    pub fn wait_for(&self, since: Duration, bound: Duration, holds: impl Fn(&Observation) -> bool) -> Option<Duration> {
        let start = Instant::now();
        let mut seen = 0;
        loop {
            {
                let state = self.lock();
                seen = seen.min(state.pending.len());
                if let Some(hit) = state.pending[seen..].iter().find(|o| o.at >= since && holds(o)) {
                    return Some(hit.at.saturating_sub(since));
                }
                seen = state.pending.len();
            }
            if start.elapsed() > bound {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn poll(start: Instant, state: &Mutex<State>, stop: &AtomicBool) {
    let lock = || state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    while !stop.load(Ordering::Relaxed) {
        let nodes = lock().pollable.clone();
        for (via, admin) in nodes.iter().enumerate() {
            let Some(admin) = admin else { continue };
            // Asked only if still pollable: a node about to be faulted is not asked any more.
            if lock().pollable[via].as_ref() != Some(admin) {
                continue;
            }
            let at = start.elapsed();
            let Ok((200, view)) = http::call(admin, "GET", "/v1/cluster", None, ADMIN_TIMEOUT) else { continue };
            if let Some(observation) = Observation::parse(at, via, &view) {
                let mut state = lock();
                state.latest = Some(observation.clone());
                state.pending.push(observation);
            }
        }
        lock().cycles += 1;
        std::thread::sleep(POLL_PAUSE);
    }
}
