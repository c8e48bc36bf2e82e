//! A cluster store in memory, shared by the nodes of one test: what etcd gives the cluster —
//! lease-bound members and owners, revisions as fencing tokens, fenced writes — with a node's
//! death and isolation as one call each. It judges the cluster loop without etcd; the etcd store
//! has its own tests against a real etcd.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use botvisor::cluster::{FencingToken, Member, Ownership, Store, StoreError};
use botvisor::config::BotConfig;
use botvisor::service::StoredBots;
use tokio::time::Instant;

#[derive(Default)]
struct Cluster {
    revision: i64,
    /// Live members (their lease holds).
    members: HashMap<String, Member>,
    /// bot → (node, token)
    owners: HashMap<String, (String, i64)>,
    bots: StoredBots,
    state: HashMap<(String, String), Vec<u8>>,
    /// Nodes cut off from the store, with the deadline they had.
    cut_off: HashMap<String, Instant>,
    drained: Vec<String>,
    /// Members whose lease still lives but is not being renewed.
    lagging: Vec<String>,
}

#[derive(Clone, Default)]
pub struct MemoryCluster(Arc<Mutex<Cluster>>);

impl MemoryCluster {
    pub fn node(&self, member: Member) -> MemoryStore {
        self.0.lock().unwrap().members.insert(member.node_id.clone(), member.clone());
        MemoryStore { cluster: self.clone(), member }
    }

    /// The node's lease expired (it died): its member key and every bot it owned are gone.
    pub fn expire(&self, node_id: &str) {
        let mut cluster = self.0.lock().unwrap();
        cluster.members.remove(node_id);
        cluster.owners.retain(|_, (node, _)| node != node_id);
    }

    /// The node cannot reach the store any more: its own deadline has passed (the others see
    /// its lease expire a margin later: `expire`).
    pub fn cut_off(&self, node_id: &str) {
        self.0.lock().unwrap().cut_off.insert(node_id.to_owned(), Instant::now());
    }

    /// The node's lease stops being renewed (or starts again): the others see it unreachable.
    pub fn set_lagging(&self, node_id: &str, lagging: bool) {
        let mut cluster = self.0.lock().unwrap();
        cluster.lagging.retain(|id| id != node_id);
        if lagging {
            cluster.lagging.push(node_id.to_owned());
        }
    }

    /// Who owns the bot, and with which token.
    pub fn owner(&self, bot_id: &str) -> Option<(String, i64)> {
        self.0.lock().unwrap().owners.get(bot_id).cloned()
    }
}

pub struct MemoryStore {
    cluster: MemoryCluster,
    member: Member,
}

impl MemoryStore {
    fn reachable(&self) -> Result<std::sync::MutexGuard<'_, Cluster>, StoreError> {
        let cluster = self.cluster.0.lock().unwrap();
        if cluster.cut_off.contains_key(&self.member.node_id) {
            return Err(StoreError::Unavailable("cut off".into()));
        }
        Ok(cluster)
    }

    fn fenced(cluster: &Cluster, ownership: &Ownership) -> Result<(), StoreError> {
        match cluster.owners.get(&ownership.bot_id) {
            Some((node, token)) if *node == ownership.node_id && *token == ownership.token.0 => Ok(()),
            _ => Err(StoreError::Fenced { bot_id: ownership.bot_id.clone(), token: ownership.token }),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn node_id(&self) -> &str {
        &self.member.node_id
    }

    async fn load_bots(&self) -> Result<StoredBots, StoreError> {
        Ok(self.reachable()?.bots.clone())
    }

    async fn upsert_bot(&self, bot: &BotConfig) -> Result<(), StoreError> {
        self.reachable()?.bots.upsert(bot.clone());
        Ok(())
    }

    async fn delete_bot(&self, id: &str) -> Result<(), StoreError> {
        self.reachable()?.bots.delete(id);
        Ok(())
    }

    async fn set_stopped(&self, id: &str, stopped: bool) -> Result<(), StoreError> {
        self.reachable()?.bots.set_stopped(id, stopped);
        Ok(())
    }

    async fn acquire(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError> {
        let mut cluster = self.reachable()?;
        let me = self.member.node_id.clone();
        match cluster.owners.get(bot_id) {
            Some((node, token)) if *node == me => Ok(Some(Ownership { bot_id: bot_id.into(), node_id: me, token: FencingToken(*token) })),
            Some(_) => Ok(None),
            None => {
                cluster.revision += 1;
                let token = cluster.revision;
                cluster.owners.insert(bot_id.into(), (me.clone(), token));
                Ok(Some(Ownership { bot_id: bot_id.into(), node_id: me, token: FencingToken(token) }))
            }
        }
    }

    async fn release(&self, ownership: &Ownership) -> Result<(), StoreError> {
        let mut cluster = self.reachable()?;
        if Self::fenced(&cluster, ownership).is_ok() {
            cluster.owners.remove(&ownership.bot_id);
        }
        Ok(())
    }

    async fn owner(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError> {
        let cluster = self.reachable()?;
        Ok(cluster.owners.get(bot_id).map(|(node, token)| Ownership {
            bot_id: bot_id.into(),
            node_id: node.clone(),
            token: FencingToken(*token),
        }))
    }

    async fn put_fenced(&self, ownership: &Ownership, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut cluster = self.reachable()?;
        Self::fenced(&cluster, ownership)?;
        cluster.state.insert((ownership.bot_id.clone(), key.into()), value.to_vec());
        Ok(())
    }

    async fn delete_fenced(&self, ownership: &Ownership, key: &str) -> Result<(), StoreError> {
        let mut cluster = self.reachable()?;
        Self::fenced(&cluster, ownership)?;
        cluster.state.remove(&(ownership.bot_id.clone(), key.into()));
        Ok(())
    }

    async fn get_state(&self, bot_id: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.reachable()?.state.get(&(bot_id.into(), key.into())).cloned())
    }

    async fn members(&self) -> Result<Vec<Member>, StoreError> {
        Ok(self.reachable()?.members.values().cloned().collect())
    }

    async fn unreachable_members(&self) -> Result<Vec<String>, StoreError> {
        let cluster = self.reachable()?;
        Ok(cluster.lagging.iter().filter(|id| **id != self.member.node_id && cluster.members.contains_key(*id)).cloned().collect())
    }

    async fn set_drained(&self, node_id: &str, drained: bool) -> Result<(), StoreError> {
        let mut cluster = self.reachable()?;
        cluster.drained.retain(|n| n != node_id);
        if drained {
            cluster.drained.push(node_id.to_owned());
        }
        Ok(())
    }

    async fn drained(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.reachable()?.drained.clone())
    }

    fn ownership_deadline(&self) -> Option<Instant> {
        let cluster = self.cluster.0.lock().unwrap();
        // A node that reaches the store renews its lease: its deadline is a second ahead.
        Some(cluster.cut_off.get(&self.member.node_id).copied().unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(1)))
    }
}
