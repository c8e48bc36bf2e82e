//! The reconnect policy: exponential backoff from a first delay, jittered per bot user so the
//! bots of an account do not reconnect in lockstep, a cap on attempts, and a new login after a
//! few failures with the same token (a revoked token can look like any close).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// No single wait is longer than this, whatever the factor says.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectSettings {
    pub first_delay: Duration,
    pub factor: f64,
    pub max_attempts: u32,
    /// Failed reconnects with the same token before logging in again.
    pub relogin_after: u32,
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReconnectStep {
    Retry { delay: Duration, relogin: bool },
    GiveUp { attempts: u32 },
}

pub struct ReconnectPolicy {
    settings: ReconnectSettings,
    attempt: u32,
    failures_with_token: u32,
    rng: StdRng,
}

impl ReconnectPolicy {
    /// `rng` decides the jitter (seed it per bot user in production, fixed in tests).
    pub fn new(settings: ReconnectSettings, rng: StdRng) -> Self {
        Self { settings, attempt: 0, failures_with_token: 0, rng }
    }

    /// A policy whose jitter is seeded from the OS.
    pub fn seeded_from_os(settings: ReconnectSettings) -> Self {
        Self::new(settings, StdRng::from_os_rng())
    }

    /// The attempts made since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Connected: the next failure starts from the first delay again.
    pub fn connected(&mut self) {
        self.attempt = 0;
        self.failures_with_token = 0;
    }

    /// A new session (started again): as connected.
    pub fn reset(&mut self) {
        self.connected();
    }

    /// A connection or an attempt failed: wait this long (×0.8–1.2 jitter), or give up.
    pub fn after_failure(&mut self) -> ReconnectStep {
        if self.attempt >= self.settings.max_attempts {
            return ReconnectStep::GiveUp { attempts: self.attempt };
        }
        self.failures_with_token += 1;
        let relogin = self.failures_with_token > self.settings.relogin_after;
        let factor = if self.settings.factor.is_finite() && self.settings.factor >= 1.0 { self.settings.factor } else { 1.0 };
        let base = self.settings.first_delay.as_secs_f64() * factor.powi(self.attempt.min(1000) as i32);
        self.attempt += 1;
        let jittered = base * self.rng.random_range(0.8..1.2);
        let delay = if jittered.is_finite() {
            Duration::from_secs_f64(jittered.clamp(0.0, MAX_RECONNECT_DELAY.as_secs_f64()))
        } else {
            MAX_RECONNECT_DELAY
        };
        ReconnectStep::Retry { delay, relogin }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReconnectSettings {
        ReconnectSettings { first_delay: Duration::from_secs(5), factor: 1.25, max_attempts: 35, relogin_after: 3 }
    }

    fn delays(policy: &mut ReconnectPolicy, n: usize) -> Vec<(Duration, bool)> {
        (0..n)
            .map(|_| match policy.after_failure() {
                ReconnectStep::Retry { delay, relogin } => (delay, relogin),
                ReconnectStep::GiveUp { .. } => panic!("gave up early"),
            })
            .collect()
    }

    #[test]
    fn backoff_grows_by_the_factor_within_the_jitter_and_relogs_in_after_three_failures() {
        let mut policy = ReconnectPolicy::new(settings(), StdRng::seed_from_u64(7));
        let steps = delays(&mut policy, 5);
        for (i, (delay, _)) in steps.iter().enumerate() {
            let base = 5.0 * 1.25f64.powi(i as i32);
            assert!((base * 0.8..base * 1.2).contains(&delay.as_secs_f64()), "attempt {i}: {delay:?} around {base}");
        }
        assert_eq!(steps.iter().map(|(_, relogin)| *relogin).collect::<Vec<_>>(), [false, false, false, true, true]);
        policy.connected();
        let (first, relogin) = delays(&mut policy, 1)[0];
        assert!(first < Duration::from_secs(6) && !relogin, "a success starts over");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_and_different_seeds_spread_them() {
        let run = |seed| delays(&mut ReconnectPolicy::new(settings(), StdRng::seed_from_u64(seed)), 3);
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn attempts_are_capped_and_absurd_settings_stay_bounded() {
        let mut policy = ReconnectPolicy::new(ReconnectSettings { max_attempts: 2, ..settings() }, StdRng::seed_from_u64(1));
        delays(&mut policy, 2);
        assert_eq!(policy.after_failure(), ReconnectStep::GiveUp { attempts: 2 });
        let mut wild = ReconnectPolicy::new(
            ReconnectSettings { first_delay: Duration::MAX, factor: f64::INFINITY, max_attempts: 3, relogin_after: 0 },
            StdRng::seed_from_u64(1),
        );
        for (delay, _) in delays(&mut wild, 3) {
            assert!(delay <= MAX_RECONNECT_DELAY);
        }
    }
}
