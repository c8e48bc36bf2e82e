//! A run's figures, one line per rate while it runs, and the report: a JSON file and a Markdown
//! table with botvisor and the SDK peer side by side, and their ratios.

use std::path::Path;

use serde_json::{json, Value};

use crate::{Scenario, P99_TARGET_MS};

#[derive(Debug, Clone)]
pub struct RateResult {
    pub rate: u32,
    pub sent: u64,
    pub answered: u64,
    pub unanswered: u64,
    pub send_failures: u64,
    /// Consumer messages per second actually sent, and answers per second.
    pub achieved: f64,
    /// Latency from the scheduled consumer message to the answer, in ms.
    pub latency_ms: [f64; 5],
    /// The same minus the configured vendor delay and combine window.
    pub added_ms: [f64; 5],
    /// The engine's CPU, in cores.
    pub cpu: f64,
    /// The simulator's CPU, in cores (it shares the machine).
    pub sim_cpu: f64,
    /// CPU time of the engine and of the simulator over the step, per answered message (µs).
    pub cpu_us_per_message: f64,
    pub sim_cpu_us_per_message: f64,
}

impl RateResult {
    /// `cpu` and `sim_cpu`: cores over the step's `wall` seconds.
    pub fn from_status(rate: u32, status: &Value, scenario: &Scenario, cpu: f64, sim_cpu: f64, wall: f64) -> Self {
        let ms = |key: &str| status["latency_us"][key].as_f64().unwrap_or(0.0) / 1000.0;
        let latency_ms = [ms("p50"), ms("p90"), ms("p99"), ms("p999"), ms("max")];
        let floor = scenario.setup.vendor_delay.as_secs_f64() * 1000.0 + scenario.setup.combine.map_or(0.0, |w| w.as_secs_f64() * 1000.0);
        let answered = status["answered"].as_u64().unwrap_or(0);
        // The answers' span, less the vendor delay and combine window every answer waits (the
        // last message's answer comes that much after the sending ends).
        let seconds = (status["answer_seconds"].as_f64().unwrap_or(0.0) - floor / 1000.0)
            .max(status["send_seconds"].as_f64().unwrap_or(0.0))
            .max(1e-3);
        RateResult {
            rate,
            sent: status["sent"].as_u64().unwrap_or(0),
            answered,
            unanswered: status["unanswered"].as_u64().unwrap_or(0),
            send_failures: status["send_failures"].as_u64().unwrap_or(0),
            achieved: answered as f64 / seconds,
            latency_ms,
            added_ms: latency_ms.map(|l| (l - floor).max(0.0)),
            cpu,
            sim_cpu,
            cpu_us_per_message: per_message(cpu * wall, answered),
            sim_cpu_us_per_message: per_message(sim_cpu * wall, answered),
        }
    }

    /// Every message answered, at the rate asked, with p99 added latency within the target.
    pub fn holds_target(&self) -> bool {
        self.sent > 0
            && self.unanswered == 0
            && self.answered >= self.sent
            && self.achieved >= f64::from(self.rate) * 0.95
            && self.added_ms[2] <= P99_TARGET_MS
    }
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub engine: &'static str,
    pub scenario: &'static str,
    pub round: u32,
    pub bots: u32,
    pub conversations: u32,
    pub assigned: u64,
    pub moved_to_other_skill: u64,
    /// Left waiting on the bots' skill (every bot at its recommended load, AWAY).
    pub queued: u64,
    pub accept_seconds: f64,
    pub rss_idle: u64,
    /// RSS a second after the last conversation was taken (many of them still active).
    pub rss_opened: u64,
    /// RSS once every conversation has been idle for `SETTLE_BEFORE_MEASURING`.
    pub rss_open: u64,
    pub peak_rss: u64,
    pub rates: Vec<RateResult>,
}

impl RunResult {
    pub fn failed(engine: &'static str, scenario: &'static str, round: u32, s: &Scenario) -> Self {
        RunResult {
            engine,
            scenario,
            round,
            bots: s.setup.bots,
            conversations: s.setup.bots * (s.conversations_per_bot + s.overflow_per_bot),
            assigned: 0,
            moved_to_other_skill: 0,
            queued: 0,
            accept_seconds: 0.0,
            rss_idle: 0,
            rss_opened: 0,
            rss_open: 0,
            peak_rss: 0,
            rates: Vec::new(),
        }
    }

    /// RSS per open, idle conversation: (RSS with them open and settled − RSS before) / open
    /// conversations.
    pub fn bytes_per_conversation(&self) -> f64 {
        if self.assigned == 0 {
            return 0.0;
        }
        self.rss_open.saturating_sub(self.rss_idle) as f64 / self.assigned as f64
    }

