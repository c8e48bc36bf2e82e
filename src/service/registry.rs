//! The node's bots, as the admin API and the composition root see them: each bot's configuration,
//! its BotActor and whether it runs. Edits (add, change, delete, start, stop) are serialized, and
//! each one is written to the store before it is answered, so it survives a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix::Addr;
use botvisor_actors::bot::{BotActor, RetireBot, StartBot, StopBot};
use botvisor_actors::errors::ErrorReport;

use crate::config::{BotConfig, Problem};
use crate::platform::liveperson::SessionCounters;
use crate::service::launcher::BotLauncher;
use crate::service::store::{BotStore, StoredBots};

/// One bot of the node.
pub struct ManagedBot {
    pub config: BotConfig,
    pub addr: Addr<BotActor>,
    pub counters: Arc<SessionCounters>,
    /// Started, and not stopped since.
    running: AtomicBool,
    /// Started at least once (a bot never started is `ready_to_start`).
    started_once: AtomicBool,
}

/// The documented connector statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentStatus {
    ReadyToStart,
    /// Started, and its state is not offline.
    Online,
    /// Started, but offline (its session ended: refused login, reconnects exhausted, kicked).
    Offline,
    /// Stopped through the admin API.
    Stopped,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadyToStart => "ready_to_start",
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Stopped => "stopped",
        }
    }
}

impl ManagedBot {
    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// The connector status, given the bot's state is offline or not.
    pub fn deployment_status(&self, offline: bool) -> DeploymentStatus {
        match (self.is_running(), self.started_once.load(Ordering::Relaxed), offline) {
            (true, _, true) => DeploymentStatus::Offline,
            (true, _, false) => DeploymentStatus::Online,
            (false, true, _) => DeploymentStatus::Stopped,
            (false, false, _) => DeploymentStatus::ReadyToStart,
        }
    }
}

/// Why an edit was refused.
#[derive(Debug)]
pub enum RegistryError {
    NotFound,
    Exists,
    /// Editing or deleting a running bot.
    Running,
    Invalid(Vec<Problem>),
    /// The bot's actor did not answer.
    Unavailable,
    /// The bot refused to start.
    StartRefused(ErrorReport),
    /// Building the bot failed (a vendor script that cannot be read, a secret that vanished).
    Launch(String),
    /// The change could not be written to the data directory (nothing was changed).
    Store(String),
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such bot"),
            Self::Exists => f.write_str("a bot with this id exists"),
            Self::Running => f.write_str("the bot is running; stop it first"),
            Self::Invalid(problems) => f.write_str(&problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")),
            Self::Unavailable => f.write_str("the bot's actor does not answer"),
            Self::StartRefused(report) => write!(f, "{report}"),
            Self::Launch(message) | Self::Store(message) => f.write_str(message),
        }
    }
}

pub struct BotRegistry {
    bots: Mutex<Vec<Arc<ManagedBot>>>,
    launcher: BotLauncher,
    store: BotStore,
    stored: Mutex<StoredBots>,
    /// Serializes edits.
    edits: tokio::sync::Mutex<()>,
}

impl BotRegistry {
    pub fn new(launcher: BotLauncher, store: BotStore, stored: StoredBots) -> Self {
        Self { bots: Mutex::new(Vec::new()), launcher, store, stored: Mutex::new(stored), edits: tokio::sync::Mutex::new(()) }
    }

    pub fn list(&self) -> Vec<Arc<ManagedBot>> {
        self.bots.lock().expect("bots lock").clone()
    }

    pub fn get(&self, id: &str) -> Option<Arc<ManagedBot>> {
        self.bots.lock().expect("bots lock").iter().find(|b| b.id() == id).cloned()
    }

    /// Whether the store says the bot stays stopped at start.
    pub fn is_stored_stopped(&self, id: &str) -> bool {
        self.stored.lock().expect("stored lock").is_stopped(id)
    }

    /// Takes a bot of the configuration at start (nothing is written).
    pub async fn adopt(&self, config: BotConfig) -> Result<Arc<ManagedBot>, RegistryError> {
        let _edit = self.edits.lock().await;
        let stopped = self.is_stored_stopped(&config.id);
        let bot = self.launch(config).await?;
        bot.started_once.store(stopped, Ordering::Relaxed);
        self.bots.lock().expect("bots lock").push(bot.clone());
        Ok(bot)
    }

    /// Takes the node's bots at start and starts each one the store does not keep stopped. A bot
    /// that refuses to start is logged and stays, offline, for the admin API to show.
    pub async fn adopt_and_start(&self, bots: Vec<BotConfig>) -> Result<(), String> {
        for config in bots {
            let id = config.id.clone();
            self.adopt(config).await.map_err(|e| format!("bot {id}: {e}"))?;
        }
        for bot in self.list() {
            if self.is_stored_stopped(bot.id()) {
                tracing::info!(bot_id = %bot.id(), "bot stays stopped (stopped through the admin API)");
                continue;
            }
            match self.start(bot.id()).await {
                Ok(_) => tracing::info!(bot_id = %bot.id(), "bot started"),
                Err(RegistryError::StartRefused(report)) => tracing::error!(bot_id = %bot.id(), code = report.code.as_str(), message = %report.message, "the bot did not start"),
                Err(error) => return Err(format!("bot {}: {error}", bot.id())),
            }
        }
        Ok(())
    }

