//! The cluster loop end to end without etcd: three nodes (registries with real bots logged in to
//! the simulator over the real protocol) share bots through an in-memory cluster store. Each bot
//! runs on the node it ranks first, on one node only; a dead node's bots move to the survivors
//! with greater tokens, and its old token's writes are fenced off; a node cut off from the store
//! drops its sessions; a joining node gets its share, handed off a few at a time.

#[path = "../common/mod.rs"]
mod common;
mod memory_store;

use std::sync::Arc;
use std::time::Duration;

use botvisor::cluster::assignment::preferred_owner;
use botvisor::cluster::coordinator::{Coordinator, CoordinatorSettings};
use botvisor::cluster::plan::PlanSettings;
use botvisor::cluster::{Fence, Member, Store, StoreError};
use botvisor::config::BotConfig;
use botvisor::service::{BotLauncher, BotRegistry, EmbeddedPlatform};
use botvisor::sim::{self, SimConfig, SimHandle};
use common::control;
use memory_store::MemoryCluster;
use serde_json::{json, Value};

const BOTS: usize = 6;

fn bot_ids() -> Vec<String> {
    (0..BOTS).map(|i| format!("cluster-bot-{i}")).collect()
}

fn bot(id: &str) -> BotConfig {
    serde_json::from_value(json!({
        "id": id,
        "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": "pw"}}},
        "vendor": {"kind": "scripted", "script": "config/demo-scripted-bot.toml"},
        "settings": {"skill": "bots", "escalation": {"skill": "human-agents"}},
    }))
    .unwrap()
}

fn member(id: &str) -> Member {
    Member { node_id: id.into(), admin_addr: String::new(), capacity: 1, version: "test".into() }
}

struct Node {
    id: String,
    registry: Arc<BotRegistry>,
    store: Arc<dyn Store>,
    fence: Fence,
    /// Stops the node's loop (a paused or dead process).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Node {
    async fn start(sim: &SimHandle, cluster: &MemoryCluster, id: &str) -> Node {
        let store: Arc<dyn Store> = Arc::new(cluster.node(member(id)));
        // Closed until the loop's first tick: no session connects before the node owns its bots.
        let fence = Fence::closed();
        let launcher = BotLauncher::on_current_arbiter(Some(EmbeddedPlatform::of(sim))).with_fence(fence.clone());
        let registry = Arc::new(BotRegistry::new(launcher, store.clone(), Default::default()));
        for id in bot_ids() {
            registry.adopt(bot(&id)).await.expect("the bot is built");
        }
        let mut node = Node { id: id.into(), registry, store, fence, stop: None };
        node.resume();
        node
    }

