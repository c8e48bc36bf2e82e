//! The soak (`--scenario soak`): botvisor alone, for an hour by default, at a steady rate with a
//! fault every minute, in turn: every platform connection dropped, a burst of 503s from the
//! vendor, every platform token expired, one bot stopped and started again through the admin API.
//! The bots call the simulator's demo function over HTTP (the vendor the simulator can fail).
//!
//! Before each fault it samples botvisor's RSS and open file descriptors and the load's counters.
//! At the end every message must be answered once: none left unanswered after the drain, no
//! answer without a message waiting (a duplicate). RSS and descriptors must stay flat: the median
//! of the last quarter of the samples within 10 % of the median of the first quarter (after the
//! first sample, which is the warm-up). Results: `soak.json` and `soak.md` in `--out`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::processes::{bot_login, BotSetup, Engine, EngineKind, Simulator};
use crate::{http, open_conversations, progress, wait_for};

/// Consumer messages per second unless `--rates` says otherwise: half the highest rate the
/// function vendor holds at the p99 target on the project's machine (2 000/s,
/// `--scenario throughput --function-vendor`).
pub const DEFAULT_RATE: u32 = 1000;
/// The most a sample's median may drift from the first quarter's, as a fraction.
const FLAT_WITHIN: f64 = 0.10;
/// How long the vendor answers 503: shorter than the retries' reach (2 s, then 4 s later; each
/// attempt may take 10 s).
const VENDOR_BURST: &str = "3s";
/// How long after the sending the answers may still come.
const DRAIN: Duration = Duration::from_secs(60);

pub struct SoakOptions {
    pub rate: u32,
    pub duration: Duration,
    pub fault_every: Duration,
    pub bots: u32,
    pub conversations_per_bot: u32,
    /// The faults injected in turn (`--faults`; all four by default).
    pub faults: Vec<Fault>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    DropConnections,
    VendorErrors,
    ExpireTokens,
    RestartBot,
}

pub const FAULTS: [Fault; 4] = [Fault::DropConnections, Fault::VendorErrors, Fault::ExpireTokens, Fault::RestartBot];

impl Fault {
    /// `--faults drop,vendor,tokens,restart`.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        text.split(',')
            .map(|name| match name.trim() {
                "drop" => Ok(Fault::DropConnections),
                "vendor" => Ok(Fault::VendorErrors),
                "tokens" => Ok(Fault::ExpireTokens),
                "restart" => Ok(Fault::RestartBot),
                "none" => Err(String::new()),
                other => Err(format!("--faults: {other:?} is not drop, vendor, tokens, restart or none")),
            })
            .filter(|fault| fault.as_ref().map_or_else(|e| !e.is_empty(), |_| true))
            .collect()
    }

    fn name(self) -> &'static str {
        match self {
            Fault::DropConnections => "connections dropped",
            Fault::VendorErrors => "vendor 503 for 3 s",
            Fault::ExpireTokens => "tokens expired",
            Fault::RestartBot => "bot restarted",
        }
    }
}

struct Sample {
    seconds: f64,
    rss: u64,
    fds: u64,
    sent: u64,
    answered: u64,
    waiting: u64,
    duplicates: u64,
    /// Conversations of the load no longer on the bots' skill (escalated).
    moved: u64,
    /// The fault injected right after this sample.
    fault: Option<String>,
}

fn injected(sim: &Simulator, engine: &Engine, fault: Fault, round: u32, bots: u32) -> Result<String, String> {
    match fault {
        Fault::DropConnections => {
            http::ok(&sim.control, "POST", "/sim/v1/faults", Some(&json!({"kind": "drop_connections"})), http::TIMEOUT)?;
            Ok(fault.name().to_owned())
        }
        Fault::VendorErrors => {
            let body = json!({"kind": "functions_unavailable", "for": VENDOR_BURST});
            http::ok(&sim.control, "POST", "/sim/v1/faults", Some(&body), http::TIMEOUT)?;
            Ok(fault.name().to_owned())
        }
        Fault::ExpireTokens => {
            http::ok(&sim.control, "POST", "/sim/v1/faults", Some(&json!({"kind": "expire_tokens"})), http::TIMEOUT)?;
            Ok(fault.name().to_owned())
        }
        Fault::RestartBot => {
            let admin = engine.admin.as_deref().ok_or("the soak runs botvisor")?;
            let bot = bot_login(round % bots + 1);
            http::ok(admin, "POST", &format!("/v1/bots/{bot}/stop"), None, http::TIMEOUT)?;
            let path = format!("/v1/bots/{bot}");
            let state = |wanted: &'static str| {
                let path = &path;
                move || -> Result<Option<()>, String> {
                    let shown = http::ok(admin, "GET", path, None, http::TIMEOUT)?;
                    Ok((shown["state"] == wanted).then_some(()))
                }
            };
            wait_for("the bot to stop", Duration::from_secs(30), state("offline"))?;
            http::ok(admin, "POST", &format!("/v1/bots/{bot}/start"), None, http::TIMEOUT)?;
            wait_for("the bot to be online again", Duration::from_secs(60), state("online"))?;
            Ok(format!("{} ({bot})", fault.name()))
        }
    }
}

