//! A bot's status as its owner reports it to the cluster (`state/{bot}/status` in the store,
//! written with the owner's token), so any node's admin API shows every bot, wherever it runs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use botvisor_actors::bot::BotStatus;
use serde::{Deserialize, Serialize};

/// The state key the summary is kept under.
pub const STATUS_KEY: &str = "status";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotSummary {
    /// The node that wrote it.
    pub node_id: String,
    /// When it was written (ms since the epoch).
    pub reported_at: u128,
    pub state: String,
    /// When the bot entered its state (ms since the epoch).
    pub state_since: u128,
    pub open_conversations: usize,
    pub last_error: Option<SummaryError>,
    pub kpis: Kpis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryError {
    pub code: String,
    pub message: String,
    pub error_id: String,
    pub at: u128,
}

/// The Agent Connectors page's KPIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub total_conversations: u64,
    pub closed_pct: f64,
    pub transferred_pct: f64,
    pub escalated_pct: f64,
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis()
}

/// `part` of `total` in percent, one decimal.
pub fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

impl Kpis {
    pub fn of(status: &BotStatus) -> Self {
        let s = &status.stats;
        let total = s.conversations_started;
        Self {
            total_conversations: total,
            closed_pct: pct(s.closed, total),
            transferred_pct: pct(s.transferred, total),
            escalated_pct: pct(s.escalated, total),
        }
    }
}

impl BotSummary {
    pub fn of(node_id: &str, status: &BotStatus) -> Self {
        Self {
            node_id: node_id.to_owned(),
            reported_at: now_ms(),
            state: status.state.as_str().to_owned(),
            state_since: state_since_ms(status),
            open_conversations: status.open_conversations,
            last_error: status.last_error.as_ref().map(|r| SummaryError {
                code: r.code.as_str().to_owned(),
                message: r.message.clone(),
                error_id: r.error_id.clone(),
                at: r.at_unix_ms(),
            }),
            kpis: Kpis::of(status),
        }
    }
}

/// When the bot entered its state, in ms since the epoch.
pub fn state_since_ms(status: &BotStatus) -> u128 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    now.saturating_sub(status.since.elapsed()).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_have_one_decimal_and_survive_zero() {
        assert_eq!(pct(1, 3), 33.3);
        assert_eq!(pct(0, 0), 0.0);
        assert_eq!(pct(2, 2), 100.0);
    }
}
