//! The composition root: where the actor tree is wired to its adapters.
//!
//! `run` starts what a service configuration describes, with the bots changed through the admin
//! API (kept in the data directory) over the file's: the embedded platform simulator if it has
//! one, the bot registry (each bot built by the launcher: platform client, vendor, error hook,
//! BotActor), and the admin API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use botvisor::api::{self, AdminState};
use botvisor::cluster::coordinator::{Coordinator, CoordinatorSettings};
use botvisor::cluster::plan::PlanSettings;
use botvisor::cluster::{ClusterCounters, EmbeddedStore, Fence, Member, Store};
use botvisor::config::cluster::{ClusterConfig, StoreKind};
use botvisor::config::ServiceConfig;
use botvisor::service::{BotLauncher, BotRegistry, EmbeddedPlatform};
use botvisor::sim;
use botvisor_actors::bot::GetBotStatus;

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
/// Whether `path` holds a scripted bot rather than a service configuration: a TOML table with a
/// script's keys (welcome, intents, fallback) and none of a service configuration's.
pub fn looks_like_script(path: &std::path::Path) -> bool {
    let Ok(text) = botvisor::config::small_file::read_small_file(path, botvisor::config::MAX_CONFIG_FILE_BYTES) else { return false };
    let Ok(table) = text.parse::<toml::Table>() else { return false };
    let script = ["welcome", "intents", "fallback"].iter().any(|k| table.contains_key(*k));
    let service = ["node", "simulator", "cluster", "bots"].iter().any(|k| table.contains_key(*k));
    script && !service
}

