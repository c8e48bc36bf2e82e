//! The chaos benchmark: `cargo bench --bench chaos --features etcd -- [--rounds N] [--faults K,..]
//! [--ttl SECONDS] [--bots N] [--conversations N] [--rate R] [--quick] [--out DIR]` (`--help`).
//! Not part of CI; `tests/cluster/chaos.rs` runs a short version of the same harness
//! (`harness/`) there. What it does and checks: `harness/mod.rs` and `harness/checks.rs`.

#[allow(dead_code)] // the tests' etcd harness, shared: the chaos run uses part of it
#[path = "../../tests/cluster/etcd_harness.rs"]
mod etcd_harness;
mod harness;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use harness::{FaultKind, Settings};

fn parse_options() -> Result<(Settings, PathBuf), String> {
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/chaos");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut settings = if quick { Settings::quick(out.join("run")) } else { Settings::new(out.join("run")) };
    let mut out = out;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, text: String| text.parse::<f64>().map_err(|_| format!("{name} {text:?}: write a number"));
        match arg.as_str() {
            "--bench" | "--quick" => {} // cargo's; read above
            "--rounds" => settings.rounds = number("--rounds", value("--rounds")?)? as usize,
            "--faults" => {
                let text = value("--faults")?;
                settings.faults = text
                    .split(',')
                    .map(|k| FaultKind::parse(k.trim()).ok_or(format!("--faults: no kind {k:?}; --help lists them")))
                    .collect::<Result<_, _>>()?;
            }
            "--ttl" => settings.ttl = Duration::from_secs_f64(number("--ttl", value("--ttl")?)?.clamp(0.0, 3600.0)),
            "--bots" => settings.bots = number("--bots", value("--bots")?)? as usize,
            "--conversations" => settings.conversations_per_bot = number("--conversations", value("--conversations")?)? as usize,
            "--rate" => settings.rate = number("--rate", value("--rate")?)?,
            "--out" => {
                out = PathBuf::from(value("--out")?);
                settings.dir = out.join("run");
            }
            "-h" | "--help" => {
                println!("{}", include_str!("usage.txt"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}; --help lists them")),
        }
    }
    settings.validate()?;
    Ok((settings, out))
}

fn main() {
    let (settings, out) = match parse_options() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("chaos: {message}");
            std::process::exit(2);
        }
    };
    let _ = std::fs::remove_dir_all(&settings.dir);
    let terminal = std::io::stderr().is_terminal();
    let progress = |line: &str| {
        if terminal {
            eprintln!("\x1b[2m{line}\x1b[0m");
        } else {
            eprintln!("{line}");
        }
    };
    let report = match harness::run(&settings, &progress) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("chaos: {message}");
            std::process::exit(2);
        }
    };
    let command = std::env::args().skip(1).filter(|a| a != "--bench").collect::<Vec<_>>().join(" ");
    let command = format!("cargo bench --bench chaos --features etcd -- {command}").trim_end_matches(" -- ").to_owned();
    let markdown = report.markdown(&command);
    println!("\n{markdown}");
    if let Err(message) = report.write(&out, &command) {
        eprintln!("chaos: {message}");
        std::process::exit(2);
    }
    println!("results: {}", out.display());
    if report.violations() > 0 || report.aborted.is_some() {
        std::process::exit(1);
    }
}
