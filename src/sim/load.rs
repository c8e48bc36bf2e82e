//! The open-loop load generator, for benchmarks: it opens N conversations on a skill, then sends
//! consumer messages at a fixed rate, round robin over them, each at its scheduled time whatever
//! the bots do (open loop). An agent's answer (`You said: …`) is matched to the oldest unanswered
//! message of its conversation, and its latency is measured from that message's *scheduled* time
//! (so a slow bot cannot hide its queueing: no coordinated omission), in an HDR histogram.
//!
//! Bounded: at most `MAX_CONVERSATIONS` conversations and `MAX_MESSAGES` messages a run, at most
//! `MAX_RATE` messages per second; a run ends by itself once its messages are sent.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::sim::observe::{Observer, Whereabouts};
use crate::sim::state::Shared;
use crate::sim::timers;

pub const MAX_CONVERSATIONS: u32 = 200_000;
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

/// Where one of the load's conversations is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Waiting on the load's skill for an agent.
    Queued,
    /// An agent is being rung.
    Ringing,
    /// An agent holds it, on the load's skill.
    Assigned,
    /// Transferred to another skill (escalated).
    Moved,
    Closed,
}

impl Placement {
    /// Where a conversation is for a load on `skill_id`.
    pub fn at(at: Whereabouts<'_>, skill_id: &str) -> Placement {
        if !at.open {
            Placement::Closed
        } else if at.skill_id != skill_id {
            Placement::Moved
        } else if at.assigned {
            Placement::Assigned
        } else if at.ringing {
            Placement::Ringing
        } else {
            Placement::Queued
        }
    }
}

