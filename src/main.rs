//! `botvisor` — the command line.
//!
//! Until the service issue lands, `botvisor run` starts the engine core on the in-process fakes
//! (a simulated platform with a trickle of consumers, and a scripted demo vendor).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod app;
mod demo;

const USAGE: &str = "\
botvisor — conversation orchestration for third-party bots

USAGE:
    botvisor run [--bot-settings FILE] [--for DURATION] [--every DURATION]

COMMANDS:
    run     Start the engine with the demo bot on the in-process platform and vendor fakes.
            Logs one line per conversation event; stops on Ctrl-C or after --for.

OPTIONS:
    --bot-settings FILE   the bot's settings (JSON), default config/demo-bot.json
    --for DURATION        stop after this long (e.g. 30s, 5m); default: until Ctrl-C
    --every DURATION      a new simulated consumer this often; default 2s
    -h, --help            this text

Logs follow RUST_LOG (default: info).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run(options)) => {
            init_logging();
            match app::run_demo(options) {
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
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("run") => {}
        Some(other) => return Err(format!("unknown command {other:?}")),
    }
    let mut options = app::RunOptions {
        bot_settings: PathBuf::from("config/demo-bot.json"),
        run_for: None,
        every: Duration::from_secs(2),
    };
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--bot-settings" => options.bot_settings = PathBuf::from(value("--bot-settings")?),
            "--for" => options.run_for = Some(duration(&value("--for")?, "--for")?),
            "--every" => options.every = duration(&value("--every")?, "--every")?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Command::Run(options))
}

fn duration(text: &str, name: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(text).map_err(|e| format!("{name} {text:?}: {e} (write e.g. 30s or 5m)"))?;
    if parsed.is_zero() {
        return Err(format!("{name} must be longer than 0s"));
    }
    Ok(parsed)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).init();
}
