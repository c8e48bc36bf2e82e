//! `EtcdStore`: the `Store` on etcd, shared by every node of a cluster.
//!
//! Ownership: `owners/{bot}` is created only when absent, bound to this node's lease, and its
//! `create_revision` is the token (etcd's revisions only grow, so a later owner always holds a
//! larger token). Every owner write is a Txn that compares that `create_revision` with the token,
//! so a node whose lease expired is refused by etcd itself, whatever its clock says.
//!
//! The client and the keeper task live on the tokio runtime that called `connect`: connect from
//! a runtime that outlives the store (the System arbiter's).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, KeyValue, PutOptions, TlsOptions, Txn, TxnOp,
    TxnOpResponse,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::call::{with_retries, Failure, RetryPolicy};
use super::keys::Keys;
use super::lease::{deadline_after, LeaseCounters, LeaseKeeperTask, SharedLease};
use super::settings::{EtcdSettings, EtcdTls};
use crate::cluster::{FencingToken, Member, Ownership, Store, StoreError};
use crate::config::BotConfig;
use crate::service::StoredBots;

/// The version `StoredBots` carries (as `bots.json` writes it).
const STORED_BOTS_VERSION: u32 = 1;

pub struct EtcdStore {
    client: Client,
    keys: Keys,
    settings: Arc<EtcdSettings>,
    policy: RetryPolicy,
    member: Member,
    lease: Arc<SharedLease>,
    keeper: JoinHandle<()>,
    /// Owner writes etcd refused because the token no longer owned the bot.
    fenced_refusals: AtomicU64,
}

impl EtcdStore {
    /// Connects, grants this node's lease, registers `member` on it (joins the cluster) and starts
    /// the task that keeps the lease. `Unavailable` when etcd did not answer within the bounded
    /// attempts.
    pub async fn connect(settings: EtcdSettings, member: Member) -> Result<Self, StoreError> {
        let problems = settings.validate();
        if !problems.is_empty() {
            return Err(StoreError::Io(format!("etcd settings: {}", problems.join("; "))));
        }
        let settings = Arc::new(settings);
        let policy = RetryPolicy {
            attempts: settings.attempts,
            call_timeout: settings.call_timeout,
            initial_backoff: settings.initial_backoff,
            max_backoff: settings.max_backoff,
        };
        let mut options = ConnectOptions::new()
            .with_connect_timeout(settings.connect_timeout)
            // HTTP/2 pings find a dead connection within about one renewal interval.
            .with_keep_alive(settings.renew_interval(), settings.call_timeout)
            .with_keep_alive_while_idle(true)
            // A member cut off from its cluster refuses at once instead of hanging.
            .with_require_leader(true);
        if let Some((user, password)) = &settings.credentials {
            // etcd's auth tokens expire (5 min idle by default): fetch a new one when refused.
            options = options.with_user(user.clone(), password.clone()).with_auto_token_refresh(true);
        }
        if let Some(tls) = &settings.tls {
            options = options.with_tls(tls_options(tls));
        }
        let connect = Client::connect(settings.endpoints.clone(), Some(options));
        let client = match tokio::time::timeout(settings.connect_timeout.saturating_add(settings.call_timeout), connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => return Err(Failure::of(&error).into_store_error("connect")),
            Err(_) => return Err(StoreError::Unavailable(format!("etcd connect: no answer within {:?}", settings.connect_timeout))),
        };
        let keys = Keys::new(&settings.prefix);
        let member_json = serde_json::to_vec(&member).map_err(|e| StoreError::Io(format!("the member cannot be written: {e}")))?;

        let ttl = settings.lease_ttl_secs();
        let mut sent = Instant::now();
        let granted = with_retries(&policy, "lease grant", || {
            let mut client = client.clone();
            sent = Instant::now();
            async move { client.lease_grant(ttl, None).await }
        })
        .await
        .map_err(|error| with_tls_hint(error, &settings))?;
        let lease_id = granted.id();
        let lease = Arc::new(SharedLease::new(lease_id, deadline_after(sent, &settings)));
        let member_key = keys.member(&member.node_id);
        with_retries(&policy, "member registration", || {
            let mut client = client.clone();
            let (key, value) = (member_key.clone(), member_json.clone());
            async move { client.put(key, value, Some(PutOptions::new().with_lease(lease_id))).await }
        })
        .await?;
        tracing::info!(node_id = %member.node_id, lease_id, "joined the cluster");

        let task = LeaseKeeperTask {
            client: client.clone(),
            settings: settings.clone(),
            keys: keys.clone(),
            node_id: member.node_id.clone(),
            member_json,
            shared: lease.clone(),
        };
        let keeper = tokio::spawn(task.run(sent));
        Ok(Self { client, keys, settings, policy, member, lease, keeper, fenced_refusals: AtomicU64::new(0) })
    }