pub fn load(path: &std::path::Path) -> Result<ServiceConfig, String> {
    let config = ServiceConfig::read(path).map_err(|e| e.to_string())?;
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
    // The embedded store: its file lock keeps a second process on this data directory out.
    let member = Member {
        node_id: config.cluster.node_id.clone().unwrap_or_else(|| default_node_id(&data_dir)),
        admin_addr: config.node.admin_addr.to_string(),
        capacity: config.cluster.capacity,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let clustered = config.cluster.store == StoreKind::Etcd;
    // The embedded store is opened before anything starts: its lock refuses a second process.
    let embedded = if clustered { None } else { Some(EmbeddedStore::open(&data_dir, member.clone()).map_err(|e| e.to_string())?) };
    actix_rt::System::new().block_on(async move {
        // Caught from the start: a SIGTERM while starting still stops the node cleanly.
        let mut sigterm = actix_rt::signal::unix::signal(actix_rt::signal::unix::SignalKind::terminate()).ok();
        let (store, store_path): (Arc<dyn Store>, String) = match embedded {
            Some(store) => {
                let path = store.path().display().to_string();
                (Arc::new(store), path)
            }
            None => connect_cluster_store(&config, member).await?,
        };
        // Bots added, changed or deleted through the admin API, over the file's.
        let stored = store.load_bots().await.map_err(|e| e.to_string())?;
        let bots = stored.apply(std::mem::take(&mut config.bots));
        let problems: Vec<String> = stored
            .bots
            .iter()
            .flat_map(|bot| bot.validate(&format!("bots[id={}]", bot.id), config.simulator.is_some()))
            .map(|p| format!("  {p}"))
            .collect();
        if !problems.is_empty() {
            return Err(format!("{store_path} (bots changed through the admin API) is not valid:\n{}", problems.join("\n")));
        }
        if !stored.bots.is_empty() || !stored.deleted.is_empty() {
            tracing::info!(store = %store_path, changed = stored.bots.len(), deleted = stored.deleted.len(), "applying the bots changed through the admin API");
        }
        let simulator = match config.simulator.clone() {
            Some(mut sim_config) => {
                sim_config.ca_out = Some(data_dir.join("simulator-ca.pem"));
                if let Some(addr) = options.sim_control_addr {
                    sim_config.control_addr = addr;
                }
                if let (Some(every), Some(traffic)) = (options.every, sim_config.traffic.as_mut()) {
                    traffic.conversations_per_minute = ((60.0 / every.as_secs_f64()).round() as u32).clamp(1, 60_000);
                }
                let handle = sim::start(sim_config).await?;
                tracing::info!(platform = %handle.platform_url(), control = %handle.control_url(), ca = ?handle.ca_path, "embedded platform simulator listening");
                Some(handle)
            }
            None => None,
        };
        // One node owns every bot and needs no fence; in a cluster no session talks to the
        // platform before the loop has seen this node's lease.
        let fence = if clustered { Fence::closed() } else { Fence::open() };
        let launcher = BotLauncher::on_current_arbiter(simulator.as_ref().map(EmbeddedPlatform::of)).with_fence(fence.clone());
        let registry = Arc::new(BotRegistry::new(launcher, store.clone(), stored));
        let token = config.node.admin_token.as_ref().map(|t| t.resolve()).transpose().map_err(|e| format!("node.admin_token: {e}"))?;
        if token.is_none() {
            tracing::info!("no node.admin_token: the admin API accepts requests without a token and listens on loopback only");
        }
        let cluster_counters = Arc::new(ClusterCounters::default());
        let admin = Arc::new(AdminState {
            registry: registry.clone(),
            store: store.clone(),
            cluster: cluster_counters.clone(),
            token,
            ready: AtomicBool::new(false),
        });
        let (admin_addr, admin_server) = api::start(config.node.admin_addr, admin.clone())?;
        tracing::info!(admin = %format!("http://{admin_addr}"), metrics = %format!("http://{admin_addr}/metrics"), "admin API listening");
        let mut cluster_loop = None;
        if clustered {
            // The loop starts the bots this node ranks first, takes over those of nodes that
            // died, and hands off what now ranks elsewhere.
            for config in bots {
                let id = config.id.clone();
                registry.adopt(config).await.map_err(|e| format!("bot {id}: {e}"))?;
            }
            let coordinator = Coordinator::new(registry.clone(), store.clone(), coordinator_settings(&config.cluster))
                .with_fence(fence)
                .with_counters(cluster_counters.clone());
            let (stop, stopped) = tokio::sync::oneshot::channel();
            actix_rt::spawn(coordinator.run(stopped));
            cluster_loop = Some(stop);
        } else {
            registry.adopt_and_start(bots).await?;
        }
        admin.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        // Until `--for` is up (if given), Ctrl-C or SIGTERM (a service manager's stop): every bot
        // is stopped and released before exit, so no other node waits for a lease to expire. The
        // signal is caught from the start, so a timed run must listen too or it would ignore it.
        let terminate = async {
            match sigterm.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let time_up = async {
            match options.run_for {
                Some(run_for) => actix_rt::time::sleep(run_for).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = time_up => {}
            _ = actix_rt::signal::ctrl_c() => {}
            _ = terminate => tracing::info!("SIGTERM: stopping"),
        }
        for bot in registry.list() {
            if let Ok(status) = bot.addr.send(GetBotStatus).await {
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
        }
        if let Some(stop) = cluster_loop {
            let _ = stop.send(());
        }
        // Stopped and released, bot by bot; then the lease goes, so no other node waits for it.
        registry.stop_all().await;
        if let Err(error) = store.leave().await {
            tracing::warn!(%error, "leaving the cluster failed; this node's lease expires by itself");
        }
        admin_server.stop(true).await;
        if let Some(simulator) = simulator {
            simulator.stop().await;
        }
        tracing::info!("botvisor stopped");
        Ok(())
    })
}

/// The node's id when none is configured: the host name and a hash of the data directory, so two
/// nodes on one host (each with its own data directory) differ and a restart keeps its id.
fn default_node_id(data_dir: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "node".into());
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    // XXH3: a stable id across runs and builds (std's hasher is not).
    let hash = xxhash_rust::xxh3::xxh3_64(dir.to_string_lossy().as_bytes());
    format!("{host}-{:08x}", hash as u32)
}

/// The cluster's store (etcd), connected on the System's runtime (its client lives there).
#[cfg(feature = "etcd")]
async fn connect_cluster_store(config: &ServiceConfig, member: Member) -> Result<(Arc<dyn Store>, String), String> {
    let etcd = config.cluster.etcd.as_ref().ok_or("cluster.etcd: store = \"etcd\" needs a [cluster.etcd] section")?;
    let settings = etcd.settings()?;
    let described = format!("etcd {} (prefix {})", settings.endpoints.join(","), settings.prefix);
    let store = botvisor::cluster::EtcdStore::connect(settings, member).await.map_err(|e| format!("{described}: {e}"))?;
    Ok((Arc::new(store), described))
}

#[cfg(not(feature = "etcd"))]
async fn connect_cluster_store(_config: &ServiceConfig, _member: Member) -> Result<(Arc<dyn Store>, String), String> {
    Err("cluster.store: this botvisor was built without etcd support; build it with `cargo build --release --features etcd`".into())
}

/// The cluster loop's pace from the configuration.
fn coordinator_settings(cluster: &ClusterConfig) -> CoordinatorSettings {
    CoordinatorSettings {
        plan: PlanSettings { handoffs_per_interval: cluster.handoffs_per_interval as usize, handoff_interval: cluster.handoff_interval },
        ..CoordinatorSettings::default()
    }
}
