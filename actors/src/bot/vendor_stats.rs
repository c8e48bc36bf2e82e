//! Vendor call statistics of one bot, shared by its conversations (same thread): the consumer
//! messages taken, calls by outcome and a latency histogram, for the metrics.

use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds (then +Inf).
pub const LATENCY_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VendorCallStats {
    /// Calls by outcome: `ok`, or the error code's last part (`timeout`, `server-error`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Calls at or below each bucket's bound (cumulative, as Prometheus wants), then all.
    pub latency_buckets: [u64; LATENCY_BUCKETS.len() + 1],
    pub latency_sum_seconds: f64,
    pub calls: u64,
    /// Consumer messages taken to be answered, each once (from an event or read from history).
    pub consumer_messages: u64,
}

impl VendorCallStats {
    pub fn record(&mut self, outcome: &str, latency: Duration) {
        // Looked up first: a call (one per message) allocates no key for an outcome seen before.
        match self.outcomes.get_mut(outcome) {
            Some(count) => *count += 1,
            None => {
                self.outcomes.insert(outcome.to_owned(), 1);
            }
        }
        let seconds = latency.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.latency_buckets[i] += 1;
            }
        }
        self.latency_buckets[LATENCY_BUCKETS.len()] += 1;
        self.latency_sum_seconds += seconds;
        self.calls += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let mut s = VendorCallStats::default();
        s.record("ok", Duration::from_millis(30));
        s.record("timeout", Duration::from_secs(61));
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[LATENCY_BUCKETS.len() - 1], 1, "61 s is above the last bound");
        assert_eq!(s.latency_buckets[LATENCY_BUCKETS.len()], 2);
        assert_eq!(s.outcomes["timeout"], 1);
    }
}
