//! The node's bots, as the admin API and the composition root see them: each bot's configuration,
//! its BotActor and whether it runs. Edits (add, change, delete, start, stop) are serialized, and
//! each one is written to the store before it is answered, so it survives a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix::Addr;
use botvisor_actors::bot::{BotActor, RetireBot, SetCapacity, StartBot, StopBot};
use botvisor_actors::errors::ErrorReport;
use botvisor_actors::load::Capacity;

use crate::cluster::{Ownership, SharedOwnership, Store};
use crate::config::{BotConfig, Problem};
use crate::hooks::error_hook::HookCounters;
use crate::platform::liveperson::SessionCounters;
use crate::service::launcher::BotLauncher;
use crate::service::store::StoredBots;

/// One bot of the node.
pub struct ManagedBot {
    /// Its configuration (the capacity may change while it runs).
    config: Mutex<BotConfig>,
    pub addr: Addr<BotActor>,
    pub counters: Arc<SessionCounters>,
    /// Its error hook's deliveries (when it has a hook).
    pub hook: Option<Arc<HookCounters>>,
    id: String,
    /// Started, and not stopped since.
    running: AtomicBool,
    /// Started at least once (a bot never started is `ready_to_start`).
    started_once: AtomicBool,
    /// Serializes this bot's start and stop (other bots' edits never wait for it).
    lifecycle: tokio::sync::Mutex<()>,
    /// This node's hold on the bot while it runs here: a bot is never logged in unowned. Its
    /// conversation records are written with it.
    ownership: SharedOwnership,
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
        &self.id
    }

    /// Its configuration as it is now.
    pub fn config(&self) -> BotConfig {
        self.config.lock().expect("config lock").clone()
    }

    /// Started and not stopped since, and its actor alive.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed) && self.is_alive()
    }

    /// This node's hold on the bot (its fencing token), while it runs here.
    pub fn ownership(&self) -> Option<Ownership> {
        self.ownership.lock().expect("ownership lock").clone()
    }

    /// Whether its BotActor still runs (it may have died of a panic).
    pub fn is_alive(&self) -> bool {
        self.addr.connected()
    }

    /// The connector status, given the bot's state is offline or not.
    pub fn deployment_status(&self, offline: bool) -> DeploymentStatus {
        // The flag, not `is_running`: a bot meant to run whose actor died is offline, not stopped.
        match (self.running.load(Ordering::Relaxed), self.started_once.load(Ordering::Relaxed), offline) {
            (true, _, true) => DeploymentStatus::Offline,
            (true, _, false) => DeploymentStatus::Online,
            (false, true, _) => DeploymentStatus::Stopped,
            (false, false, _) => DeploymentStatus::ReadyToStart,
        }
    }
}

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no such bot")]
    NotFound,
    #[error("a bot with this id exists")]
    Exists,
    /// Editing or deleting a running bot.
    #[error("the bot is running; stop it first")]
    Running,
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The bot's actor did not answer.
    #[error("the bot's actor does not answer")]
    Unavailable,
    /// The bot refused to start.
    #[error("{0}")]
    StartRefused(ErrorReport),
    /// Building the bot failed (a vendor script that cannot be read, a secret that vanished).
    #[error("{0}")]
    Launch(String),
    /// The change could not be written to the store (nothing was changed).
    #[error("{0}")]
    Store(String),
    /// Another node owns the bot: it runs there.
    #[error("node {node} owns the bot")]
    OwnedElsewhere { node: String },
}

pub struct BotRegistry {
    bots: Mutex<Vec<Arc<ManagedBot>>>,
    launcher: BotLauncher,
    store: Arc<dyn Store>,
    stored: Mutex<StoredBots>,
    /// Serializes edits.
    edits: tokio::sync::Mutex<()>,
}

