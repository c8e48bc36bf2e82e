//! The embedded store: a redb file in the data directory (`botvisor.redb`). One node with no
//! setup owns every bot. redb's file lock keeps a second process on the same directory out; an
//! epoch bumped at every start is the fencing token. An existing `bots.json` (the store before
//! this one) is migrated once, then renamed `bots.json.migrated`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use crate::cluster::store::{FencingToken, Member, Ownership, Store, StoreError};
use crate::config::BotConfig;
use crate::service::{BotStore, StoredBots};

/// The store's file in the data directory.
pub const FILE_NAME: &str = "botvisor.redb";

/// Bots added or edited through the admin API: id → the bot's configuration as JSON.
const BOTS: TableDefinition<&str, &str> = TableDefinition::new("bots");
/// Bots deleted through the admin API (a file bot with the id does not come back).
const DELETED: TableDefinition<&str, ()> = TableDefinition::new("deleted");
/// Bots that stay stopped.
const STOPPED: TableDefinition<&str, ()> = TableDefinition::new("stopped");
/// Each owned bot and the token it was acquired with.
const OWNERS: TableDefinition<&str, i64> = TableDefinition::new("owners");
/// A bot's state: (bot id, key) → value.
const STATE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("state");
/// The epoch and what was migrated.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const EPOCH: &str = "epoch";
const MIGRATED_BOTS_JSON: &str = "migrated_bots_json";

/// The open database, and whether an I/O error broke it: redb refuses every call after one
/// ("Previous I/O error occurred") until the database is opened again, so the next use reopens
/// it (a disk that was full has room again, a file system that was read-only is writable).
struct Handle {
    db: Option<Database>,
    broken: bool,
}

pub struct EmbeddedStore {
    db: Arc<std::sync::RwLock<Handle>>,
    fenced_refused: Arc<std::sync::atomic::AtomicU64>,
    path: PathBuf,
    /// The store file as opened (device, inode): a file deleted or replaced under the running
    /// node is noticed before each use instead of writing into an unlinked file.
    file_id: (u64, u64),
    member: Member,
    epoch: i64,
}

