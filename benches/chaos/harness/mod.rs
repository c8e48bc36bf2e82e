//! The chaos run, shared by the benchmark (`cargo bench --bench chaos --features etcd`) and its
//! short CI version (`tests/cluster/chaos.rs`): three etcd members, the simulator and three
//! `botvisor run` nodes as separate processes on 127.0.0.1, each node reaching etcd through its
//! own fault proxy; steady consumer traffic over several bots; rounds of faults, each kind in
//! turn; after each round, the invariants read from the simulator and the nodes (`checks`).
//!
//! A round: wait until the cluster is steady (every member up, every bot owned by the node it
//! ranks first on and logged in once), open the round's conversations, start the traffic, inject
//! the fault and measure the failover (fault → every bot owned again, with a new token where its
//! owner was hit, from `GET /v1/cluster`), heal, wait until steady again, stop the traffic, wait
//! (bounded) for the answers to drain, then count.

pub mod checks;
#[path = "../../common/http.rs"]
pub mod http;
pub mod observe;
pub mod processes;
pub mod proxy;
pub mod report;
pub mod traffic;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use botvisor::cluster::assignment::preferred_owner;
use botvisor::cluster::Member;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::etcd_harness::EtcdCluster;
use checks::{Answers, Pause, Tokens};
use observe::{Observation, Observer};
use processes::{node_config, node_id, Node, Simulator, SKILL};
use proxy::{FaultProxy, ProxyMode};
use report::{Report, RoundResult};
use traffic::Traffic;

/// Botvisor nodes, and etcd members.
pub const NODES: usize = 3;
/// The cluster is steady again within this after a fault is healed.
const STEADY_WITHIN: Duration = Duration::from_secs(60);
/// A failover is given the lease TTL plus this before it counts as not happening.
const FAILOVER_GRACE: Duration = Duration::from_secs(15);
/// The round's conversations are accepted by the bots within this.
const ASSIGNED_WITHIN: Duration = Duration::from_secs(20);
/// After the traffic stops, every message is answered within this.
const DRAIN_WITHIN: Duration = Duration::from_secs(30);
/// A node exits within this after SIGTERM (it hands its bots over first).
const EXIT_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// `kill -9` of a node, then it is started again.
    KillNode,
    /// SIGSTOP of a node for longer than the TTL, then SIGCONT: the zombie must publish nothing.
    PauseNode,
    /// A node cut off from etcd by its proxy (black-holed or refused), then healed.
    CutNode,
    /// `kill -9` of the etcd leader, then the member is started again.
    KillEtcdLeader,
    /// SIGTERM of each node in turn, each started again before the next.
    RollingRestart,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] =
        [FaultKind::KillNode, FaultKind::PauseNode, FaultKind::CutNode, FaultKind::KillEtcdLeader, FaultKind::RollingRestart];

    /// The flag's name.
    pub fn slug(self) -> &'static str {
        match self {
            Self::KillNode => "kill-node",
            Self::PauseNode => "pause-node",
            Self::CutNode => "cut-node",
            Self::KillEtcdLeader => "kill-etcd-leader",
            Self::RollingRestart => "rolling-restart",
        }
    }

    /// The table's name.
    pub fn title(self) -> &'static str {
        match self {
            Self::KillNode => "kill -9 of a node",
            Self::PauseNode => "SIGSTOP … SIGCONT of a node (> TTL)",
            Self::CutNode => "a node cut off from etcd",
            Self::KillEtcdLeader => "kill -9 of the etcd leader",
            Self::RollingRestart => "rolling restart (SIGTERM each node)",
        }
    }

    pub fn parse(slug: &str) -> Option<FaultKind> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Rounds in all; the fault kinds take turns.
    pub rounds: usize,
    pub faults: Vec<FaultKind>,
    /// The nodes' lease TTL.
    pub ttl: Duration,
    pub bots: usize,
    pub conversations_per_bot: usize,
    /// Consumer messages per second, over the round's conversations.
    pub rate: f64,
    /// Traffic before the fault, and after the cluster is steady again.
    pub warmup: Duration,
    pub tail: Duration,
    /// Where the nodes' configurations and logs go.
    pub dir: PathBuf,
}

impl Settings {
    pub fn new(dir: PathBuf) -> Settings {
        Settings {
            rounds: 10,
            faults: FaultKind::ALL.to_vec(),
            ttl: Duration::from_secs(3),
            bots: 6,
            conversations_per_bot: 3,
            rate: 20.0,
            warmup: Duration::from_millis(1500),
            tail: Duration::from_millis(1500),
            dir,
        }
    }

