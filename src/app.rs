//! The composition root: the only place the actor tree is wired to its adapters.
//!
//! Today it wires the demo that `botvisor run` plays: the platform simulator embedded in the
//! process (TLS, with its traffic generator playing scripted consumers), one bot logged in to it
//! through the LivePerson platform client, and the scripted vendor from `config/`. The service
//! issue adds the configuration file, several bots and the Custom Endpoint vendor by config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::Actor;
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::config::{Credentials, SkillConfig, UserConfig, UserKind};
use botvisor::sim::traffic::TrafficConfig;
use botvisor::sim::{self, SimConfig};
use botvisor::vendors::scripted::ScriptedVendor;
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot, StopBot};
use botvisor_actors::settings::BotSettings;

use crate::demo;

pub struct RunOptions {
    pub bot_settings: PathBuf,
    /// The scripted vendor's file.
    pub script: PathBuf,
    pub run_for: Option<Duration>,
    /// A new simulated consumer this often.
    pub every: Duration,
    /// Where the embedded simulator's control API listens (default: a free port).
    pub sim_control_addr: Option<SocketAddr>,
    /// Where files are written (the simulator's certificate).
    pub data_dir: Option<PathBuf>,
}

const DEMO_LOGIN: &str = "demo-bot-1";
const DEMO_PASSWORD: &str = "demo-password";

/// Reads and validates a bot's settings file; every problem is reported with its path.
pub fn read_bot_settings(path: &PathBuf) -> Result<BotSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let settings: BotSettings = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let problems = settings.validate("bot");
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(format!("{} is not valid:\n{}", path.display(), list.join("\n")));
    }
    Ok(settings)
}

pub fn run_demo(options: RunOptions) -> Result<(), String> {
    let settings = read_bot_settings(&options.bot_settings)?;
    let vendor = ScriptedVendor::from_file(&options.script)?;
    let data_dir = options.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("botvisor-{}", std::process::id())));
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let ca = data_dir.join("simulator-ca.pem");
    let per_minute = ((60.0 / options.every.as_secs_f64()).round() as u32).clamp(1, 60_000);
    let sim_config = SimConfig {
        ca_out: Some(ca.clone()),
        control_addr: options.sim_control_addr.unwrap_or_else(|| "127.0.0.1:0".parse().expect("valid address")),
        skills: vec![
            SkillConfig { name: settings.skill.clone(), human: false },
            SkillConfig { name: settings.escalation.skill.clone(), human: true },
        ],
        users: vec![UserConfig {
            login: DEMO_LOGIN.into(),
            credentials: Credentials::Password { password: DEMO_PASSWORD.into() },
            skills: vec![settings.skill.clone()],
            max_slots: 1000,
            kind: UserKind::Bot,
        }],
        traffic: Some(TrafficConfig {
            skill: settings.skill.clone(),
            conversations_per_minute: per_minute,
            messages_per_conversation: 0,
            think_time: Duration::from_millis(1500),
            typing: true,
            files: false,
            rich: false,
            duration: None,
            scripts: demo::CONSUMER_SCRIPTS.iter().map(|s| s.iter().map(|t| (*t).to_owned()).collect()).collect(),
            close_after: Some(Duration::from_secs(5)),
        }),
        ..SimConfig::default()
    };
    actix_rt::System::new().block_on(async move {
        let simulator = sim::start(sim_config).await?;
        tracing::info!(
            platform = %simulator.platform_url(),
            control = %simulator.control_url(),
            ca = %ca.display(),
            "embedded platform simulator listening"
        );
        let mut session = SessionSettings::new(
            &simulator.account,
            &simulator.platform_addr.to_string(),
            LoginCredentials::Password { username: DEMO_LOGIN.into(), password: DEMO_PASSWORD.into() },
        );
        session.ca = Some(ca.clone());
        let platform = LivePersonPlatform::new(session)?;
        let bot_id = settings.bot_id.clone();
        let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor)).start();
        platform.attach(bot.clone().recipient());
        match bot.send(StartBot).await {
            Ok(Ok(())) => tracing::info!(%bot_id, "bot started"),
            Ok(Err(report)) => return Err(format!("the bot did not start: {report}")),
            Err(error) => return Err(format!("the bot actor is gone: {error}")),
        }
        match options.run_for {
            Some(run_for) => actix_rt::time::sleep(run_for).await,
            None => {
                let _ = actix_rt::signal::ctrl_c().await;
            }
        }
        if let Ok(status) = bot.send(GetBotStatus).await {
            tracing::info!(
                bot_id = %status.bot_id,
                state = status.state.as_str(),
                open = status.open_conversations,
                started = status.stats.conversations_started,
                closed = status.stats.closed,
                transferred = status.stats.transferred,
                escalated = status.stats.escalated,
                "demo finished"
            );
        }
        let _ = bot.send(StopBot).await;
        simulator.stop().await;
        Ok(())
    })
}
