//! The open-loop load generator, for benchmarks: it opens N conversations on a skill, then sends
//! consumer messages at a fixed rate, round robin over them, each at its scheduled time whatever
//! the bots do (open loop). An agent's answer (`You said: …`) is matched to the oldest unanswered
//! message of its conversation, and its latency is measured from that message's *scheduled* time
//! (so a slow bot cannot hide its queueing: no coordinated omission), in an HDR histogram.
//!
//! Bounded: at most `MAX_CONVERSATIONS` conversations and `MAX_MESSAGES` messages a run, at most
//! `MAX_RATE` messages per second; a run ends by itself once its messages are sent.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::sim::ws::arm;
use crate::sim::Sim;

pub const MAX_CONVERSATIONS: u32 = 100_000;
pub const MAX_MESSAGES: u64 = 10_000_000;
pub const MAX_RATE: u32 = 1_000_000;
/// How often the sender wakes up to send what is due.
const SEND_TICK: Duration = Duration::from_millis(1);
/// The answer texts the tracker matches (the scripted vendor's and the SDK peer's echo).
const ANSWER_PREFIX: &str = "You said: m";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenConversations {
    pub skill: String,
    pub count: u32,
    /// Conversations opened per second.
    #[serde(default = "default_open_rate")]
    pub per_second: u32,
}

fn default_open_rate() -> u32 {
    1000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessages {
    /// Consumer messages per second, over all the load's conversations.
    pub rate: u32,
    /// Messages to send in all.
    pub count: u64,
}

impl OpenConversations {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 || self.count > MAX_CONVERSATIONS {
            return Err(format!("count: must be between 1 and {MAX_CONVERSATIONS}"));
        }
        if self.per_second == 0 || self.per_second > MAX_RATE {
            return Err(format!("per_second: must be between 1 and {MAX_RATE}"));
        }
        Ok(())
    }
}

impl SendMessages {
    pub fn validate(&self) -> Result<(), String> {
        if self.rate == 0 || self.rate > MAX_RATE {
            return Err(format!("rate: must be between 1 and {MAX_RATE}"));
        }
        if self.count == 0 || self.count > MAX_MESSAGES {
            return Err(format!("count: must be between 1 and {MAX_MESSAGES}"));
        }
        Ok(())
    }
}

/// What a load run has done so far; lives in the simulator's state.
pub struct LoadTracker {
    skill: String,
    skill_id: String,
    conversations: Vec<String>,
    /// Scheduled times of each conversation's unanswered messages, oldest first.
    pending: HashMap<String, VecDeque<Instant>>,
    latency_us: Histogram<u64>,
    opening: bool,
    sending: bool,
    sent: u64,
    send_failures: u64,
    answered: u64,
    /// Answers with no message waiting in their conversation (answered twice, or not ours).
    unmatched_answers: u64,
    send_started: Option<Instant>,
    send_finished: Option<Instant>,
    last_answer: Option<Instant>,
}

impl LoadTracker {
    fn new(skill: &str, skill_id: &str) -> Self {
        Self {
            skill: skill.to_owned(),
            skill_id: skill_id.to_owned(),
            conversations: Vec::new(),
            pending: HashMap::new(),
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            opening: true,
            sending: false,
            sent: 0,
            send_failures: 0,
            answered: 0,
            unmatched_answers: 0,
            send_started: None,
            send_finished: None,
            last_answer: None,
        }
    }

    /// An assigned agent published a text in `conversation`.
    pub fn on_agent_text(&mut self, conversation: &str, text: &str) {
        if !text.starts_with(ANSWER_PREFIX) {
            return;
        }
        let Some(queue) = self.pending.get_mut(conversation) else { return };
        match queue.pop_front() {
            Some(scheduled) => {
                let now = Instant::now();
                self.latency_us.saturating_record(now.saturating_duration_since(scheduled).as_micros().max(1) as u64);
                self.answered += 1;
                self.last_answer = Some(now);
            }
            None => self.unmatched_answers += 1,
        }
    }

    /// The run's figures; `state` tells which conversations are assigned or moved.
    pub fn status(&self, conversations: &HashMap<String, crate::sim::state::Conversation>) -> Value {
        let (mut assigned, mut moved, mut closed) = (0u64, 0u64, 0u64);
        for id in &self.conversations {
            let Some(c) = conversations.get(id) else { continue };
            if c.state != "OPEN" {
                closed += 1;
            } else if c.skill_id != self.skill_id {
                moved += 1;
            } else if c.assigned.is_some() {
                assigned += 1;
            }
        }
        let h = &self.latency_us;
        let send_seconds = match (self.send_started, self.send_finished) {
            (Some(start), Some(end)) => end.duration_since(start).as_secs_f64(),
            (Some(start), None) => start.elapsed().as_secs_f64(),
            _ => 0.0,
        };
        let answer_seconds = match (self.send_started, self.last_answer) {
            (Some(start), Some(end)) => end.saturating_duration_since(start).as_secs_f64(),
            _ => 0.0,
        };
        json!({
            "skill": self.skill,
            "opening": self.opening,
            "opened": self.conversations.len(),
            "assigned": assigned,
            "moved_to_other_skill": moved,
            "closed": closed,
            "sending": self.sending,
            "sent": self.sent,
            "send_failures": self.send_failures,
            "answered": self.answered,
            "unanswered": self.pending.values().map(VecDeque::len).sum::<usize>(),
            "unmatched_answers": self.unmatched_answers,
            "send_seconds": send_seconds,
            "answer_seconds": answer_seconds,
            "latency_us": {
                "count": h.len(),
                "p50": h.value_at_quantile(0.5),
                "p90": h.value_at_quantile(0.9),
                "p99": h.value_at_quantile(0.99),
                "p999": h.value_at_quantile(0.999),
                "max": h.max(),
                "mean": h.mean(),
            },
        })
    }
}