/// What a load run has done so far; the simulator's state holds it as its observer.
pub struct LoadTracker {
    skill: String,
    skill_id: String,
    conversations: Vec<String>,
    /// Where each conversation is, kept as it changes (so reading the figures costs nothing).
    placement: HashMap<String, Placement>,
    /// How many conversations are in each placement, indexed by `Placement as usize`.
    placed: [u64; 5],
    /// Scheduled times of each conversation's unanswered messages, oldest first.
    pending: HashMap<String, VecDeque<Instant>>,
    unanswered: u64,
    latency_us: Histogram<u64>,
    opening: bool,
    sending: bool,
    sent: u64,
    send_failures: u64,
    answered: u64,
    /// Answers with no message waiting in their conversation (answered twice, or not ours).
    unmatched_answers: u64,
    /// Messages that waited in a conversation when it left the bots (escalated or closed):
    /// handed to whoever has it now, not lost by the bot.
    handed_over: u64,
    /// Messages not sent because their conversation had left the bots.
    skipped: u64,
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
            placement: HashMap::new(),
            placed: [0; 5],
            pending: HashMap::new(),
            unanswered: 0,
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            opening: true,
            sending: false,
            sent: 0,
            send_failures: 0,
            answered: 0,
            unmatched_answers: 0,
            handed_over: 0,
            skipped: 0,
            send_started: None,
            send_finished: None,
            last_answer: None,
        }
    }

    /// Starts following a conversation just opened.
    fn track(&mut self, id: String, placement: Option<Placement>) {
        self.pending.insert(id.clone(), VecDeque::new());
        if let Some(placement) = placement {
            self.placed[placement as usize] += 1;
            self.placement.insert(id.clone(), placement);
        }
        self.conversations.push(id);
    }

    /// A conversation changed; `placement` is where it is now. Not one of ours: ignored.
    fn moved(&mut self, id: &str, placement: Placement) {
        if let Some(old) = self.placement.get_mut(id) {
            self.placed[*old as usize] -= 1;
            self.placed[placement as usize] += 1;
            *old = placement;
        }
        if Self::left_the_bots(placement) {
            if let Some(queue) = self.pending.get_mut(id) {
                let waiting = queue.len() as u64;
                queue.clear();
                self.unanswered -= waiting;
                self.handed_over += waiting;
            }
        }
    }

    /// Escalated to another skill or closed: the bots will not answer it any more.
    fn left_the_bots(placement: Placement) -> bool {
        matches!(placement, Placement::Moved | Placement::Closed)
    }

    fn is_assigned(&self, id: &str) -> bool {
        self.placement.get(id) == Some(&Placement::Assigned)
    }

    /// An assigned agent published a text in `conversation`.
    fn on_agent_text(&mut self, conversation: &str, text: &str) {
        if !text.starts_with(ANSWER_PREFIX) {
            return;
        }
        let Some(queue) = self.pending.get_mut(conversation) else {
            return;
        };
        // One answer to several waiting messages echoes them all, joined ("You said: m7 m9"): each
        // is answered.
        let echoed = text["You said: ".len()..].split_whitespace().filter(|word| word.starts_with('m')).count().max(1);
        let now = Instant::now();
        for _ in 0..echoed {
            match queue.pop_front() {
                Some(scheduled) => {
                    self.unanswered -= 1;
                    self.latency_us.saturating_record(now.saturating_duration_since(scheduled).as_micros().max(1) as u64);
                    self.answered += 1;
                    self.last_answer = Some(now);
                }
                None => self.unmatched_answers += 1,
            }
        }
    }

    /// The run's figures.
    pub fn status(&self) -> Value {
        let count = |p: Placement| self.placed[p as usize];
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
            "assigned": count(Placement::Assigned),
            "ringing": count(Placement::Ringing),
            "queued": count(Placement::Queued),
            "moved_to_other_skill": count(Placement::Moved),
            "closed": count(Placement::Closed),
            "sending": self.sending,
            "sent": self.sent,
            "send_failures": self.send_failures,
            "answered": self.answered,
            "unanswered": self.unanswered,
            "unmatched_answers": self.unmatched_answers,
            "handed_over": self.handed_over,
            "skipped": self.skipped,
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

impl Observer for LoadTracker {
    fn conversation_moved(&mut self, conversation: &str, at: Whereabouts<'_>) {
        let placement = Placement::at(at, &self.skill_id);
        self.moved(conversation, placement);
    }

    fn agent_text(&mut self, conversation: &str, text: &str) {
        self.on_agent_text(conversation, text);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Starts a load: a fresh tracker, and `count` conversations opened at `per_second`.
pub fn open(shared: Shared, request: OpenConversations) -> Result<(), String> {
    request.validate()?;
    {
        let mut state = shared.lock().expect("state lock");
        if state.observer::<LoadTracker>().is_some_and(|l| l.opening || l.sending) {
            return Err("a load run is going on; DELETE /sim/v1/load first".into());
        }
        let skill_id =
            state.skill_by_name(&request.skill).map(|s| s.id.clone()).ok_or(format!("skill: no skill named {:?}", request.skill))?;
        state.set_observer(Some(Box::new(LoadTracker::new(&request.skill, &skill_id))));
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
                let mut state = shared.lock().expect("state lock");
                if state.observer::<LoadTracker>().is_none() {
                    return; // deleted meanwhile
                }
                while opened < due {
                    match state.open_conversation(&request.skill, json!({})) {
                        Ok((id, _)) => {
                            let skill_id = state.observer::<LoadTracker>().map(|l| l.skill_id.clone()).unwrap_or_default();
                            let placement = state.whereabouts(&id).map(|at| Placement::at(at, &skill_id));
                            if let Some(load) = state.observer_mut::<LoadTracker>() {
                                load.track(id, placement);
                            }
                        }
                        Err(message) => {
                            tracing::warn!(%message, "load: a conversation could not be opened")
                        }
                    }
                    opened += 1;
                }
                state.take_timers()
            };
            timers::arm(&shared, timers);
        }
        if let Some(load) = shared.lock().expect("state lock").observer_mut::<LoadTracker>() {
            load.opening = false;
        }
    });
    Ok(())
}

