//! The composition root: the only place the actor tree is wired to its adapters.
//!
//! `run` starts what a service configuration describes: the embedded platform simulator if it has
//! one (with a user for every bot on it), and every bot — its platform client, its vendor, its
//! error hook — each a BotActor with its conversations.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix::{Actor, Addr};
use botvisor::api::{self, AdminState, ManagedBot};
use botvisor::config::{BotConfig, ServiceConfig, VendorConfig};
use botvisor::hooks::error_hook::HttpErrorHook;
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::config::{Credentials, UserConfig, UserKind};
use botvisor::sim::{self, SimHandle};
use botvisor::vendors::custom_endpoint::{CustomEndpointAuth, CustomEndpointSettings, CustomEndpointVendor};
use botvisor::vendors::scripted::ScriptedVendor;
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot, StopBot};
use botvisor_actors::ports::VendorPort;

pub struct RunOptions {
    pub config: PathBuf,
    pub run_for: Option<Duration>,
    /// A new simulated consumer this often (overrides the embedded simulator's traffic rate).
    pub every: Option<Duration>,
    pub sim_control_addr: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub admin_addr: Option<SocketAddr>,
}

/// Reads and validates a configuration; every problem is reported with its path.
pub fn load(path: &std::path::Path) -> Result<ServiceConfig, String> {
    let config = ServiceConfig::read(path)?;
    let problems = config.validate();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(format!("{} is not valid:\n{}", path.display(), list.join("\n")));
    }
    Ok(config)
}

pub fn run(options: RunOptions) -> Result<(), String> {
    let mut config = load(&options.config)?;
    if let Some(dir) = &options.data_dir {
        config.node.data_dir = dir.clone();
    }
    if let Some(addr) = options.admin_addr {
        config.node.admin_addr = addr;
    }
    let data_dir = config.node.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    actix_rt::System::new().block_on(async move {
        let simulator = match config.simulator.clone() {
            Some(mut sim_config) => {
                sim_config.ca_out = Some(data_dir.join("simulator-ca.pem"));
                if let Some(addr) = options.sim_control_addr {
                    sim_config.control_addr = addr;
                }
                if let (Some(every), Some(traffic)) = (options.every, sim_config.traffic.as_mut()) {
                    traffic.conversations_per_minute = ((60.0 / every.as_secs_f64()).round() as u32).clamp(1, 60_000);
                }
                add_embedded_users(&config, &mut sim_config)?;
                let handle = sim::start(sim_config).await?;
                tracing::info!(platform = %handle.platform_url(), control = %handle.control_url(), ca = ?handle.ca_path, "embedded platform simulator listening");
                Some(handle)
            }
            None => None,
        };
        let mut bots: Vec<Addr<BotActor>> = Vec::new();
        let mut managed = Vec::new();
        for bot in &config.bots {
            let actor = start_bot(bot, simulator.as_ref())?;
            managed.push(ManagedBot { id: bot.id.clone(), name: bot.name.clone(), addr: actor.clone(), stopped: AtomicBool::new(false) });
            bots.push(actor);
        }
        let token = config.node.admin_token.as_ref().map(|t| t.resolve()).transpose()?;
        let admin = Arc::new(AdminState { bots: managed, token, ready: AtomicBool::new(false) });
        let (admin_addr, admin_server) = api::start(config.node.admin_addr, admin.clone())?;
        tracing::info!(admin = %format!("http://{admin_addr}"), metrics = %format!("http://{admin_addr}/metrics"), "admin API listening");
        for (bot, actor) in config.bots.iter().zip(&bots) {
            match actor.send(StartBot).await {
                Ok(Ok(())) => tracing::info!(bot_id = %bot.id, "bot started"),
                Ok(Err(report)) => tracing::error!(bot_id = %bot.id, code = report.code.as_str(), message = %report.message, "the bot did not start"),
                Err(error) => return Err(format!("bot {}: the actor is gone: {error}", bot.id)),
            }
        }
        admin.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        match options.run_for {
            Some(run_for) => actix_rt::time::sleep(run_for).await,
            None => {
                let _ = actix_rt::signal::ctrl_c().await;
            }
        }
        for bot in &bots {
            if let Ok(status) = bot.send(GetBotStatus).await {
                tracing::info!(
                    bot_id = %status.bot_id,
                    state = status.state.as_str(),
                    open = status.open_conversations,
                    started = status.stats.conversations_started,
                    closed = status.stats.closed,
                    transferred = status.stats.transferred,
                    escalated = status.stats.escalated,
                    "bot finished"
                );
            }
            let _ = bot.send(StopBot).await;
        }
        admin_server.stop(true).await;
        if let Some(simulator) = simulator {
            simulator.stop().await;
        }
        tracing::info!("botvisor stopped");
        Ok(())
    })
}