impl BotRegistry {
    pub fn new(launcher: BotLauncher, store: Arc<dyn Store>, stored: StoredBots) -> Self {
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
        let _membership = self.edits.lock().await;
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
                Err(RegistryError::StartRefused(report)) => {
                    tracing::error!(bot_id = %bot.id(), code = report.code.as_str(), message = %report.message, "the bot did not start")
                }
                Err(error) => return Err(format!("bot {}: {error}", bot.id())),
            }
        }
        Ok(())
    }

    /// Adds a bot through the API; `start` starts it too. A bot added and not started stays
    /// stopped across restarts until it is started.
    pub async fn add(&self, config: BotConfig, start: bool) -> Result<Arc<ManagedBot>, RegistryError> {
        let bot = {
            let _membership = self.edits.lock().await;
            if self.get(&config.id).is_some() {
                return Err(RegistryError::Exists);
            }
            self.check(&config).await?;
            let bot = self.launch(config.clone()).await?;
            if let Err(error) = self.write(Change::Upsert { bot: Box::new(config.clone()) }).await {
                bot.addr.do_send(RetireBot);
                return Err(error);
            }
            self.bots.lock().expect("bots lock").push(bot.clone());
            bot
        };
        if start {
            // Outside the membership lock: a slow start holds only this bot.
            let _lifecycle = bot.lifecycle.lock().await;
            self.start_locked(&bot).await?;
        }
        Ok(bot)
    }

    /// Replaces a stopped bot's configuration (`"***"` keeps a secret). The new bot is not
    /// started.
    pub async fn replace(&self, id: &str, mut config: BotConfig) -> Result<Arc<ManagedBot>, RegistryError> {
        let _membership = self.edits.lock().await;
        let old = self.get(id).ok_or(RegistryError::NotFound)?;
        // A bot starting (its lifecycle lock held) counts as running: answered at once.
        let Ok(_lifecycle) = old.lifecycle.try_lock() else { return Err(RegistryError::Running) };
        if old.is_running() {
            return Err(RegistryError::Running);
        }
        config.keep_redacted_secrets(&old.config());
        self.check(&config).await?;
        let bot = self.launch(config.clone()).await?;
        if let Err(error) = self.write(Change::Upsert { bot: Box::new(config.clone()) }).await {
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

    /// Changes a bot's capacity (recommended, hard, low water) in place, running or not: written
    /// to the store (for every node and the next start), and applied at once when the bot runs
    /// here (the LoadActor re-decides availability and admission; nothing open is dropped). A
    /// bot running on another node gets it from there at that node's next look at the store.
    /// Answers whether it was applied here.
    pub async fn set_capacity(&self, id: &str, capacity: Capacity) -> Result<bool, RegistryError> {
        let _membership = self.edits.lock().await;
        let bot = self.get(id).ok_or(RegistryError::NotFound)?;
        let problems: Vec<Problem> =
            capacity.problems().into_iter().map(|(field, message)| Problem { path: format!("load.{field}"), message }).collect();
        if !problems.is_empty() {
            return Err(RegistryError::Invalid(problems));
        }
        let mut config = bot.config();
        with_capacity(&mut config, capacity);
        self.check(&config).await?;
        self.write(Change::Settings { bot: Box::new(config.clone()) }).await?;
        *bot.config.lock().expect("config lock") = config;
        // A stopped bot's actor keeps it too: it starts with it.
        if bot.is_alive() {
            bot.addr.send(SetCapacity(capacity)).await.map_err(|_| RegistryError::Unavailable)?;
        }
        Ok(bot.is_running())
    }

    /// Deletes a stopped bot (its conversations on the platform are untouched).
    pub async fn remove(&self, id: &str) -> Result<(), RegistryError> {
        let _membership = self.edits.lock().await;
        let old = self.get(id).ok_or(RegistryError::NotFound)?;
        let Ok(_lifecycle) = old.lifecycle.try_lock() else { return Err(RegistryError::Running) };
        if old.is_running() {
            return Err(RegistryError::Running);
        }
        self.write(Change::Delete { id: id.to_owned() }).await?;
        self.bots.lock().expect("bots lock").retain(|b| b.id() != id);
        let _ = old.addr.send(RetireBot).await;
        Ok(())
    }

    /// Starts a bot. A bot whose actor died is rebuilt from its configuration first.
    pub async fn start(&self, id: &str) -> Result<Arc<ManagedBot>, RegistryError> {
        let mut bot = self.get(id).ok_or(RegistryError::NotFound)?;
        if !bot.is_alive() {
            bot = self.rebuild(&bot).await?;
        }
        {
            let _lifecycle = bot.lifecycle.lock().await;
            self.start_locked(&bot).await?;
        }
        Ok(bot)
    }

    /// Stops a bot: its session closes; its open conversations stay on the platform, untouched.
    /// A start in progress is cancelled at once (the stop does not wait for it).
    pub async fn stop(&self, id: &str) -> Result<Arc<ManagedBot>, RegistryError> {
        let bot = self.get(id).ok_or(RegistryError::NotFound)?;
        if bot.is_alive() {
            // Before taking the lifecycle lock: this is what ends a start that holds it.
            bot.addr.send(StopBot).await.map_err(|_| RegistryError::Unavailable)?;
        }
        {
            let _lifecycle = bot.lifecycle.lock().await;
            self.write(Change::Stopped { id: id.to_owned(), stopped: true }).await?;
            if bot.is_alive() {
                // A start that completed between the StopBot and the lock is stopped too.
                let _ = bot.addr.send(StopBot).await;
            }
            bot.running.store(false, Ordering::Relaxed);
            self.release(&bot).await;
        }
        Ok(bot)
    }

    /// A new actor tree for a bot whose actor died, in its place (not started).
    async fn rebuild(&self, dead: &Arc<ManagedBot>) -> Result<Arc<ManagedBot>, RegistryError> {
        let _membership = self.edits.lock().await;
        let current = self.get(dead.id()).ok_or(RegistryError::NotFound)?;
        if current.is_alive() {
            return Ok(current); // rebuilt meanwhile
        }
        tracing::warn!(bot_id = %dead.id(), "the bot's actor had stopped; rebuilding it from its configuration");
        self.release(&current).await;
        let bot = self.launch(current.config()).await?;
        bot.started_once.store(current.started_once.load(Ordering::Relaxed), Ordering::Relaxed);
        let mut bots = self.bots.lock().expect("bots lock");
        if let Some(slot) = bots.iter_mut().find(|b| b.id() == dead.id()) {
            *slot = bot.clone();
        }
        Ok(bot)
    }

    /// Stops every bot and ends its actors (the node is stopping; nothing is written). Once it
    /// answers, no bot holds the store any more: it can be opened again in this process.
    pub async fn stop_all(&self) {
        for bot in self.list() {
            if bot.is_alive() {
                let _ = bot.addr.send(RetireBot).await;
            }
            bot.running.store(false, Ordering::Relaxed);
            self.release(&bot).await;
        }
    }

    /// Owns the bot (a node never logs a bot in without owning it), then starts it.
    async fn start_locked(&self, bot: &ManagedBot) -> Result<(), RegistryError> {
        let ownership = match self.store.acquire(bot.id()).await {
            Ok(Some(ownership)) => ownership,
            Ok(None) => {
                let node = self.store.owner(bot.id()).await.ok().flatten().map_or_else(|| "another node".to_owned(), |o| o.node_id);
                return Err(RegistryError::OwnedElsewhere { node });
            }
            Err(error) => return Err(RegistryError::Store(error.to_string())),
        };
        *bot.ownership.lock().expect("ownership lock") = Some(ownership);
        let started = match bot.addr.send(StartBot).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(report)) => Err(RegistryError::StartRefused(report)),
            Err(_) => Err(RegistryError::Unavailable),
        };
        if let Err(error) = started {
            self.release(bot).await;
            return Err(error);
        }
        bot.running.store(true, Ordering::Relaxed);
        bot.started_once.store(true, Ordering::Relaxed);
        if self.is_stored_stopped(bot.id()) {
            self.write(Change::Stopped { id: bot.id().to_owned(), stopped: false }).await?;
        }
        Ok(())
    }

    /// Stops a bot here and releases it, without marking it stopped in the store: another node
    /// is to run it (a handoff, or it is owned elsewhere now). Graceful: the bot stops taking
    /// rings, lets its conversations finish what they are doing, logs out, then releases.
    pub async fn hand_off(&self, id: &str) -> Result<(), RegistryError> {
        let bot = self.get(id).ok_or(RegistryError::NotFound)?;
        let _lifecycle = bot.lifecycle.lock().await;
        if bot.is_alive() {
            bot.addr.send(StopBot).await.map_err(|_| RegistryError::Unavailable)?;
        }
        bot.running.store(false, Ordering::Relaxed);
        self.release(&bot).await;
        Ok(())
    }

    /// Past the ownership deadline: every bot's session is dropped at once (nothing waits for a
    /// store that may be unreachable; the lease lapses by itself) and no ownership is kept.
    pub fn drop_all_sessions(&self) {
        for bot in self.list() {
            if bot.is_alive() {
                bot.addr.do_send(StopBot);
            }
            bot.running.store(false, Ordering::Relaxed);
            bot.ownership.lock().expect("ownership lock").take();
        }
    }

    /// Takes the store's view of the bots (changed from any node): new ones are built, deleted
    /// ones retired when not running here, and the stopped flags followed.
    pub async fn refresh_definitions(&self, stored: StoredBots) {
        let new: Vec<BotConfig> = stored.bots.iter().filter(|b| self.get(&b.id).is_none()).cloned().collect();
        // Edited on another node (edits need the bot stopped, so it runs nowhere): rebuilt here
        // from the stored configuration, so whichever node starts it next runs the new one.
        let edited: Vec<BotConfig> = stored
            .bots
            .iter()
            .filter(|b| {
                self.get(&b.id)
                    .is_some_and(|managed| !managed.is_running() && managed.ownership().is_none() && !same_config(&managed.config(), b))
            })
            .cloned()
            .collect();
        let gone: Vec<Arc<ManagedBot>> = self.list().into_iter().filter(|b| stored.deleted.iter().any(|d| d == b.id())).collect();
        // Capacity changed on another node for a bot built here (running or not): applied in place.
        let resized: Vec<(Arc<ManagedBot>, BotConfig, Capacity)> = stored
            .bots
            .iter()
            .filter_map(|b| {
                let managed = self.get(&b.id).filter(|m| m.is_alive())?;
                let capacity = capacity_of(b)?;
                (capacity_of(&managed.config()) != Some(capacity)).then(|| (managed, b.clone(), capacity))
            })
            .collect();
        for (bot, config, capacity) in resized {
            *bot.config.lock().expect("config lock") = config;
            if bot.addr.send(SetCapacity(capacity)).await.is_ok() {
                tracing::info!(bot_id = %bot.id(), ?capacity, "capacity changed on another node, applied here");
            }
        }
        *self.stored.lock().expect("stored lock") = stored;
        for config in new {
            let id = config.id.clone();
            if let Err(error) = self.adopt(config).await {
                tracing::warn!(bot_id = %id, %error, "a bot added on another node could not be built here");
            }
        }
        for config in edited {
            let id = config.id.clone();
            let _membership = self.edits.lock().await;
            let Some(old) = self.get(&id) else { continue };
            let Ok(_lifecycle) = old.lifecycle.try_lock() else { continue };
            match self.launch(config).await {
                Ok(bot) => {
                    bot.started_once.store(old.started_once.load(Ordering::Relaxed), Ordering::Relaxed);
                    if let Some(slot) = self.bots.lock().expect("bots lock").iter_mut().find(|b| b.id() == id) {
                        *slot = bot;
                    }
                    if old.is_alive() {
                        let _ = old.addr.send(RetireBot).await;
                    }
                    tracing::info!(bot_id = %id, "a bot edited on another node was rebuilt here");
                }
                Err(error) => tracing::warn!(bot_id = %id, %error, "a bot edited on another node could not be rebuilt here"),
            }
        }
        for bot in gone {
            if bot.ownership().is_none() {
                let _membership = self.edits.lock().await;
                self.bots.lock().expect("bots lock").retain(|b| b.id() != bot.id());
                if bot.is_alive() {
                    let _ = bot.addr.send(RetireBot).await;
                }
            }
        }
    }

    /// Lets go of the bot's ownership (others may take it at once).
    async fn release(&self, bot: &ManagedBot) {
        let ownership = bot.ownership.lock().expect("ownership lock").take();
        if let Some(ownership) = ownership {
            if let Err(error) = self.store.release(&ownership).await {
                tracing::warn!(bot_id = %bot.id(), %error, "the bot's ownership could not be released; it lapses with the node's lease");
            }
        }
    }

    /// Validates off the calling thread: validation reads secret files and scripts.
    async fn check(&self, config: &BotConfig) -> Result<(), RegistryError> {
        let config = config.clone();
        let embedded = self.launcher.has_embedded_platform();
        let problems = tokio::task::spawn_blocking(move || config.validate("", embedded))
            .await
            .map_err(|_| RegistryError::Launch("validating the configuration failed".into()))?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::Invalid(problems))
        }
    }

    async fn launch(&self, config: BotConfig) -> Result<Arc<ManagedBot>, RegistryError> {
        let ownership = SharedOwnership::default();
        let records = (self.store.clone(), ownership.clone());
        let launched = self.launcher.launch(config.clone(), Some(records)).await.map_err(|e| RegistryError::Launch(e.to_string()))?;
        Ok(Arc::new(ManagedBot {
            id: config.id.clone(),
            config: Mutex::new(config),
            addr: launched.addr,
            counters: launched.counters,
            hook: launched.hook,
            running: AtomicBool::new(false),
            started_once: AtomicBool::new(false),
            lifecycle: tokio::sync::Mutex::new(()),
            ownership,
        }))
    }

    /// Writes a change to the store, then to the registry's copy (on failure, neither changes:
    /// an added or edited bot is marked stopped first, so a half-written one never starts).
    async fn write(&self, change: Change) -> Result<(), RegistryError> {
        let stored = |e: crate::cluster::StoreError| RegistryError::Store(e.to_string());
        match &change {
            Change::Upsert { bot } => {
                self.store.set_stopped(&bot.id, true).await.map_err(stored)?;
                self.store.upsert_bot(bot).await.map_err(stored)?;
            }
            Change::Settings { bot } => self.store.upsert_bot(bot).await.map_err(stored)?,
            Change::Delete { id } => self.store.delete_bot(id).await.map_err(stored)?,
            Change::Stopped { id, stopped } => self.store.set_stopped(id, *stopped).await.map_err(stored)?,
        }
        let mut copy = self.stored.lock().expect("stored lock");
        match change {
            Change::Upsert { bot } => {
                let id = bot.id.clone();
                copy.upsert(*bot);
                copy.set_stopped(&id, true);
            }
            Change::Settings { bot } => copy.upsert(*bot),
            Change::Delete { id } => copy.delete(&id),
            Change::Stopped { id, stopped } => copy.set_stopped(&id, stopped),
        }
        Ok(())
    }
}

