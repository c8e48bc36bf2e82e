//! Per-bot settings the core acts on, with their documented defaults.
//!
//! The service's configuration file embeds these (serde, `deny_unknown_fields`, humantime
//! durations). Defaults follow `spec/third-party-bots.md` §3; where LivePerson is silent, the
//! values are the project's proposal and are pinned by tests.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::BotId;

/// Everything the core needs to know about one bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotSettings {
    pub bot_id: BotId,
    /// The skill the bot itself listens on (used to avoid escalation loops).
    pub skill: String,
    #[serde(default)]
    pub conversation: ConversationSettings,
    pub escalation: EscalationSettings,
    #[serde(default)]
    pub load: LoadSettings,
    #[serde(default)]
    pub lifecycle: LifecycleSettings,
}

impl BotSettings {
    /// Settings with every default, for a bot on `skill` escalating to `escalation_skill`.
    pub fn new(bot_id: impl Into<BotId>, skill: &str, escalation_skill: &str) -> Self {
        Self {
            bot_id: bot_id.into(),
            skill: skill.to_owned(),
            conversation: ConversationSettings::default(),
            escalation: EscalationSettings::to_skill(escalation_skill),
            load: LoadSettings::default(),
            lifecycle: LifecycleSettings::default(),
        }
    }

    /// Every problem, each with its path under `path` (e.g. `bots[1]`).
    pub fn validate(&self, path: &str) -> Vec<SettingsProblem> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| problems.push(SettingsProblem { path: format!("{path}.{field}"), message });
        if self.bot_id.as_str().trim().is_empty() {
            problem("bot_id", "must not be empty".into());
        }
        if self.skill.trim().is_empty() {
            problem("skill", "must name the skill the bot listens on".into());
        }
        let c = &self.conversation;
        if c.combine.max_messages == 0 {
            problem("conversation.combine.max_messages", "must be at least 1".into());
        }
        if c.max_text_length == 0 {
            problem("conversation.max_text_length", "must be at least 1".into());
        }
        if c.max_buffered_messages == 0 {
            problem("conversation.max_buffered_messages", "must be at least 1".into());
        }
        if c.vendor_call.max_attempts == 0 {
            problem("conversation.vendor_call.max_attempts", "must be at least 1".into());
        }
        for limit in self.duration_limits() {
            if let Some(message) = limit.check() {
                problem(limit.path, message);
            }
        }
        if let Some(inactivity) = &c.inactivity {
            if let Some(warning) = &inactivity.warning {
                if warning.before_close >= inactivity.close_after {
                    problem("conversation.inactivity.warning.before_close", "must be shorter than close_after".into());
                }
            }
        }
        if self.escalation.skill.trim().is_empty() {
            problem("escalation.skill", "must name the skill to escalate to".into());
        }
        let l = &self.load;
        if l.hard > HARD_CONVERSATION_LIMIT {
            problem("load.hard", format!("must be at most {HARD_CONVERSATION_LIMIT}, the platform's limit per bot"));
        }
        if l.hard == 0 {
            problem("load.hard", "must be at least 1".into());
        }
        if l.recommended > l.hard {
            problem("load.recommended", format!("must not exceed load.hard ({})", l.hard));
        }
        if l.low_water >= l.recommended {
            problem("load.low_water", format!("must be below load.recommended ({})", l.recommended));
        }
        if let OverflowPolicy::Escalate { skill } = &l.overflow {
            if skill.trim().is_empty() {
                problem("load.overflow.skill", "must name the overflow skill".into());
            }
        }
        if self.lifecycle.max_restarts == 0 {
            problem("lifecycle.max_restarts", "must be at least 1".into());
        }
        problems
    }
}

/// The range a configured duration must fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationLimit {
    /// The setting's path under a bot's `settings`.
    pub path: &'static str,
    pub value: Duration,
    /// Whether 0s is allowed (only where zero means "at once", never for an interval that repeats).
    pub zero_allowed: bool,
    pub max: Duration,
}