/// Every bot on the embedded simulator gets its agent user there.
fn add_embedded_users(config: &ServiceConfig, sim_config: &mut sim::SimConfig) -> Result<(), String> {
    for bot in config.bots.iter().filter(|b| b.platform.csds == "embedded") {
        if sim_config.users.iter().any(|u| u.login == bot.platform.login) {
            continue;
        }
        let password = bot.platform.password.as_ref().ok_or(format!("bot {}: the embedded simulator needs a password login", bot.id))?.resolve()?;
        let settings = ServiceConfig::bot_settings(bot)?;
        sim_config.users.push(UserConfig {
            login: bot.platform.login.clone(),
            credentials: Credentials::Password { password },
            skills: vec![settings.skill.clone()],
            max_slots: 1000,
            kind: UserKind::Bot,
        });
    }
    Ok(())
}

fn start_bot(bot: &BotConfig, simulator: Option<&SimHandle>) -> Result<Addr<BotActor>, String> {
    let settings = ServiceConfig::bot_settings(bot)?;
    let platform = &bot.platform;
    let credentials = match (&platform.password, &platform.api_key) {
        (Some(password), _) => LoginCredentials::Password { username: platform.login.clone(), password: password.resolve()? },
        (None, Some(keys)) => LoginCredentials::ApiKey {
            username: platform.login.clone(),
            app_key: keys.app_key.resolve()?,
            secret: keys.secret.resolve()?,
            access_token: keys.access_token.resolve()?,
            access_token_secret: keys.access_token_secret.resolve()?,
        },
        (None, None) => return Err(format!("bot {}: no credentials", bot.id)),
    };
    let mut session = if platform.csds == "embedded" {
        let sim = simulator.ok_or(format!("bot {}: no embedded simulator", bot.id))?;
        let mut session = SessionSettings::new(&sim.account, &sim.platform_addr.to_string(), credentials);
        session.ca = sim.ca_path.clone();
        session.plain_http = !sim.tls;
        session
    } else {
        let mut session = SessionSettings::new(platform.account.as_deref().unwrap_or_default(), &platform.csds, credentials);
        session.ca = platform.ca.clone();
        session.plain_http = platform.plain_http;
        session
    };
    session.account = platform.account.clone().unwrap_or(session.account);
    let client = LivePersonPlatform::new(session)?;
    let vendor: Rc<dyn VendorPort> = match &bot.vendor {
        VendorConfig::Scripted { script } => Rc::new(ScriptedVendor::from_file(script)?),
        VendorConfig::CustomEndpoint { base_url, bot_id, environment, token, token_url, client_id, client_secret, requests_per_second, ca } => {
            let auth = match (token, token_url, client_id, client_secret) {
                (Some(token), _, _, _) => CustomEndpointAuth::StaticToken(token.resolve()?),
                (None, Some(url), Some(id), Some(secret)) => CustomEndpointAuth::ClientCredentials { token_url: url.clone(), client_id: id.clone(), client_secret: secret.resolve()? },
                _ => return Err(format!("bot {}: the Custom Endpoint needs a token or client credentials", bot.id)),
            };
            let mut vendor_settings = CustomEndpointSettings::new(base_url, bot_id, auth);
            vendor_settings.environment = environment.clone();
            vendor_settings.requests_per_second = *requests_per_second;
            vendor_settings.ca = ca.clone();
            vendor_settings.request_timeout = settings.conversation.vendor_call.timeout;
            Rc::new(CustomEndpointVendor::new(vendor_settings)?)
        }
    };
    let mut actor = BotActor::new(settings, Rc::new(client.clone()), vendor);
    if let Some(url) = &bot.error_hook {
        actor = actor.with_error_hook(Rc::new(HttpErrorHook::new(url, None)?));
    }
    let addr = actor.start();
    client.attach(addr.clone().recipient());
    Ok(addr)
}
