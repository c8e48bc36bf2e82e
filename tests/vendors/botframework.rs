//! Microsoft's own Bot Framework pieces judge the Direct Line fake, from both sides
//! (`tests/botframework/`, npm packages pinned by their lockfile):
//! - behind it, **a real Bot Framework bot** written with npm `botbuilder` (`CloudAdapter`, no app
//!   id, local only), to which the fake forwards each activity as the Bot Framework channel does;
//!   botvisor's Direct Line adapter talks to that bot end to end: text, a hero card, suggested
//!   actions, an action in `channelData`, the handoff event;
//! - in front of it, Microsoft's `botframework-directlinejs` client: it starts a conversation with
//!   the secret, posts a message and gets the real bot's reply, by polling.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{world, Kind, Setup};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/botframework");

/// Fails (never skips) with what to install when node or npm is missing; installs the packages.
fn install() {
    for tool in ["node", "npm"] {
        let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is needed for the Bot Framework judges: install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm)"
        );
    }
    // Both tests of this file install at once on a fresh clone: one `npm ci` at a time (two in
    // one directory race and fail with ENOENT).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !std::path::Path::new(DIR).join("node_modules/botbuilder").is_dir() {
        let out =
            Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(DIR).output().expect("npm runs");
        assert!(out.status.success(), "npm ci in tests/botframework failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The botbuilder bot, killed (by its PID) when dropped.
struct RealBot {
    child: Child,
    port: u16,
}

impl RealBot {
    fn start() -> Self {
        install();
        let mut child = Command::new("node")
            .arg("bot.js")
            .current_dir(DIR)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the bot's first line");
        let port = serde_json::from_str::<Value>(&line).ok().and_then(|v| v["listening"].as_u64()).expect("{\"listening\": port}") as u16;
        RealBot { child, port }
    }

    fn messages_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/messages", self.port)
    }
}

impl Drop for RealBot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn slow_bot_allowed(fakes: &mut botvisor::sim::vendors::VendorFakesConfig) {
    // A Node process's first turns are slower than the built-in bot's.
    fakes.directline_bot_timeout = Duration::from_secs(10);
}

#[actix_rt::test]
async fn botvisor_talks_to_a_real_bot_framework_bot_behind_the_fake() {
    let real = RealBot::start();
    let w = world(Setup { directline_bot: Some(real.messages_url()), tune_fakes: slow_bot_allowed, ..Setup::new(Kind::DirectLine) }).await;

    let hello = w.consumer("hello").await;
    w.answered(&hello, 1).await;
    assert_eq!(
        w.bot_lines(&hello).await,
        [format!("Bot Framework heard: hello (conversation {hello})")],
        "LivePerson's context reached the bot"
    );

    let card = w.consumer("card").await;
    w.answered(&card, 1).await;
    let card = w.entry(&card, "[card]").await.to_string();
    assert!(card.contains("https://example.com/shoes.png") && card.contains("Our shoes") && card.contains("buy"), "{card}");

    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    let replies = w.entry(&menu, "Pick one").await["quick_replies"]["replies"].clone();
    assert_eq!((replies[0]["title"].as_str(), replies[1]["title"].as_str()), (Some("Yes"), Some("No")), "{replies}");

    let urgent = w.consumer("urgent").await;
    w.answered(&urgent, 1).await;
    w.wait_until("the TTR change", || async { w.conversation(&urgent).await["ttr"]["type"] == "URGENT" }).await;

    let handoff = w.consumer("handoff").await;
    w.wait_until("the handoff", || async { w.conversation(&handoff).await["skill"] == "billing" }).await;
    assert_eq!(w.bot_lines(&handoff).await, ["Handing you off"]);
    w.stop().await;
}

#[actix_rt::test]
async fn microsofts_direct_line_client_gets_the_real_bots_reply_through_the_fake() {
    let real = RealBot::start();
    let w = world(Setup { directline_bot: Some(real.messages_url()), tune_fakes: slow_bot_allowed, ..Setup::new(Kind::DirectLine) }).await;
    let origin = format!("http://{}", w.sim.platform_addr);
    let secret = botvisor::sim::vendors::VendorFakesConfig::new("unused").directline_secret;
    for (text, mode, expected) in [
        ("hello", "polling", "Bot Framework heard: hello"),
        ("card", "polling", "application/vnd.microsoft.card.hero"),
        ("hello", "websocket", "Bot Framework heard: hello"),
    ] {
        let mut child = Command::new("node")
            .args(["client.js", &origin, &secret, text, mode])
            .current_dir(DIR)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        // The simulator serves on this thread: wait without blocking it, bounded.
        let mut waited = Duration::ZERO;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(waited < Duration::from_secs(40), "the Direct Line client did not end");
            actix_rt::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        };
        let output = child.wait_with_output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(status.success(), "{text} ({mode}): the client failed: {stderr}\n{stdout}");
        assert!(stdout.contains(expected), "{text} ({mode}): {stdout}");
    }
    assert!(w.fakes().await["directline"]["streams_opened"].as_u64().unwrap() >= 1, "the websocket client used the stream");
    w.stop().await;
}