fn sample(sim: &Simulator, engine: &Engine, started: Instant, fault: Option<String>) -> Result<(Sample, Value), String> {
    let status = http::ok(&sim.control, "GET", "/sim/v1/load", None, http::TIMEOUT)?;
    let count = |key: &str| status[key].as_u64().unwrap_or(0);
    let sample = Sample {
        seconds: started.elapsed().as_secs_f64(),
        rss: engine.process.rss(),
        fds: engine.process.open_fds(),
        sent: count("sent"),
        answered: count("answered"),
        waiting: count("unanswered"),
        duplicates: count("unmatched_answers"),
        moved: count("moved_to_other_skill"),
        fault,
    };
    Ok((sample, status))
}

fn median(mut values: Vec<u64>) -> f64 {
    values.sort_unstable();
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}

/// The drift of the last quarter's median from the first quarter's (the warm-up sample left
/// out), as a fraction.
fn drift(samples: &[Sample], value: impl Fn(&Sample) -> u64) -> f64 {
    let steady: Vec<u64> = samples.iter().skip(1).map(value).collect();
    let quarter = (steady.len() / 4).max(1);
    if steady.len() < 2 {
        return 0.0;
    }
    let first = median(steady[..quarter].to_vec());
    let last = median(steady[steady.len() - quarter..].to_vec());
    if first == 0.0 {
        0.0
    } else {
        last / first - 1.0
    }
}

pub fn run(options: &SoakOptions, out: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("botvisor-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sim = Simulator::start(&dir, options.bots)?;
    let setup = BotSetup {
        bots: options.bots,
        capacity: (options.conversations_per_bot + options.conversations_per_bot / 10).clamp(1, 999),
        vendor_delay: Duration::ZERO,
        combine: None,
        function_vendor: true,
    };
    let engine = Engine::start(EngineKind::Botvisor, &dir, &sim, &setup)?;
    let total = options.bots * options.conversations_per_bot;
    let opened = open_conversations(&sim, "soak", total, 2000)?;
    let assigned = opened["assigned"].as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));

    let count = (f64::from(options.rate) * options.duration.as_secs_f64()).ceil() as u64;
    let started = Instant::now();
    http::ok(&sim.control, "POST", "/sim/v1/load/messages", Some(&json!({"rate": options.rate, "count": count})), http::TIMEOUT)?;
    let mut samples = Vec::new();
    let mut round = 0u32;
    let mut last_status;
    loop {
        let next = options.fault_every * (round + 1);
        while started.elapsed() < next {
            std::thread::sleep(Duration::from_millis(200).min(next.saturating_sub(started.elapsed())));
        }
        let (mut taken, status) = sample(&sim, &engine, started, None)?;
        let sending = status["sending"] == true;
        last_status = status;
        if sending && !options.faults.is_empty() {
            let fault = options.faults[round as usize % options.faults.len()];
            taken.fault = Some(injected(&sim, &engine, fault, round / options.faults.len() as u32, options.bots)?);
        }
        progress(&format!(
            "soak {:.0}/{:.0} s: sent {} answered {} waiting {} duplicates {} escalated {} RSS {:.1} MiB fds {}{}",
            taken.seconds,
            options.duration.as_secs_f64(),
            taken.sent,
            taken.answered,
            taken.waiting,
            taken.duplicates,
            taken.moved,
            taken.rss as f64 / 1048576.0,
            taken.fds,
            taken.fault.as_deref().map(|f| format!(", then {f}")).unwrap_or_default()
        ));
        samples.push(taken);
        round += 1;
        if !sending {
            break;
        }
    }
    // The drain: whatever is still waiting gets its answer, or is lost.
    let sent_all_at = Instant::now();
    let final_status = wait_for("the drain", DRAIN + Duration::from_secs(30), || {
        let status = http::ok(&sim.control, "GET", "/sim/v1/load", None, http::TIMEOUT)?;
        let drained = status["unanswered"].as_u64() == Some(0);
        Ok((drained || sent_all_at.elapsed() > DRAIN).then_some(status))
    })
    .unwrap_or(last_status);
    let (end, _) = sample(&sim, &engine, started, None)?;
    samples.push(end);
    let peak_rss = engine.process.peak_rss();
    let bots: Value =
        engine.admin.as_deref().map_or(Value::Null, |admin| http::ok(admin, "GET", "/v1/bots", None, http::TIMEOUT).unwrap_or(Value::Null));
    drop(engine);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);

    let figure = |key: &str| final_status[key].as_u64().unwrap_or(0);
    // Unanswered in a conversation the bots still hold; what waited in one that was escalated
    // went to the escalation skill with it (counted apart, with the conversations).
    let lost = figure("unanswered");
    let duplicates = figure("unmatched_answers");
    let rss_drift = drift(&samples, |s| s.rss);
    let fd_drift = drift(&samples, |s| s.fds);
    let faults: Vec<&str> = samples.iter().filter_map(|s| s.fault.as_deref()).collect();
    let latency = &final_status["latency_us"];
    let online = bots.as_array().map(|b| b.iter().filter(|b| b["state"] == "online").count()).unwrap_or(0);
    let passed = lost == 0 && duplicates == 0 && rss_drift.abs() <= FLAT_WITHIN && fd_drift.abs() <= FLAT_WITHIN;
    let document = json!({
        "command": format!("cargo bench --bench load -- {}", std::env::args().skip(1).filter(|a| a != "--bench").collect::<Vec<_>>().join(" ")),
        "machine": crate::report::machine(),
        "rate": options.rate,
        "seconds": options.duration.as_secs_f64(),
        "bots": options.bots,
        "conversations": total,
        "assigned": assigned,
        "sent": figure("sent"),
        "send_failures": figure("send_failures"),
        "answered": figure("answered"),
        "lost": lost,
        "duplicates": duplicates,
        "escalated_conversations": figure("moved_to_other_skill"),
        "handed_over": figure("handed_over"),
        "not_sent_escalated": figure("skipped"),
        "faults": faults,
        "latency_us": latency,
        "rss_drift": rss_drift,
        "fd_drift": fd_drift,
        "peak_rss": peak_rss,
        "bots_online_at_end": online,
        "passed": passed,
        "samples": samples.iter().map(|s| json!({
            "seconds": s.seconds, "rss": s.rss, "fds": s.fds, "sent": s.sent, "answered": s.answered,
            "waiting": s.waiting, "duplicates": s.duplicates, "escalated": s.moved, "fault": s.fault,
        })).collect::<Vec<Value>>(),
    });
    let markdown = markdown(&document, &samples);
    println!("\n{markdown}");
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::write(out.join("soak.json"), serde_json::to_string_pretty(&document).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::write(out.join("soak.md"), &markdown).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("results: {}", out.join("soak.md").display());
    if passed {
        Ok(())
    } else {
        Err(format!(
            "lost {lost}, duplicated {duplicates}, RSS drift {:+.1} %, descriptor drift {:+.1} % (at most ±{:.0} %)",
            rss_drift * 100.0,
            fd_drift * 100.0,
            FLAT_WITHIN * 100.0
        ))
    }
}