    /// This node as it announced itself.
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The lease this node's keys are bound to now.
    pub fn lease_id(&self) -> i64 {
        self.lease.view().id
    }

    /// Counts the leases this store has held; when it changes, every ownership taken before was
    /// lost with the old lease (acquire again: a new token).
    pub fn lease_generation(&self) -> u64 {
        self.lease.view().generation
    }

    /// The lease keeper's renewals, failures and lost leases since connect.
    pub fn lease_counters(&self) -> LeaseCounters {
        self.lease.view().counters
    }

    /// Owner writes refused since connect because their token no longer owned the bot.
    pub fn fenced_refusals(&self) -> u64 {
        self.fenced_refusals.load(Ordering::Relaxed)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &EtcdSettings {
        &self.settings
    }

    /// Leaves the cluster at once: stops renewing and revokes the lease, which deletes this node's
    /// member key and every owner key it held, so others take its bots over without waiting for
    /// the TTL. The store owns nothing afterwards.
    pub async fn leave(&self) -> Result<(), StoreError> {
        self.keeper.abort();
        self.lease.left(Instant::now());
        let id = self.lease_id();
        with_retries(&self.policy, "lease revoke", || {
            let mut client = self.client.clone();
            async move {
                match client.lease_revoke(id).await {
                    // Already expired or revoked: nothing left to let go of.
                    Err(error) if Failure::of(&error) == Failure::LeaseNotFound => Ok(()),
                    result => result.map(drop),
                }
            }
        })
        .await?;
        tracing::info!(node_id = %self.member.node_id, lease_id = id, "left the cluster");
        Ok(())
    }

    async fn txn(&self, what: &str, txn: Txn) -> Result<etcd_client::TxnResponse, StoreError> {
        with_retries(&self.policy, what, || {
            let mut client = self.client.clone();
            let txn = txn.clone();
            async move { client.txn(txn).await }
        })
        .await
    }

    async fn get(&self, what: &str, key: String, options: Option<GetOptions>) -> Result<Vec<KeyValue>, StoreError> {
        let mut response = with_retries(&self.policy, what, || {
            let mut client = self.client.clone();
            let (key, options) = (key.clone(), options.clone());
            async move { client.get(key, options).await }
        })
        .await?;
        Ok(response.take_kvs())
    }

    /// A fenced Txn: applied, or refused as `Fenced` (counted).
    async fn fenced_txn(&self, what: &str, ownership: &Ownership, then: TxnOp) -> Result<(), StoreError> {
        if self.txn(what, self.fenced(ownership, then)).await?.succeeded() {
            return Ok(());
        }
        self.fenced_refusals.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(node_id = %self.member.node_id, bot_id = %ownership.bot_id, token = ownership.token.0, "owner write fenced off");
        Err(StoreError::Fenced { bot_id: ownership.bot_id.clone(), token: ownership.token })
    }

    /// A Txn guarded by `ownership`'s token: the owner key exists and is the one it created.
    fn fenced(&self, ownership: &Ownership, then: TxnOp) -> Txn {
        let owner = self.keys.owner(&ownership.bot_id);
        Txn::new()
            .when([
                Compare::version(owner.clone(), CompareOp::Greater, 0),
                Compare::create_revision(owner, CompareOp::Equal, ownership.token.0),
            ])
            .and_then([then])
    }
}

impl Drop for EtcdStore {
    /// The lease is not revoked (no await here): it expires after the TTL. Call `leave` first for
    /// an immediate hand-off.
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

#[async_trait]
impl Store for EtcdStore {
    fn node_id(&self) -> &str {
        &self.member.node_id
    }

