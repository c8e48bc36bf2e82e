//! `botvisor` — the command line.
//!
//! `botvisor run` starts the bots of a configuration; `simulate` the platform simulator alone;
//! `check-config` validates a configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod allocator;
mod app;

use botvisor::sim;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// botvisor — conversation orchestration for third-party bots.
///
/// Logs follow RUST_LOG (default: info).
#[derive(Parser)]
#[command(name = "botvisor", version, about, long_about = None)]
struct Cli {
    /// Log lines as JSON objects (with the span's bot_id and conversation_id), or for people.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Json,
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Start the bots of a configuration (default: the demo)
    ///
    /// The default config/botvisor.toml is the demo: the embedded platform simulator with
    /// simulated consumers and two scripted bots. Logs one line per conversation event; stops on
    /// Ctrl-C or after --for.
    Run(RunArgs),
    /// Validate a configuration or a scripted bot's file; print every problem with its path (exit code 2)
    ///
    /// A service configuration (node, simulator, cluster, bots) is checked with every bot's
    /// files and secrets; a scripted bot's file (welcome, intents, fallback) is recognised and
    /// checked as one.
    CheckConfig {
        /// The configuration or the scripted bot (TOML).
        file: PathBuf,
    },
    /// Validate a scripted bot's file; print what is wrong with its line and field (exit code 2)
    CheckScript {
        /// The script (TOML).
        file: PathBuf,
    },
    /// Start the platform simulator alone
    ///
    /// The Messaging Agent API over HTTPS with a self-signed certificate, and a control API over
    /// HTTP. Prints one JSON line with the account, the platform address, the control address and
    /// the CA path.
    Simulate(SimulateArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The configuration (TOML).
    #[arg(long, value_name = "FILE", default_value = "config/botvisor.toml")]
    config: PathBuf,
    /// Stop after this long (e.g. 30s, 5m); default: until Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    run_for: Option<Duration>,
    /// A new simulated consumer this often (the embedded simulator's traffic).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    every: Option<Duration>,
    /// Where the embedded simulator's control API listens.
    #[arg(long, value_name = "HOST:PORT", value_parser = address)]
    sim_control_addr: Option<SocketAddr>,
    /// Where files are written (overrides node.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the admin API listens (overrides node.admin_addr).
    #[arg(long, value_name = "HOST:PORT", value_parser = address)]
    admin_addr: Option<SocketAddr>,
}

#[derive(Args)]
struct SimulateArgs {
    /// Simulator settings (JSON), e.g. config/simulator.json; the flags below override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The account id (default 1234567).
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// The platform origin (default 127.0.0.1:0: a free port).
    #[arg(long, value_name = "HOST:PORT", value_parser = address)]
    https_addr: Option<SocketAddr>,
    /// The control API (default 127.0.0.1:0).
    #[arg(long, value_name = "HOST:PORT", value_parser = address)]
    control_addr: Option<SocketAddr>,
    /// Where to write the certificate PEM (default: simulator-ca.pem).
    #[arg(long, value_name = "PATH")]
    ca_out: Option<PathBuf>,
    /// Serve the platform without TLS.
    #[arg(long)]
    plain_http: bool,
    /// Also serve fake Dialogflow ES/CX APIs and their token endpoint, with the agents of this file
    /// (e.g. config/dialogflow-agents.json); the service-account key is written beside the CA.
    #[arg(long, value_name = "FILE")]
    dialogflow_agents: Option<PathBuf>,
    /// Also serve fake Amazon Lex V2, IBM Watson Assistant V2 (with its IAM token endpoint) and
    /// Direct Line 3.0 APIs, with the bots of this file (e.g. config/vendor-bots.json).
    #[arg(long, value_name = "FILE")]
    vendor_bots: Option<PathBuf>,
    /// The Bot Framework bot the Direct Line fake forwards to (its /api/messages URL); default the
    /// simulator's built-in bot.
    #[arg(long, value_name = "URL")]
    directline_bot: Option<String>,
    /// Stop after this long; default: until Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    run_for: Option<Duration>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    LOG_JSON.store(cli.log_format == LogFormat::Json, std::sync::atomic::Ordering::Relaxed);
    let result = match cli.command {
        Command::Simulate(args) => {
            allocator::one_arena();
            // stdout carries the one JSON line scripts read; logs go to stderr.
            init_logging(true);
            simulator_config(&args).and_then(|config| run_simulator(SimulateOptions { config, run_for: args.run_for }))
        }
        Command::CheckConfig { file } if app::looks_like_script(&file) => check_script(&file),
        Command::CheckConfig { file } => match app::load(&file) {
            Ok(config) => {
                println!("{}: valid ({} bots)", file.display(), config.bots.len());
                Ok(())
            }
            Err(error) => Err(error),
        },
        Command::CheckScript { file } => check_script(&file),
        Command::Run(args) => {
            init_logging(false);
            app::run(app::RunOptions {
                config: args.config,
                run_for: args.run_for,
                every: args.every,
                sim_control_addr: args.sim_control_addr,
                data_dir: args.data_dir,
                admin_addr: args.admin_addr,
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("botvisor: {error}");
            ExitCode::from(2)
        }
    }
}

struct SimulateOptions {
    config: sim::SimConfig,
    run_for: Option<Duration>,
}

/// The file first, then the flags over it.
fn simulator_config(args: &SimulateArgs) -> Result<sim::SimConfig, String> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str::<sim::SimConfig>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => sim::SimConfig { ca_out: Some(PathBuf::from("simulator-ca.pem")), ..sim::SimConfig::default() },
    };
    if let Some(account) = &args.account {
        config.account = account.clone();
    }
    if let Some(addr) = args.https_addr {
        config.platform_addr = addr;
    }
    if let Some(addr) = args.control_addr {
        config.control_addr = addr;
    }
    if let Some(path) = &args.ca_out {
        config.ca_out = Some(path.clone());
    }
    config.plain_http |= args.plain_http;
    if let Some(agents) = &args.dialogflow_agents {
        config.google = Some(sim::google::GoogleFakeConfig::new(agents.clone()));
    }
    if let Some(bots) = &args.vendor_bots {
        config.vendors = Some(sim::vendors::VendorFakesConfig::new(bots.clone()));
    }
    if let Some(url) = &args.directline_bot {
        match &mut config.vendors {
            Some(vendors) => vendors.directline_bot = Some(url.clone()),
            None => return Err("--directline-bot needs --vendor-bots".into()),
        }
    }
    Ok(config)
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

fn duration(text: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (write e.g. 30s or 5m)"))?;
    if parsed.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(parsed)
}

fn address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("{text:?}: write HOST:PORT, e.g. 127.0.0.1:8089"))
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

/// Checks a scripted bot's file.
fn check_script(file: &std::path::Path) -> Result<(), String> {
    let script = botvisor::config::read_script(file).map_err(|e| e.to_string())?;
    println!("{}: a valid scripted bot ({} intents)", file.display(), script.intent_count());
    Ok(())
}