impl DurationLimit {
    /// What is wrong with the value, if anything.
    pub fn check(&self) -> Option<String> {
        if self.value.is_zero() && !self.zero_allowed {
            Some("must be longer than 0s".into())
        } else if self.value > self.max {
            Some(format!("must be at most {}", humanize(self.max)))
        } else {
            None
        }
    }
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn humanize(d: Duration) -> String {
    match d.as_secs() {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl BotSettings {
    /// Every configured duration with its allowed range (the README's configuration limits).
    pub fn duration_limits(&self) -> Vec<DurationLimit> {
        let c = &self.conversation;
        let l = &self.lifecycle;
        let limit = |path, value, zero_allowed, max| DurationLimit { path, value, zero_allowed, max };
        let mut limits = vec![
            limit("conversation.combine.time_frame", c.combine.time_frame, true, MINUTE),
            limit("conversation.combine.typing_time_frame", c.combine.typing_time_frame, true, MINUTE),
            limit("conversation.combine.message_delay", c.combine.message_delay, true, MINUTE),
            limit("conversation.vendor_call.timeout", c.vendor_call.timeout, false, 5 * MINUTE),
            limit("conversation.vendor_call.retry_backoff", c.vendor_call.retry_backoff, false, 10 * MINUTE),
            limit("conversation.vendor_call.retry_message_interval", c.vendor_call.retry_message_interval, false, HOUR),
            limit("escalation.retry_interval", self.escalation.retry_interval, false, HOUR),
            limit("lifecycle.ring_accept_wait", l.ring_accept_wait, true, MINUTE),
            limit("lifecycle.service_retry_interval", l.service_retry_interval, false, HOUR),
            limit("lifecycle.vendor_health_interval", l.vendor_health_interval, false, HOUR),
            limit("lifecycle.restart_window", l.restart_window, false, DAY),
            limit("lifecycle.restart_backoff", l.restart_backoff, false, HOUR),
            limit("lifecycle.passivate_after", l.passivate_after, true, DAY),
            limit("load.overload_lag", self.load.overload_lag, true, HOUR),
        ];
        if let Some(inactivity) = &c.inactivity {
            limits.push(limit("conversation.inactivity.close_after", inactivity.close_after, false, 30 * DAY));
            if let Some(warning) = &inactivity.warning {
                limits.push(limit("conversation.inactivity.warning.before_close", warning.before_close, false, 30 * DAY));
            }
        }
        debug_assert!(limits.iter().all(|l| l.max >= SECOND));
        limits
    }
}

/// One configuration problem: where, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The platform's hard limit of open conversations per bot.
pub const HARD_CONVERSATION_LIMIT: usize = 999;

/// How each conversation is handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConversationSettings {
    /// Shared by every conversation of the bot (each keeps a pointer, not a copy).
    pub combine: Arc<CombineSettings>,
    /// Greet first: send a WELCOME/START event when a conversation is assigned.
    pub welcome: bool,
    /// On a transfer in, do not treat the last agent message as the consumer's utterance.
    pub skip_agent_message: bool,
    /// Fetch engagement attributes once at start and pass them as `lpSdes`.
    pub engagement_attributes: bool,
    /// Consumer texts longer than this (in characters) are refused.
    pub max_text_length: usize,
    /// Consumer messages a conversation holds while waiting; beyond it, further messages stay in
    /// the platform's history and are read back once the waiting ones are handled.
    pub max_buffered_messages: usize,
    pub vendor_call: VendorCallSettings,
    /// Close conversations without consumer activity; off by default.
    pub inactivity: Option<InactivitySettings>,
    /// Whether closing (by the vendor's CLOSE_CONVERSATION or idle) offers the survey by default.
    pub close_with_survey: bool,
}

impl Default for ConversationSettings {
    fn default() -> Self {
        Self {
            combine: Arc::default(),
            welcome: false,
            skip_agent_message: false,
            engagement_attributes: false,
            max_text_length: 5000,
            max_buffered_messages: 200,
            vendor_call: VendorCallSettings::default(),
            inactivity: None,
            close_with_survey: true,
        }
    }
}

/// Message combining (spec §3.3): off by default; when on, 5 messages, 2 s, 5 s after typing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CombineSettings {
    pub enabled: bool,
    /// How long to wait for another message before sending (sliding).
    #[serde(with = "humantime_serde")]
    pub time_frame: Duration,
    /// How long to wait while the consumer is typing.
    #[serde(with = "humantime_serde")]
    pub typing_time_frame: Duration,
    /// Send at once when this many messages are waiting.
    pub max_messages: usize,
    /// When combining is off: messages arriving within this window of the first are still
    /// joined (Conversation Builder's `messageDelay`).
    #[serde(with = "humantime_serde")]
    pub message_delay: Duration,
}

impl Default for CombineSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            time_frame: Duration::from_secs(2),
            typing_time_frame: Duration::from_secs(5),
            max_messages: 5,
            message_delay: Duration::from_millis(300),
        }
    }
}

