//! botvisor as a cluster, process by process: `botvisor simulate`, one real etcd and `botvisor
//! run` nodes in cluster mode, all separate processes on 127.0.0.1. Each bot is owned by exactly
//! one node and logged in once; `kill -9` of a node moves its bots to the survivors within the
//! lease TTL + 2 s; a node joining gets its share by graceful handoff; SIGTERM hands every bot
//! over at once; an edit through any node's admin API reaches the cluster. The simulator's
//! session log proves no bot ever had two sessions at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant as StdClock;

use serde_json::{json, Value};

use botvisor::cluster::assignment::preferred_owner;
use botvisor::cluster::store::Member;

use crate::etcd_harness::EtcdCluster;

const BOTS: usize = 4;
const LEASE_TTL_SECS: u64 = 3;

fn free_addr() -> String {
    format!("127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
}

/// One request over plain HTTP/1.1: the status and the JSON body.
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Waits (bounded, real time) until `check` holds; the time it took.
fn eventually(what: &str, bound: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = StdClock::now();
    while start.elapsed() < bound {
        if check() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {bound:?} waiting for {what}");
}

/// A process this test started, killed (by its PID) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Simulator {
    _process: Process,
    control: String,
    platform: String,
    account: String,
}

impl Simulator {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
            .args(["simulate", "--plain-http", "--for", "300s", "--ca-out", "/dev/null"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("botvisor simulate runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the simulator's line");
        let line: Value = serde_json::from_str(&line).expect("one JSON line");
        let control = line["control"].as_str().unwrap().trim_start_matches("http://").to_owned();
        let platform = line["platform"].as_str().unwrap().trim_start_matches("http://").to_owned();
        let sim = Simulator { _process: Process(child), control, platform, account: line["account"].as_str().unwrap().to_owned() };
        for (name, human) in [("bots", false), ("human-agents", true)] {
            assert_eq!(sim.call("POST", "/sim/v1/skills", Some(&json!({"name": name, "human": human}))).0, 201);
        }
        for i in 0..BOTS {
            let agent = json!({"login": format!("cbot-{i}"), "password": "pw", "skills": ["bots"], "max_slots": 50});
            assert!((200..300).contains(&sim.call("POST", "/sim/v1/agents", Some(&agent)).0));
        }
        sim
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        http(&self.control, method, path, body).expect("the control API answers")
    }

    /// Connections per bot user.
    fn connections(&self) -> Vec<(String, u64)> {
        let agents = self.call("GET", "/sim/v1/agents", None).1;
        let mut all: Vec<(String, u64)> = agents
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["login"].as_str().unwrap().starts_with("cbot-"))
            .map(|a| (a["login"].as_str().unwrap().to_owned(), a["connections"].as_u64().unwrap()))
            .collect();
        all.sort();
        all
    }

    fn each_bot_connected_once(&self) -> bool {
        let all = self.connections();
        all.len() == BOTS && all.iter().all(|(_, n)| *n == 1)
    }

    /// Kicks of the bots' connections so far: each one is two sessions of a bot at once.
    fn kicks(&self) -> Vec<Value> {
        let log = self.call("GET", "/sim/v1/sessions", None).1;
        log["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "kick").cloned().collect()
    }
}

struct Node {
    process: Option<Process>,
    admin: String,
    data: PathBuf,
}

impl Node {
    fn start(config: &Path, name: &str) -> Self {
        let admin = free_addr();
        let data = std::env::temp_dir().join(format!("botvisor-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
            .args(["run", "--config", config.to_str().unwrap(), "--admin-addr", &admin, "--data-dir", data.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("botvisor run");
        let node = Node { process: Some(Process(child)), admin, data };
        eventually("the node's admin API", Duration::from_secs(20), || node.call("GET", "/readyz").is_some_and(|(s, _)| s == 200));
        node
    }

    fn call(&self, method: &str, path: &str) -> Option<(u16, Value)> {
        http(&self.admin, method, path, None)
    }

    fn cluster(&self) -> Value {
        self.call("GET", "/v1/cluster").map(|(_, v)| v).unwrap_or(Value::Null)
    }

    fn node_id(&self) -> String {
        self.cluster()["node_id"].as_str().unwrap_or_default().to_owned()
    }

    fn pid(&self) -> u32 {
        self.process.as_ref().unwrap().0.id()
    }

    fn signal(&mut self, signal: &str) {
        assert!(Command::new("kill").args([signal, &self.pid().to_string()]).status().unwrap().success());
    }

    /// Waits for the process to exit by itself (after a SIGTERM); its exit status.
    fn wait_exit(&mut self, bound: Duration) -> std::process::ExitStatus {
        let mut process = self.process.take().unwrap();
        let start = StdClock::now();
        loop {
            if let Some(status) = process.0.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < bound, "the node did not exit within {bound:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Bot id → owning node, from one node's cluster view (every bot owned exactly once).
fn owners(view: &Value) -> Option<Vec<(String, String)>> {
    let mut owners: Vec<(String, String)> = view["members"]
        .as_array()?
        .iter()
        .flat_map(|m| {
            m["bots"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |b| (b["id"].as_str().unwrap().to_owned(), m["node_id"].as_str().unwrap().to_owned()))
        })
        .collect();
    owners.sort();
    Some(owners).filter(|o| o.len() == BOTS)
}

/// The bot ids the test configures.
fn bot_ids() -> Vec<String> {
    (0..BOTS).map(|i| format!("cbot-{i}")).collect()
}

/// A node id for `name` that, beside `other`, ranks first for some bots and not for others, so a
/// join always moves bots both ways (with ids left to the default, host name + data dir hash,
/// one run in eight would give every bot to one of two nodes).
fn splitting_node_id(name: &str, other: &str) -> String {
    let member = |id: &str| Member { node_id: id.into(), admin_addr: String::new(), capacity: 1, version: String::new() };
    (0..)
        .map(|k| format!("node-{name}-{k}"))
        .find(|id| {
            let pair = [member(other), member(id)];
            let mine = bot_ids().iter().filter(|bot| preferred_owner(bot, &pair).is_some_and(|m| m.node_id == *id)).count();
            (1..BOTS).contains(&mine)
        })
        .expect("some id splits the bots")
}

fn write_config(dir: &Path, sim: &Simulator, etcd: &EtcdCluster, node_id: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo-scripted-bot.toml");
    let endpoints: Vec<String> = etcd.endpoints().iter().map(|e| format!("{e:?}")).collect();
    let mut text = format!(
        "[cluster]\nstore = \"etcd\"\nnode_id = \"{node_id}\"\nhandoff_interval = \"1s\"\nhandoffs_per_interval = 2\n[cluster.etcd]\nendpoints = [{}]\nprefix = \"botvisor-test-{}/\"\nlease_ttl = \"{LEASE_TTL_SECS}s\"\n",
        endpoints.join(", "),
        std::process::id()
    );
    for i in 0..BOTS {
        text.push_str(&format!(
            "\n[[bots]]\nid = \"cbot-{i}\"\n[bots.platform]\ncsds = \"{}\"\naccount = \"{}\"\nlogin = \"cbot-{i}\"\nplain_http = true\nauth = {{ password = {{ value = \"pw\" }} }}\n[bots.vendor]\nkind = \"scripted\"\nscript = {script:?}\n[bots.settings]\nskill = \"bots\"\nescalation = {{ skill = \"human-agents\" }}\n",
            sim.platform, sim.account
        ));
    }
    let path = dir.join(format!("{node_id}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[actix_rt::test]
async fn nodes_share_bots_through_etcd_fail_over_hand_off_and_leave() {
    let etcd = EtcdCluster::single().await;
    let sim = Simulator::start();
    let dir = std::env::temp_dir().join(format!("botvisor-cluster-config-{}", std::process::id()));
    let a_id = "node-a".to_owned();
    let (b_id, c_id) = (splitting_node_id("b", &a_id), splitting_node_id("c", &a_id));
    let [a_config, b_config, c_config] = [&a_id, &b_id, &c_id].map(|id| write_config(&dir, &sim, &etcd, id));
    let check = Command::new(env!("CARGO_BIN_EXE_botvisor")).args(["check-config", a_config.to_str().unwrap()]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // Two nodes: every bot owned by exactly one of them, logged in once.
    let mut a = Node::start(&a_config, "a");
    let mut b = Node::start(&b_config, "b");
    assert_eq!((a.node_id(), b.node_id()), (a_id.clone(), b_id.clone()));
    // a started alone and took every bot; once b has joined, a hands it its share.
    eventually("both nodes owning bots, each bot once", Duration::from_secs(30), || {
        let view = a.cluster();
        view["members"].as_array().is_some_and(|m| m.len() == 2)
            && owners(&view).is_some_and(|o| o.iter().any(|(_, node)| *node == b_id) && o.iter().any(|(_, node)| *node != b_id))
    });
    eventually("each bot logged in once", Duration::from_secs(20), || sim.each_bot_connected_once());

    // kill -9 of b: its bots are a's within the lease TTL + 2 s.
    b.signal("-KILL");
    let failover = eventually("a owning every bot", Duration::from_secs(LEASE_TTL_SECS + 8), || {
        owners(&a.cluster()).is_some_and(|o| o.iter().all(|(_, node)| *node == a_id))
    });
    assert!(failover <= Duration::from_secs(LEASE_TTL_SECS + 2), "failover took {failover:?}");
    eventually("each bot logged in once after the failover", Duration::from_secs(10), || sim.each_bot_connected_once());
    drop(b);

    // c joins: a hands it its share, two bots a second.
    let c = Node::start(&c_config, "c");
    assert_eq!(c.node_id(), c_id);
    eventually("c owning its share", Duration::from_secs(20), || {
        owners(&a.cluster()).is_some_and(|o| o.iter().any(|(_, node)| *node == c_id) && o.iter().any(|(_, node)| *node != c_id))
    });
    eventually("each bot logged in once after the join", Duration::from_secs(10), || sim.each_bot_connected_once());

    // Any node shows every bot as its owner reports it.
    let a_bot = owners(&a.cluster()).unwrap().into_iter().find(|(_, node)| *node != c_id).unwrap().0;
    eventually("c showing a's bot as a reports it", Duration::from_secs(10), || {
        http(&c.admin, "GET", &format!("/v1/bots/{a_bot}"), None).is_some_and(|(_, bot)| {
            bot["state"] == "online" && bot["reported_by"] == a_id.as_str() && bot["owner"]["node_id"] == a_id.as_str()
        })
    });

    // An edit through c's admin API reaches the cluster: a bot stopped there stops on a too.
    let (status, _) = http(&c.admin, "POST", &format!("/v1/bots/{a_bot}/stop"), None).unwrap();
    assert_eq!(status, 200);
    eventually("the stopped bot logged out everywhere", Duration::from_secs(10), || {
        sim.connections().iter().any(|(login, n)| *login == a_bot && *n == 0)
    });
    let (status, _) = http(&c.admin, "POST", &format!("/v1/bots/{a_bot}/start"), None).unwrap();
    assert!(status == 200 || status == 409, "started here, or owned by the node it ranks on");

    // SIGTERM of a: every bot handed over at once, well within the TTL.
    a.signal("-TERM");
    let status = a.wait_exit(Duration::from_secs(15));
    assert!(status.success());
    let handover = eventually("c owning every bot", Duration::from_secs(LEASE_TTL_SECS + 8), || {
        owners(&c.cluster()).is_some_and(|o| o.iter().all(|(_, node)| *node == c_id))
    });
    assert!(handover < Duration::from_secs(LEASE_TTL_SECS), "after SIGTERM, c took over in {handover:?}, without waiting for the lease");
    eventually("each bot logged in once at the end", Duration::from_secs(10), || sim.each_bot_connected_once());

    // Never two sessions of one bot at once.
    assert!(sim.kicks().is_empty(), "overlapping sessions: {:?}", sim.kicks());
    let _ = std::fs::remove_dir_all(&dir);
}
