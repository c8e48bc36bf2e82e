//! Admission decisions: pure, so they are tested without actors.

use std::collections::HashSet;

use crate::errors::{ErrorCode, ErrorReport};
use crate::model::{Availability, ConversationId};
use crate::settings::{LoadSettings, OverflowPolicy};

/// What to do with a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingDecision {
    Accept,
    /// Decline, so the platform rings another bot of the skill.
    Reject,
}

/// What to do with a conversation newly assigned to the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Start a ConversationActor that talks to the vendor.
    Start,
    /// Escalate at once to `skill`, without a vendor call.
    Escalate { skill: String, report: ErrorReport },
}

/// Counts and decisions, for metrics and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadSnapshot {
    pub open: usize,
    pub recommended: usize,
    pub hard: usize,
    pub low_water: usize,
    /// The availability the load asks for.
    pub availability: Option<Availability>,
    pub admitted: u64,
    pub escalated_at_hard_limit: u64,
    pub escalated_to_overflow: u64,
    pub rings_accepted: u64,
    pub rings_rejected: u64,
}

/// A bot's capacity thresholds, changed while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capacity {
    pub recommended: usize,
    pub hard: usize,
    pub low_water: usize,
}

impl Capacity {
    /// What is wrong with these numbers, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.hard == 0 || self.hard > crate::settings::HARD_CONVERSATION_LIMIT {
            problems.push((
                "hard",
                format!("must be between 1 and {}, the platform's limit per bot", crate::settings::HARD_CONVERSATION_LIMIT),
            ));
        }
        if self.recommended == 0 || self.recommended > self.hard {
            problems.push(("recommended", format!("must be between 1 and hard ({})", self.hard)));
        }
        if self.low_water >= self.recommended {
            problems.push(("low_water", format!("must be below recommended ({})", self.recommended)));
        }
        problems
    }
}

/// The open conversations of one bot and the capacity rules.
#[derive(Debug)]
pub struct LoadState {
    settings: LoadSettings,
    escalation_skill: String,
    open: HashSet<ConversationId>,
    /// The availability the load asks for: `Away` from `recommended` until below `low_water`.
    availability: Availability,
    counts: LoadSnapshot,
}

impl LoadState {
    pub fn new(mut settings: LoadSettings, escalation_skill: String) -> Self {
        // The platform's limit holds even if a caller skipped `BotSettings::validate`.
        settings.hard = settings.hard.min(crate::settings::HARD_CONVERSATION_LIMIT);
        Self { settings, escalation_skill, open: HashSet::new(), availability: Availability::Online, counts: LoadSnapshot::default() }
    }

    pub fn decide_ring(&mut self) -> RingDecision {
        let full = self.open.len() >= self.settings.recommended;
        if full && self.settings.overflow == OverflowPolicy::RejectRing {
            self.counts.rings_rejected += 1;
            RingDecision::Reject
        } else {
            self.counts.rings_accepted += 1;
            RingDecision::Accept
        }
    }

    /// Admits a newly assigned conversation (counted as open whatever the decision, until it is
    /// released). Returns the decision and the availability to publish if it changed.
    pub fn admit(&mut self, conversation: ConversationId) -> (Admission, Option<Availability>) {
        if self.open.contains(&conversation) {
            return (Admission::Start, None);
        }
        let open = self.open.len();
        let admission = if open >= self.settings.hard {
            self.counts.escalated_at_hard_limit += 1;
            Admission::Escalate {
                skill: self.escalation_skill.clone(),
                report: ErrorReport::new(
                    ErrorCode::ConversationLimitReached,
                    format!("the bot holds {open} open conversations, its hard limit of {}; add bots to the skill or close idle conversations sooner", self.settings.hard),
                ),
            }
        } else {
            match &self.settings.overflow {
                OverflowPolicy::Escalate { skill } if open >= self.settings.recommended => {
                    self.counts.escalated_to_overflow += 1;
                    Admission::Escalate {
                        skill: skill.clone(),
                        report: ErrorReport::new(
                            ErrorCode::OverflowEscalated,
                            format!(
                                "the bot holds {open} open conversations, at or above its recommended {}; sent to overflow skill {skill:?}",
                                self.settings.recommended
                            ),
                        ),
                    }
                }
                _ => {
                    self.counts.admitted += 1;
                    Admission::Start
                }
            }
        };
        self.open.insert(conversation);
        (admission, self.update_availability())
    }

    /// A conversation left the bot. Returns the availability to publish if it changed.
    pub fn release(&mut self, conversation: &ConversationId) -> Option<Availability> {
        if self.open.remove(conversation) {
            self.update_availability()
        } else {
            None
        }
    }

    pub fn availability(&self) -> Availability {
        self.availability
    }

