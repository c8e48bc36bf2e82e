//! The load benchmark: how much one node carries, side by side with the reference bot built on
//! LivePerson's Node Agent SDK, on the same simulator and machine, in the same run.
//!
//! `cargo bench --bench load -- [--scenario throughput|capacity|capacity-40k|slow-vendor|overload|all|soak] [--quick]
//! [--no-peer] [--rounds N] [--bots N] [--conversations N] [--rates 1000,2000]
//! [--messages-per-conversation M] [--duration SECONDS] [--vendor-delay MS] [--combine MS]
//! [--out DIR]`
//!
//! Each run starts the simulator (`botvisor simulate`, its own process, with the open-loop load
//! generator) and the engine under test (`botvisor run`, or the SDK peer under Node.js), opens the
//! conversations, then sends consumer messages at each rate of the ladder. Latency is measured by
//! the simulator from each message's scheduled time to the bot's answer in the transcript.

// The harness measures real processes on the wall clock; no paused-time test runs here.
#![allow(clippy::disallowed_types)]

mod charts;
#[path = "../common/http.rs"]
mod http;
mod processes;
mod report;
mod soak;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use processes::{BotSetup, Engine, EngineKind, Simulator};
use report::{RateResult, RunResult};
use serde_json::{json, Value};

/// The p99 added latency a rate must hold.
pub const P99_TARGET_MS: f64 = 10.0;
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The overload scenario's base: the highest rate the throughput ladder holds at the p99 target
/// on the project's machine (10 000/s); it offers twice that in between.
const OVERLOAD_BASE: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub setup: BotSetup,
    pub conversations_per_bot: u32,
    /// Conversations opened beyond every bot's capacity, per bot: botvisor escalates them.
    pub overflow_per_bot: u32,
    pub open_per_second: u32,
    pub rates: Vec<u32>,
    /// How long each rate is sent.
    pub step: Duration,
    /// Per rate, how long it is sent instead of `step` (the overload scenario's long middle).
    pub durations: Vec<Duration>,
    /// Every rate is run, even after two missed the target (overload: the recovery matters).
    pub whole_ladder: bool,
}

