//! Bots added, changed, deleted or stopped through the admin API, kept in the data directory
//! (`bots.json`) so they survive a restart. The file is written whole, to a temporary file renamed
//! over the old one, readable by its owner only (it may hold inline secrets).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::BotConfig;

const FILE_NAME: &str = "bots.json";
const VERSION: u32 = 1;

/// What the admin API changed, applied over the configuration file's bots at start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredBots {
    pub version: u32,
    /// Bots added or changed through the API; they replace a file bot with the same id.
    #[serde(default)]
    pub bots: Vec<BotConfig>,
    /// Bots deleted through the API (a file bot with this id does not start).
    #[serde(default)]
    pub deleted: Vec<String>,
    /// Bots stopped through the API, or added and not started yet: they stay stopped.
    #[serde(default)]
    pub stopped: Vec<String>,
}

impl StoredBots {
    /// The configuration file's bots with the API's changes: deleted ones removed, changed ones
    /// replaced in place, added ones after them.
    pub fn apply(&self, file_bots: Vec<BotConfig>) -> Vec<BotConfig> {
        let mut bots: Vec<BotConfig> = file_bots.into_iter().filter(|b| !self.deleted.contains(&b.id)).collect();
        for stored in &self.bots {
            match bots.iter_mut().find(|b| b.id == stored.id) {
                Some(bot) => *bot = stored.clone(),
                None => bots.push(stored.clone()),
            }
        }
        bots
    }

    pub fn is_stopped(&self, id: &str) -> bool {
        self.stopped.iter().any(|s| s == id)
    }

    /// A bot added or changed.
    pub fn upsert(&mut self, bot: BotConfig) {
        self.deleted.retain(|id| id != &bot.id);
        match self.bots.iter_mut().find(|b| b.id == bot.id) {
            Some(stored) => *stored = bot,
            None => self.bots.push(bot),
        }
    }

    pub fn delete(&mut self, id: &str) {
        self.bots.retain(|b| b.id != id);
        self.stopped.retain(|s| s != id);
        if !self.deleted.iter().any(|d| d == id) {
            self.deleted.push(id.to_owned());
        }
    }

    pub fn set_stopped(&mut self, id: &str, stopped: bool) {
        self.stopped.retain(|s| s != id);
        if stopped {
            self.stopped.push(id.to_owned());
        }
    }
}

/// `bots.json` in the data directory.
#[derive(Debug, Clone)]
pub struct BotStore {
    path: PathBuf,
}

impl BotStore {
    pub fn in_dir(data_dir: &Path) -> Self {
        Self { path: data_dir.join(FILE_NAME) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored changes; none when the file does not exist yet.
    pub fn load(&self) -> Result<StoredBots, StoreError> {
        let path = || self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoredBots { version: VERSION, ..StoredBots::default() }),
            Err(e) => return Err(StoreError::Read { path: path(), source: e }),
        };
        let stored: StoredBots = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { path: path(), reason: e.to_string() })?;
        if stored.version != VERSION {
            return Err(StoreError::Version { path: path(), found: stored.version });
        }
        Ok(stored)
    }

    /// Writes every stored bot (a temporary file renamed over the old one: a crash leaves one or
    /// the other, whole).
    pub fn save(&self, stored: &StoredBots) -> Result<(), StoreError> {
        let mut stored = stored.clone();
        stored.version = VERSION;
        let text = serde_json::to_vec_pretty(&stored)
            .map_err(|e| StoreError::Corrupt { path: self.path.display().to_string(), reason: e.to_string() })?;
        let temporary = self.path.with_extension("json.tmp");
        write_private(&temporary, &text).map_err(|e| StoreError::Write { path: temporary.display().to_string(), source: e })?;
        std::fs::rename(&temporary, &self.path).map_err(|e| StoreError::Write { path: self.path.display().to_string(), source: e })
    }
}

/// Why the stored bots could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {reason}; fix or remove the file (it holds the bots changed through the admin API)")]
    Corrupt { path: String, reason: String },
    #[error("{path}: version {found} is not known (this botvisor writes version {VERSION})")]
    Version { path: String, found: u32 },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
