//! The operator's console in real headless Chromium (Debian's `chromium`, driven by npm
//! `puppeteer-core` from `tests/browser/`): a node with an admin token, the simulator and two
//! demo bots on 127.0.0.1; the script (`tests/browser/dashboard.mjs`) asks for the token, sees
//! the bots online, stops and starts one, changes a running bot's capacity and sees its
//! availability follow, adds a bot with a mistake and sees the error at its field, then fixes it.
//! Screenshots of each step go to `target/browser-artifacts/`.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use botvisor::api::{self, AdminState};
use botvisor::cluster::{EmbeddedStore, Member, Store};
use botvisor::config::BotConfig;
use botvisor::service::{BotLauncher, BotRegistry, EmbeddedPlatform};
use botvisor::sim::{self, SimConfig};
use common::control;
use serde_json::json;
use tokio::time::Instant;

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
const TOKEN: &str = "console-t0ken";
/// The whole browser run's bound.
const RUN_WITHIN: Duration = Duration::from_secs(180);

/// Fails (never skips) with what to install when a tool is missing.
fn require(tool: &str, what: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "`{tool}` is needed for the console's browser test: {what} (./scripts/test installs it)");
}

fn install_puppeteer() {
    require("node", "Debian: apt-get install nodejs npm");
    require("npm", "Debian: apt-get install nodejs npm");
    require("/usr/bin/chromium", "Debian: apt-get install chromium");
    if !PathBuf::from(BROWSER_DIR).join("node_modules/puppeteer-core").is_dir() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(BROWSER_DIR)
            .env("PUPPETEER_SKIP_DOWNLOAD", "1")
            .output()
            .expect("npm runs");
        assert!(out.status.success(), "npm ci in tests/browser failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn bot(id: &str, skill: &str) -> BotConfig {
    serde_json::from_value(json!({
        "id": id,
        "name": format!("Demo bot {}", id.trim_start_matches("demo-bot-")),
        "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": "demo-password"}}},
        "vendor": {"kind": "scripted", "script": "config/demo-scripted-bot.toml"},
        "settings": {"skill": skill, "escalation": {"skill": "human-agents"}},
    }))
    .unwrap()
}

#[actix_rt::test]
async fn the_console_runs_the_demo_bots_in_a_real_browser() {
    install_puppeteer();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap(); // the demo script's path
    let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
    for (name, human) in [("bots", false), ("bots-2", false), ("human-agents", true)] {
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": name, "human": human}))).await;
    }
    let data = std::env::temp_dir().join(format!("botvisor-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let member = Member { node_id: "console-node".into(), admin_addr: "127.0.0.1:0".into(), capacity: 1, version: "test".into() };
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&data, member).expect("the store opens"));
    let stored = store.load_bots().await.unwrap();
    let registry =
        Arc::new(BotRegistry::new(BotLauncher::on_current_arbiter(Some(EmbeddedPlatform::of(&sim))), store.clone(), stored.clone()));
    let admin = Arc::new(AdminState {
        registry: registry.clone(),
        store,
        cluster: Default::default(),
        token: Some(TOKEN.into()),
        ready: AtomicBool::new(true),
    });
    let (addr, server) = api::start("127.0.0.1:0".parse().unwrap(), admin).expect("the API listens");
    registry.adopt_and_start(stored.apply(vec![bot("demo-bot-1", "bots"), bot("demo-bot-2", "bots-2")])).await.expect("the bots start");
    // One open conversation on demo-bot-2 (its own skill), for its load bar.
    let opened = control(&sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots-2"}))).await;
    let id = opened["conversation_id"].as_str().unwrap().to_owned();
    control(&sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": "hi"}))).await;

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let mut child = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(BROWSER_DIR)
        .env("BOTVISOR_URL", format!("http://{addr}/"))
        .env("BOTVISOR_TOKEN", TOKEN)
        .env("SCREENSHOTS", &shots)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // The node serves on this thread: wait without blocking it, bounded.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_WITHIN {
            let _ = child.kill();
            panic!("the browser test did not end within {RUN_WITHIN:?}");
        }
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "the console failed in Chromium.\nsteps:\n{stdout}\nerror:\n{stderr}\nscreenshots in {}", shots.display());
    assert!(stdout.contains("\"done\""), "{stdout}");
    for shot in ["01-token", "02-bots", "03-stopped", "04-capacity", "05-invalid-bot", "06-details"] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}.png was saved");
    }
    registry.stop_all().await;
    server.stop(true).await;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}