    /// The highest rate of the ladder that held the target.
    pub fn best_rate(&self) -> Option<&RateResult> {
        self.rates.iter().filter(|r| r.holds_target()).max_by_key(|r| r.rate)
    }

    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} {} round {}: {} bots, {}/{} conversations accepted in {:.1}s ({} escalated, {} left queued), RSS {:.1} MiB idle → {:.1} MiB just opened → {:.1} MiB open and settled = {:.0} B/conversation, peak {:.1} MiB",
            self.engine,
            self.scenario,
            self.round,
            self.bots,
            self.assigned,
            self.conversations,
            self.accept_seconds,
            self.moved_to_other_skill,
            self.queued,
            mib(self.rss_idle),
            mib(self.rss_opened),
            mib(self.rss_open),
            self.bytes_per_conversation(),
            mib(self.peak_rss)
        )];
        for r in &self.rates {
            lines.push(format!(
                "{} {} {:>6}/s: achieved {:>8.0}/s, answered {}/{}, added latency p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ms, CPU {:.2} cores = {:.1} µs/message (simulator {:.2} = {:.1} µs) {}",
                self.engine,
                self.scenario,
                r.rate,
                r.achieved,
                r.answered,
                r.sent,
                r.added_ms[0],
                r.added_ms[1],
                r.added_ms[2],
                r.added_ms[3],
                r.added_ms[4],
                r.cpu,
                r.cpu_us_per_message,
                r.sim_cpu,
                r.sim_cpu_us_per_message,
                if r.holds_target() { "✓" } else { "✗" }
            ));
        }
        lines
    }

    pub fn to_json(&self) -> Value {
        json!({
            "engine": self.engine, "scenario": self.scenario, "round": self.round, "bots": self.bots,
            "conversations": self.conversations, "accepted": self.assigned, "moved_to_other_skill": self.moved_to_other_skill, "queued": self.queued,
            "accept_seconds": self.accept_seconds, "rss_idle_bytes": self.rss_idle, "rss_opened_bytes": self.rss_opened, "rss_open_bytes": self.rss_open,
            "peak_rss_bytes": self.peak_rss, "bytes_per_conversation": self.bytes_per_conversation(),
            "best_rate": self.best_rate().map(|r| r.rate),
            "rates": self.rates.iter().map(|r| json!({
                "rate": r.rate, "sent": r.sent, "answered": r.answered, "unanswered": r.unanswered,
                "send_failures": r.send_failures, "achieved_per_second": r.achieved,
                "latency_ms": {"p50": r.latency_ms[0], "p90": r.latency_ms[1], "p99": r.latency_ms[2], "p999": r.latency_ms[3], "max": r.latency_ms[4]},
                "added_latency_ms": {"p50": r.added_ms[0], "p90": r.added_ms[1], "p99": r.added_ms[2], "p999": r.added_ms[3], "max": r.added_ms[4]},
                "cpu_cores": r.cpu, "simulator_cpu_cores": r.sim_cpu, "holds_target": r.holds_target(),
                "cpu_us_per_message": r.cpu_us_per_message, "simulator_cpu_us_per_message": r.sim_cpu_us_per_message,
            })).collect::<Vec<_>>(),
        })
    }
}