    /// Runs the node's loop in the background, as `botvisor run` does.
    fn resume(&mut self) {
        let settings = CoordinatorSettings {
            tick: Duration::from_millis(100),
            plan: PlanSettings { handoffs_per_interval: 1, handoff_interval: Duration::from_millis(300) },
            refresh_every_ticks: 1,
            report_every_ticks: 1,
        };
        let coordinator = Coordinator::new(self.registry.clone(), self.store.clone(), settings).with_fence(self.fence.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        actix_rt::spawn(coordinator.run(stopped));
        self.stop = Some(stop);
    }

    /// Its loop stops (the process is paused, or dead).
    fn pause(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits (bounded) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..150 {
        if check() {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(check(), "timed out waiting for {what}");
}

/// Each bot runs exactly on the node `members` rank first.
fn placed(nodes: &[&Node], members: &[Member]) -> bool {
    running(nodes).iter().all(|(bot, on)| on == &[preferred_owner(bot, members).unwrap().node_id.clone()])
}

/// Which node runs each bot, as the registries say.
fn running(nodes: &[&Node]) -> Vec<(String, Vec<String>)> {
    bot_ids()
        .into_iter()
        .map(|bot| {
            (bot.clone(), nodes.iter().filter(|n| n.registry.get(&bot).is_some_and(|b| b.is_running())).map(|n| n.id.clone()).collect())
        })
        .collect()
}

async fn sessions(sim: &SimHandle) -> Vec<(String, u64)> {
    let agents: Value = control(sim, "GET", "/sim/v1/agents", None).await;
    let mut sessions: Vec<(String, u64)> = agents
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["login"].as_str().is_some_and(|l| l.starts_with("cluster-bot-")))
        .map(|a| (a["login"].as_str().unwrap().to_owned(), a["connections"].as_u64().unwrap()))
        .collect();
    sessions.sort();
    sessions
}

async fn wait_for_sessions(sim: &SimHandle, expected: u64) -> Vec<(String, u64)> {
    let mut last = Vec::new();
    for _ in 0..100 {
        last = sessions(sim).await;
        if last.len() == BOTS && last.iter().all(|(_, n)| *n == expected) {
            return last;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {expected} connection per bot: {last:?}");
}

/// Waits until none of `bots` has a connection on the simulator.
async fn wait_for_logged_out(sim: &SimHandle, bots: &[String]) {
    for _ in 0..100 {
        if sessions(sim).await.iter().all(|(login, n)| *n == 0 || !bots.contains(login)) {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{bots:?} still connected: {:?}", sessions(sim).await);
}

#[actix_rt::test]
async fn bots_run_once_where_they_rank_first_and_move_on_death_isolation_and_join() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
    control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "bots"}))).await;
    control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "human-agents", "human": true}))).await;
    let cluster = MemoryCluster::default();
    let mut a = Node::start(&sim, &cluster, "node-a").await;
    let mut b = Node::start(&sim, &cluster, "node-b").await;
    let mut c = Node::start(&sim, &cluster, "node-c").await;

    // Three nodes: each bot on the node it ranks first, on that node only, logged in once.
    let three = [member("node-a"), member("node-b"), member("node-c")];
    eventually("each bot on the node it ranks first", || placed(&[&a, &b, &c], &three)).await;
    wait_for_sessions(&sim, 1).await;

    // node-b dies: its process and its sockets are gone, then its lease expires.
    let b_bots: Vec<String> = bot_ids().into_iter().filter(|bot| b.registry.get(bot).unwrap().is_running()).collect();
    assert!(!b_bots.is_empty(), "node-b had bots");
    let old = b.registry.get(&b_bots[0]).unwrap().ownership().unwrap();
    b.pause();
    b.registry.drop_all_sessions();
    wait_for_logged_out(&sim, &b_bots).await;
    cluster.expire("node-b");
    let two = [member("node-a"), member("node-c")];
    eventually("node-b's bots on the survivors", || placed(&[&a, &c], &two)).await;
    let (_, new_token) = cluster.owner(&b_bots[0]).unwrap();
    assert!(new_token > old.token.0, "the new owner's token is greater");
    // A zombie node-b writing with its old token is fenced off.
    assert!(matches!(b.store.put_fenced(&old, "k", b"v").await, Err(StoreError::Fenced { .. })));
    wait_for_sessions(&sim, 1).await;

    // node-c is cut off from the store: its deadline passes and its sessions close at once; a
    // margin later the others see its lease expire, and node-a, alone, takes everything.
    let c_bots: Vec<String> = bot_ids().into_iter().filter(|bot| c.registry.get(bot).unwrap().is_running()).collect();
    cluster.cut_off("node-c");
    wait_for_logged_out(&sim, &c_bots).await;
    cluster.expire("node-c");
    eventually("node-a running every bot", || placed(&[&a, &c], &[member("node-a")])).await;
    wait_for_sessions(&sim, 1).await;

    // node-d joins but stops renewing its lease at once: nothing is handed to it (nor away from
    // anyone) while it is unreachable, over several handoff intervals.
    cluster.set_lagging("node-d", true);
    let d = Node::start(&sim, &cluster, "node-d").await;
    let with_d = [member("node-a"), member("node-d")];
    assert!(bot_ids().iter().any(|bot| preferred_owner(bot, &with_d).unwrap().node_id == "node-d"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(placed(&[&a, &d], &[member("node-a")]), "rebalanced towards an unreachable member: {:?}", running(&[&a, &d]));
    // node-d renews again: once the members are stable, node-a hands off what now ranks on
    // node-d, one bot per interval, and node-d takes each.
    cluster.set_lagging("node-d", false);
    eventually("node-d's share handed to it", || placed(&[&a, &d], &with_d)).await;
    wait_for_sessions(&sim, 1).await;

    // An edit on node-a (a bot stopped, changed, started again) reaches node-d's copy: whichever
    // node runs it next runs the new configuration.
    let edited = bot_ids()[0].clone();
    a.registry.stop(&edited).await.unwrap();
    eventually("the edited bot stopped everywhere", || running(&[&a, &d]).iter().all(|(bot, on)| *bot != edited || on.is_empty())).await;
    let mut renamed = bot(&edited);
    renamed.name = Some("Renamed".into());
    // The loops may still be finishing the stop (a bot being stopped counts as running, and an
    // edit answers `Running` then, as the API's 409 would): an operator tries again.
    let started = tokio::time::Instant::now();
    loop {
        match a.registry.replace(&edited, renamed.clone()).await {
            Ok(_) => break,
            Err(botvisor::service::RegistryError::Running) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the edit was refused: {error}"),
        }
    }
    eventually("node-d's copy rebuilt", || d.registry.get(&edited).is_some_and(|b| b.config().name.as_deref() == Some("Renamed"))).await;
    a.store.set_stopped(&edited, false).await.unwrap();
    eventually("the edited bot running again where it ranks", || placed(&[&a, &d], &with_d)).await;
    wait_for_sessions(&sim, 1).await;

    // node-a is drained: every bot goes to node-d, one per interval.
    a.store.set_drained("node-a", true).await.unwrap();
    eventually("every bot on node-d", || placed(&[&a, &d], &[member("node-d")])).await;
    wait_for_sessions(&sim, 1).await;

    // node-d is paused (a SIGSTOP, a long GC pause): past its deadline its sessions close by
    // themselves, before its loop could look; resumed, it renews and reconnects them.
    let mut d = d;
    d.pause();
    wait_for_sessions(&sim, 0).await;
    d.resume();
    wait_for_sessions(&sim, 1).await;

    // Never two sessions of one bot at once: the simulator kicked no connection of theirs.
    let log: Value = control(&sim, "GET", "/sim/v1/sessions", None).await;
    let kicks: Vec<&Value> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "kick" && e["login"].as_str().unwrap().starts_with("cluster-bot-"))
        .collect();
    assert!(kicks.is_empty(), "overlapping sessions: {kicks:?}");

    for node in [&mut a, &mut b, &mut c, &mut d] {
        node.pause();
    }
    for registry in [&a.registry, &b.registry, &c.registry, &d.registry] {
        registry.stop_all().await;
    }
    sim.stop().await;
}
