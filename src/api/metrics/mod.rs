//! `GET /metrics` in the OpenMetrics text format, through `prometheus-client`: per bot — state,
//! open conversations, conversations by outcome and escalations by reason, consumer messages,
//! vendor calls and their latency, platform reconnects, login failures, bad frames and read
//! pauses, error-hook reports; per node — mailbox overloads, process memory.
//!
//! This file reads the node at scrape time; `collector.rs` writes the families.

mod collector;

use actix_web::{web, HttpResponse};
use botvisor_actors::bot::{BotStatus, GetBotStatus};
use tracing::error;

use super::errors::ApiError;
use super::AdminState;
use crate::service::ManagedBot;
use collector::{BotSample, ClusterSample, HookSample, Scrape, SessionSample};

/// What `prometheus-client`'s text encoder writes (Prometheus asks for it in its `Accept`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn render(state: web::Data<AdminState>) -> HttpResponse {
    let mut bots = Vec::new();
    for bot in state.registry.list() {
        if let Ok(status) = bot.addr.send(GetBotStatus).await {
            bots.push(sample(&bot, status));
        }
    }
    let stats = state.store.stats();
    let cluster = ClusterSample {
        owned_bots: state.registry.list().iter().filter(|b| b.ownership().is_some()).count() as u64,
        unreachable_members: state.cluster.unreachable_members(),
        handoffs: state.cluster.handoffs(),
        takeovers: state.cluster.takeovers(),
        session_drops: state.cluster.session_drops(),
        lease_renewals: stats.lease_renewals,
        lease_renewal_failures: stats.lease_renewal_failures,
        fenced_writes_refused: stats.fenced_writes_refused,
    };
    match (Scrape { bots, cluster, resident_memory_bytes: resident_memory_bytes() }).encode() {
        Ok(body) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
        // Writing into a String does not fail; this is the encoder refusing a metric.
        Err(_) => {
            error!("metrics could not be encoded");
            ApiError::MetricsFailed.response()
        }
    }
}

/// One bot's values for this scrape.
fn sample(bot: &ManagedBot, status: BotStatus) -> BotSample {
    let c = &bot.counters;
    BotSample {
        bot_id: bot.id().to_owned(),
        state: status.state.as_str(),
        open_conversations: status.open_conversations as u64,
        passive_conversations: status.passive_conversations as u64,
        overloaded: status.overloaded,
        stats: status.stats,
        vendor: status.vendor,
        session: SessionSample {
            reconnects: c.reconnects(),
            login_failures: c.login_failures(),
            read_pauses: c.read_pauses(),
            bad_frames: c.bad_frames(),
        },
        hook: bot.hook.as_ref().map(|h| HookSample { delivered: h.delivered(), failed: h.failed(), dropped: h.dropped() }),
    }
}

/// The process's resident set size, from `/proc/self/status` (Linux).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}