/// The capacity a configuration gives its bot.
pub fn capacity_of(config: &BotConfig) -> Option<Capacity> {
    let load = crate::config::ServiceConfig::bot_settings(config).ok()?.load;
    Some(Capacity { recommended: load.recommended, hard: load.hard, low_water: load.low_water })
}

/// Writes `capacity` into the configuration's `settings.load`.
pub fn with_capacity(config: &mut BotConfig, capacity: Capacity) {
    let load = config.settings.entry("load").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !load.is_table() {
        *load = toml::Value::Table(toml::Table::new());
    }
    if let Some(load) = load.as_table_mut() {
        for (field, value) in [("recommended", capacity.recommended), ("hard", capacity.hard), ("low_water", capacity.low_water)] {
            load.insert(field.into(), toml::Value::Integer(i64::try_from(value).unwrap_or(i64::MAX)));
        }
    }
}

/// Whether two configurations are the same (compared as their JSON).
fn same_config(a: &BotConfig, b: &BotConfig) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// A change the admin API makes to the stored bots.
enum Change {
    /// Added or edited; it stays stopped until started.
    Upsert {
        bot: Box<BotConfig>,
    },
    /// A running bot's settings changed in place (its capacity): it is not stopped.
    Settings {
        bot: Box<BotConfig>,
    },
    Delete {
        id: String,
    },
    Stopped {
        id: String,
        stopped: bool,
    },
}
