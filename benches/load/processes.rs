//! The processes of a run: the simulator (with the load generator), and the engine under test —
//! botvisor, or the SDK peer — each its own OS process, stopped when dropped. Their memory and CPU
//! are read from `/proc`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http;

pub const ACCOUNT: &str = "1234567";
pub const PASSWORD: &str = "load-password";
/// botvisor's bots passivate a conversation settled this long (the default is 30 s): the bench
/// measures idle conversations once every one of them is settled (see `SETTLE_BEFORE_MEASURING`).
pub const PASSIVATE_AFTER: Duration = Duration::from_secs(5);
/// After the conversations are open, both engines get this long before their memory is read:
/// botvisor's bots passivate them within 1.25 × `PASSIVATE_AFTER`, Node's collector runs.
pub const SETTLE_BEFORE_MEASURING: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Linux's USER_HZ.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// A child process killed on drop.
pub struct Process {
    child: Child,
    name: &'static str,
    /// Under a wrapper (a profiler), the measured process: the wrapper's descendant.
    wrapped: Option<u32>,
}

impl Process {
    /// The measured process (the wrapped one under a wrapper).
    pub fn pid(&self) -> u32 {
        self.wrapped.unwrap_or_else(|| self.child.id())
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        status_kib(self.pid(), "VmRSS:") * 1024
    }

    /// Peak resident memory, in bytes.
    pub fn peak_rss(&self) -> u64 {
        status_kib(self.pid(), "VmHWM:") * 1024
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND
    }