    /// Adds a bot through the API; `start` starts it too. A bot added and not started stays
    /// stopped across restarts until it is started.
    pub async fn add(&self, config: BotConfig, start: bool) -> Result<Arc<ManagedBot>, RegistryError> {
        let _edit = self.edits.lock().await;
        if self.get(&config.id).is_some() {
            return Err(RegistryError::Exists);
        }
        self.check(&config)?;
        let bot = self.launch(config.clone()).await?;
        if let Err(error) = self.write(|stored| {
            stored.upsert(config.clone());
            stored.set_stopped(&config.id, true);
        }) {
            bot.addr.do_send(RetireBot);
            return Err(error);
        }
        self.bots.lock().expect("bots lock").push(bot.clone());
        if start {
            self.start_locked(&bot).await?;
        }
        Ok(bot)
    }

    /// Replaces a stopped bot's configuration (`"***"` keeps a secret). The new bot is not
    /// started.
    pub async fn replace(&self, id: &str, mut config: BotConfig) -> Result<Arc<ManagedBot>, RegistryError> {
        let _edit = self.edits.lock().await;
        let old = self.get(id).ok_or(RegistryError::NotFound)?;
        if old.is_running() {
            return Err(RegistryError::Running);
        }
        config.keep_redacted_secrets(&old.config);
        self.check(&config)?;
        let bot = self.launch(config.clone()).await?;
        if let Err(error) = self.write(|stored| {
            stored.upsert(config.clone());
            stored.set_stopped(id, true);
        }) {
            bot.addr.do_send(RetireBot);
            return Err(error);
        }
        bot.started_once.store(old.started_once.load(Ordering::Relaxed), Ordering::Relaxed);
        {
            let mut bots = self.bots.lock().expect("bots lock");
            if let Some(slot) = bots.iter_mut().find(|b| b.id() == id) {
                *slot = bot.clone();
            }
        }
        let _ = old.addr.send(RetireBot).await;
        Ok(bot)
    }

    /// Deletes a stopped bot (its conversations on the platform are untouched).
    pub async fn remove(&self, id: &str) -> Result<(), RegistryError> {
        let _edit = self.edits.lock().await;
        let old = self.get(id).ok_or(RegistryError::NotFound)?;
        if old.is_running() {
            return Err(RegistryError::Running);
        }
        self.write(|stored| stored.delete(id))?;
        self.bots.lock().expect("bots lock").retain(|b| b.id() != id);
        let _ = old.addr.send(RetireBot).await;
        Ok(())
    }

    pub async fn start(&self, id: &str) -> Result<Arc<ManagedBot>, RegistryError> {
        let _edit = self.edits.lock().await;
        let bot = self.get(id).ok_or(RegistryError::NotFound)?;
        self.start_locked(&bot).await?;
        Ok(bot)
    }

    /// Stops a bot: its session closes; its open conversations stay on the platform, untouched.
    pub async fn stop(&self, id: &str) -> Result<Arc<ManagedBot>, RegistryError> {
        let _edit = self.edits.lock().await;
        let bot = self.get(id).ok_or(RegistryError::NotFound)?;
        self.write(|stored| stored.set_stopped(id, true))?;
        bot.addr.send(StopBot).await.map_err(|_| RegistryError::Unavailable)?;
        bot.running.store(false, Ordering::Relaxed);
        Ok(bot)
    }

    /// Stops every bot (the node is stopping; nothing is written).
    pub async fn stop_all(&self) {
        for bot in self.list() {
            let _ = bot.addr.send(StopBot).await;
            bot.running.store(false, Ordering::Relaxed);
        }
    }

    async fn start_locked(&self, bot: &ManagedBot) -> Result<(), RegistryError> {
        match bot.addr.send(StartBot).await {
            Ok(Ok(())) => {}
            Ok(Err(report)) => return Err(RegistryError::StartRefused(report)),
            Err(_) => return Err(RegistryError::Unavailable),
        }
        bot.running.store(true, Ordering::Relaxed);
        bot.started_once.store(true, Ordering::Relaxed);
        if self.is_stored_stopped(bot.id()) {
            self.write(|stored| stored.set_stopped(bot.id(), false))?;
        }
        Ok(())
    }

    fn check(&self, config: &BotConfig) -> Result<(), RegistryError> {
        let problems = config.validate("", self.launcher.has_embedded_platform());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::Invalid(problems))
        }
    }

    async fn launch(&self, config: BotConfig) -> Result<Arc<ManagedBot>, RegistryError> {
        let launched = self.launcher.launch(config.clone()).await.map_err(RegistryError::Launch)?;
        Ok(Arc::new(ManagedBot { config, addr: launched.addr, counters: launched.counters, running: AtomicBool::new(false), started_once: AtomicBool::new(false) }))
    }

    /// Applies a change to the stored bots and writes them; on failure nothing changes.
    fn write(&self, change: impl FnOnce(&mut StoredBots)) -> Result<(), RegistryError> {
        let mut stored = self.stored.lock().expect("stored lock");
        let mut next = stored.clone();
        change(&mut next);
        self.store.save(&next).map_err(RegistryError::Store)?;
        *stored = next;
        Ok(())
    }
}