fn markdown(document: &Value, samples: &[Sample]) -> String {
    let ms = |key: &str| document["latency_us"][key].as_f64().unwrap_or(0.0) / 1000.0;
    let mut out = format!(
        "**Soak** — `{}`: {} consumer msg/s for {:.0} s over {} conversations on {} bots (function vendor over HTTP), {} faults.\n\n\
         | sent | answered | lost | duplicated | escalated conversations (messages with them, not sent after) | latency p50 / p99 / p99.9 / max (ms) | RSS drift | descriptor drift | peak RSS (MiB) | bots online at the end | passed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} ({}, {}) | {:.1} / {:.1} / {:.1} / {:.1} | {:+.1} % | {:+.1} % | {:.1} | {} / {} | {} |\n\n",
        document["command"].as_str().unwrap_or_default(),
        document["rate"],
        document["seconds"].as_f64().unwrap_or(0.0),
        document["assigned"],
        document["bots"],
        document["faults"].as_array().map_or(0, Vec::len),
        document["sent"],
        document["answered"],
        document["lost"],
        document["duplicates"],
        document["escalated_conversations"],
        document["handed_over"],
        document["not_sent_escalated"],
        ms("p50"),
        ms("p99"),
        ms("p999"),
        ms("max"),
        document["rss_drift"].as_f64().unwrap_or(0.0) * 100.0,
        document["fd_drift"].as_f64().unwrap_or(0.0) * 100.0,
        document["peak_rss"].as_f64().unwrap_or(0.0) / 1048576.0,
        document["bots_online_at_end"],
        document["bots"],
        if document["passed"] == true { "✓" } else { "✗" },
    );
    out.push_str(
        "| at (s) | RSS (MiB) | descriptors | sent | answered | waiting | duplicated | escalated | then |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in samples {
        out.push_str(&format!(
            "| {:.0} | {:.1} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.seconds,
            s.rss as f64 / 1048576.0,
            s.fds,
            s.sent,
            s.answered,
            s.waiting,
            s.duplicates,
            s.moved,
            s.fault.as_deref().unwrap_or("")
        ));
    }
    out
}