    /// New thresholds for a running bot (checked by the caller: `low_water < recommended <=
    /// hard <= 999`). Nothing open is dropped: a conversation over a lowered hard limit stays;
    /// only new ones are decided by the new numbers. Returns the availability to publish if the
    /// new thresholds change it (at or over `recommended`: away; under `low_water`: online).
    pub fn set_capacity(&mut self, capacity: Capacity) -> Option<Availability> {
        self.settings.recommended = capacity.recommended;
        self.settings.hard = capacity.hard.min(crate::settings::HARD_CONVERSATION_LIMIT);
        self.settings.low_water = capacity.low_water;
        let open = self.open.len();
        let wanted = if open >= self.settings.recommended {
            Availability::Away
        } else if open < self.settings.low_water {
            Availability::Online
        } else {
            self.availability
        };
        (wanted != self.availability).then(|| {
            self.availability = wanted;
            wanted
        })
    }

    pub fn snapshot(&self) -> LoadSnapshot {
        LoadSnapshot {
            open: self.open.len(),
            recommended: self.settings.recommended,
            hard: self.settings.hard,
            low_water: self.settings.low_water,
            availability: Some(self.availability),
            ..self.counts.clone()
        }
    }

    fn update_availability(&mut self) -> Option<Availability> {
        let open = self.open.len();
        let wanted = match self.availability {
            Availability::Online | Availability::Occupied if open >= self.settings.recommended => Availability::Away,
            Availability::Away if open < self.settings.low_water => Availability::Online,
            current => current,
        };
        (wanted != self.availability).then(|| {
            self.availability = wanted;
            wanted
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(recommended: usize, hard: usize, low_water: usize, overflow: OverflowPolicy) -> LoadState {
        LoadState::new(LoadSettings { recommended, hard, low_water, overflow, ..LoadSettings::default() }, "humans".into())
    }

    fn id(n: usize) -> ConversationId {
        ConversationId::new(format!("c{n}"))
    }

    #[test]
    fn new_thresholds_apply_at_once_and_drop_nothing() {
        let mut s = state(10, 20, 8, OverflowPolicy::Accept);
        for n in 0..5 {
            s.admit(id(n));
        }
        // Lowered under the open count: away at once, every open conversation kept.
        assert_eq!(s.set_capacity(Capacity { recommended: 4, hard: 4, low_water: 2 }), Some(Availability::Away));
        assert_eq!(s.snapshot().open, 5);
        assert!(matches!(s.admit(id(9)).0, Admission::Escalate { .. }), "over the new hard limit");
        // Raised well over it: online again.
        assert_eq!(s.set_capacity(Capacity { recommended: 50, hard: 60, low_water: 40 }), Some(Availability::Online));
        assert_eq!(s.admit(id(10)).0, Admission::Start);
        assert_eq!(s.set_capacity(Capacity { recommended: 50, hard: 60, low_water: 40 }), None, "nothing changed");
        let problems = Capacity { recommended: 0, hard: 1000, low_water: 5 }.problems();
        assert_eq!(problems.iter().map(|p| p.0).collect::<Vec<_>>(), ["hard", "recommended", "low_water"]);
    }

    #[test]
    fn goes_away_at_recommended_and_back_online_below_low_water() {
        let mut s = state(4, 10, 2, OverflowPolicy::Accept);
        for n in 0..3 {
            assert_eq!(s.admit(id(n)), (Admission::Start, None));
        }
        assert_eq!(s.admit(id(3)), (Admission::Start, Some(Availability::Away)));
        assert_eq!(s.release(&id(3)), None, "3 open is not below the low-water mark of 2");
        assert_eq!(s.release(&id(2)), None);
        assert_eq!(s.release(&id(1)), Some(Availability::Online));
    }

    #[test]
    fn at_the_hard_limit_every_new_conversation_is_escalated() {
        let mut s = state(2, 3, 1, OverflowPolicy::Accept);
        for n in 0..3 {
            assert_eq!(s.admit(id(n)).0, Admission::Start);
        }
        let (Admission::Escalate { skill, report }, _) = s.admit(id(3)) else { panic!("expected escalation") };
        assert_eq!(skill, "humans");
        assert_eq!(report.code, ErrorCode::ConversationLimitReached);
        assert_eq!(s.snapshot().escalated_at_hard_limit, 1);
    }

    #[test]
    fn overflow_policies() {
        let mut s = state(1, 5, 0, OverflowPolicy::Escalate { skill: "overflow".into() });
        assert_eq!(s.decide_ring(), RingDecision::Accept);
        s.admit(id(0));
        let (Admission::Escalate { skill, report }, _) = s.admit(id(1)) else { panic!("expected escalation") };
        assert_eq!((skill.as_str(), report.code), ("overflow", ErrorCode::OverflowEscalated));

        let mut s = state(1, 5, 0, OverflowPolicy::RejectRing);
        s.admit(id(0));
        assert_eq!(s.decide_ring(), RingDecision::Reject);
        assert_eq!(s.admit(id(1)).0, Admission::Start, "a conversation that arrives anyway is taken");
    }

    #[test]
    fn admitting_twice_or_releasing_unknown_conversations_changes_nothing() {
        let mut s = state(5, 10, 1, OverflowPolicy::Accept);
        s.admit(id(0));
        s.admit(id(0));
        assert_eq!(s.snapshot().open, 1);
        assert_eq!(s.release(&id(9)), None);
        assert_eq!(s.snapshot().open, 1);
    }
}