/// Sends `count` messages at `rate`, round robin over the load's open conversations.
pub fn send(shared: Shared, request: SendMessages) -> Result<(), String> {
    request.validate()?;
    let conversations = {
        let mut state = shared.lock().expect("state lock");
        let load = state.observer_mut::<LoadTracker>().ok_or("no load: POST /sim/v1/load/conversations first")?;
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
        load.handed_over = 0;
        load.skipped = 0;
        for queue in load.pending.values_mut() {
            queue.clear();
        }
        load.unanswered = 0;
        // Consumers whose conversation an agent holds on the load's skill (one escalated or
        // still queued would wait for a human, not for the bot under test).
        load.conversations.iter().filter(|id| load.is_assigned(id)).cloned().collect::<Vec<String>>()
    };
    if conversations.is_empty() {
        if let Some(load) = shared.lock().expect("state lock").observer_mut::<LoadTracker>() {
            load.sending = false;
        }
        return Err("no agent holds any of the load's conversations".into());
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
            let mut state = shared.lock().expect("state lock");
            if state.observer::<LoadTracker>().is_none() {
                return;
            }
            while next < request.count {
                let scheduled = started + interval.mul_f64(next as f64);
                if scheduled > now {
                    break;
                }
                let conversation = &conversations[(next % conversations.len() as u64) as usize];
                let gone = state
                    .observer::<LoadTracker>()
                    .is_some_and(|load| load.placement.get(conversation.as_str()).is_some_and(|p| LoadTracker::left_the_bots(*p)));
                if gone {
                    if let Some(load) = state.observer_mut::<LoadTracker>() {
                        load.skipped += 1;
                    }
                    next += 1;
                    continue;
                }
                if let Some(load) = state.observer_mut::<LoadTracker>() {
                    if let Some(queue) = load.pending.get_mut(conversation) {
                        queue.push_back(scheduled);
                        load.unanswered += 1;
                    }
                }
                let event = json!({"type": "ContentEvent", "contentType": "text/plain", "message": format!("m{next}")});
                let sent = state.consumer_event(conversation, event).is_ok();
                let load = state.observer_mut::<LoadTracker>().expect("checked above");
                if sent {
                    load.sent += 1;
                } else {
                    load.send_failures += 1;
                    if let Some(queue) = load.pending.get_mut(conversation) {
                        if queue.pop_back().is_some() {
                            load.unanswered -= 1;
                        }
                    }
                }
                next += 1;
            }
        }
        if let Some(load) = shared.lock().expect("state lock").observer_mut::<LoadTracker>() {
            load.sending = false;
            load.send_finished = Some(Instant::now());
        }
    });
    Ok(())
}

/// Ends the load: its open conversations are closed by the consumer, the tracker goes.
pub fn stop(shared: Shared) -> Value {
    let (closed, timers) = {
        let mut state = shared.lock().expect("state lock");
        let Some(conversations) = state.observer_mut::<LoadTracker>().map(|load| std::mem::take(&mut load.conversations)) else {
            return json!({"closed": 0});
        };
        state.set_observer(None);
        let mut closed = 0;
        for id in &conversations {
            if state.whereabouts(id).is_some_and(|at| at.open) {
                state.close(id, "CONSUMER");
                closed += 1;
            }
        }
        state.flush_notifications();
        (closed, state.take_timers())
    };
    timers::arm(&shared, timers);
    json!({"closed": closed})
}

/// The load's figures, or none.
pub fn status(shared: &Shared) -> Option<Value> {
    let state = shared.lock().expect("state lock");
    state.observer::<LoadTracker>().map(LoadTracker::status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_to_several_waiting_messages_answers_each_and_an_extra_one_is_unmatched() {
        let mut load = LoadTracker::new("bots", "1");
        load.track("c1".into(), Some(Placement::Assigned));
        let sent = Instant::now();
        for _ in 0..3 {
            load.pending.get_mut("c1").unwrap().push_back(sent);
            load.unanswered += 1;
        }
        load.on_agent_text("c1", "You said: m7 m9 m11");
        assert_eq!((load.answered, load.unanswered, load.unmatched_answers), (3, 0, 0));
        load.on_agent_text("c1", "You said: m7");
        assert_eq!((load.answered, load.unanswered, load.unmatched_answers), (3, 0, 1), "answered twice");
        load.on_agent_text("c1", "Welcome!");
        assert_eq!(load.unmatched_answers, 1, "not an echo: not counted");
    }

    #[test]
    fn what_waited_in_an_escalated_conversation_is_handed_over_not_lost() {
        let mut load = LoadTracker::new("bots", "1");
        load.track("c1".into(), Some(Placement::Assigned));
        for _ in 0..2 {
            load.pending.get_mut("c1").unwrap().push_back(Instant::now());
            load.unanswered += 1;
        }
        load.moved("c1", Placement::Moved);
        assert_eq!((load.unanswered, load.handed_over, load.placed[Placement::Moved as usize]), (0, 2, 1));
    }
}