/// The (device, inode) of the file at `path`.
fn file_id(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

/// Whether the file at `path` is still the store this node opened.
fn check_file(path: &Path, opened: (u64, u64)) -> Result<(), StoreError> {
    match file_id(path) {
        Ok(id) if id == opened => Ok(()),
        Ok(_) => Err(StoreError::Io(format!(
            "the store file {} was replaced while the node ran; nothing more is written: stop the node and give it one data directory",
            path.display()
        ))),
        Err(e) => Err(StoreError::Io(format!(
            "the store file {} is gone ({e}): the data directory was deleted or moved while the node ran; nothing more is written: restart the node on a data directory that stays",
            path.display()
        ))),
    }
}

fn io(error: impl std::fmt::Display) -> StoreError {
    StoreError::Io(error.to_string())
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir`, bumps the epoch, and migrates `bots.json`
    /// once. Blocking: call it at start, before serving.
    pub fn open(data_dir: &Path, member: Member) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Io(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: path.display().to_string() },
            other => StoreError::Io(format!("{}: {other}", path.display())),
        })?;
        restrict_to_owner(&path)?;
        let write = db.begin_write().map_err(io)?;
        let epoch = {
            let mut meta = write.open_table(META).map_err(io)?;
            let epoch = meta.get(EPOCH).map_err(io)?.map_or(0, |v| v.value()) + 1;
            meta.insert(EPOCH, epoch).map_err(io)?;
            // Every table exists from the first start on (reads never meet a missing one).
            write.open_table(BOTS).map_err(io)?;
            write.open_table(DELETED).map_err(io)?;
            write.open_table(STOPPED).map_err(io)?;
            write.open_table(OWNERS).map_err(io)?;
            write.open_table(STATE).map_err(io)?;
            epoch
        };
        write.commit().map_err(io)?;
        let file_id = file_id(&path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let store = Self {
            db: Arc::new(std::sync::RwLock::new(Handle { db: Some(db), broken: false })),
            fenced_refused: Arc::default(),
            path,
            file_id,
            member,
            epoch: i64::try_from(epoch).map_err(io)?,
        };
        store.migrate_bots_json(data_dir)?;
        Ok(store)
    }

    /// This start's epoch: the token of every bot this node owns.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `bots.json` (what the admin API changed, before this store) into the store, once.
    fn migrate_bots_json(&self, data_dir: &Path) -> Result<(), StoreError> {
        let legacy = BotStore::in_dir(data_dir);
        if !legacy.path().exists() {
            return Ok(());
        }
        let handle = self.db.read().map_err(|_| StoreError::Io("the store's lock is poisoned".into()))?;
        let db = handle.db.as_ref().ok_or_else(|| StoreError::Io("the store is not open".into()))?;
        let read = db.begin_read().map_err(io)?;
        if read.open_table(META).map_err(io)?.get(MIGRATED_BOTS_JSON).map_err(io)?.is_some() {
            return Ok(());
        }
        drop(read);
        let stored = legacy.load().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let write = db.begin_write().map_err(io)?;
        {
            let mut bots = write.open_table(BOTS).map_err(io)?;
            for bot in &stored.bots {
                let json = serde_json::to_string(bot).map_err(io)?;
                bots.insert(bot.id.as_str(), json.as_str()).map_err(io)?;
            }
            let mut deleted = write.open_table(DELETED).map_err(io)?;
            for id in &stored.deleted {
                deleted.insert(id.as_str(), ()).map_err(io)?;
            }
            let mut stopped = write.open_table(STOPPED).map_err(io)?;
            for id in &stored.stopped {
                stopped.insert(id.as_str(), ()).map_err(io)?;
            }
            write.open_table(META).map_err(io)?.insert(MIGRATED_BOTS_JSON, 1).map_err(io)?;
        }
        write.commit().map_err(io)?;
        let moved = legacy.path().with_extension("json.migrated");
        std::fs::rename(legacy.path(), &moved).map_err(|e| StoreError::Io(format!("cannot rename {}: {e}", legacy.path().display())))?;
        tracing::info!(from = %legacy.path().display(), to = %self.path.display(), bots = stored.bots.len(), "bots changed through the admin API migrated to the store");
        Ok(())
    }

    /// Runs `work` on a blocking thread (a commit waits for the disk).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (db, path, opened) = (self.db.clone(), self.path.clone(), self.file_id);
        tokio::task::spawn_blocking(move || {
            check_file(&path, opened)?;
            let poisoned = || StoreError::Io("the store's lock is poisoned".into());
            if db.read().map_err(|_| poisoned())?.broken {
                let mut handle = db.write().map_err(|_| poisoned())?;
                if handle.broken {
                    // The old one goes first: it holds the file's lock.
                    handle.db = None;
                    let reopened = Database::create(&path).map_err(|e| {
                        StoreError::Io(format!("the store {} could not be opened again after an I/O error: {e}", path.display()))
                    })?;
                    tracing::warn!(path = %path.display(), "the store was opened again after an I/O error");
                    handle.db = Some(reopened);
                    handle.broken = false;
                }
            }
            let handle = db.read().map_err(|_| poisoned())?;
            let result = work(handle.db.as_ref().ok_or_else(|| StoreError::Io("the store is not open".into()))?);
            if let Err(StoreError::Io(message)) = &result {
                if message.contains("I/O error") {
                    drop(handle);
                    db.write().map_err(|_| poisoned())?.broken = true;
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Io(format!("the store's worker failed: {e}")))?
    }

    fn ownership(&self, bot_id: &str, token: i64) -> Ownership {
        Ownership { bot_id: bot_id.to_owned(), node_id: self.member.node_id.clone(), token: FencingToken(token) }
    }
}

/// The store may hold inline secrets: readable by its owner only.
fn restrict_to_owner(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
}

/// Whether `token` still owns `bot_id` (inside a write transaction, so the check and the write
/// are one).
fn owns(write: &redb::WriteTransaction, bot_id: &str, token: FencingToken) -> Result<bool, StoreError> {
    let owners = write.open_table(OWNERS).map_err(io)?;
    let current = owners.get(bot_id).map_err(io)?.map(|v| v.value());
    Ok(current == Some(token.0))
}

#[async_trait]
impl Store for EmbeddedStore {
    fn node_id(&self) -> &str {
        &self.member.node_id
    }

    async fn load_bots(&self) -> Result<StoredBots, StoreError> {
        self.blocking(|db| {
            let read = db.begin_read().map_err(io)?;
            let mut stored = StoredBots::default();
            for entry in read.open_table(BOTS).map_err(io)?.iter().map_err(io)? {
                let (id, json) = entry.map_err(io)?;
                let bot: BotConfig =
                    serde_json::from_str(json.value()).map_err(|e| StoreError::Corrupt(format!("bot {}: {e}", id.value())))?;
                stored.bots.push(bot);
            }
            for entry in read.open_table(DELETED).map_err(io)?.iter().map_err(io)? {
                stored.deleted.push(entry.map_err(io)?.0.value().to_owned());
            }
            for entry in read.open_table(STOPPED).map_err(io)?.iter().map_err(io)? {
                stored.stopped.push(entry.map_err(io)?.0.value().to_owned());
            }
            Ok(stored)
        })
        .await
    }

    async fn upsert_bot(&self, bot: &BotConfig) -> Result<(), StoreError> {
        let id = bot.id.clone();
        let json = serde_json::to_string(bot).map_err(io)?;
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            write.open_table(BOTS).map_err(io)?.insert(id.as_str(), json.as_str()).map_err(io)?;
            write.open_table(DELETED).map_err(io)?.remove(id.as_str()).map_err(io)?;
            write.commit().map_err(io)
        })
        .await
    }

    async fn delete_bot(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            write.open_table(BOTS).map_err(io)?.remove(id.as_str()).map_err(io)?;
            write.open_table(STOPPED).map_err(io)?.remove(id.as_str()).map_err(io)?;
            write.open_table(DELETED).map_err(io)?.insert(id.as_str(), ()).map_err(io)?;
            write.commit().map_err(io)
        })
        .await
    }

    async fn set_stopped(&self, id: &str, stopped: bool) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            {
                let mut table = write.open_table(STOPPED).map_err(io)?;
                if stopped {
                    table.insert(id.as_str(), ()).map_err(io)?;
                } else {
                    table.remove(id.as_str()).map_err(io)?;
                }
            }
            write.commit().map_err(io)
        })
        .await
    }

    async fn acquire(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError> {
        // One node owns every bot: the token is this start's epoch.
        let (id, epoch) = (bot_id.to_owned(), self.epoch);
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            write.open_table(OWNERS).map_err(io)?.insert(id.as_str(), epoch).map_err(io)?;
            write.commit().map_err(io)
        })
        .await?;
        Ok(Some(self.ownership(bot_id, self.epoch)))
    }

    async fn release(&self, ownership: &Ownership) -> Result<(), StoreError> {
        let (id, token) = (ownership.bot_id.clone(), ownership.token);
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            if owns(&write, &id, token)? {
                write.open_table(OWNERS).map_err(io)?.remove(id.as_str()).map_err(io)?;
            }
            write.commit().map_err(io)
        })
        .await
    }

    async fn owner(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError> {
        let id = bot_id.to_owned();
        let token = self
            .blocking(move |db| {
                let read = db.begin_read().map_err(io)?;
                let owners = read.open_table(OWNERS).map_err(io)?;
                let token = owners.get(id.as_str()).map_err(io)?.map(|v| v.value());
                Ok(token)
            })
            .await?;
        Ok(token.map(|token| self.ownership(bot_id, token)))
    }

    async fn put_fenced(&self, ownership: &Ownership, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (id, token, key, value) = (ownership.bot_id.clone(), ownership.token, key.to_owned(), value.to_vec());
        let refused = self.fenced_refused.clone();
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            if !owns(&write, &id, token)? {
                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(StoreError::Fenced { bot_id: id, token });
            }
            write.open_table(STATE).map_err(io)?.insert((id.as_str(), key.as_str()), value.as_slice()).map_err(io)?;
            write.commit().map_err(io)
        })
        .await
    }

    async fn delete_fenced(&self, ownership: &Ownership, key: &str) -> Result<(), StoreError> {
        let (id, token, key) = (ownership.bot_id.clone(), ownership.token, key.to_owned());
        self.blocking(move |db| {
            let write = db.begin_write().map_err(io)?;
            if !owns(&write, &id, token)? {
                return Err(StoreError::Fenced { bot_id: id, token });
            }
            write.open_table(STATE).map_err(io)?.remove((id.as_str(), key.as_str())).map_err(io)?;
            write.commit().map_err(io)
        })
        .await
    }

    async fn get_state(&self, bot_id: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (id, key) = (bot_id.to_owned(), key.to_owned());
        self.blocking(move |db| {
            let read = db.begin_read().map_err(io)?;
            let table = read.open_table(STATE).map_err(io)?;
            let value = table.get((id.as_str(), key.as_str())).map_err(io)?.map(|v| v.value().to_vec());
            Ok(value)
        })
        .await
    }

    async fn members(&self) -> Result<Vec<Member>, StoreError> {
        Ok(vec![self.member.clone()])
    }

    fn stats(&self) -> crate::cluster::StoreStats {
        crate::cluster::StoreStats {
            fenced_writes_refused: self.fenced_refused.load(std::sync::atomic::Ordering::Relaxed),
            ..Default::default()
        }
    }

    fn ownership_deadline(&self) -> Option<tokio::time::Instant> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Member {
        Member { node_id: "node-a".into(), admin_addr: "127.0.0.1:8080".into(), capacity: 1, version: "test".into() }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("botvisor-embedded-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn bot(id: &str) -> BotConfig {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": "pw"}}},
            "vendor": {"kind": "scripted", "script": "config/demo-scripted-bot.toml"},
            "settings": {"skill": "bots", "escalation": {"skill": "humans"}},
        }))
        .unwrap()
    }

    #[actix_rt::test]
    async fn the_epoch_grows_with_every_start_and_tokens_with_it() {
        let dir = temp_dir("epoch");
        let first = EmbeddedStore::open(&dir, member()).unwrap();
        let old = first.acquire("b1").await.unwrap().unwrap();
        drop(first);
        let second = EmbeddedStore::open(&dir, member()).unwrap();
        assert_eq!(second.epoch(), 2);
        let new = second.acquire("b1").await.unwrap().unwrap();
        assert!(new.token > old.token, "{new:?} after {old:?}");
        // A write with the old start's token is fenced off.
        assert!(matches!(second.put_fenced(&old, "k", b"v").await, Err(StoreError::Fenced { .. })));
        second.put_fenced(&new, "k", b"v").await.unwrap();
        assert_eq!(second.get_state("b1", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
        second.release(&new).await.unwrap();
        assert_eq!(second.owner("b1").await.unwrap(), None);
        assert!(matches!(second.delete_fenced(&new, "k").await, Err(StoreError::Fenced { .. })), "released: no more writes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[actix_rt::test]
    async fn bots_round_trip_and_survive_a_restart() {
        let dir = temp_dir("bots");
        let store = EmbeddedStore::open(&dir, member()).unwrap();
        store.upsert_bot(&bot("b1")).await.unwrap();
        store.upsert_bot(&bot("b2")).await.unwrap();
        store.set_stopped("b2", true).await.unwrap();
        store.delete_bot("b1").await.unwrap();
        drop(store);
        let store = EmbeddedStore::open(&dir, member()).unwrap();
        let stored = store.load_bots().await.unwrap();
        assert_eq!(stored.bots.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["b2"]);
        assert_eq!(stored.deleted, ["b1"]);
        assert_eq!(stored.stopped, ["b2"]);
        store.upsert_bot(&bot("b1")).await.unwrap();
        assert!(store.load_bots().await.unwrap().deleted.is_empty(), "added again: no longer deleted");
        let mode = std::fs::metadata(store.path()).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[actix_rt::test]
    async fn bots_json_is_migrated_once() {
        let dir = temp_dir("migrate");
        std::fs::create_dir_all(&dir).unwrap();
        let legacy = BotStore::in_dir(&dir);
        let stored = StoredBots { version: 1, bots: vec![bot("api-bot")], deleted: vec!["gone".into()], stopped: vec!["api-bot".into()] };
        legacy.save(&stored).unwrap();
        let store = EmbeddedStore::open(&dir, member()).unwrap();
        let loaded = store.load_bots().await.unwrap();
        assert_eq!(loaded.bots.len(), 1);
        assert_eq!((loaded.deleted.as_slice(), loaded.stopped.as_slice()), (&["gone".to_owned()][..], &["api-bot".to_owned()][..]));
        assert!(!dir.join("bots.json").exists() && dir.join("bots.json.migrated").exists());
        store.delete_bot("api-bot").await.unwrap();
        drop(store);
        // A bots.json put back by hand is not migrated a second time over newer changes.
        std::fs::copy(dir.join("bots.json.migrated"), dir.join("bots.json")).unwrap();
        let store = EmbeddedStore::open(&dir, member()).unwrap();
        assert!(store.load_bots().await.unwrap().bots.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