struct Options {
    scenarios: Vec<&'static str>,
    quick: bool,
    peer: bool,
    function_vendor: bool,
    soak_faults: Option<Vec<soak::Fault>>,
    rounds: u32,
    bots: Option<u32>,
    conversations: Option<u32>,
    rates: Option<Vec<u32>>,
    messages_per_conversation: Option<u32>,
    duration: Option<f64>,
    vendor_delay: Option<u64>,
    combine: Option<u64>,
    out: PathBuf,
    /// Redraw the charts of this results.json and stop.
    replot: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        scenarios: vec!["throughput"],
        quick: false,
        peer: true,
        function_vendor: false,
        soak_faults: None,
        rounds: 0,
        bots: None,
        conversations: None,
        rates: None,
        messages_per_conversation: None,
        duration: None,
        vendor_delay: None,
        combine: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/load"),
        replot: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, text: String| text.parse::<u64>().map_err(|_| format!("{name} {text:?}: write a whole number"));
        match arg.as_str() {
            "--bench" => {} // cargo's
            "--scenario" => {
                options.scenarios = match value("--scenario")?.as_str() {
                    "throughput" => vec!["throughput"],
                    "capacity" => vec!["capacity"],
                    "capacity-40k" => vec!["capacity-40k"],
                    "slow-vendor" => vec!["slow-vendor"],
                    "overload" => vec!["overload"],
                    "all" => vec!["throughput", "slow-vendor", "capacity-40k", "capacity", "overload"],
                    "soak" => vec!["soak"],
                    other => {
                        return Err(format!("--scenario {other:?}: throughput, capacity, capacity-40k, slow-vendor, overload, all or soak"))
                    }
                }
            }
            "--quick" => options.quick = true,
            "--no-peer" => options.peer = false,
            "--function-vendor" => options.function_vendor = true,
            "--faults" => options.soak_faults = Some(soak::Fault::parse_list(&value("--faults")?)?),
            "--rounds" => options.rounds = number("--rounds", value("--rounds")?)?.clamp(1, 10) as u32,
            "--bots" => options.bots = Some(number("--bots", value("--bots")?)?.clamp(1, 200) as u32),
            "--conversations" => options.conversations = Some(number("--conversations", value("--conversations")?)?.clamp(1, 999) as u32),
            "--rates" => {
                let text = value("--rates")?;
                let rates: Result<Vec<u32>, String> =
                    text.split(',').map(|r| number("--rates", r.trim().to_owned()).map(|r| r.clamp(1, 200_000) as u32)).collect();
                options.rates = Some(rates?);
            }
            "--messages-per-conversation" => {
                options.messages_per_conversation =
                    Some(number("--messages-per-conversation", value("--messages-per-conversation")?)?.clamp(1, 1000) as u32)
            }
            "--duration" => {
                let text = value("--duration")?;
                options.duration = Some(text.parse::<f64>().map_err(|_| format!("--duration {text:?}: seconds"))?.clamp(0.5, 86_400.0));
            }
            "--vendor-delay" => options.vendor_delay = Some(number("--vendor-delay", value("--vendor-delay")?)?.min(60_000)),
            "--combine" => options.combine = Some(number("--combine", value("--combine")?)?.clamp(1, 10_000)),
            "--out" => options.out = PathBuf::from(value("--out")?),
            "--replot" => options.replot = Some(PathBuf::from(value("--replot")?)),
            "-h" | "--help" => {
                println!("{}", include_str!("usage.txt"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}; --help lists them")),
        }
    }
    if options.rounds == 0 {
        options.rounds = if options.quick { 1 } else { 2 };
    }
    Ok(options)
}

fn scenario(name: &'static str, options: &Options) -> Scenario {
    let quick = options.quick;
    let mut s = match name {
        // 100 bots × 999 conversations, or 40 × 999 (the memory target's two points).
        "capacity" | "capacity-40k" => Scenario {
            name,
            setup: BotSetup {
                bots: match (name, quick) {
                    ("capacity-40k", true) => 16,
                    ("capacity-40k", false) => 40,
                    (_, true) => 40,
                    (_, false) => 100,
                },
                capacity: if quick { 250 } else { 999 },
                vendor_delay: Duration::ZERO,
                combine: None,
                function_vendor: false,
            },
            conversations_per_bot: if quick { 250 } else { 999 },
            overflow_per_bot: 10,
            open_per_second: 2000,
            rates: vec![200],
            step: Duration::from_secs(if quick { 3 } else { 10 }),
            durations: Vec::new(),
            whole_ladder: false,
        },
        // The sustainable rate, twice it for a minute, then the sustainable rate again.
        "overload" => Scenario {
            name,
            setup: BotSetup { bots: 10, capacity: 275, vendor_delay: Duration::ZERO, combine: None, function_vendor: false },
            conversations_per_bot: 250,
            overflow_per_bot: 0,
            open_per_second: 2000,
            rates: vec![OVERLOAD_BASE, OVERLOAD_BASE * 2, OVERLOAD_BASE],
            step: Duration::from_secs(if quick { 3 } else { 10 }),
            durations: [10, 60, 10].map(|s| Duration::from_secs(if quick { s / 4 } else { s })).to_vec(),
            whole_ladder: true,
        },
        "slow-vendor" => Scenario {
            name,
            setup: BotSetup { bots: 10, capacity: 275, vendor_delay: Duration::from_millis(500), combine: None, function_vendor: false },
            conversations_per_bot: 250,
            overflow_per_bot: 0,
            open_per_second: 2000,
            rates: vec![2000],
            step: Duration::from_secs(if quick { 4 } else { 10 }),
            durations: Vec::new(),
            whole_ladder: false,
        },
        _ => Scenario {
            name,
            setup: BotSetup { bots: 10, capacity: 275, vendor_delay: Duration::ZERO, combine: None, function_vendor: false },
            conversations_per_bot: 250,
            overflow_per_bot: 0,
            open_per_second: 2000,
            rates: if quick { vec![1000, 2000, 5000, 10_000, 20_000] } else { vec![1000, 2000, 5000, 10_000, 20_000, 30_000, 40_000] },
            step: Duration::from_secs(if quick { 3 } else { 10 }),
            durations: Vec::new(),
            whole_ladder: false,
        },
    };
    if let Some(bots) = options.bots {
        s.setup.bots = bots;
    }
    if let Some(conversations) = options.conversations {
        s.conversations_per_bot = conversations;
        s.setup.capacity = (conversations + conversations / 10).clamp(conversations, 999);
    }
    if let Some(rates) = &options.rates {
        s.rates = rates.clone();
    }
    if let Some(seconds) = options.duration {
        s.step = Duration::from_secs_f64(seconds);
        s.durations.clear();
    }
    if let Some(delay) = options.vendor_delay {
        s.setup.vendor_delay = Duration::from_millis(delay);
    }
    if let Some(window) = options.combine {
        s.setup.combine = Some(Duration::from_millis(window));
    }
    s.setup.function_vendor = options.function_vendor;
    s
}

/// Progress: a rewritten line on a terminal, plain lines otherwise.
pub fn progress(text: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{text}");
    } else {
        eprintln!("{text}");
    }
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<Option<T>, String>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(done) = check()? {
            return Ok(done);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Opens `total` conversations on the load's skill at `per_second` and waits until they are
/// taken (or settled: the rest queued while every bot is AWAY); the load's status then.
pub fn open_conversations(sim: &Simulator, label: &str, total: u32, per_second: u32) -> Result<Value, String> {
    http::ok(
        &sim.control,
        "POST",
        "/sim/v1/load/conversations",
        Some(&json!({"skill": "bots", "count": total, "per_second": per_second})),
        http::TIMEOUT,
    )?;
    let mut last = (0, Instant::now());
    wait_for("the conversations to be accepted", ACCEPT_TIMEOUT, || {
        let status = http::ok(&sim.control, "GET", "/sim/v1/load", None, http::TIMEOUT)?;
        let count = |key: &str| status[key].as_u64().unwrap_or(0);
        let taken = count("assigned") + count("moved_to_other_skill");
        progress(&format!("{label}: {taken}/{total} conversations accepted, {} queued", count("queued")));
        // Settled: every conversation opened, none ringing, and the rest queued for a free bot
        // (a bot at its recommended load goes AWAY), the same for two polls in a row.
        let settled = status["opening"] == false && count("ringing") == 0 && taken + count("queued") >= u64::from(total);
        let stalled = status["opening"] == false && last.1.elapsed() > Duration::from_secs(15);
        let done = taken >= u64::from(total) || (settled && taken == last.0) || stalled;
        if taken != last.0 {
            last = (taken, Instant::now());
        }
        Ok(done.then_some(status))
    })
}

/// One engine through one scenario: open the conversations, then each rate of the ladder.
fn run(kind: EngineKind, scenario: &Scenario, round: u32) -> Result<RunResult, String> {
    let dir = std::env::temp_dir().join(format!("botvisor-load-{}-{}-{}", std::process::id(), kind.name(), round));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sim = Simulator::start(&dir, scenario.setup.bots)?;
    let engine = Engine::start(kind, &dir, &sim, &scenario.setup)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = engine.process.rss();
    let total = scenario.setup.bots * (scenario.conversations_per_bot + scenario.overflow_per_bot);
    let opened_at = Instant::now();
    let status = open_conversations(&sim, &format!("{} {}", kind.name(), scenario.name), total, scenario.open_per_second)?;
    let accept_seconds = opened_at.elapsed().as_secs_f64();
    let assigned = status["assigned"].as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));
    let rss_opened = engine.process.rss();
    std::thread::sleep(processes::SETTLE_BEFORE_MEASURING);
    let rss_open = engine.process.rss();
    let mut rates = Vec::new();
    let mut misses = 0;
    for (i, &rate) in scenario.rates.iter().enumerate() {
        let step = scenario.durations.get(i).copied().unwrap_or(scenario.step);
        let count = (f64::from(rate) * step.as_secs_f64()).ceil() as u64;
        let cpu_before = engine.process.cpu_seconds();
        let sim_cpu_before = sim.process.cpu_seconds();
        let started = Instant::now();
        http::ok(&sim.control, "POST", "/sim/v1/load/messages", Some(&json!({"rate": rate, "count": count})), http::TIMEOUT)?;
        let drain = step + scenario.setup.vendor_delay * 2 + Duration::from_secs(10);
        let mut sending_ended: Option<Instant> = None;
        let status = wait_for("the answers", drain + Duration::from_secs(30), || {
            let status = http::ok(&sim.control, "GET", "/sim/v1/load", None, http::TIMEOUT)?;
            progress(&format!("{} {} {rate}/s: sent {} answered {}", kind.name(), scenario.name, status["sent"], status["answered"]));
            if status["sending"] == true {
                return Ok(None);
            }
            let ended = *sending_ended.get_or_insert_with(Instant::now);
            let drained = status["unanswered"].as_u64() == Some(0);
            Ok((drained || ended.elapsed() > Duration::from_secs(5) + scenario.setup.vendor_delay * 2).then_some(status))
        })?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = (engine.process.cpu_seconds() - cpu_before) / wall;
        let sim_cpu = (sim.process.cpu_seconds() - sim_cpu_before) / wall;
        let result = RateResult::from_status(rate, &status, scenario, cpu, sim_cpu, wall);
        if !result.holds_target() {
            misses += 1;
        }
        rates.push(result);
        if misses >= 2 && !scenario.whole_ladder {
            break; // two rates missed: higher ones will too
        }
    }
    let peak_rss = engine.process.peak_rss();
    let _ = http::call(&sim.control, "DELETE", "/sim/v1/load", None, http::TIMEOUT);
    drop(engine);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    Ok(RunResult {
        engine: kind.name(),
        scenario: scenario.name,
        round,
        bots: scenario.setup.bots,
        conversations: total,
        assigned,
        moved_to_other_skill: status["moved_to_other_skill"].as_u64().unwrap_or(0),
        queued: status["queued"].as_u64().unwrap_or(0),
        accept_seconds,
        rss_idle,
        rss_opened,
        rss_open,
        peak_rss,
        rates,
    })
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("load: {message}");
            std::process::exit(2);
        }
    };
    if let Some(results) = &options.replot {
        let dir = results.parent().unwrap_or(std::path::Path::new("."));
        let drawn = std::fs::read_to_string(results)
            .map_err(|e| format!("{}: {e}", results.display()))
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", results.display())))
            .and_then(|document| charts::write_charts(dir, &document));
        match drawn {
            Ok(files) => files.iter().for_each(|f| println!("chart: {}", f.display())),
            Err(e) => {
                eprintln!("load: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if options.scenarios == ["soak"] {
        let soak = soak::SoakOptions {
            rate: options.rates.as_ref().and_then(|r| r.first().copied()).unwrap_or(soak::DEFAULT_RATE),
            duration: Duration::from_secs_f64(options.duration.unwrap_or(if options.quick { 240.0 } else { 3600.0 })),
            fault_every: Duration::from_secs(if options.quick { 20 } else { 60 }),
            bots: options.bots.unwrap_or(10),
            conversations_per_bot: options.conversations.unwrap_or(250),
            faults: options.soak_faults.clone().unwrap_or(soak::FAULTS.to_vec()),
        };
        if let Err(e) = soak::run(&soak, &options.out) {
            eprintln!("\nload: the soak failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut engines = vec![EngineKind::Botvisor];
    // The peer has no HTTP vendor: against the function vendor botvisor runs alone.
    if options.peer && !options.function_vendor {
        engines.push(EngineKind::Peer);
    }
    let started = Instant::now();
    let mut results = Vec::new();
    for name in &options.scenarios {
        let scenario = scenario(name, &options);
        if let Some(m) = options.messages_per_conversation {
            // M messages per conversation at each rate: the step lasts as long as that takes.
            let total = f64::from(scenario.setup.bots * scenario.conversations_per_bot * m);
            let mut scenario = scenario.clone();
            scenario.step = Duration::from_secs_f64((total / f64::from(*scenario.rates.iter().max().unwrap_or(&1))).max(0.5));
            run_scenario(&scenario, &engines, options.rounds, &mut results);
        } else {
            run_scenario(&scenario, &engines, options.rounds, &mut results);
        }
    }
    let machine = report::machine();
    let command = std::env::args().skip(1).filter(|a| a != "--bench").collect::<Vec<_>>().join(" ");
    let document = json!({
        "command": format!("cargo bench --bench load -- {command}"),
        "machine": machine,
        "p99_target_ms": P99_TARGET_MS,
        "seconds": started.elapsed().as_secs_f64(),
        "runs": results.iter().map(RunResult::to_json).collect::<Vec<Value>>(),
    });
    let markdown = report::markdown(&results, &document);
    println!("\n{markdown}");
    if let Err(e) = report::write(&options.out, &document, &markdown) {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
    match charts::write_charts(&options.out, &document) {
        Ok(files) => files.iter().for_each(|f| println!("chart: {}", f.display())),
        Err(e) => eprintln!("load: the charts could not be drawn: {e}"),
    }
    println!("results: {}", options.out.display());
}

fn run_scenario(scenario: &Scenario, engines: &[EngineKind], rounds: u32, results: &mut Vec<RunResult>) {
    // A B A B: the engines alternate, round after round.
    for round in 1..=rounds {
        for &kind in engines {
            match run(kind, scenario, round) {
                Ok(result) => {
                    for line in result.lines() {
                        println!("{line}");
                    }
                    results.push(result);
                }
                Err(message) => {
                    eprintln!("\nload: {} {} round {round} failed: {message}", kind.name(), scenario.name);
                    results.push(RunResult::failed(kind.name(), scenario.name, round, scenario));
                }
            }
        }
    }
}
