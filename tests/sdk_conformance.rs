//! Conformance with LivePerson's own Node Agent SDK (`node-agent-sdk@1.2.0` from npm,
//! unmodified): a small bot built on it (`tests/sdk/bot.js`) logs in to the simulator over TLS,
//! goes ONLINE, accepts rings, answers a consumer, transfers one conversation and closes another.
//! The assertions are on the simulator's own view: transcripts and conversation states.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use botvisor::sim::{self, SimConfig};
use common::control;
use serde_json::{json, Value};

const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk");

/// Fails (never skips) with what to install when node or npm is missing.
fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "`{tool}` is needed for the Node Agent SDK conformance test: install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm)");
}

fn install_sdk() {
    require("node");
    require("npm");
    let out =
        Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(SDK_DIR).output().expect("npm runs");
    assert!(out.status.success(), "npm ci in tests/sdk failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

struct NodeBot {
    child: Child,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl NodeBot {
    fn start(handle: &sim::SimHandle, ca: &Path, transfer_skill_id: &str) -> Self {
        let mut child = Command::new("node")
            .arg("bot.js")
            .current_dir(SDK_DIR)
            .env("ACCOUNT", &handle.account)
            .env("BOT_LOGIN", "sdk-bot")
            .env("BOT_PASSWORD", "sdk-password")
            .env("CSDS_DOMAIN", handle.platform_addr.to_string())
            .env("SKILL_FOR_TRANSFER", transfer_skill_id)
            .env("NODE_EXTRA_CA_CERTS", ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(value) => {
                        if tx.send(value).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("bot.js: {line}"),
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// Waits (real time, generous bound) for an event line matching `want`.
    async fn wait_for(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..300 {
            self.drain();
            if let Some(found) = self.seen.iter().find(|l| want(l)) {
                return found.clone();
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SDK bot never reported {what}; it said:\n{:#?}", self.seen);
    }
}

impl NodeBot {
    /// Reads what the bot said so far; any SDK error, warning or failed callback fails the test.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            assert!(!matches!(line["event"].as_str(), Some("error" | "warn")), "the SDK reported a problem: {line}");
            assert!(line.get("error").is_none_or(Value::is_null), "an SDK call failed: {line}");
            self.seen.push(line);
        }
    }
}

impl Drop for NodeBot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_and_say(handle: &sim::SimHandle, text: &str) -> String {
    let opened = control(handle, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await;
    let id = opened["conversation_id"].as_str().unwrap().to_owned();
    control(handle, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
    id
}

fn texts(conversation: &Value) -> Vec<(String, String)> {
    conversation["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "text")
        .map(|e| (e["role"].as_str().unwrap().to_owned(), e["text"].as_str().unwrap().to_owned()))
        .collect()
}

#[actix_rt::test]
async fn the_node_agent_sdk_logs_in_accepts_rings_and_exchanges_messages() {
    install_sdk();
    let dir = std::env::temp_dir().join(format!("botvisor-sdk-{}", std::process::id()));
    let ca: PathBuf = dir.join("ca.pem");
    let handle = sim::start(SimConfig { ca_out: Some(ca.clone()), ..SimConfig::default() }).await.expect("simulator starts");
    assert!(handle.tls, "the SDK only speaks https/wss");
    control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "bots"}))).await;
    let humans = control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "humans", "human": true}))).await;
    let bot =
        control(&handle, "POST", "/sim/v1/agents", Some(json!({"login": "sdk-bot", "password": "sdk-password", "skills": ["bots"]}))).await;
    let bot_id = bot["agent_id"].as_str().unwrap().to_owned();
    let bot_pid = bot["pid"].as_str().unwrap().to_owned();

    let mut node = NodeBot::start(&handle, &ca, humans["id"].as_str().unwrap());
    let connected = node.wait_for("connected", |l| l["event"] == "connected").await;
    assert_eq!(connected["agentId"], bot_pid, "the SDK's agentId is the login's userPid");
    node.wait_for("its routing subscription", |l| l["event"] == "subscribed-routing").await;
    node.wait_for("ONLINE", |l| l["event"] == "state" && l["error"].is_null()).await;

    // 1. A consumer says hello; the bot accepts the ring and answers once.
    let hello = open_and_say(&handle, "hello").await;
    node.wait_for("the answer", |l| l["event"] == "answered" && l["conversationId"] == hello.as_str()).await;
    let view = control(&handle, "GET", &format!("/sim/v1/conversations/{hello}"), None).await;
    assert_eq!(view["state"], "OPEN");
    assert_eq!(view["assigned_agent"], bot_id.as_str());
    assert_eq!(texts(&view), [("CONSUMER".into(), "hello".into()), ("ASSIGNED_AGENT".into(), "echo: hello".into())]);
    let conversation = node.wait_for("the conversation", |l| l["event"] == "conversation" && l["conversationId"] == hello.as_str()).await;
    let participants = conversation["participants"].as_array().unwrap();
    assert!(
        participants.iter().any(|p| p["id"] == bot_pid.as_str() && p["role"] == "ASSIGNED_AGENT"),
        "PIDs in participants: {participants:?}"
    );
    assert!(view["transcript"].as_array().unwrap().iter().any(|e| e["kind"] == "accept_status" && e["status"] == "READ"));
    let echo = view["transcript"].as_array().unwrap().iter().find(|e| e["text"] == "echo: hello").cloned().unwrap();
    assert_eq!(echo["metadata"], json!([{"type": "ExternalId", "id": "echo-0"}]), "the frame-level metadata is kept: {echo}");
    node.wait_for("the clock", |l| l["event"] == "clock").await;

    // 2. "transfer": the conversation lands on the human skill, assigned to nobody.
    let transfer = open_and_say(&handle, "transfer").await;
    node.wait_for("the transfer", |l| l["event"] == "transferred" && l["conversationId"] == transfer.as_str()).await;
    node.wait_for("leaving it", |l| l["event"] == "conversation-left" && l["conversationId"] == transfer.as_str()).await;
    let view = control(&handle, "GET", &format!("/sim/v1/conversations/{transfer}"), None).await;
    assert_eq!((view["state"].as_str(), view["skill"].as_str()), (Some("OPEN"), Some("humans")));
    assert!(view["assigned_agent"].is_null());
    assert_eq!(texts(&view).last().unwrap().1, "transferring you");

    // 3. "close": the conversation is closed by the agent.
    let close = open_and_say(&handle, "close").await;
    node.wait_for("the close", |l| l["event"] == "closed" && l["conversationId"] == close.as_str()).await;
    let view = control(&handle, "GET", &format!("/sim/v1/conversations/{close}"), None).await;
    assert_eq!((view["state"].as_str(), view["close_reason"].as_str()), (Some("CLOSE"), Some("AGENT")));

    // Its own messages come back as live events; the bot recognises them by PID (spec §7) and
    // does not answer itself: after a moment the transcripts are unchanged.
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    node.drain();
    let view = control(&handle, "GET", &format!("/sim/v1/conversations/{hello}"), None).await;
    assert_eq!(texts(&view).len(), 2, "no self-echo: {:?}", texts(&view));
    assert!(node.seen.iter().any(|l| l["event"] == "own-message"), "own events arrive and are recognised");
    // What the unmodified SDK sends is valid by definition (spec §10 item 10): nothing refused,
    // the calls without a callback (READ receipts, chat states) included.
    let refusals = control(&handle, "GET", "/sim/v1/refusals", None).await;
    assert_eq!(refusals["total"], 0, "the simulator refused a frame the SDK sent: {refusals:#}");
    drop(node);
    handle.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
