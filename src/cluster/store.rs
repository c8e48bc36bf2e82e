//! The store: one trait, two back ends (`embedded`: a redb file, one node owning every bot;
//! `etcd`: a cluster). It holds the bots as the admin API changed them, who owns each bot (with
//! the fencing token every owner write is checked against), per-conversation state the platform
//! cannot give back, and the members.

use std::fmt;

use async_trait::async_trait;

use crate::config::BotConfig;
use crate::service::StoredBots;

/// A bot owner's fencing token: strictly increasing per bot (etcd: the owner key's
/// `create_revision`; embedded: the store's epoch, bumped at every start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub i64);

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A node's hold on one bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub bot_id: String,
    pub node_id: String,
    pub token: FencingToken,
}

/// A node of the cluster, as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub node_id: String,
    /// Where its admin API listens.
    pub admin_addr: String,
    /// Its share of the bots, relative to the others' (rendezvous hashing weight).
    pub capacity: u32,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the embedded store (redb's file lock).
    #[error("the store {path} is in use by another botvisor process; give each node its own data_dir")]
    Locked { path: String },
    #[error("the store cannot be used: {0}")]
    Io(String),
    #[error("the store holds data botvisor cannot read: {0}")]
    Corrupt(String),
    /// etcd could not be reached or did not answer in time (retried with backoff by callers).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A write by an owner whose token is no longer the bot's: another node owns it now.
    #[error("bot {bot_id}: the write was fenced off (token {token} no longer owns the bot)")]
    Fenced { bot_id: String, token: FencingToken },
    /// The back end does not do this (the embedded store has no other node to drain to).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// What the store saw, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Lease renewals acknowledged, and failed (etcd).
    pub lease_renewals: u64,
    pub lease_renewal_failures: u64,
    /// Owner writes refused because the token no longer owned the bot.
    pub fenced_writes_refused: u64,
}

/// The store's operations. Every write by a bot's owner goes through `put_fenced`, which the
/// store refuses once the owner's token is not the bot's any more.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// This node's id.
    fn node_id(&self) -> &str;

    /// Bots as the admin API changed them (added or edited, deleted, stopped); the configuration
    /// file's bots are applied under them.
    async fn load_bots(&self) -> Result<StoredBots, StoreError>;
    /// A bot added or edited (it is no longer deleted).
    async fn upsert_bot(&self, bot: &BotConfig) -> Result<(), StoreError>;
    /// A bot deleted (a file bot with its id does not come back).
    async fn delete_bot(&self, id: &str) -> Result<(), StoreError>;
    /// Whether a bot stays stopped.
    async fn set_stopped(&self, id: &str, stopped: bool) -> Result<(), StoreError>;

    /// Becomes the bot's owner, with a new token; `None` when another node owns it.
    async fn acquire(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError>;
    /// Lets go of a bot at once (others need not wait for a lease to expire).
    async fn release(&self, ownership: &Ownership) -> Result<(), StoreError>;
    /// The bot's owner, if any.
    async fn owner(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError>;
    /// Writes a bot's state under `key`, only while `ownership` is still the bot's owner.
    async fn put_fenced(&self, ownership: &Ownership, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Deletes a bot's state under `key`, only while `ownership` is still the bot's owner.
    async fn delete_fenced(&self, ownership: &Ownership, key: &str) -> Result<(), StoreError>;
    /// A bot's state under `key`.
    async fn get_state(&self, bot_id: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The live members (the embedded store: this node alone).
    async fn members(&self) -> Result<Vec<Member>, StoreError>;
    /// The other members that look unreachable: listed, but not renewing their lease (cut off
    /// from the store, paused, or dying). While any is, nobody rebalances. None without leases.
    async fn unreachable_members(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Marks a node drained (it hands its bots to the others and takes none) or not.
    async fn set_drained(&self, _node_id: &str, _drained: bool) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("a single node on the embedded store has no other node to hand its bots to"))
    }
    /// The drained nodes.
    async fn drained(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Leaves the cluster at once (SIGTERM, after the bots were released): others need not wait
    /// for this node's lease to expire. Nothing to do without a lease.
    async fn leave(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Counts for the metrics.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Past this instant this node must consider that it owns nothing (etcd: the last
    /// acknowledged lease renewal's send time + TTL − margin); `None`: no lease (embedded).
    fn ownership_deadline(&self) -> Option<tokio::time::Instant>;
}
