//! `botvisor run`, as a newcomer runs it: the default configuration starts the embedded
//! simulator, two scripted bots log in to it over the real protocol and answer the simulated
//! consumers; it stops by itself. And `check-config`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn botvisor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .output()
        .expect("the botvisor binary runs")
}

/// A GET over plain HTTP/1.1, enough for the simulator's control API.
fn http_get(addr: &str, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn run_starts_the_demo_and_the_bot_answers_consumers_over_the_real_protocol() {
    let control = format!("127.0.0.1:{}", free_port());
    let data = std::env::temp_dir().join(format!("botvisor-run-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(["run", "--for", "9s", "--every", "500ms", "--sim-control-addr", &control, "--data-dir", data.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the botvisor binary runs");
    // While it runs, read the conversations from the embedded simulator's control API.
    let mut answered = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(Value::Array(conversations)) = http_get(&control, "/sim/v1/conversations") {
            answered = conversations
                .iter()
                .flat_map(|c| c["transcript"].as_array().cloned().unwrap_or_default())
                .filter(|e| e["role"] == "ASSIGNED_AGENT" && e["kind"] == "text")
                .filter_map(|e| e["text"].as_str().map(str::to_owned))
                .collect();
            if answered.iter().any(|t| t == "You said: hi") && answered.iter().any(|t| t == "What would you like?") {
                break;
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{logs}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(answered.iter().any(|t| t == "You said: hi"), "the bot answers: {answered:?}");
    assert!(answered.iter().any(|t| t == "What would you like?"), "quick replies: {answered:?}");
    assert!(logs.contains("platform session connected"), "{logs}");
    assert!(logs.contains("consumer message") && logs.contains("answered"), "one line per conversation event:\n{logs}");
    assert!(logs.contains("bot started bot_id=demo-bot-1") && logs.contains("bot started bot_id=demo-bot-2"), "two bots: {logs}");
    assert!(logs.contains("botvisor stopped"), "{logs}");
    assert!(data.join("simulator-ca.pem").exists(), "the certificate is written to the data dir");
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn bad_arguments_get_a_clear_error_and_exit_code_2() {
    let out = botvisor(&["run", "--for", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--for \"soon\""), "{err}");

    let out = botvisor(&["launch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command \"launch\""));
    let out = botvisor(&["simulate", "--https-addr", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write HOST:PORT"));
}

#[test]
fn check_config_reports_every_problem_with_its_path() {
    let dir = std::env::temp_dir().join(format!("botvisor-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        r#"
[[bots]]
id = "b"
[bots.platform]
csds = "adminlogin.liveperson.net"
account = "123"
login = "b"
password = { env = "BOTVISOR_TEST_UNSET_PASSWORD" }
[bots.vendor]
kind = "custom_endpoint"
base_url = "ftp://nope"
bot_id = "x"
token = { value = "t" }
[bots.settings]
skill = ""
escalation = { skill = "humans" }
load = { hard = 5000 }
"#,
    )
    .unwrap();
    let out = botvisor(&["check-config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "bots[0].settings.skill: must name the skill the bot listens on",
        "bots[0].settings.load.hard: must be at most 999",
        "bots[0].platform.password: the environment variable BOTVISOR_TEST_UNSET_PASSWORD is not set",
        "bots[0].vendor.base_url: must start with http:// or https://",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    std::fs::write(&file, "[node]\ncolour = 1\n").unwrap();
    let out = botvisor(&["check-config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("unknown field `colour`"), "{err}");
    let out = botvisor(&["check-config", "config/botvisor.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulate_prints_where_it_listens_and_the_ca_path() {
    let dir = std::env::temp_dir().join(format!("botvisor-sim-test-{}", std::process::id()));
    let ca = dir.join("ca.pem");
    let out = botvisor(&["simulate", "--for", "1s", "--ca-out", ca.to_str().unwrap(), "--account", "555"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).expect("one JSON line");
    assert_eq!(line["account"], "555");
    assert!(line["platform"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    assert!(line["control"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    assert_eq!(line["ca"], ca.to_str().unwrap());
    assert!(std::fs::read_to_string(&ca).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    std::fs::remove_dir_all(&dir).ok();
}