    /// One round of each fault kind, shorter phases.
    pub fn quick(dir: PathBuf) -> Settings {
        Settings {
            rounds: FaultKind::ALL.len(),
            conversations_per_bot: 2,
            warmup: Duration::from_millis(800),
            tail: Duration::from_millis(800),
            ..Settings::new(dir)
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.rounds == 0 || self.rounds > 10_000 {
            problems.push("rounds: 1 to 10000");
        }
        if self.faults.is_empty() {
            problems.push("faults: at least one kind");
        }
        if self.ttl < Duration::from_secs(2) || self.ttl > Duration::from_secs(60) {
            problems.push("ttl: 2 to 60 seconds (botvisor's lease_ttl range)");
        }
        if self.bots < NODES || self.bots > 60 {
            problems.push("bots: 3 to 60");
        }
        if self.conversations_per_bot == 0 || self.conversations_per_bot > 50 {
            problems.push("conversations per bot: 1 to 50");
        }
        if !(0.5..=500.0).contains(&self.rate) {
            problems.push("rate: 0.5 to 500 messages per second");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Milliseconds since the epoch (the simulator's session log's clock).
pub fn epoch_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs the rounds; `progress` gets a line per step.
pub fn run(settings: &Settings, progress: &dyn Fn(&str)) -> Result<Report, String> {
    settings.validate()?;
    let started_ms = epoch_ms();
    let start = Instant::now();
    let mut cluster = Cluster::start(settings, progress)?;
    let mut rounds = Vec::new();
    let mut aborted = None;
    for round in 1..=settings.rounds {
        let kind = settings.faults[(round - 1) % settings.faults.len()];
        match cluster.round(round, kind, progress) {
            Ok(result) => {
                progress(&result.line(settings.rounds));
                for problem in &result.problems {
                    progress(&format!("  problem: {problem}"));
                }
                rounds.push(result);
            }
            Err(error) => {
                // A process that cannot be started again: the rounds so far are still reported.
                progress(&format!("round {round} ({}) aborted the run: {error}", kind.slug()));
                aborted = Some(format!("round {round} ({}): {error}", kind.slug()));
                break;
            }
        }
    }
    progress(&format!("done in {:.0} s; node logs in {}", start.elapsed().as_secs_f64(), settings.dir.display()));
    Ok(Report { settings: settings.clone(), started_ms, seconds: start.elapsed().as_secs_f64(), rounds, aborted })
}

/// Bot ids spread evenly over the nodes by botvisor's own ranking (so every node owns bots, and
/// every node fault hits some).
fn balanced_bots(count: usize) -> Vec<String> {
    let members: Vec<Member> = (0..NODES).map(|i| member(&node_id(i), 1)).collect();
    let quota = count.div_ceil(NODES);
    let mut per_node = [0; NODES];
    let mut bots = Vec::new();
    for j in 0.. {
        if bots.len() == count {
            break;
        }
        let id = format!("chaos-bot-{j}");
        let Some(owner) = preferred_owner(&id, &members) else { continue };
        let i = members.iter().position(|m| m.node_id == owner.node_id).unwrap_or(0);
        if per_node[i] < quota {
            per_node[i] += 1;
            bots.push(id);
        }
    }
    bots
}

fn member(node_id: &str, capacity: u32) -> Member {
    Member { node_id: node_id.to_owned(), admin_addr: String::new(), capacity, version: String::new() }
}

/// What a fault did.
struct Outcome {
    detail: String,
    /// Fault → every bot owned again (the longest, when the fault hits several nodes).
    failover: Option<Duration>,
    pauses: Vec<Pause>,
}

struct Cluster {
    settings: Settings,
    // Dropped in this order: the observer and nodes first, etcd last.
    observer: Observer,
    nodes: Vec<Node>,
    proxies: Vec<FaultProxy>,
    sim: Simulator,
    etcd: EtcdCluster,
    runtime: tokio::runtime::Runtime,
    bots: Vec<String>,
    tokens: Tokens,
}

impl Cluster {
    fn start(settings: &Settings, progress: &dyn Fn(&str)) -> Result<Cluster, String> {
        std::fs::create_dir_all(&settings.dir).map_err(|e| format!("{}: {e}", settings.dir.display()))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        progress("starting three etcd members");
        let etcd = runtime.block_on(EtcdCluster::three());
        let bots = balanced_bots(settings.bots);
        progress(&format!("starting the simulator with {} bot users", bots.len()));
        let sim = Simulator::start(&settings.dir, &bots)?;
        let proxies = (0..NODES).map(|_| FaultProxy::start(&etcd.endpoints())).collect::<Result<Vec<_>, _>>()?;
        let prefix = format!("chaos-{}-{}/", std::process::id(), epoch_ms());
        let mut nodes = Vec::new();
        for (i, proxy) in proxies.iter().enumerate() {
            nodes.push(Node::new(i, &settings.dir, &node_config(i, &proxy.endpoints, &prefix, settings.ttl, &sim, &bots))?);
        }
        let observer = Observer::start(Instant::now(), NODES);
        let mut cluster =
            Cluster { settings: settings.clone(), observer, nodes, proxies, sim, etcd, runtime, bots, tokens: Tokens::default() };
        for i in 0..NODES {
            progress(&format!("starting {}", node_id(i)));
            cluster.start_node(i)?;
        }
        cluster.wait_steady()?;
        progress("the cluster is steady");
        Ok(cluster)
    }

    fn start_node(&mut self, i: usize) -> Result<(), String> {
        self.nodes[i].start()?;
        self.observer.set_pollable(i, Some(self.nodes[i].admin.clone()));
        Ok(())
    }

    fn round(&mut self, round: usize, kind: FaultKind, progress: &dyn Fn(&str)) -> Result<RoundResult, String> {
        let start = Instant::now();
        let from_ms = epoch_ms();
        let mut problems = Vec::new();
        if let Err(problem) = self.wait_steady() {
            problems.push(format!("before the fault: {problem}"));
        }
        let conversations = self.open_conversations(&mut problems)?;
        let traffic = Traffic::start(self.sim.control.clone(), conversations.clone(), self.settings.rate, round);
        std::thread::sleep(self.settings.warmup);
        progress(&format!("round {round}: {}", kind.slug()));
        let fault_ms = epoch_ms();
        let outcome = self.fault(round, kind, &mut problems)?;
        // Recovered: every bot owned again (a fault that moved no bot recovers at once).
        let recovered_ms = fault_ms + outcome.failover.map_or(0, |f| i64::try_from(f.as_millis()).unwrap_or(i64::MAX));
        let window = checks::FaultWindow { at_ms: fault_ms, recovered_ms };
        if let Err(problem) = self.wait_steady() {
            problems.push(format!("after the fault: {problem}"));
        }
        std::thread::sleep(self.settings.tail);
        let sent = traffic.stop();
        let answers = self.drain(&conversations, window, &mut problems);
        // Late duplicates (a zombie waking up) have a moment to show.
        std::thread::sleep(Duration::from_secs(1));
        let answers = self.count(&conversations, window).unwrap_or(answers);
        let to_ms = epoch_ms();
        let log = self.sim.get("/sim/v1/sessions")?;
        let bots: HashSet<String> = self.bots.iter().cloned().collect();
        let sessions =
            checks::sessions(log["events"].as_array().map(Vec::as_slice).unwrap_or_default(), &bots, from_ms, to_ms, &outcome.pauses);
        let tokens = self.tokens.check(&self.observer.take());
        for id in &conversations {
            let _ = self.sim.post(&format!("/sim/v1/conversations/{id}/close"), &json!({}));
        }
        Ok(RoundResult {
            round,
            kind,
            detail: outcome.detail,
            sent: sent.sent,
            send_failures: sent.failed,
            answers,
            sessions,
            tokens,
            failover: outcome.failover,
            seconds: start.elapsed().as_secs_f64(),
            problems,
        })
    }

    // ---- the faults ---------------------------------------------------------------------------

    fn fault(&mut self, round: usize, kind: FaultKind, problems: &mut Vec<String>) -> Result<Outcome, String> {
        let turn = (round - 1) / self.settings.faults.len();
        let ttl = self.settings.ttl;
        let bound = ttl + FAILOVER_GRACE;
        match kind {
            FaultKind::KillNode => {
                let k = self.pick_node(turn);
                let victims = self.owned_by(k);
                self.observer.set_pollable(k, None);
                let at = self.observer.now();
                self.nodes[k].kill();
                let failover = self.failover(at, bound, &victims, problems);
                self.start_node(k)?;
                Ok(Outcome { detail: format!("{} ({} bots)", node_id(k), victims.len()), failover, pauses: Vec::new() })
            }
            FaultKind::PauseNode => {
                let k = self.pick_node(turn);
                let victims = self.owned_by(k);
                self.observer.set_pollable(k, None);
                let pause = Pause { at_ms: epoch_ms(), bots: victims.keys().cloned().collect() };
                let at = self.observer.now();
                self.nodes[k].signal("-STOP")?;
                // Longer than the TTL, by 1 to 3 s in turn: woken as the others take over, or after.
                let hold = ttl + Duration::from_secs(1 + (turn % 3) as u64);
                let mut failover = self.observer.wait_for(at, hold, |o| owned_again(o, &self.bots, &victims));
                sleep_until(&self.observer, at + hold);
                self.nodes[k].signal("-CONT")?;
                if failover.is_none() {
                    failover = self.failover(at, bound, &victims, problems);
                }
                self.observer.set_pollable(k, Some(self.nodes[k].admin.clone()));
                let detail = format!("{} ({} bots) paused {:.0} s", node_id(k), victims.len(), hold.as_secs_f64());
                Ok(Outcome { detail, failover, pauses: vec![pause] })
            }
            FaultKind::CutNode => {
                let k = self.pick_node(turn);
                let victims = self.owned_by(k);
                let mode = if turn.is_multiple_of(2) { ProxyMode::BlackHole } else { ProxyMode::Refuse };
                self.observer.set_pollable(k, None);
                let at = self.observer.now();
                self.proxies[k].set(mode);
                let failover = self.failover(at, bound, &victims, problems);
                // Cut for longer than the TTL, and a moment past the takeover.
                let heal = (ttl + Duration::from_secs(1)).max(failover.unwrap_or_default() + Duration::from_secs(1));
                sleep_until(&self.observer, at + heal);
                self.proxies[k].set(ProxyMode::Forward);
                self.observer.set_pollable(k, Some(self.nodes[k].admin.clone()));
                Ok(Outcome { detail: format!("{} ({} bots) {}", node_id(k), victims.len(), mode.name()), failover, pauses: Vec::new() })
            }
            FaultKind::KillEtcdLeader => {
                let leader = self.runtime.block_on(self.etcd.leader());
                let name = self.etcd.members[leader].name.clone();
                let at = self.observer.now();
                self.etcd.kill(leader);
                let failover = self.failover(at, Duration::from_secs(30), &BTreeMap::new(), problems);
                std::thread::sleep(Duration::from_secs(1));
                self.etcd.restart(leader);
                if let Err(problem) = self.runtime.block_on(self.etcd.wait_healthy()) {
                    problems.push(format!("etcd after restarting {name}: {problem}"));
                }
                Ok(Outcome { detail: format!("etcd {name}"), failover, pauses: Vec::new() })
            }
            FaultKind::RollingRestart => {
                let mut longest: Option<Duration> = Some(Duration::ZERO);
                for k in 0..NODES {
                    let victims = self.owned_by(k);
                    self.observer.set_pollable(k, None);
                    let at = self.observer.now();
                    self.nodes[k].signal("-TERM")?;
                    let exited = self.nodes[k].process.as_mut().is_some_and(|p| p.wait_exit(EXIT_WITHIN));
                    if !exited {
                        problems.push(format!("{} did not exit within {EXIT_WITHIN:?} of SIGTERM (killed)", node_id(k)));
                    }
                    self.nodes[k].kill();
                    let handover = self.failover(at, bound, &victims, problems);
                    longest = longest.zip(handover).map(|(a, b)| a.max(b));
                    self.start_node(k)?;
                    if let Err(problem) = self.wait_steady() {
                        problems.push(format!("after restarting {}: {problem}", node_id(k)));
                    }
                }
                Ok(Outcome { detail: format!("{NODES} nodes"), failover: longest, pauses: Vec::new() })
            }
        }
    }

    /// The node to hit on this turn: each in turn, skipping one that owns no bot.
    fn pick_node(&self, turn: usize) -> usize {
        (0..NODES).map(|d| (turn + d) % NODES).find(|&k| !self.owned_by(k).is_empty()).unwrap_or(turn % NODES)
    }

    /// The bots node `k` owns now, with their tokens.
    fn owned_by(&self, k: usize) -> BTreeMap<String, i64> {
        let id = node_id(k);
        let latest = self.observer.latest();
        latest
            .map(|o| o.owners.into_iter().filter(|(_, (node, _))| *node == id).map(|(bot, (_, token))| (bot, token)).collect())
            .unwrap_or_default()
    }

    fn failover(&self, at: Duration, bound: Duration, victims: &BTreeMap<String, i64>, problems: &mut Vec<String>) -> Option<Duration> {
        let failover = self.observer.wait_for(at, bound, |o| owned_again(o, &self.bots, victims));
        if failover.is_none() {
            let owners = self.observer.latest().map(|o| format!("{:?}", o.owners)).unwrap_or_default();
            problems.push(format!("the bots were not all owned again within {bound:?}; last seen: {owners}"));
        }
        failover
    }

    // ---- steadiness, conversations, answers ---------------------------------------------------

    /// Waits (bounded) until every node is a member, every bot is owned by the node it ranks first
    /// on, and every bot is logged in once.
    fn wait_steady(&self) -> Result<(), String> {
        let start = Instant::now();
        let mut last = String::from("no observation yet");
        while start.elapsed() < STEADY_WITHIN {
            match self.steady() {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!("not steady within {STEADY_WITHIN:?}: {last}"))
    }

    fn steady(&self) -> Result<(), String> {
        let o = self.observer.latest().ok_or("no observation yet")?;
        if self.observer.now().saturating_sub(o.at) > Duration::from_secs(2) {
            return Err("no recent observation".into());
        }
        let members: Vec<Member> = o.members.iter().map(|(id, capacity)| member(id, *capacity)).collect();
        if members.len() != NODES {
            return Err(format!("members {:?}", o.members));
        }
        for bot in &self.bots {
            let preferred = preferred_owner(bot, &members).map(|m| m.node_id.clone());
            let owner = o.owners.get(bot).map(|(node, _)| node.clone());
            if owner.is_none() || owner != preferred {
                return Err(format!("{bot} owned by {owner:?}, ranks first on {preferred:?}"));
            }
        }
        let connections = self.sim.connections(&self.bots)?;
        match connections.iter().find(|(_, n)| *n != 1) {
            Some((bot, n)) => Err(format!("{bot} has {n} connections")),
            None => Ok(()),
        }
    }

    /// Opens the round's conversations and waits (bounded) until a bot holds each.
    fn open_conversations(&self, problems: &mut Vec<String>) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for _ in 0..self.settings.bots * self.settings.conversations_per_bot {
            let opened = self.sim.post("/sim/v1/conversations", &json!({"skill": SKILL}))?;
            ids.push(opened["conversation_id"].as_str().ok_or("no conversation_id")?.to_owned());
        }
        let start = Instant::now();
        loop {
            let waiting: Vec<&String> = ids
                .iter()
                .filter(|id| self.sim.get(&format!("/sim/v1/conversations/{id}")).map_or(true, |c| c["assigned_agent"].is_null()))
                .collect();
            if waiting.is_empty() {
                return Ok(ids);
            }
            if start.elapsed() > ASSIGNED_WITHIN {
                problems.push(format!("{} conversations not accepted by a bot within {ASSIGNED_WITHIN:?}", waiting.len()));
                return Ok(ids);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn count(&self, conversations: &[String], window: checks::FaultWindow) -> Result<Answers, String> {
        let mut total = Answers::default();
        for id in conversations {
            let conversation: Value = self.sim.get(&format!("/sim/v1/conversations/{id}"))?;
            total.add(&checks::answers(&conversation, SKILL, Some(window)));
        }
        Ok(total)
    }

    /// Waits (bounded) until no consumer message is left unanswered.
    fn drain(&self, conversations: &[String], window: checks::FaultWindow, problems: &mut Vec<String>) -> Answers {
        let start = Instant::now();
        let mut last = Answers::default();
        while start.elapsed() < DRAIN_WITHIN {
            match self.count(conversations, window) {
                Ok(answers) if answers.lost == 0 => return answers,
                Ok(answers) => last = answers,
                Err(problem) => problems.push(problem),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        problems.push(format!("{} messages still unanswered {DRAIN_WITHIN:?} after the traffic stopped", last.lost));
        last
    }
}

/// Every bot owned, each of `victims` with a token above the one it had.
fn owned_again(o: &Observation, bots: &[String], victims: &BTreeMap<String, i64>) -> bool {
    bots.iter().all(|bot| o.owners.get(bot).is_some_and(|(_, token)| victims.get(bot).is_none_or(|before| token > before)))
}

fn sleep_until(observer: &Observer, at: Duration) {
    let now = observer.now();
    if at > now {
        std::thread::sleep(at - now);
    }
}
