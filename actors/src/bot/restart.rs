//! The BotActor's restart policy for failed or panicked conversations: a jittered exponential
//! backoff before each rebuild, and at most `max_restarts` rebuilds of one conversation within
//! `restart_window`; past that the conversation goes to a human instead of being resumed.
//!
//! Pure: failures and `now` in, the decision out. The randomness comes from an injected
//! [`rand::Rng`], so tests pin it with a seed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::errors::{ErrorCode, ErrorReport};
use crate::model::ConversationId;
use crate::settings::LifecycleSettings;

/// The backoff doubles per recent restart, at most this many times.
const MAX_DOUBLINGS: u32 = 10;
/// The jitter scales a delay by a factor in `[MIN_JITTER, MAX_JITTER)`.
const MIN_JITTER: f64 = 0.5;
const MAX_JITTER: f64 = 1.5;

/// What to do with a conversation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// How long to wait before rebuilding it.
    pub delay: Duration,
    pub verdict: RestartVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartVerdict {
    /// Rebuild it; it resumes from the dialog's history.
    Resume,
    /// It failed `failures` times within `window`: hand it to a human.
    GiveUp { failures: usize, window: Duration },
}

impl RestartVerdict {
    /// The report a conversation that is given up on is escalated with.
    pub fn report(&self) -> Option<ErrorReport> {
        match self {
            RestartVerdict::Resume => None,
            RestartVerdict::GiveUp { failures, window } => Some(ErrorReport::new(
                ErrorCode::ConversationRestartLimit,
                format!("the conversation failed {failures} times within {window:?}; handing it to a human"),
            )),
        }
    }
}

/// Recent restarts per conversation, and the randomness of the jitter.
#[derive(Debug)]
pub struct RestartPolicy<R = StdRng> {
    backoff: Duration,
    max_restarts: usize,
    window: Duration,
    /// Restart times within the window, oldest first (at most `max_restarts + 1` each).
    recent: HashMap<ConversationId, VecDeque<Instant>>,
    rng: R,
}

impl RestartPolicy<StdRng> {
    /// A policy whose jitter is seeded from the operating system (each bot its own stream).
    pub fn from_os_rng(settings: &LifecycleSettings) -> Self {
        Self::new(settings, StdRng::from_os_rng())
    }
}

impl<R: Rng> RestartPolicy<R> {
    pub fn new(settings: &LifecycleSettings, rng: R) -> Self {
        Self {
            backoff: settings.restart_backoff,
            max_restarts: settings.max_restarts as usize,
            window: settings.restart_window,
            recent: HashMap::new(),
            rng,
        }
    }

    /// `conversation_id` failed at `now`: when to rebuild it, and whether it may resume.
    ///
    /// The n-th restart within the window waits `restart_backoff × 2ⁿ` (n from 0, doubling at
    /// most ten times), scaled by a random factor in [0.5, 1.5); once `max_restarts` happened
    /// within the window, the next rebuild escalates.
    pub fn on_failure(&mut self, conversation_id: &ConversationId, now: Instant) -> Restart {
        let recent = self.recent.entry(conversation_id.clone()).or_default();
        while recent.front().is_some_and(|t| now.saturating_duration_since(*t) > self.window) {
            recent.pop_front();
        }
        let verdict = if recent.len() < self.max_restarts {
            RestartVerdict::Resume
        } else {
            RestartVerdict::GiveUp { failures: recent.len() + 1, window: self.window }
        };
        let attempt = recent.len() as u32;
        recent.push_back(now);
        if recent.len() > self.max_restarts + 1 {
            recent.pop_front();
        }
        let base = self.backoff.saturating_mul(1 << attempt.min(MAX_DOUBLINGS));
        Restart { delay: self.jittered(base), verdict }
    }

    /// The conversation left the bot: its restart history goes too.
    pub fn forget(&mut self, conversation_id: &ConversationId) {
        self.recent.remove(conversation_id);
    }