    async fn load_bots(&self) -> Result<StoredBots, StoreError> {
        // One Txn: the three listings are read at the same revision.
        let prefix = || Some(GetOptions::new().with_prefix());
        let txn = Txn::new().and_then([
            TxnOp::get(self.keys.bots(), prefix()),
            TxnOp::get(self.keys.deleted_bots(), prefix()),
            TxnOp::get(self.keys.stopped_bots(), prefix()),
        ]);
        let response = self.txn("load bots", txn).await?;
        let mut listings = response.op_responses().into_iter().map(|op| match op {
            TxnOpResponse::Get(mut get) => get.take_kvs(),
            _ => Vec::new(),
        });
        let (bots, deleted, stopped) =
            (listings.next().unwrap_or_default(), listings.next().unwrap_or_default(), listings.next().unwrap_or_default());
        let mut stored = StoredBots { version: STORED_BOTS_VERSION, ..StoredBots::default() };
        for kv in in_creation_order(bots) {
            let Some(id) = Keys::name_in(&self.keys.bots(), kv.key()) else { continue };
            let bot: BotConfig = serde_json::from_slice(kv.value()).map_err(|e| {
                // The position only: the value may hold inline secrets.
                StoreError::Corrupt(format!(
                    "bot {id} in etcd is not a configuration botvisor can read ({:?} at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })?;
            stored.bots.push(bot);
        }
        stored.deleted = names(&self.keys.deleted_bots(), deleted);
        stored.stopped = names(&self.keys.stopped_bots(), stopped);
        Ok(stored)
    }

    async fn upsert_bot(&self, bot: &BotConfig) -> Result<(), StoreError> {
        let json = serde_json::to_vec(bot).map_err(|e| StoreError::Io(format!("bot {} cannot be written: {e}", bot.id)))?;
        let txn =
            Txn::new().and_then([TxnOp::put(self.keys.bot(&bot.id), json, None), TxnOp::delete(self.keys.deleted_bot(&bot.id), None)]);
        self.txn("upsert bot", txn).await.map(drop)
    }

    async fn delete_bot(&self, id: &str) -> Result<(), StoreError> {
        let txn = Txn::new().and_then([
            TxnOp::delete(self.keys.bot(id), None),
            TxnOp::delete(self.keys.stopped_bot(id), None),
            TxnOp::put(self.keys.deleted_bot(id), Vec::new(), None),
        ]);
        self.txn("delete bot", txn).await.map(drop)
    }

    async fn set_stopped(&self, id: &str, stopped: bool) -> Result<(), StoreError> {
        let key = self.keys.stopped_bot(id);
        let op = if stopped { TxnOp::put(key, Vec::new(), None) } else { TxnOp::delete(key, None) };
        self.txn("set stopped", Txn::new().and_then([op])).await.map(drop)
    }

    async fn acquire(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError> {
        let key = self.keys.owner(bot_id);
        let node_id = self.member.node_id.clone();
        // The lease is read at each attempt: a retry after the keeper granted a new one uses it.
        // A repeat of an applied attempt finds the key ours and answers it (idempotent).
        let (response, lease) = with_retries(&self.policy, "acquire", || {
            let mut client = self.client.clone();
            let lease = self.lease.view().id;
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key.clone(), node_id.clone(), Some(PutOptions::new().with_lease(lease)))])
                .or_else([TxnOp::get(key.clone(), None)]);
            async move { client.txn(txn).await.map(|response| (response, lease)) }
        })
        .await?;
        let ownership = |token| Ownership { bot_id: bot_id.to_owned(), node_id: node_id.clone(), token: FencingToken(token) };
        if response.succeeded() {
            // The put is the Txn's only write: the key's create_revision is the Txn's revision.
            let token = response.header().map(|header| header.revision()).unwrap_or_default();
            if token <= 0 {
                return Err(StoreError::Corrupt(format!("etcd answered the acquisition of bot {bot_id} without a revision")));
            }
            tracing::info!(node_id = %node_id, bot_id, token, "bot acquired");
            return Ok(Some(ownership(token)));
        }
        let current = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
            _ => None,
        });
        Ok(current.filter(|kv| kv.value() == node_id.as_bytes() && kv.lease() == lease).map(|kv| ownership(kv.create_revision())))
    }

