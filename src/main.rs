//! `botvisor` — the command line.
//!
//! `botvisor run` starts the bots of a configuration; `simulate` the platform simulator alone;
//! `check-config` validates a configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod app;

use botvisor::sim;

const USAGE: &str = "\
botvisor — conversation orchestration for third-party bots

USAGE:
    botvisor run [--config FILE] [--for DURATION] [--every DURATION]
                 [--sim-control-addr HOST:PORT] [--data-dir DIR] [--admin-addr HOST:PORT]
    botvisor check-config FILE
    botvisor simulate [--config FILE] [--account ID] [--https-addr HOST:PORT]
                      [--control-addr HOST:PORT] [--ca-out PATH] [--plain-http] [--for DURATION]

COMMANDS:
    run            Start the bots of a configuration (default config/botvisor.toml: the embedded
                   platform simulator with simulated consumers and two scripted bots). Logs one
                   line per conversation event; stops on Ctrl-C or after --for.
    check-config   Validate a configuration; print every problem with its path (exit code 2).
    simulate       Start the platform simulator alone (Messaging Agent API over HTTPS with a
                   self-signed certificate, and a control API over HTTP). Prints one JSON line
                   with the account, the platform address, the control address and the CA path.

OPTIONS (run):
    --config FILE         the configuration (TOML), default config/botvisor.toml
    --for DURATION        stop after this long (e.g. 30s, 5m); default: until Ctrl-C
    --every DURATION      a new simulated consumer this often (the embedded simulator's traffic)
    --sim-control-addr A  where the embedded simulator's control API listens
    --data-dir DIR        where files are written (overrides node.data_dir)
    --admin-addr A        where the admin API listens (overrides node.admin_addr)

OPTIONS (simulate):
    --config FILE         simulator settings (JSON), e.g. config/simulator.json
    --account ID          the account id (default 1234567)
    --https-addr ADDR     the platform origin (default 127.0.0.1:0: a free port)
    --control-addr ADDR   the control API (default 127.0.0.1:0)
    --ca-out PATH         where to write the certificate PEM (default: simulator-ca.pem)
    --plain-http          serve the platform without TLS
    --for DURATION        stop after this long; default: until Ctrl-C

    --log-format json|pretty   log lines as JSON objects, or for people (default)
    -h, --help            this text

Logs follow RUST_LOG (default: info).";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--log-format json|pretty` applies to every command.
    let json_logs = match args.iter().position(|a| a == "--log-format") {
        Some(at) => {
            let format = args.get(at + 1).cloned().unwrap_or_default();
            args.drain(at..(at + 2).min(args.len()));
            match format.as_str() {
                "json" => true,
                "pretty" => false,
                other => {
                    eprintln!("botvisor: --log-format {other:?}: write json or pretty\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
        }
        None => false,
    };
    LOG_JSON.store(json_logs, std::sync::atomic::Ordering::Relaxed);
    match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Simulate(options)) => {
            // stdout carries the one JSON line scripts read; logs go to stderr.
            init_logging(true);
            match run_simulator(*options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("botvisor: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Ok(Command::CheckConfig(path)) => match app::load(&path) {
            Ok(config) => {
                println!("{}: valid ({} bots)", path.display(), config.bots.len());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(2)
            }
        },
        Ok(Command::Run(options)) => {
            init_logging(false);
            match app::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("botvisor: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Err(message) => {
            eprintln!("botvisor: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

enum Command {
    Help,
    Run(app::RunOptions),
    CheckConfig(PathBuf),
    Simulate(Box<SimulateOptions>),
}

struct SimulateOptions {
    config: sim::SimConfig,
    run_for: Option<Duration>,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("run") => {}
        Some("simulate") => return parse_simulate(args),
        Some("check-config") => {
            let file = args.next().ok_or("check-config needs a FILE")?;
            return Ok(Command::CheckConfig(PathBuf::from(file)));
        }
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut options = app::RunOptions {
        config: PathBuf::from("config/botvisor.toml"),
        run_for: None,
        every: None,
        sim_control_addr: None,
        data_dir: None,
        admin_addr: None,
    };
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let address = |name: &str, text: String| text.parse::<std::net::SocketAddr>().map_err(|_| format!("{name} {text:?}: write HOST:PORT, e.g. 127.0.0.1:8089"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--config" => options.config = PathBuf::from(value("--config")?),
            "--for" => options.run_for = Some(duration(&value("--for")?, "--for")?),
            "--every" => options.every = Some(duration(&value("--every")?, "--every")?),
            "--sim-control-addr" => options.sim_control_addr = Some(address("--sim-control-addr", value("--sim-control-addr")?)?),
            "--admin-addr" => options.admin_addr = Some(address("--admin-addr", value("--admin-addr")?)?),
            "--data-dir" => options.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Command::Run(options))
}

fn parse_simulate<'a>(mut args: impl Iterator<Item = &'a String>) -> Result<Command, String> {
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--plain-http" => flags.push((flag.clone(), None)),
            "--config" | "--account" | "--https-addr" | "--control-addr" | "--ca-out" | "--for" => {
                let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
                flags.push((flag.clone(), Some(value.clone())));
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    // The file first, then the flags over it.
    let mut config = match flags.iter().find(|(f, _)| f == "--config") {
        Some((_, Some(path))) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            serde_json::from_str::<sim::SimConfig>(&text).map_err(|e| format!("{path}: {e}"))?
        }
        _ => sim::SimConfig { ca_out: Some(PathBuf::from("simulator-ca.pem")), ..sim::SimConfig::default() },
    };
    let mut run_for = None;
    for (flag, value) in flags {
        let value = value.unwrap_or_default();
        let address = |name: &str| value.parse().map_err(|_| format!("{name} {value:?}: write HOST:PORT, e.g. 127.0.0.1:8443"));
        match flag.as_str() {
            "--account" => config.account = value.clone(),
            "--https-addr" => config.platform_addr = address("--https-addr")?,
            "--control-addr" => config.control_addr = address("--control-addr")?,
            "--ca-out" => config.ca_out = Some(PathBuf::from(&value)),
            "--plain-http" => config.plain_http = true,
            "--for" => run_for = Some(duration(&value, "--for")?),
            _ => {}
        }
    }
    Ok(Command::Simulate(Box::new(SimulateOptions { config, run_for })))
}

fn run_simulator(options: SimulateOptions) -> Result<(), String> {
    actix_rt::System::new().block_on(async move {
        let handle = sim::start(options.config).await?;
        println!("{}", handle.announcement());
        tracing::info!(platform = %handle.platform_url(), control = %handle.control_url(), "simulator listening");
        match options.run_for {
            Some(run_for) => actix_rt::time::sleep(run_for).await,
            None => {
                let _ = actix_rt::signal::ctrl_c().await;
            }
        }
        handle.stop().await;
        Ok(())
    })
}

fn duration(text: &str, name: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(text).map_err(|e| format!("{name} {text:?}: {e} (write e.g. 30s or 5m)"))?;
    if parsed.is_zero() {
        return Err(format!("{name} must be longer than 0s"));
    }
    Ok(parsed)
}

static LOG_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn init_logging(to_stderr: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if LOG_JSON.load(std::sync::atomic::Ordering::Relaxed) {
        let builder = tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(true);
        if to_stderr {
            builder.with_writer(std::io::stderr).init();
        } else {
            builder.init();
        }
        return;
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if to_stderr {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder.with_ansi(ansi).with_writer(std::io::stderr).init();
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        builder.with_ansi(ansi).init();
    }
}
