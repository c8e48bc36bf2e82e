//! `GET /metrics` in the Prometheus text format: per bot — state, open conversations,
//! conversations by outcome and escalations by reason, consumer messages, vendor calls and their
//! latency, platform reconnects and login failures; per node — mailbox overloads, process memory.

use std::fmt::Write;

use actix_web::{web, HttpResponse};
use botvisor_actors::bot::vendor_stats::LATENCY_BUCKETS;
use botvisor_actors::bot::{BotStatus, GetBotStatus};

use super::AdminState;
use crate::platform::liveperson::SessionCounters;
use crate::service::ManagedBot;

/// One of a platform session's counters.
type SessionCounter = fn(&SessionCounters) -> u64;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub async fn render(state: web::Data<AdminState>) -> HttpResponse {
    let mut bots: Vec<(std::sync::Arc<ManagedBot>, BotStatus)> = Vec::new();
    for bot in state.registry.list() {
        if let Ok(status) = bot.addr.send(GetBotStatus).await {
            bots.push((bot, status));
        }
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text(&bots, resident_memory_bytes()))
}

fn text(bots: &[(std::sync::Arc<ManagedBot>, BotStatus)], rss: Option<u64>) -> String {
    let mut out = String::new();
    let id = |bot: &ManagedBot| label(bot.id());

    family(&mut out, "botvisor_bot_state", "gauge", "The bot's state (1 for the current one).");
    for (bot, status) in bots {
        for s in ["offline", "online", "vendor_interruption", "service_interruption"] {
            let _ = writeln!(out, "botvisor_bot_state{{bot_id=\"{}\",state=\"{s}\"}} {}", id(bot), u8::from(status.state.as_str() == s));
        }
    }
    family(&mut out, "botvisor_open_conversations", "gauge", "Conversations the bot holds.");
    for (bot, status) in bots {
        let _ = writeln!(out, "botvisor_open_conversations{{bot_id=\"{}\"}} {}", id(bot), status.open_conversations);
    }
    family(&mut out, "botvisor_conversations_total", "counter", "Conversations by outcome.");
    for (bot, status) in bots {
        let s = &status.stats;
        for (outcome, n) in [
            ("started", s.conversations_started),
            ("closed", s.closed),
            ("transferred", s.transferred),
            ("escalated", s.escalated),
            ("removed", s.removed),
            ("failed", s.failed),
            ("panicked", s.panicked),
        ] {
            let _ = writeln!(out, "botvisor_conversations_total{{bot_id=\"{}\",outcome=\"{outcome}\"}} {n}", id(bot));
        }
    }
    family(&mut out, "botvisor_escalations_total", "counter", "Escalated conversations by the error code that caused them.");
    for (bot, status) in bots {
        for (reason, n) in &status.stats.escalated_by_reason {
            let _ = writeln!(out, "botvisor_escalations_total{{bot_id=\"{}\",reason=\"{reason}\"}} {n}", id(bot));
        }
    }
    family(&mut out, "botvisor_consumer_messages_total", "counter", "Consumer messages the bot took to answer (each once).");
    for (bot, status) in bots {
        let _ = writeln!(out, "botvisor_consumer_messages_total{{bot_id=\"{}\"}} {}", id(bot), status.vendor.consumer_messages);
    }
    family(&mut out, "botvisor_vendor_calls_total", "counter", "Vendor calls by outcome.");
    for (bot, status) in bots {
        for (outcome, n) in &status.vendor.outcomes {
            let _ = writeln!(out, "botvisor_vendor_calls_total{{bot_id=\"{}\",outcome=\"{outcome}\"}} {n}", id(bot));
        }
    }
    family(&mut out, "botvisor_vendor_call_duration_seconds", "histogram", "Vendor call latency, retries included.");
    for (bot, status) in bots {
        let v = &status.vendor;
        let bot_id = id(bot);
        for (bound, n) in LATENCY_BUCKETS.iter().zip(v.latency_buckets.iter()) {
            let _ = writeln!(out, "botvisor_vendor_call_duration_seconds_bucket{{bot_id=\"{bot_id}\",le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "botvisor_vendor_call_duration_seconds_bucket{{bot_id=\"{bot_id}\",le=\"+Inf\"}} {}", v.calls);
        let _ = writeln!(out, "botvisor_vendor_call_duration_seconds_sum{{bot_id=\"{bot_id}\"}} {}", v.latency_sum_seconds);
        let _ = writeln!(out, "botvisor_vendor_call_duration_seconds_count{{bot_id=\"{bot_id}\"}} {}", v.calls);
    }
    let session_counters: [(&str, &str, SessionCounter); 4] = [
        ("botvisor_platform_reconnects_total", "Reconnect attempts of the bot's platform session.", SessionCounters::reconnects),
        ("botvisor_platform_login_failures_total", "Logins refused, rate limited or failed.", SessionCounters::login_failures),
        (
            "botvisor_platform_read_pauses_total",
            "Times the platform socket was not read because the bot's mailbox was full (backpressure).",
            SessionCounters::read_pauses,
        ),
        ("botvisor_platform_bad_frames_total", "Platform frames that could not be read or were not expected.", SessionCounters::bad_frames),
    ];
    for (name, help, value) in session_counters {
        family(&mut out, name, "counter", help);
        for (bot, _) in bots {
            let _ = writeln!(out, "{name}{{bot_id=\"{}\"}} {}", id(bot), value(&bot.counters));
        }
    }
    family(
        &mut out,
        "botvisor_error_hook_reports_total",
        "counter",
        "Error reports to the bot's hook by outcome (dropped: more than 64 in flight).",
    );
    for (bot, _) in bots {
        if let Some(hook) = &bot.hook {
            for (outcome, n) in [("delivered", hook.delivered()), ("failed", hook.failed()), ("dropped", hook.dropped())] {
                let _ = writeln!(out, "botvisor_error_hook_reports_total{{bot_id=\"{}\",outcome=\"{outcome}\"}} {n}", id(bot));
            }
        }
    }
    family(
        &mut out,
        "botvisor_mailbox_overloads_total",
        "counter",
        "Deliveries a full conversation mailbox refused (read back from history later).",
    );
    let overloads: u64 = bots.iter().map(|(_, s)| s.stats.mailbox_overloads).sum();
    let _ = writeln!(out, "botvisor_mailbox_overloads_total {overloads}");
    if let Some(rss) = rss {
        family(&mut out, "botvisor_process_resident_memory_bytes", "gauge", "The process's resident memory.");
        let _ = writeln!(out, "botvisor_process_resident_memory_bytes {rss}");
    }
    out
}

/// The process's resident set size, from `/proc/self/status` (Linux).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}