    /// `base` scaled by a random factor in [0.5, 1.5), saturating instead of overflowing.
    fn jittered(&mut self, base: Duration) -> Duration {
        let factor = self.rng.random_range(MIN_JITTER..MAX_JITTER);
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settings() -> LifecycleSettings {
        LifecycleSettings {
            max_restarts: 3,
            restart_window: Duration::from_secs(60),
            restart_backoff: Duration::from_millis(500),
            ..LifecycleSettings::default()
        }
    }

    fn policy(seed: u64) -> RestartPolicy {
        RestartPolicy::new(&settings(), StdRng::seed_from_u64(seed))
    }

    fn id(s: &str) -> ConversationId {
        ConversationId::new(s)
    }

    #[test]
    fn delays_double_per_recent_restart_within_half_to_one_and_a_half_times() {
        for seed in 0..200 {
            let mut p = policy(seed);
            let now = Instant::now();
            for attempt in 0..4u32 {
                let base = Duration::from_millis(500) * (1 << attempt);
                let Restart { delay, .. } = p.on_failure(&id("c"), now);
                assert!(delay >= base / 2 && delay < base * 3 / 2, "seed {seed}, attempt {attempt}: {delay:?} for base {base:?}");
            }
        }
    }

    #[test]
    fn the_jitter_spreads_delays_over_the_range() {
        let mut p = policy(7);
        let now = Instant::now();
        let delays: Vec<Duration> = (0..100)
            .map(|n| {
                let conversation = id(&format!("c{n}"));
                p.on_failure(&conversation, now).delay
            })
            .collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(350)), "some near the low end: {delays:?}");
        assert!(delays.iter().any(|d| *d > Duration::from_millis(650)), "some near the high end: {delays:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let now = Instant::now();
        let run = |seed| {
            let mut p = policy(seed);
            (0..5).map(|_| p.on_failure(&id("c"), now).delay).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn the_restart_after_max_restarts_within_the_window_gives_up() {
        let mut p = policy(1);
        let t0 = Instant::now();
        for n in 0..3 {
            assert_eq!(p.on_failure(&id("c"), t0 + Duration::from_secs(n)).verdict, RestartVerdict::Resume, "restart {n}");
        }
        let fourth = p.on_failure(&id("c"), t0 + Duration::from_secs(3));
        assert_eq!(fourth.verdict, RestartVerdict::GiveUp { failures: 4, window: Duration::from_secs(60) });
        let report = fourth.verdict.report().unwrap();
        assert_eq!(report.code, ErrorCode::ConversationRestartLimit);
        assert!(report.message.contains("failed 4 times within 60s"), "{}", report.message);
        // Another conversation has its own count.
        assert_eq!(p.on_failure(&id("other"), t0 + Duration::from_secs(3)).verdict, RestartVerdict::Resume);
    }

    #[test]
    fn restarts_older_than_the_window_no_longer_count() {
        let mut p = policy(2);
        let t0 = Instant::now();
        for _ in 0..3 {
            p.on_failure(&id("c"), t0);
        }
        let window = Duration::from_secs(60);
        let at_the_end = p.on_failure(&id("c"), t0 + window);
        assert!(matches!(at_the_end.verdict, RestartVerdict::GiveUp { .. }), "restarts exactly a window ago still count");
        // 1 ms later the three at t0 are out of the window; the one just made still counts.
        let after = p.on_failure(&id("c"), t0 + window + MS);
        assert_eq!(after.verdict, RestartVerdict::Resume);
        assert!(after.delay >= Duration::from_millis(500) && after.delay < Duration::from_millis(1500), "{:?}", after.delay);
        let fresh = p.on_failure(&id("c"), t0 + 3 * window);
        assert_eq!(fresh.verdict, RestartVerdict::Resume);
        assert!(fresh.delay < Duration::from_millis(750), "the backoff starts again: {:?}", fresh.delay);
    }

    #[test]
    fn forgetting_a_conversation_resets_its_count() {
        let mut p = policy(3);
        let t0 = Instant::now();
        for _ in 0..4 {
            p.on_failure(&id("c"), t0);
        }
        p.forget(&id("c"));
        assert_eq!(p.on_failure(&id("c"), t0).verdict, RestartVerdict::Resume);
    }

    #[test]
    fn the_backoff_stops_doubling_and_never_overflows() {
        let huge = LifecycleSettings { restart_backoff: Duration::MAX, max_restarts: 100, ..settings() };
        let mut p = RestartPolicy::new(&huge, StdRng::seed_from_u64(4));
        let now = Instant::now();
        for _ in 0..20 {
            let _ = p.on_failure(&id("c"), now);
        }
        let mut p = policy(5);
        let delays: Vec<Duration> = (0..15).map(|_| p.on_failure(&id("c"), now).delay).collect();
        let cap = Duration::from_millis(500) * (1 << MAX_DOUBLINGS);
        assert!(delays.iter().all(|d| *d < cap * 3 / 2), "{delays:?}");
    }
}