/// How the vendor is called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VendorCallSettings {
    /// One attempt's timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts on timeout or 5xx, in all.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// For a vendor that takes the input but answers nothing: resends of the same input.
    pub message_resend_max_retries: u32,
    /// Wait before such a resend.
    #[serde(with = "humantime_serde")]
    pub retry_message_interval: Duration,
}

impl Default for VendorCallSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_attempts: 3,
            retry_backoff: Duration::from_secs(5),
            message_resend_max_retries: 1,
            retry_message_interval: Duration::from_secs(60),
        }
    }
}

/// Close idle conversations so bots do not fill up to their hard limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactivitySettings {
    /// No consumer activity for this long closes the conversation.
    #[serde(with = "humantime_serde")]
    pub close_after: Duration,
    /// Optional warning sent this long before the close.
    #[serde(default)]
    pub warning: Option<InactivityWarning>,
    /// Optional message sent just before closing.
    #[serde(default)]
    pub close_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactivityWarning {
    #[serde(with = "humantime_serde")]
    pub before_close: Duration,
    pub message: String,
}

/// Error escalation (spec §3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationSettings {
    /// The default escalation (failover) skill.
    pub skill: String,
    #[serde(default = "default_transfer_message_to_customer")]
    pub transfer_message_to_customer: String,
    #[serde(default = "default_transfer_message_to_agent")]
    pub transfer_message_to_agent: String,
    #[serde(default = "default_transfer_failure_message")]
    pub transfer_failure_message: String,
    /// Escalation transfer attempts after the first one fails.
    #[serde(default = "default_max_escalation_retries")]
    pub max_retries: u32,
    #[serde(default = "default_escalation_retry_interval", with = "humantime_serde")]
    pub retry_interval: Duration,
}

impl EscalationSettings {
    pub fn to_skill(skill: &str) -> Self {
        Self {
            skill: skill.to_owned(),
            transfer_message_to_customer: default_transfer_message_to_customer(),
            transfer_message_to_agent: default_transfer_message_to_agent(),
            transfer_failure_message: default_transfer_failure_message(),
            max_retries: default_max_escalation_retries(),
            retry_interval: default_escalation_retry_interval(),
        }
    }
}

fn default_transfer_message_to_customer() -> String {
    "One moment please, I am transferring you to an agent.".into()
}
fn default_transfer_message_to_agent() -> String {
    "The bot could not handle this conversation and escalated it.".into()
}
fn default_transfer_failure_message() -> String {
    "Sorry, I could not transfer you right now. Please try again in a moment.".into()
}
fn default_max_escalation_retries() -> u32 {
    5
}
fn default_escalation_retry_interval() -> Duration {
    Duration::from_secs(10)
}

/// Capacity: 250 recommended, 999 hard (spec §4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSettings {
    /// At or above this many open conversations the bot goes AWAY so routing prefers others.
    pub recommended: usize,
    /// At this many, every new conversation is escalated at once (at most 999).
    pub hard: usize,
    /// Below this the bot goes back ONLINE (hysteresis).
    pub low_water: usize,
    /// What happens to new conversations that still arrive at or above `recommended`.
    pub overflow: OverflowPolicy,
    /// A consumer message reaching the bot this long after the platform stamped it means the
    /// bot is behind (overloaded): it goes AWAY until its messages are on time again for
    /// `OVERLOAD_CALM` (see `BotActor::observe_lag`); `0s`: never.
    #[serde(with = "humantime_serde")]
    pub overload_lag: Duration,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            recommended: 250,
            hard: HARD_CONVERSATION_LIMIT,
            low_water: 225,
            overflow: OverflowPolicy::Accept,
            overload_lag: Duration::from_secs(2),
        }
    }
}