    /// Open file descriptors (sockets included).
    pub fn open_fds(&self) -> u64 {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|entries| entries.count() as u64).unwrap_or(0)
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGTERM first (a clean logout; under a wrapper, to the wrapped process so the
        // profiler can write its data), then kill.
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("load: {} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The botvisor process a wrapper started: a descendant of `wrapper` running botvisor's binary.
fn wrapped_pid(wrapper: u32) -> Result<u32, String> {
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_botvisor")).map_err(|e| e.to_string())?;
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").map_err(|e| e.to_string())?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if std::fs::read_link(format!("/proc/{pid}/exe")).ok().as_ref() != Some(&binary) {
                continue;
            }
            let mut ancestor = parent_of(pid);
            for _ in 0..8 {
                match ancestor {
                    Some(a) if a == wrapper => return Ok(pid),
                    Some(a) if a > 1 => ancestor = parent_of(a),
                    _ => break,
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("the wrapper did not start botvisor within 30 s".into())
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

pub fn bot_login(i: u32) -> String {
    format!("load-bot-{i}")
}

/// The simulator, started with `botvisor simulate`: TLS, one skill for the bots, a human queue,
/// one agent user per bot.
pub struct Simulator {
    pub process: Process,
    pub control: String,
    pub csds_domain: String,
    pub ca: PathBuf,
}

impl Simulator {
    pub fn start(dir: &Path, bots: u32) -> Result<Simulator, String> {
        let users: Vec<Value> =
            (1..=bots).map(|i| json!({"login": bot_login(i), "password": PASSWORD, "skills": ["bots"], "max_slots": 1100})).collect();
        let config = json!({
            "account": ACCOUNT,
            "platform_addr": "127.0.0.1:0",
            "control_addr": "127.0.0.1:0",
            "ca_out": dir.join("simulator-ca.pem"),
            "skills": [{"name": "bots"}, {"name": "human-agents", "human": true}],
            "users": users,
            "idle_timeout": "10m",
            "connection_queue": 262144,
            "max_dialog_events": 100,
            "max_frame_bytes": 1048576,
        });
        let path = dir.join("simulator.json");
        std::fs::write(&path, config.to_string()).map_err(|e| e.to_string())?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
            .args(["simulate", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("the simulator does not start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let process = Process { child, name: "the simulator", wrapped: None };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let announced: Value = serde_json::from_str(&line).map_err(|e| format!("the simulator's first line {line:?}: {e}"))?;
        let field =
            |name: &str| announced[name].as_str().map(str::to_owned).ok_or(format!("the simulator did not say its {name}: {announced}"));
        Ok(Simulator {
            control: field("control")?.trim_start_matches("http://").to_owned(),
            csds_domain: field("csds_domain")?,
            ca: PathBuf::from(field("ca")?),
            process,
        })
    }
}

/// What answers the consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Botvisor,
    Peer,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Botvisor => "botvisor",
            Self::Peer => "sdk-peer",
        }
    }
}

/// How the bots are set up.
#[derive(Debug, Clone)]
pub struct BotSetup {
    pub bots: u32,
    /// The most conversations a bot takes (botvisor's recommended and hard limit).
    pub capacity: u32,
    pub vendor_delay: Duration,
    /// Combining on: the window (botvisor's `combine.time_frame`).
    pub combine: Option<Duration>,
    /// The bots' vendor: the scripted echo, or (true) the simulator's demo function over HTTP,
    /// retried quickly (the soak's vendor, which the simulator can make answer 503).
    pub function_vendor: bool,
}

/// The engine under test, started and logged in.
pub struct Engine {
    pub process: Process,
    /// botvisor's admin API (`host:port`); none for the peer.
    pub admin: Option<String>,
}

impl Engine {
    pub fn start(kind: EngineKind, dir: &Path, sim: &Simulator, setup: &BotSetup) -> Result<Engine, String> {
        let engine = match kind {
            EngineKind::Botvisor => start_botvisor(dir, sim, setup)?,
            EngineKind::Peer => start_peer(sim, setup)?,
        };
        Ok(engine)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18080)
}

fn start_botvisor(dir: &Path, sim: &Simulator, setup: &BotSetup) -> Result<Engine, String> {
    let admin = format!("127.0.0.1:{}", free_port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load/echo.toml");
    let mut config = format!("[node]\nadmin_addr = \"{admin}\"\ndata_dir = {:?}\n", dir.join("data"));
    let capacity = setup.capacity.min(999);
    let combine = match setup.combine {
        Some(window) => format!("enabled = true\ntime_frame = \"{}ms\"\nmax_messages = 50\n", window.as_millis()),
        None => "enabled = false\nmessage_delay = \"0s\"\n".into(),
    };
    for i in 1..=setup.bots {
        let latency =
            if setup.vendor_delay.is_zero() { String::new() } else { format!("latency = \"{}ms\"\n", setup.vendor_delay.as_millis()) };
        let (vendor, vendor_call) = if setup.function_vendor {
            (
                format!("kind = \"function\"\nurl = \"http://{}/functions/demo\"\n", sim.control),
                "[bots.settings.conversation.vendor_call]\ntimeout = \"10s\"\nmax_attempts = 3\nretry_backoff = \"2s\"\n",
            )
        } else {
            (format!("kind = \"scripted\"\nscript = {script:?}\n{latency}"), "")
        };
        config.push_str(&format!(
            "\n[[bots]]\nid = \"{login}\"\n[bots.platform]\ncsds = \"{csds}\"\naccount = \"{ACCOUNT}\"\nlogin = \"{login}\"\nauth = {{ password = {{ value = \"{PASSWORD}\" }} }}\nca = {ca:?}\n\
             [bots.vendor]\n{vendor}\
             [bots.settings]\nskill = \"bots\"\n[bots.settings.escalation]\nskill = \"human-agents\"\n\
             [bots.settings.load]\nrecommended = {capacity}\nhard = {capacity}\nlow_water = {low}\n\
             [bots.settings.lifecycle]\npassivate_after = \"{passivate}s\"\n\
             [bots.settings.conversation.combine]\n{combine}{vendor_call}",
            login = bot_login(i),
            csds = sim.csds_domain,
            ca = sim.ca,
            low = capacity.saturating_sub(1).max(1).min(capacity),
            passivate = PASSIVATE_AFTER.as_secs(),
        ));
    }
    let path = dir.join("botvisor.toml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    // Profiling: `LOAD_ENGINE_WRAPPER="heaptrack -o /tmp/botvisor"` (or `perf record -g --`)
    // runs botvisor under that command; figures are read from botvisor's own process.
    let wrapper: Vec<String> = std::env::var("LOAD_ENGINE_WRAPPER").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(env!("CARGO_BIN_EXE_botvisor"));
            command
        }
        None => Command::new(env!("CARGO_BIN_EXE_botvisor")),
    };
    let child = command
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("botvisor does not start: {e}"))?;
    let wrapped = if wrapper.is_empty() { None } else { Some(wrapped_pid(child.id())?) };
    let mut engine = Engine { process: Process { child, name: "botvisor", wrapped }, admin: Some(admin.clone()) };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if !engine.process.alive() {
            return Err("botvisor exited before its bots were online".into());
        }
        if let Ok((200, Value::Array(bots))) = http::call(&admin, "GET", "/v1/bots", None, http::TIMEOUT) {
            if bots.len() == setup.bots as usize && bots.iter().all(|b| b["state"] == "online") {
                return Ok(engine);
            }
        }
        if Instant::now() > deadline {
            return Err("botvisor's bots did not all come online".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_peer(sim: &Simulator, setup: &BotSetup) -> Result<Engine, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/node-agent-sdk");
    if !dir.join("node_modules/node-agent-sdk").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .map_err(|e| format!("npm: {e}"))?;
        if !status.success() {
            return Err("npm ci failed in benches/peers/node-agent-sdk".into());
        }
    }
    let users: Vec<String> = (1..=setup.bots).map(|i| format!("{}:{PASSWORD}", bot_login(i))).collect();
    let mut child = Command::new("node")
        .arg("echo-bot.js")
        .current_dir(&dir)
        .env("ACCOUNT", ACCOUNT)
        .env("CSDS_DOMAIN", &sim.csds_domain)
        .env("BOT_USERS", users.join(","))
        .env("NODE_EXTRA_CA_CERTS", &sim.ca)
        .env("VENDOR_DELAY_MS", setup.vendor_delay.as_millis().to_string())
        // The same work per message as botvisor: one READ receipt.
        .env("RECEIPTS", "READ")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("node does not start (is Node.js installed?): {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let process = Process { child, name: "the SDK peer", wrapped: None };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"ready\"") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(READY_TIMEOUT).map_err(|_| "the SDK peer did not say it was ready".to_owned())?;
    Ok(Engine { process, admin: None })
}
