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

/// One request over plain HTTP/1.1: the status and the body.
fn http(addr: &str, method: &str, path: &str) -> Option<(u16, String)> {
    http_with(addr, method, path, "")
}

fn http_with(addr: &str, method: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, response.split_once("\r\n\r\n")?.1.to_owned()))
}

/// A GET whose body is JSON, enough for the simulator's control API and the admin API.
fn http_get(addr: &str, path: &str) -> Option<Value> {
    serde_json::from_str(&http(addr, "GET", path)?.1).ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn run_starts_the_demo_and_the_bot_answers_consumers_over_the_real_protocol() {
    let control = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let data = std::env::temp_dir().join(format!("botvisor-run-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args([
            "run",
            "--for",
            "9s",
            "--every",
            "500ms",
            "--sim-control-addr",
            &control,
            "--admin-addr",
            &admin,
            "--data-dir",
            data.to_str().unwrap(),
        ])
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
    // The admin API, while it runs.
    assert_eq!(http(&admin, "GET", "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http(&admin, "GET", "/readyz").map(|r| r.0), Some(200));
    let bots = http_get(&admin, "/v1/bots").expect("GET /v1/bots");
    let ids: Vec<&str> = bots.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["demo-bot-1", "demo-bot-2"]);
    for bot in bots.as_array().unwrap() {
        assert_eq!((bot["state"].as_str(), bot["deployment_status"].as_str()), (Some("online"), Some("online")), "{bot}");
        assert_eq!(bot["capacity"], serde_json::json!({"recommended": 250, "hard": 999, "low_water": 225}));
    }
    let total: u64 = bots.as_array().unwrap().iter().map(|b| b["kpis"]["total_conversations"].as_u64().unwrap()).sum();
    assert!(total >= 1, "KPIs count conversations: {bots}");
    let mut listed = 0;
    for bot in ["demo-bot-1", "demo-bot-2"] {
        let conversations = http_get(&admin, &format!("/v1/bots/{bot}/conversations")).expect("conversations");
        for c in conversations.as_array().unwrap() {
            assert!(c["conversation_id"].is_string() && c["phase"].is_string(), "{c}");
            listed += 1;
        }
    }
    assert!(listed >= 1, "the bots hold the simulated consumers' conversations");
    let (status, body) = http(&admin, "POST", "/v1/bots/demo-bot-2/stop").unwrap();
    assert_eq!(status, 200, "{body}");
    let stopped: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((stopped["deployment_status"].as_str(), stopped["state"].as_str()), (Some("stopped"), Some("offline")));
    let (status, body) = http(&admin, "GET", "/v1/bots/nope").unwrap();
    assert_eq!(status, 404);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], "botvisor.api.unknown-bot");
    let (status, metrics) = http(&admin, "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("botvisor_bot_state{bot_id=\"demo-bot-1\",state=\"online\"} 1"), "{metrics}");
    assert!(metrics.contains("botvisor_conversations_total{bot_id=\"demo-bot-1\",outcome=\"started\"}"), "{metrics}");
    assert!(metrics.contains("botvisor_vendor_calls_total{bot_id=\"demo-bot-1\",outcome=\"ok\"}"), "{metrics}");
    assert!(metrics.contains("botvisor_vendor_call_duration_seconds_count{bot_id=\"demo-bot-1\"}"), "{metrics}");

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
    assert!(err.contains("'soon' for '--for <DURATION>'") && err.contains("write e.g. 30s"), "{err}");

    let out = botvisor(&["launch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand 'launch'"));
    let out = botvisor(&["simulate", "--https-addr", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write HOST:PORT"));
}

#[test]
fn every_command_explains_itself_with_help() {
    for (command, option) in [
        (vec!["--help"], "--log-format"),
        (vec!["run", "--help"], "--sim-control-addr"),
        (vec!["check-config", "--help"], "<FILE>"),
        (vec!["simulate", "--help"], "--plain-http"),
    ] {
        let out = botvisor(&command);
        assert_eq!(out.status.code(), Some(0), "{command:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(option), "{command:?}: {help}");
    }
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
auth = { password = { env = "BOTVISOR_TEST_UNSET_PASSWORD" } }
[bots.vendor]
kind = "custom_endpoint"
base_url = "ftp://nope"
bot_id = "x"
auth = { token = { value = "t" } }
[bots.settings]
skill = ""
escalation = { skill = "humans" }
load = { hard = 5000 }
lifecycle = { service_retry_interval = "0s", vendor_health_interval = "5000000h" }
"#,
    )
    .unwrap();
    let out = botvisor(&["check-config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "bots[0].settings.skill: must name the skill the bot listens on",
        "bots[0].settings.load.hard: must be at most 999",
        "bots[0].platform.auth.password: the environment variable BOTVISOR_TEST_UNSET_PASSWORD is not set",
        "bots[0].vendor.base_url: must start with http:// or https://",
        // 0s ran a busy loop writing millions of log lines; absurd values overflowed timers.
        "bots[0].settings.lifecycle.service_retry_interval: must be longer than 0s",
        "bots[0].settings.lifecycle.vendor_health_interval: must be at most 1h",
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
fn check_config_never_echoes_a_secret_and_refuses_what_run_would_refuse() {
    let dir = std::env::temp_dir().join(format!("botvisor-check-agree-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let demo = std::fs::read_to_string("config/botvisor.toml").unwrap();
    let file = dir.join("c.toml");
    // A secret written as a bare string, where the secret's table or the auth table belongs:
    // refused, and its text is not in the message.
    for bare in ["auth = { password = \"hunter2-bare\" }", "auth = \"hunter2-bare\""] {
        std::fs::write(&file, demo.replacen("auth = { password = { value = \"demo-password\" } }", bare, 1)).unwrap();
        let out = botvisor(&["check-config", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bare}: {err}");
        assert!(!err.contains("hunter2"), "the secret is echoed: {err}");
        assert!(err.contains("not shown") && err.contains("line 33"), "{bare}: says where: {err}");
    }
    // An empty admin token and an unset one: check-config fails as run does.
    for token in ["{ value = \"\" }", "{ env = \"BOTVISOR_TEST_UNSET_ADMIN_TOKEN\" }"] {
        std::fs::write(&file, demo.replace("[node]\n", &format!("[node]\nadmin_token = {token}\n"))).unwrap();
        for args in [
            vec!["check-config", file.to_str().unwrap()],
            vec![
                "run",
                "--config",
                file.to_str().unwrap(),
                "--for",
                "1s",
                "--data-dir",
                dir.to_str().unwrap(),
                "--admin-addr",
                "127.0.0.1:0",
            ],
        ] {
            let out = botvisor(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {token}: {err}");
            assert!(err.contains("node.admin_token"), "{args:?}: {err}");
        }
    }
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

#[test]
fn the_admin_api_needs_its_token_and_secrets_stay_out_of_logs() {
    let dir = std::env::temp_dir().join(format!("botvisor-admin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/botvisor.toml")).unwrap();
    let config = dir.join("admin.toml");
    std::fs::write(&config, demo.replace("[node]\n", "[node]\nadmin_token = { env = \"BOTVISOR_TEST_ADMIN_TOKEN\" }\n")).unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--for",
            "4s",
            "--every",
            "1s",
            "--admin-addr",
            &admin,
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "debug")
        .env("BOTVISOR_TEST_ADMIN_TOKEN", "admin-s3cret-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if http(&admin, "GET", "/healthz").is_some_and(|r| r.0 == 200) {
            up = true;
            break;
        }
    }
    assert!(up, "the admin API answers health without a token");
    let (status, body) = http(&admin, "GET", "/v1/bots").unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], "botvisor.api.unauthorized");
    assert_eq!(http(&admin, "GET", "/metrics").unwrap().0, 401);
    let (status, body) = http_with(&admin, "GET", "/v1/bots", "Authorization: Bearer admin-s3cret-token\r\n").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("demo-password"), "no credentials in API answers");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for secret in ["admin-s3cret-token", "demo-password"] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }

    // Without a token, the API refuses to listen beyond loopback.
    let out = botvisor(&["run", "--for", "1s", "--admin-addr", "0.0.0.0:0", "--data-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs node.admin_token"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn json_logs_are_one_object_per_line_with_the_conversation_span() {
    let dir = std::env::temp_dir().join(format!("botvisor-json-test-{}", std::process::id()));
    let admin = format!("127.0.0.1:{}", free_port());
    let out = botvisor(&[
        "run",
        "--log-format",
        "json",
        "--for",
        "4s",
        "--every",
        "500ms",
        "--admin-addr",
        &admin,
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "bot started"), "{stdout}");
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "consumer message"
            && l["span"]["conversation_id"].is_string()
            && l["span"]["bot_id"].is_string()),
        "conversation events carry bot_id and conversation_id: {stdout}"
    );
    let out = botvisor(&["run", "--log-format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_process_on_the_same_data_directory_is_refused() {
    let data = std::env::temp_dir().join(format!("botvisor-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let admin = format!("127.0.0.1:{}", free_port());
    let mut first = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(["run", "--for", "20s", "--admin-addr", &admin, "--data-dir", data.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the botvisor binary runs");
    // The first one holds the store once its admin API answers.
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        http(&admin, "GET", "/healthz").is_some()
    });
    assert!(up, "the first node starts");
    let second = botvisor(&["run", "--for", "1s", "--admin-addr", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another botvisor process"), "{err}");
    let _ = first.kill();
    let _ = first.wait();
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn sigterm_stops_every_bot_and_exits_cleanly() {
    sigterm_stops("sigterm", &[]);
}

/// A run with `--for` stops early on SIGTERM too (it used to catch the signal and ignore it).
#[test]
fn sigterm_stops_a_timed_run_before_its_time() {
    sigterm_stops("sigterm-for", &["--for", "1h"]);
}

/// `botvisor run` with `extra` arguments, stopped by SIGTERM once ready: it exits cleanly within
/// 10 s, every bot stopped.
fn sigterm_stops(name: &str, extra: &[&str]) {
    let data = std::env::temp_dir().join(format!("botvisor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let admin = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_botvisor"))
        .args(["run", "--admin-addr", &admin, "--data-dir", data.to_str().unwrap()])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the botvisor binary runs");
    let ready = (0..150).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        http(&admin, "GET", "/readyz").is_some_and(|(status, _)| status == 200)
    });
    assert!(ready, "the node gets ready");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let exited = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().ok().flatten()
    });
    let Some(status) = exited else {
        let _ = child.kill();
        panic!("botvisor did not stop within 10 s of SIGTERM");
    };
    let mut logs = String::new();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(status.success(), "{logs}");
    assert!(logs.contains("SIGTERM: stopping") && logs.contains("botvisor stopped"), "{logs}");
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn check_config_and_check_script_validate_a_scripted_bot_and_name_the_line_of_a_mistake() {
    for command in ["check-config", "check-script"] {
        let output = botvisor(&[command, "config/demo-scripted-bot.toml"]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("a valid scripted bot") && stdout.contains("intents"), "{command}: {stdout}");
    }
    let dir = std::env::temp_dir().join(format!("botvisor-script-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad-script.toml");
    std::fs::write(&file, "[[intents]]\nname = \"x\"\nkeywords = [\"hi\"]\nitems = [{ type = \"shout\", text = \"HI\" }]\n").unwrap();
    for command in ["check-config", "check-script"] {
        let output = botvisor(&[command, file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("bad-script.toml") && stderr.contains("line"), "{command}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