    async fn release(&self, ownership: &Ownership) -> Result<(), StoreError> {
        let key = self.keys.owner(&ownership.bot_id);
        // Deletes only the key this ownership created; a later owner's stays (a repeat is a no-op).
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, ownership.token.0)])
            .and_then([TxnOp::delete(key, None)]);
        let response = self.txn("release", txn).await?;
        if response.succeeded() {
            tracing::info!(node_id = %self.member.node_id, bot_id = %ownership.bot_id, token = ownership.token.0, "bot released");
        }
        Ok(())
    }

    async fn owner(&self, bot_id: &str) -> Result<Option<Ownership>, StoreError> {
        let kvs = self.get("owner", self.keys.owner(bot_id), None).await?;
        let Some(kv) = kvs.into_iter().next() else { return Ok(None) };
        let node_id = std::str::from_utf8(kv.value())
            .map_err(|_| StoreError::Corrupt(format!("the owner of bot {bot_id} in etcd is not a node id")))?
            .to_owned();
        Ok(Some(Ownership { bot_id: bot_id.to_owned(), node_id, token: FencingToken(kv.create_revision()) }))
    }

    async fn put_fenced(&self, ownership: &Ownership, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.fenced_txn("fenced put", ownership, TxnOp::put(self.keys.state(&ownership.bot_id, key), value.to_vec(), None)).await
    }

    async fn delete_fenced(&self, ownership: &Ownership, key: &str) -> Result<(), StoreError> {
        self.fenced_txn("fenced delete", ownership, TxnOp::delete(self.keys.state(&ownership.bot_id, key), None)).await
    }

    async fn get_state(&self, bot_id: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let kvs = self.get("get state", self.keys.state(bot_id, key), None).await?;
        Ok(kvs.into_iter().next().map(|kv| kv.into_key_value().1))
    }

    async fn members(&self) -> Result<Vec<Member>, StoreError> {
        let listing = self.keys.members();
        let kvs = self.get("members", listing.clone(), Some(GetOptions::new().with_prefix())).await?;
        let mut members = Vec::with_capacity(kvs.len());
        for kv in kvs {
            match serde_json::from_slice::<Member>(kv.value()) {
                Ok(member) => members.push(member),
                // One unreadable member (a newer version's?) does not hide the others.
                Err(e) => tracing::warn!(key = Keys::name_in(&listing, kv.key()).unwrap_or("?"), error = %e, "unreadable member skipped"),
            }
        }
        Ok(members)
    }

    async fn unreachable_members(&self) -> Result<Vec<String>, StoreError> {
        let listing = self.keys.members();
        let kvs = self.get("members", listing.clone(), Some(GetOptions::new().with_prefix())).await?;
        let mut unreachable = Vec::new();
        for kv in kvs {
            let Some(node_id) = Keys::name_in(&listing, kv.key()) else { continue };
            if node_id == self.member.node_id {
                continue;
            }
            let lease = kv.lease();
            let answer = with_retries(&self.policy, "lease time to live", || {
                let mut client = self.client.clone();
                async move { client.lease_time_to_live(lease, None).await }
            })
            .await?;
            // A member renews every TTL/3, so its lease never has less than two thirds of the TTL
            // left (whole seconds, rounded down); less than half means a renewal was missed.
            if lease_is_lagging(answer.ttl(), answer.granted_ttl()) {
                unreachable.push(node_id.to_owned());
            }
        }
        Ok(unreachable)
    }

    async fn set_drained(&self, node_id: &str, drained: bool) -> Result<(), StoreError> {
        let key = self.keys.drained(node_id);
        let op = if drained { TxnOp::put(key, Vec::new(), None) } else { TxnOp::delete(key, None) };
        self.txn("set drained", Txn::new().and_then([op])).await.map(drop)
    }

    async fn drained(&self) -> Result<Vec<String>, StoreError> {
        let listing = self.keys.all_drained();
        let kvs = self.get("drained", listing.clone(), Some(GetOptions::new().with_prefix())).await?;
        Ok(names(&listing, kvs))
    }

    async fn leave(&self) -> Result<(), StoreError> {
        EtcdStore::leave(self).await
    }

    fn stats(&self) -> crate::cluster::StoreStats {
        let lease = self.lease_counters();
        crate::cluster::StoreStats {
            lease_renewals: lease.renewals,
            lease_renewal_failures: lease.renewal_failures,
            fenced_writes_refused: self.fenced_refusals(),
        }
    }

    fn ownership_deadline(&self) -> Option<Instant> {
        Some(self.lease.view().deadline)
    }
}

/// Keys in the order they were first created (how `StoredBots` lists bots: added ones last).
fn in_creation_order(mut kvs: Vec<KeyValue>) -> Vec<KeyValue> {
    kvs.sort_by_key(|kv| kv.create_revision());
    kvs
}

fn names(listing: &str, kvs: Vec<KeyValue>) -> Vec<String> {
    in_creation_order(kvs).iter().filter_map(|kv| Keys::name_in(listing, kv.key()).map(str::to_owned)).collect()
}

/// A lease with less than half its TTL left (or already gone) is not being renewed on time.
fn lease_is_lagging(remaining_secs: i64, granted_secs: i64) -> bool {
    remaining_secs <= 0 || remaining_secs.saturating_mul(2) < granted_secs
}

/// The first call over TLS failing is most often the certificates; the handshake's own error is
/// terse ("transport error" when etcd refuses the client certificate), so say where to look.
fn with_tls_hint(error: StoreError, settings: &EtcdSettings) -> StoreError {
    match error {
        StoreError::Unavailable(text) if settings.tls.is_some() => StoreError::Unavailable(format!(
            "{text} (over TLS: check that ca_file is the CA of etcd's certificate, that the certificate is valid for the endpoint's \
             host or server_name, and that etcd trusts this node's client certificate, cert_file and key, when it runs with \
             --client-cert-auth)"
        )),
        other => other,
    }
}

/// tonic's TLS settings: only the configured CA is trusted (no system roots), the client
/// certificate is offered when etcd asks for one.
fn tls_options(tls: &EtcdTls) -> TlsOptions {
    let mut options = TlsOptions::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
    if let Some((cert, key)) = &tls.identity {
        options = options.identity(Identity::from_pem(cert, key));
    }
    if let Some(name) = &tls.server_name {
        options = options.domain_name(name.clone());
    }
    options
}