/// What to do with a new conversation arriving while the bot is at its recommended load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum OverflowPolicy {
    /// Take it (up to the hard limit).
    Accept,
    /// Decline its ring so the platform routes it to another bot of the skill.
    RejectRing,
    /// Escalate it to an overflow skill without a vendor call.
    Escalate { skill: String },
}

/// Bot lifecycle timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSettings {
    /// Wait before accepting a ring (Conversation Builder's `ringAcceptWait`).
    #[serde(with = "humantime_serde")]
    pub ring_accept_wait: Duration,
    /// In Service Interruption, the session is retried this often.
    #[serde(with = "humantime_serde")]
    pub service_retry_interval: Duration,
    /// The vendor's health is checked this often.
    #[serde(with = "humantime_serde")]
    pub vendor_health_interval: Duration,
    /// Failed health checks in a row before Vendor Interruption.
    pub vendor_health_failures: u32,
    /// Rebuilds of one failing conversation allowed within `restart_window`.
    pub max_restarts: u32,
    #[serde(with = "humantime_serde")]
    pub restart_window: Duration,
    /// Base wait before a rebuild (jittered, doubled per recent restart).
    #[serde(with = "humantime_serde")]
    pub restart_backoff: Duration,
    /// A conversation settled this long keeps its state as data instead of an actor until its
    /// next event (see `conversation::passive`); `0s`: never.
    #[serde(with = "humantime_serde")]
    pub passivate_after: Duration,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            ring_accept_wait: Duration::from_millis(100),
            service_retry_interval: Duration::from_secs(60),
            vendor_health_interval: Duration::from_secs(30),
            vendor_health_failures: 1,
            max_restarts: 3,
            restart_window: Duration::from_secs(60),
            restart_backoff: Duration::from_millis(500),
            passivate_after: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = BotSettings::new("b", "bots", "humans");
        assert!(!s.conversation.combine.enabled);
        assert_eq!(s.conversation.combine.time_frame, Duration::from_secs(2));
        assert_eq!(s.conversation.combine.typing_time_frame, Duration::from_secs(5));
        assert_eq!(s.conversation.combine.max_messages, 5);
        assert_eq!(s.conversation.combine.message_delay, Duration::from_millis(300));
        assert_eq!(s.conversation.max_text_length, 5000);
        assert_eq!(s.conversation.vendor_call.timeout, Duration::from_secs(60));
        assert_eq!(s.conversation.vendor_call.max_attempts, 3);
        assert_eq!(s.escalation.max_retries, 5);
        assert_eq!(s.load.recommended, 250);
        assert_eq!(s.load.hard, 999);
        assert_eq!(s.lifecycle.ring_accept_wait, Duration::from_millis(100));
        assert_eq!(s.lifecycle.service_retry_interval, Duration::from_secs(60));
        assert!(s.conversation.inactivity.is_none());
        assert!(s.validate("bots[0]").is_empty());
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let mut s = BotSettings::new("b", "bots", "");
        s.load.hard = 1500;
        s.load.recommended = 1600;
        Arc::make_mut(&mut s.conversation.combine).max_messages = 0;
        let problems = s.validate("bots[1]");
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["bots[1].conversation.combine.max_messages", "bots[1].escalation.skill", "bots[1].load.hard", "bots[1].load.recommended",]
        );
        assert!(problems[2].message.contains("999"));
    }

    #[test]
    fn settings_read_from_json_with_humantime_durations() {
        let s: BotSettings = serde_json::from_value(serde_json::json!({
            "bot_id": "b1", "skill": "bots",
            "escalation": {"skill": "humans", "retry_interval": "30s"},
            "conversation": {"combine": {"enabled": true, "time_frame": "3s"}},
            "load": {"overflow": {"policy": "escalate", "skill": "overflow"}}
        }))
        .unwrap();
        assert_eq!(s.escalation.retry_interval, Duration::from_secs(30));
        assert_eq!(s.conversation.combine.time_frame, Duration::from_secs(3));
        assert_eq!(s.conversation.combine.max_messages, 5);
        assert_eq!(s.load.overflow, OverflowPolicy::Escalate { skill: "overflow".into() });
        let unknown = serde_json::from_value::<BotSettings>(serde_json::json!({
            "bot_id": "b1", "skill": "bots", "escalation": {"skill": "h"}, "colour": "red"
        }));
        assert!(unknown.unwrap_err().to_string().contains("colour"));
    }
}
