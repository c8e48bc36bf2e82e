//! The processes of a chaos run besides etcd: the simulator (`botvisor simulate --plain-http`) and
//! the three `botvisor run` nodes in cluster mode, each reaching etcd through its own fault
//! proxy. Every process is this run's child, signalled and killed by its PID only, and killed when
//! dropped. Each node's log (stderr) is appended to `node-{i}.log` in the run's directory, across
//! its restarts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::http;

pub const SKILL: &str = "bots";
pub const HUMAN_SKILL: &str = "human-agents";
const PASSWORD: &str = "chaos-pw";
/// Control API calls, at most.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// A node's admin API calls, at most (a paused node never answers).
pub const ADMIN_TIMEOUT: Duration = Duration::from_millis(800);
/// A node is up (its admin API answers) within this.
const NODE_READY_WITHIN: Duration = Duration::from_secs(30);

/// A child process, killed (SIGKILL by its PID, then reaped) when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-STOP`, `-CONT`, `-TERM`, `-KILL`) to this process alone.
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().map_err(|e| format!("kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill {signal} {} failed", self.pid()))
        }
    }

    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (bounded) for the process to exit by itself; whether it did.
    pub fn wait_exit(&mut self, bound: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < bound {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub struct Simulator {
    _process: Process,
    pub control: String,
    pub platform: String,
    pub account: String,
}

impl Simulator {
    /// The simulator on free loopback ports, with the bots' skill, a human skill and a user per bot.
    pub fn start(dir: &Path, bots: &[String]) -> Result<Simulator, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
            .args(["simulate", "--plain-http", "--for", "24h", "--ca-out", "/dev/null"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&dir.join("simulator.log"))?)
            .spawn()
            .map_err(|e| format!("botvisor simulate: {e}"))?;
        let stdout = child.stdout.take().ok_or("the simulator's stdout")?;
        let process = Process { child };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let line: Value = serde_json::from_str(&line).map_err(|e| format!("the simulator's first line {line:?}: {e}"))?;
        let field =
            |name: &str| line[name].as_str().map(|s| s.trim_start_matches("http://").to_owned()).ok_or(format!("no {name} in {line}"));
        let sim = Simulator { control: field("control")?, platform: field("platform")?, account: field("account")?, _process: process };
        for (name, human) in [(SKILL, false), (HUMAN_SKILL, true)] {
            sim.post("/sim/v1/skills", &json!({"name": name, "human": human}))?;
        }
        for login in bots {
            sim.post("/sim/v1/agents", &json!({"login": login, "password": PASSWORD, "skills": [SKILL], "max_slots": 100}))?;
        }
        Ok(sim)
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        http::ok(&self.control, "GET", path, None, CONTROL_TIMEOUT)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        http::ok(&self.control, "POST", path, Some(body), CONTROL_TIMEOUT)
    }

    /// Open websocket connections per bot login.
    pub fn connections(&self, bots: &[String]) -> Result<Vec<(String, u64)>, String> {
        let agents = self.get("/sim/v1/agents")?;
        let list = agents.as_array().ok_or("agents: not a list")?;
        Ok(bots
            .iter()
            .map(|bot| {
                let n = list.iter().find(|a| a["login"] == bot.as_str()).and_then(|a| a["connections"].as_u64()).unwrap_or(0);
                (bot.clone(), n)
            })
            .collect())
    }
}

/// One `botvisor run` node: its id, admin address, configuration and data directory stay the
/// same across restarts.
pub struct Node {
    pub id: String,
    pub admin: String,
    config: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub process: Option<Process>,
}

impl Node {
    pub fn new(index: usize, dir: &Path, config_text: &str) -> Result<Node, String> {
        let admin = format!("127.0.0.1:{}", super::free_port()?);
        let id = node_id(index);
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(&config, config_text).map_err(|e| format!("{}: {e}", config.display()))?;
        Ok(Node { admin, config, data: dir.join(format!("{id}-data")), log: dir.join(format!("{id}.log")), id, process: None })
    }

    /// Starts the node and waits (bounded) for its admin API.
    pub fn start(&mut self) -> Result<(), String> {
        assert!(self.process.is_none(), "{} is running", self.id);
        // `botvisor run` logs to stdout; both go to the node's log.
        let log = log_file(&self.log)?;
        let stdout = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .arg("--admin-addr")
            .arg(&self.admin)
            .arg("--data-dir")
            .arg(&self.data)
            .env("RUST_LOG", "warn,botvisor::cluster=info,botvisor::service=info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("botvisor run: {e}"))?;
        self.process = Some(Process { child });
        let start = Instant::now();
        loop {
            if http::call(&self.admin, "GET", "/readyz", None, ADMIN_TIMEOUT).is_ok_and(|(status, _)| status == 200) {
                return Ok(());
            }
            if self.process.as_mut().is_some_and(Process::exited) {
                self.process = None;
                return Err(format!("{} exited at start; see {}", self.id, self.log.display()));
            }
            if start.elapsed() > NODE_READY_WITHIN {
                return Err(format!("{}'s admin API did not answer within {NODE_READY_WITHIN:?}", self.id));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn signal(&self, signal: &str) -> Result<(), String> {
        self.process.as_ref().ok_or(format!("{} is not running", self.id))?.signal(signal)
    }

    /// `kill -9`, reaped at once.
    pub fn kill(&mut self) {
        drop(self.process.take());
    }
}

pub fn node_id(index: usize) -> String {
    format!("node-{index}")
}

/// A node's configuration: the cluster on etcd through `endpoints` (its proxy), and every bot.
pub fn node_config(index: usize, endpoints: &[String], prefix: &str, ttl: Duration, sim: &Simulator, bots: &[String]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load/echo.toml");
    let endpoints: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    let mut text = format!(
        "[cluster]\nstore = \"etcd\"\nnode_id = \"{}\"\nhandoff_interval = \"1s\"\nhandoffs_per_interval = 2\n\
         [cluster.etcd]\nendpoints = [{}]\nprefix = \"{prefix}\"\nlease_ttl = \"{}ms\"\n",
        node_id(index),
        endpoints.join(", "),
        ttl.as_millis()
    );
    for bot in bots {
        text.push_str(&format!(
            "\n[[bots]]\nid = \"{bot}\"\n[bots.platform]\ncsds = \"{platform}\"\naccount = \"{account}\"\nlogin = \"{bot}\"\nplain_http = true\n\
             auth = {{ password = {{ value = \"{PASSWORD}\" }} }}\n[bots.vendor]\nkind = \"scripted\"\nscript = {script:?}\n\
             [bots.settings]\nskill = \"{SKILL}\"\nescalation = {{ skill = \"{HUMAN_SKILL}\" }}\n\
             [bots.settings.conversation.combine]\nenabled = false\nmessage_delay = \"0s\"\n",
            platform = sim.platform,
            account = sim.account,
        ));
    }
    text
}