/// Starts a load: a fresh tracker, and `count` conversations opened at `per_second`.
pub fn open(sim: Arc<Sim>, request: OpenConversations) -> Result<(), String> {
    request.validate()?;
    {
        let mut state = sim.state.lock().expect("state lock");
        if state.load.as_ref().is_some_and(|l| l.opening || l.sending) {
            return Err("a load run is going on; DELETE /sim/v1/load first".into());
        }
        let skill_id = state.skill_by_name(&request.skill).map(|s| s.id.clone()).ok_or(format!("skill: no skill named {:?}", request.skill))?;
        state.load = Some(LoadTracker::new(&request.skill, &skill_id));
    }
    actix_rt::spawn(async move {
        let started = Instant::now();
        let mut opened = 0u32;
        let mut tick = tokio::time::interval(SEND_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while opened < request.count {
            tick.tick().await;
            let due = ((started.elapsed().as_secs_f64() * f64::from(request.per_second)) as u32 + 1).min(request.count);
            let timers = {
                let mut state = sim.state.lock().expect("state lock");
                if state.load.is_none() {
                    return; // deleted meanwhile
                }
                while opened < due {
                    match state.open_conversation(&request.skill, json!({})) {
                        Ok((id, _)) => {
                            let load = state.load.as_mut().expect("checked above");
                            load.pending.insert(id.clone(), VecDeque::new());
                            load.conversations.push(id);
                        }
                        Err(message) => tracing::warn!(%message, "load: a conversation could not be opened"),
                    }
                    opened += 1;
                }
                state.take_timers()
            };
            arm(sim.clone(), timers);
        }
        if let Some(load) = sim.state.lock().expect("state lock").load.as_mut() {
            load.opening = false;
        }
    });
    Ok(())
}

/// Sends `count` messages at `rate`, round robin over the load's open conversations.
pub fn send(sim: Arc<Sim>, request: SendMessages) -> Result<(), String> {
    request.validate()?;
    let conversations = {
        let mut state = sim.state.lock().expect("state lock");
        let load = state.load.as_mut().ok_or("no load: POST /sim/v1/load/conversations first")?;
        if load.opening || load.sending {
            return Err("the load is still opening conversations or sending".into());
        }
        // Each send is its own measurement.
        load.sending = true;
        load.send_started = Some(Instant::now());
        load.send_finished = None;
        load.last_answer = None;
        load.latency_us.reset();
        load.sent = 0;
        load.send_failures = 0;
        load.answered = 0;
        load.unmatched_answers = 0;
        for queue in load.pending.values_mut() {
            queue.clear();
        }
        load.conversations.clone()
    };
    if conversations.is_empty() {
        return Err("the load has no conversations".into());
    }
    actix_rt::spawn(async move {
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / f64::from(request.rate));
        let mut next = 0u64;
        let mut tick = tokio::time::interval(SEND_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while next < request.count {
            tick.tick().await;
            let now = Instant::now();
            let mut state = sim.state.lock().expect("state lock");
            if state.load.is_none() {
                return;
            }
            while next < request.count {
                let scheduled = started + interval.mul_f64(next as f64);
                if scheduled > now {
                    break;
                }
                let conversation = &conversations[(next % conversations.len() as u64) as usize];
                if let Some(queue) = state.load.as_mut().and_then(|l| l.pending.get_mut(conversation)) {
                    queue.push_back(scheduled);
                }
                let event = json!({"type": "ContentEvent", "contentType": "text/plain", "message": format!("m{next}")});
                let sent = state.consumer_event(conversation, event).is_ok();
                let load = state.load.as_mut().expect("checked above");
                if sent {
                    load.sent += 1;
                } else {
                    load.send_failures += 1;
                    if let Some(queue) = load.pending.get_mut(conversation) {
                        queue.pop_back();
                    }
                }
                next += 1;
            }
        }
        if let Some(load) = sim.state.lock().expect("state lock").load.as_mut() {
            load.sending = false;
            load.send_finished = Some(Instant::now());
        }
    });
    Ok(())
}

/// Ends the load: its open conversations are closed by the consumer, the tracker goes.
pub fn stop(sim: Arc<Sim>) -> Value {
    let (closed, timers) = {
        let mut state = sim.state.lock().expect("state lock");
        let Some(load) = state.load.take() else { return json!({"closed": 0}) };
        let mut closed = 0;
        for id in &load.conversations {
            if state.conversations.get(id).is_some_and(|c| c.state == "OPEN") {
                state.close(id, "CONSUMER");
                closed += 1;
            }
        }
        state.flush_notifications();
        (closed, state.take_timers())
    };
    arm(sim, timers);
    json!({"closed": closed})
}

/// The load's figures, or none.
pub fn status(sim: &Sim) -> Option<Value> {
    let state = sim.state.lock().expect("state lock");
    state.load.as_ref().map(|load| load.status(&state.conversations))
}