/// CPU seconds per answered message, in µs (0 when nothing was answered).
fn per_message(cpu_seconds: f64, answered: u64) -> f64 {
    if answered == 0 {
        0.0
    } else {
        cpu_seconds * 1e6 / answered as f64
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// What the machine is.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "memory_gib": (memory_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "os": std::env::consts::OS,
    })
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The Markdown report: every run and rate, then per scenario botvisor against the peer.
pub fn markdown(results: &[RunResult], document: &Value) -> String {
    let mut out = format!(
        "### Load benchmark\n\n`{}` on {} CPUs ({}), {} GiB; p99 added-latency target {P99_TARGET_MS} ms.\n\n",
        document["command"].as_str().unwrap_or(""),
        document["machine"]["cpus"],
        document["machine"]["cpu_model"].as_str().unwrap_or("?"),
        document["machine"]["memory_gib"]
    );
    out.push_str("| scenario | engine | round | rate/s | achieved/s | answered | added p50 | p90 | p99 | p99.9 | max (ms) | CPU | µs/msg | sim CPU | sim µs/msg | target |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for run in results {
        if run.rates.is_empty() {
            out.push_str(&format!("| {} | {} | {} | failed | | | | | | | | | | | | |\n", run.scenario, run.engine, run.round));
        }
        for r in &run.rates {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} | {}/{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} | {} |\n",
                run.scenario,
                run.engine,
                run.round,
                r.rate,
                r.achieved,
                r.answered,
                r.sent,
                r.added_ms[0],
                r.added_ms[1],
                r.added_ms[2],
                r.added_ms[3],
                r.added_ms[4],
                r.cpu,
                r.cpu_us_per_message,
                r.sim_cpu,
                r.sim_cpu_us_per_message,
                if r.holds_target() { "✓" } else { "✗" }
            ));
        }
    }
    out.push_str("\n| scenario | engine | conversations accepted | accept time (s) | RSS/conversation (B) | peak RSS (MiB) | highest rate at p99 ≤ 10 ms |\n|---|---|---|---|---|---|---|\n");
    let mut scenarios: Vec<&str> = results.iter().map(|r| r.scenario).collect();
    scenarios.dedup();
    let mut ratios = String::new();
    for scenario in scenarios {
        let mut summary = Vec::new();
        for engine in ["botvisor", "sdk-peer"] {
            let runs: Vec<&RunResult> =
                results.iter().filter(|r| r.scenario == scenario && r.engine == engine && !r.rates.is_empty()).collect();
            if runs.is_empty() {
                continue;
            }
            let per_conversation = mean(runs.iter().map(|r| r.bytes_per_conversation())).unwrap_or(0.0);
            // The rate every round held (the lowest of the rounds' best).
            let best = runs.iter().map(|r| r.best_rate().map_or(0, |b| b.rate)).min().unwrap_or(0);
            let p99 = mean(runs.iter().filter_map(|r| r.rates.first()).map(|r| r.added_ms[2])).unwrap_or(0.0);
            out.push_str(&format!(
                "| {scenario} | {engine} | {} / {} | {:.1} | {:.0} | {:.1} | {} |\n",
                runs.iter().map(|r| r.assigned).min().unwrap_or(0),
                runs[0].conversations,
                mean(runs.iter().map(|r| r.accept_seconds)).unwrap_or(0.0),
                per_conversation,
                runs.iter().map(|r| mib(r.peak_rss)).fold(0.0, f64::max),
                if best == 0 { "none".to_owned() } else { format!("{best}/s") }
            ));
            summary.push((engine, best, per_conversation, p99));
        }
        if let [(_, b_rate, b_mem, b_p99), (_, p_rate, p_mem, p_p99)] = summary[..] {
            let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}×", a / b) } else { "n/a".to_owned() };
            ratios.push_str(&format!(
                "| {scenario} | {} | {} | {} |\n",
                ratio(f64::from(b_rate), f64::from(p_rate)),
                ratio(b_p99, p_p99),
                ratio(b_mem, p_mem)
            ));
        }
    }
    out.push_str(&cpu_table(results));
    if !ratios.is_empty() {
        out.push_str("\n| scenario | throughput at p99 target (botvisor / peer) | p99 added latency at the first rate (botvisor / peer) | memory per conversation (botvisor / peer) |\n|---|---|---|---|\n");
        out.push_str(&ratios);
    }
    out
}

/// Per scenario and rate, CPU per answered message: botvisor, the peer, and their ratio (the
/// mean of the rounds; rates where an engine answered nothing are left out).
fn cpu_table(results: &[RunResult]) -> String {
    let mut rows = String::new();
    let mut keys: Vec<(&str, u32)> = results.iter().flat_map(|run| run.rates.iter().map(move |r| (run.scenario, r.rate))).collect();
    keys.dedup();
    let mut seen = std::collections::HashSet::new();
    for (scenario, rate) in keys {
        if !seen.insert((scenario, rate)) {
            continue;
        }
        let of = |engine: &str, value: fn(&RateResult) -> f64| {
            mean(
                results
                    .iter()
                    .filter(|run| run.scenario == scenario && run.engine == engine)
                    .flat_map(|run| run.rates.iter().filter(|r| r.rate == rate && r.answered > 0))
                    .map(value),
            )
        };
        let botvisor = of("botvisor", |r| r.cpu_us_per_message);
        let peer = of("sdk-peer", |r| r.cpu_us_per_message);
        let sim = of("botvisor", |r| r.sim_cpu_us_per_message);
        let show = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
        let ratio = match (botvisor, peer) {
            (Some(b), Some(p)) if b > 0.0 => format!("{:.1}×", p / b),
            _ => "–".to_owned(),
        };
        rows.push_str(&format!("| {scenario} | {rate} | {} | {} | {ratio} | {} |\n", show(botvisor), show(peer), show(sim)));
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "\n| scenario | rate/s | botvisor CPU µs per message | peer CPU µs per message | peer / botvisor | simulator µs per message (botvisor's runs) |\n|---|---|---|---|---|---|\n{rows}"
    )
}

pub fn write(dir: &Path, document: &Value, markdown: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(document).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("results.json"), json).map_err(|e| format!("cannot write results.json: {e}"))?;
    std::fs::write(dir.join("results.md"), markdown).map_err(|e| format!("cannot write results.md: {e}"))
}
