//! The admin API, end to end: a node (the platform simulator, the bot registry, the API) on
//! 127.0.0.1, called over HTTP as an operator would — every route, the token, bad bot configs,
//! edits of running and stopped bots, secrets redacted, and changes that survive a restart.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use botvisor::api::{self, AdminState};
use botvisor::cluster::{EmbeddedStore, Member, Store};
use botvisor::config::BotConfig;
use botvisor::service::{BotLauncher, BotRegistry, EmbeddedPlatform};
use botvisor::sim::{self, SimConfig, SimHandle};
use common::control;
use serde_json::{json, Value};

const TOKEN: &str = "admin-t0ken-for-tests";
const PASSWORD: &str = "api-s3cret-password";

/// A fresh data directory per test.
fn data_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("botvisor-admin-{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

fn bot(id: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Bot {id}"),
        "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": PASSWORD}}},
        "vendor": {"kind": "scripted", "script": "config/demo-scripted-bot.toml"},
        "settings": {"skill": "bots", "escalation": {"skill": "human-agents"}},
    })
}

struct Node {
    sim: SimHandle,
    registry: Arc<BotRegistry>,
    server: actix_web::dev::ServerHandle,
    url: String,
}

impl Node {
    /// Starts a node as `botvisor run` does: the configuration file's bots with the stored
    /// changes over them.
    async fn start(data: &Path, file_bots: &[Value]) -> Node {
        let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "bots"}))).await;
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "human-agents", "human": true}))).await;
        let member = Member { node_id: "test-node".into(), admin_addr: "127.0.0.1:0".into(), capacity: 1, version: "test".into() };
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data, member).expect("the store opens"));
        let stored = store.load_bots().await.expect("the store loads");
        let file_bots: Vec<BotConfig> = file_bots.iter().map(|b| serde_json::from_value(b.clone()).expect("a bot config")).collect();
        let bots = stored.apply(file_bots);
        let registry = Arc::new(BotRegistry::new(BotLauncher::on_current_arbiter(Some(EmbeddedPlatform::of(&sim))), store.clone(), stored));
        let admin = Arc::new(AdminState {
            registry: registry.clone(),
            store: store.clone(),
            cluster: Default::default(),
            token: Some(TOKEN.into()),
            ready: AtomicBool::new(false),
        });
        let (addr, server) = api::start("127.0.0.1:0".parse().unwrap(), admin.clone()).expect("the API listens");
        registry.adopt_and_start(bots).await.expect("the bots start");
        admin.ready.store(true, Ordering::Relaxed);
        Node { sim, registry, server, url: format!("http://{addr}") }
    }

    async fn stop(self) {
        self.registry.stop_all().await;
        self.server.stop(true).await;
        self.sim.stop().await;
    }

    /// Calls the API with the token (or without); returns the status and the body (JSON, or the
    /// text as a string).
    async fn call_as(&self, token: Option<&str>, method: &str, path: &str, body: Option<(&str, String)>) -> (u16, Value) {
        let client = awc::Client::builder().timeout(Duration::from_secs(20)).finish();
        let url = format!("{}{path}", self.url);
        let mut request = match method {
            "POST" => client.post(url),
            "PUT" => client.put(url),
            "DELETE" => client.delete(url),
            "PATCH" => client.patch(url),
            _ => client.get(url),
        };
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut response = match body {
            Some((content_type, body)) => request.insert_header(("Content-Type", content_type)).send_body(body).await,
            None => request.send().await,
        }
        .expect("the API answers");
        let status = response.status().as_u16();
        let bytes = response.body().limit(4 * 1024 * 1024).await.expect("a body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        // Every answer the tests get is one the OpenAPI document describes.
        if let Err(problem) = common::openapi::check_response(method, path, status, &value) {
            panic!("{problem}");
        }
        (status, value)
    }

    async fn call(&self, method: &str, path: &str) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, None).await
    }

    async fn send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call_as(Some(TOKEN), method, path, Some(("application/json", body.to_string()))).await
    }

    /// Waits (bounded) for the bot's state.
    async fn wait_state(&self, id: &str, state: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            let (status, bot) = self.call("GET", &format!("/v1/bots/{id}")).await;
            assert_eq!(status, 200, "{bot}");
            if bot["state"] == state {
                return bot;
            }
            last = bot;
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("bot {id} never got to {state}: {last}");
    }
}

/// A consumer writes on the bots' skill; returns the bot's text answers once `expected` is there.
async fn consumer_gets_answer(sim: &SimHandle, text: &str, expected: &str) -> Vec<String> {
    let opened = control(sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await;
    let id = opened["conversation_id"].as_str().unwrap().to_owned();
    control(sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
    let mut answers = Vec::new();
    for _ in 0..100 {
        let conversation = control(sim, "GET", &format!("/sim/v1/conversations/{id}"), None).await;
        answers = conversation["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["role"] == "ASSIGNED_AGENT" && e["kind"] == "text")
            .filter_map(|e| e["text"].as_str().map(str::to_owned))
            .collect();
        if answers.iter().any(|a| a == expected) {
            return answers;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no answer {expected:?} to {text:?}: {answers:?}");
}

#[actix_rt::test]
async fn every_route_but_the_health_probes_needs_the_token() {
    let data = data_dir("token");
    let node = Node::start(&data, &[bot("file-bot")]).await;
    for (method, path) in [
        ("GET", "/v1/bots"),
        ("POST", "/v1/bots"),
        ("GET", "/v1/bots/file-bot"),
        ("PUT", "/v1/bots/file-bot"),
        ("DELETE", "/v1/bots/file-bot"),
        ("POST", "/v1/bots/file-bot/start"),
        ("POST", "/v1/bots/file-bot/stop"),
        ("GET", "/v1/bots/file-bot/errors"),
        ("GET", "/v1/bots/file-bot/conversations"),
        ("GET", "/metrics"),
    ] {
        for token in [None, Some("wrong-token")] {
            let (status, body) = node.call_as(token, method, path, None).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["code"], "botvisor.api.unauthorized");
        }
    }
    // Nothing was changed by the refused calls.
    assert_eq!(node.wait_state("file-bot", "online").await["deployment_status"], "online");
    for path in ["/healthz", "/readyz"] {
        let (status, body) = node.call_as(None, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, bots) = node.call("GET", "/v1/bots").await;
    assert_eq!(status, 200);
    assert_eq!(bots.as_array().unwrap().len(), 1);
    node.stop().await;
}

#[actix_rt::test]
async fn a_bot_added_through_the_api_answers_consumers_and_its_secrets_are_never_returned() {
    let data = data_dir("add");
    let node = Node::start(&data, &[]).await;
    let (status, added) = node.send("POST", "/v1/bots?start=true", &bot("api-bot")).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["id"], "api-bot");
    assert_eq!(added["config"]["platform"]["auth"]["password"]["value"], "***");
    node.wait_state("api-bot", "online").await;

    let answers = consumer_gets_answer(&node.sim, "hi", "You said: hi").await;
    assert_eq!(answers, ["You said: hi"]);

    let (_, listed) = node.call("GET", "/v1/bots").await;
    let listed = &listed.as_array().unwrap()[0];
    assert_eq!((listed["id"].as_str(), listed["deployment_status"].as_str()), (Some("api-bot"), Some("online")));
    assert_eq!(listed["kpis"]["total_conversations"], 1);
    let (status, conversations) = node.call("GET", "/v1/bots/api-bot/conversations").await;
    assert_eq!(status, 200);
    assert_eq!(conversations.as_array().unwrap().len(), 1, "{conversations}");
    let conversation = &conversations[0];
    assert_eq!(
        (conversation["phase"].as_str(), conversation["answered_below"].as_u64(), conversation["waiting_messages"].as_u64()),
        (Some("ready"), Some(1), Some(0)),
        "{conversation}"
    );
    assert!(conversation["since"].as_u64().unwrap() > 1_700_000_000_000, "{conversation}");
    let (status, errors) = node.call("GET", "/v1/bots/api-bot/errors").await;
    assert_eq!((status, errors), (200, json!([])));

    let (status, metrics) = node.call("GET", "/metrics").await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().expect("Prometheus text").to_owned();
    for line in [
        "botvisor_bot_state{bot_id=\"api-bot\",state=\"online\"} 1",
        "botvisor_open_conversations{bot_id=\"api-bot\"} 1",
        "botvisor_conversations_total{bot_id=\"api-bot\",outcome=\"started\"} 1",
        "botvisor_consumer_messages_total{bot_id=\"api-bot\"} 1",
        "botvisor_vendor_calls_total{bot_id=\"api-bot\",outcome=\"ok\"} 1",
        "botvisor_vendor_call_duration_seconds_count{bot_id=\"api-bot\"} 1",
        "botvisor_platform_reconnects_total{bot_id=\"api-bot\"} 0",
        "botvisor_platform_login_failures_total{bot_id=\"api-bot\"} 0",
        "botvisor_platform_read_pauses_total{bot_id=\"api-bot\"} 0",
        "botvisor_mailbox_overloads_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    let rss: u64 =
        metrics.lines().find_map(|l| l.strip_prefix("botvisor_process_resident_memory_bytes ")).expect("process memory").parse().unwrap();
    assert!(rss > 1024 * 1024, "{rss}");
    // OpenMetrics: a counter's family is described without `_total`, the exposition ends with
    // `# EOF`, and it is served as such.
    for line in ["# TYPE botvisor_conversations counter", "# TYPE botvisor_vendor_call_duration_seconds histogram", "# EOF"] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    let response = awc::Client::new()
        .get(format!("{}/metrics", node.url))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );

    // No route ever returns the password.
    for path in ["/v1/bots", "/v1/bots/api-bot", "/v1/bots/api-bot/errors", "/v1/bots/api-bot/conversations", "/metrics"] {
        let (_, body) = node.call("GET", path).await;
        assert!(!body.to_string().contains(PASSWORD), "{path} shows the password: {body}");
    }
    node.stop().await;
}

#[actix_rt::test]
async fn a_bad_bot_config_gets_400_with_the_field_path_and_changes_nothing() {
    let data = data_dir("bad");
    let node = Node::start(&data, &[bot("file-bot")]).await;
    let mut cases = Vec::new();
    let mut wrong_url = bot("x1");
    wrong_url["vendor"] = json!({"kind": "custom_endpoint", "base_url": "ftp://vendor", "bot_id": "b1", "auth": {"token": {"value": "t"}}});
    cases.push((wrong_url, "vendor.base_url"));
    let mut wrong_type = bot("x2");
    wrong_type["platform"]["login"] = json!(5);
    cases.push((wrong_type, "platform.login"));
    let mut over_capacity = bot("x3");
    over_capacity["settings"]["load"] = json!({"hard": 5000});
    cases.push((over_capacity, "settings.load.hard"));
    let mut unknown_field = bot("x4");
    unknown_field["platform"]["passwrd"] = json!("typo");
    cases.push((unknown_field, "platform.passwrd"));
    let mut no_secret = bot("x5");
    no_secret["platform"]["auth"]["password"] = json!({"env": "BOTVISOR_TEST_NOT_SET_ANYWHERE"});
    cases.push((no_secret, "platform.auth.password"));
    for id in ["no/slashes", ".", ".."] {
        let mut bad_id = bot("x6");
        bad_id["id"] = json!(id);
        cases.push((bad_id, "id"));
    }
    let mut zero_interval = bot("x8");
    zero_interval["settings"]["lifecycle"] = json!({"vendor_health_interval": "0s"});
    cases.push((zero_interval, "settings.lifecycle.vendor_health_interval"));
    let fifo = data.join("secret.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut fifo_secret = bot("x9");
    // Reading a FIFO blocked every route, /healthz included.
    fifo_secret["platform"]["auth"]["password"] = json!({"file": fifo});
    cases.push((fifo_secret, "platform.auth.password"));
    let mut device_secret = bot("x10");
    // /dev/zero was read until memory ran out.
    device_secret["platform"]["auth"]["password"] = json!({"file": "/dev/zero"});
    cases.push((device_secret, "platform.auth.password"));
    for (body, path) in cases {
        let (status, answer) = node.send("POST", "/v1/bots", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "botvisor.api.invalid-config", "{answer}");
        assert!(answer["problems"].as_array().unwrap().iter().any(|p| p["path"] == path), "{path} in {answer}");
        assert!(answer["message"].as_str().unwrap().contains(path), "{answer}");
    }
    // A secret written as a bare string is refused without being echoed back.
    let mut bare = bot("x11");
    bare["platform"]["auth"]["password"] = json!("hunter2-bare-secret");
    let (status, answer) = node.send("POST", "/v1/bots", &bare).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("botvisor.api.invalid-config")), "{answer}");
    assert!(!answer.to_string().contains("hunter2"), "the secret is echoed: {answer}");
    assert_eq!(answer["problems"][0]["path"], "platform.auth.password", "{answer}");
    bare["platform"]["auth"] = json!("hunter2-bare-secret");
    let (status, answer) = node.send("POST", "/v1/bots", &bare).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("botvisor.api.invalid-config")), "{answer}");
    assert!(!answer.to_string().contains("hunter2"), "the secret is echoed through the auth choice: {answer}");
    assert_eq!(answer["problems"][0]["path"], "platform.auth", "{answer}");
    // A malformed body names where it broke.
    let (status, answer) = node
        .call_as(
            Some(TOKEN),
            "POST",
            "/v1/bots",
            Some(("application/json", r#"{"id": "x12", "platform": {"csds": "embedded", "login": }"#.into())),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["problems"][0]["path"], "platform.login", "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("line 1 column"), "{answer}");
    // Query-string errors are JSON with a code too (plain text before).
    let (status, answer) =
        node.call_as(Some(TOKEN), "POST", "/v1/bots?start=maybe", Some(("application/json", bot("x13").to_string()))).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("botvisor.api.bad-query")), "{answer}");
    let mut missing = bot("x7");
    missing.as_object_mut().unwrap().remove("vendor");
    let (status, answer) = node.send("POST", "/v1/bots", &missing).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().contains("missing field `vendor`"), "{answer}");
    let (status, answer) = node.call_as(Some(TOKEN), "POST", "/v1/bots", Some(("application/json", "{not json".into()))).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("botvisor.api.invalid-config")), "{answer}");
    let (status, answer) = node.call_as(Some(TOKEN), "POST", "/v1/bots", Some(("application/json", "x".repeat(100 * 1024)))).await;
    assert_eq!((status, answer["code"].as_str()), (413, Some("botvisor.api.body-too-large")), "{answer}");
    let (status, answer) = node.send("POST", "/v1/bots", &bot("file-bot")).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("botvisor.api.bot-exists")), "{answer}");
    // The same schema as the file: TOML is taken too.
    let toml_bot = "id = \"toml-bot\"\n[platform]\ncsds = \"embedded\"\nlogin = \"toml-bot\"\nauth = { password = { value = \"pw\" } }\n[vendor]\nkind = \"scripted\"\nscript = \"config/demo-scripted-bot.toml\"\n[settings]\nskill = \"bots\"\nescalation = { skill = \"human-agents\" }\n";
    let (status, answer) = node.call_as(Some(TOKEN), "POST", "/v1/bots", Some(("application/toml", toml_bot.into()))).await;
    assert_eq!((status, answer["deployment_status"].as_str()), (201, Some("ready_to_start")), "{answer}");

    let (_, bots) = node.call("GET", "/v1/bots").await;
    let ids: Vec<&str> = bots.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["file-bot", "toml-bot"], "only the valid bot was added");
    node.stop().await;
}

#[actix_rt::test]
async fn editing_needs_a_stopped_bot_and_changes_survive_a_restart() {
    let data = data_dir("edit");
    let file_bots = [bot("file-bot"), bot("gone-bot")];
    let node = Node::start(&data, &file_bots).await;
    let online = node.wait_state("file-bot", "online").await;
    // A running bot is owned by this node, with the store's fencing token.
    assert_eq!(online["owner"]["node_id"], "test-node", "{online}");
    let first_token = online["owner"]["token"].as_i64().expect("a token");

    let mut renamed = bot("file-bot");
    renamed["name"] = json!("Renamed");
    renamed["platform"]["auth"]["password"]["value"] = json!("***"); // keeps the password
    let (status, answer) = node.send("PUT", "/v1/bots/file-bot", &renamed).await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("botvisor.api.bot-running")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("POST /v1/bots/file-bot/stop"), "{answer}");
    let (status, answer) = node.call("DELETE", "/v1/bots/file-bot").await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("botvisor.api.bot-running")), "{answer}");

    let (status, stopped) = node.call("POST", "/v1/bots/file-bot/stop").await;
    assert_eq!(status, 200);
    assert_eq!((stopped["deployment_status"].as_str(), stopped["state"].as_str()), (Some("stopped"), Some("offline")));
    let (status, answer) = node.send("PUT", "/v1/bots/file-bot", &bot("other-id")).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("botvisor.api.id-mismatch")), "{answer}");
    let (status, changed) = node.send("PUT", "/v1/bots/file-bot", &renamed).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((changed["name"].as_str(), changed["deployment_status"].as_str()), (Some("Renamed"), Some("stopped")));
    // The kept password still logs in.
    let (status, started) = node.call("POST", "/v1/bots/file-bot/start").await;
    assert_eq!(status, 200, "{started}");
    node.wait_state("file-bot", "online").await;
    consumer_gets_answer(&node.sim, "hi", "You said: hi").await;

    assert_eq!(node.call("POST", "/v1/bots/gone-bot/stop").await.0, 200);
    assert_eq!(node.call("DELETE", "/v1/bots/gone-bot").await.0, 204);
    assert_eq!(node.call("GET", "/v1/bots/gone-bot").await.0, 404);
    let (status, _) = node.send("POST", "/v1/bots", &bot("added-bot")).await;
    assert_eq!(status, 201);
    node.stop().await;

    // The store holds the changes, for its owner only.
    let stored = std::fs::metadata(data.join(botvisor::cluster::embedded::FILE_NAME)).expect("the store file");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&stored.permissions()) & 0o777, 0o600);

    // A restart with the same configuration file and data directory.
    let node = Node::start(&data, &file_bots).await;
    let (_, bots) = node.call("GET", "/v1/bots").await;
    let summary: Vec<(String, String)> =
        bots.as_array().unwrap().iter().map(|b| (b["id"].as_str().unwrap().into(), b["name"].as_str().unwrap().into())).collect();
    assert_eq!(summary, [("file-bot".into(), "Renamed".into()), ("added-bot".into(), "Bot added-bot".into())]);
    let online = node.wait_state("file-bot", "online").await;
    assert!(online["owner"]["token"].as_i64().unwrap() > first_token, "a new start, a greater token: {online}");
    let added = node.wait_state("added-bot", "offline").await;
    assert_eq!(added["deployment_status"], "stopped", "a bot not started stays stopped: {added}");
    assert!(added["owner"].is_null(), "a stopped bot is not owned: {added}");
    node.stop().await;
}

#[actix_rt::test]
async fn a_slow_start_blocks_no_other_bot_and_a_stop_cancels_it() {
    // A vendor that takes connections and never answers: the slow bot's start waits for its
    // health check (30 s timeout).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = data_dir("slow");
    let node = Node::start(&data, &[bot("quick-bot")]).await;
    node.wait_state("quick-bot", "online").await;
    let mut slow = bot("slow-bot");
    slow["vendor"] = json!({"kind": "custom_endpoint", "base_url": format!("http://{}", silent.local_addr().unwrap()), "bot_id": "b1", "auth": {"token": {"value": "t"}}});
    slow["settings"]["conversation"] = json!({"vendor_call": {"timeout": "30s"}});
    assert_eq!(node.send("POST", "/v1/bots", &slow).await.0, 201);
    let began = tokio::time::Instant::now();
    let starting = node.call("POST", "/v1/bots/slow-bot/start");
    let meanwhile = async {
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        let t = tokio::time::Instant::now();
        // Before: every admin operation waited for the slow start (one lock for all edits).
        assert_eq!(node.call("POST", "/v1/bots/quick-bot/stop").await.0, 200);
        assert_eq!(node.call("POST", "/v1/bots/quick-bot/start").await.0, 200);
        assert_eq!(node.call("GET", "/v1/bots").await.0, 200);
        let (status, answer) = node.call("DELETE", "/v1/bots/slow-bot").await;
        assert_eq!((status, answer["code"].as_str()), (409, Some("botvisor.api.bot-running")), "a starting bot is not deleted: {answer}");
        assert!(t.elapsed() < Duration::from_secs(5), "other operations waited for the slow start: {:?}", t.elapsed());
        node.call("POST", "/v1/bots/slow-bot/stop").await
    };
    let ((start_status, started), (stop_status, stopped)) = futures_util::future::join(starting, meanwhile).await;
    assert!(began.elapsed() < Duration::from_secs(10), "the stop ended the start at once: {:?}", began.elapsed());
    assert_eq!((start_status, started["code"].as_str()), (409, Some("botvisor.bot.start-cancelled")), "{started}");
    assert_eq!((stop_status, stopped["state"].as_str()), (200, Some("offline")), "{stopped}");
    assert_eq!(stopped["deployment_status"], "ready_to_start", "it never started: {stopped}");
    node.wait_state("quick-bot", "online").await;
    node.stop().await;
}

#[actix_rt::test]
async fn a_dead_bot_shows_offline_keeps_the_others_working_and_is_rebuilt_by_start() {
    let data = data_dir("dead");
    let node = Node::start(&data, &[bot("doomed-bot"), bot("healthy-bot")]).await;
    node.wait_state("doomed-bot", "online").await;
    node.wait_state("healthy-bot", "online").await;
    let kill = |node: &Node| {
        let addr = node.registry.get("doomed-bot").unwrap().addr.clone();
        async move {
            let _ = addr.send(botvisor_actors::bot::RetireBot).await;
            while addr.connected() {
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    kill(&node).await;
    // Before: GET /v1/bots answered 503 for every bot, stop/start 503, DELETE bot_running.
    let (status, bots) = node.call("GET", "/v1/bots").await;
    assert_eq!(status, 200, "{bots}");
    let doomed = bots.as_array().unwrap().iter().find(|b| b["id"] == "doomed-bot").unwrap().clone();
    assert_eq!((doomed["state"].as_str(), doomed["deployment_status"].as_str()), (Some("offline"), Some("offline")), "{doomed}");
    assert_eq!(doomed["last_error"]["code"], "botvisor.bot.actor-stopped", "{doomed}");
    let healthy = bots.as_array().unwrap().iter().find(|b| b["id"] == "healthy-bot").unwrap().clone();
    assert_eq!(healthy["state"], "online", "{healthy}");
    assert_eq!(node.call("GET", "/metrics").await.0, 200);
    assert_eq!(node.call("GET", "/v1/bots/doomed-bot/errors").await.0, 200);
    // Start rebuilds it from its configuration.
    let (status, started) = node.call("POST", "/v1/bots/doomed-bot/start").await;
    assert_eq!(status, 200, "{started}");
    node.wait_state("doomed-bot", "online").await;
    // Dead again: stop and delete work.
    kill(&node).await;
    assert_eq!(node.call("POST", "/v1/bots/doomed-bot/stop").await.0, 200);
    assert_eq!(node.call("DELETE", "/v1/bots/doomed-bot").await.0, 204);
    assert_eq!(node.call("GET", "/v1/bots/healthy-bot").await.1["state"], "online");
    node.stop().await;
}

#[actix_rt::test]
async fn unknown_bots_routes_and_methods_get_json_errors() {
    let data = data_dir("errors");
    let node = Node::start(&data, &[]).await;
    for (method, path, status, code) in [
        ("GET", "/v1/bots/nope", 404, "botvisor.api.unknown-bot"),
        ("PUT", "/v1/bots/nope", 404, "botvisor.api.unknown-bot"),
        ("DELETE", "/v1/bots/nope", 404, "botvisor.api.unknown-bot"),
        ("POST", "/v1/bots/nope/start", 404, "botvisor.api.unknown-bot"),
        ("POST", "/v1/bots/nope/stop", 404, "botvisor.api.unknown-bot"),
        ("GET", "/v1/bots/nope/errors", 404, "botvisor.api.unknown-bot"),
        ("GET", "/v1/bots/nope/conversations", 404, "botvisor.api.unknown-bot"),
        ("GET", "/v2/anything", 404, "botvisor.api.not-found"),
        ("DELETE", "/v1/bots", 405, "botvisor.api.method-not-allowed"),
        ("PATCH", "/v1/bots/nope", 405, "botvisor.api.method-not-allowed"),
        ("GET", "/v1/bots/nope/start", 405, "botvisor.api.method-not-allowed"),
    ] {
        let (got, body) = node.call(method, path).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{method} {path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    node.stop().await;
}

#[actix_rt::test]
async fn the_cluster_view_shows_the_node_its_bots_and_tokens() {
    let data = data_dir("cluster");
    let node = Node::start(&data, &[bot("view-bot")]).await;
    let online = node.wait_state("view-bot", "online").await;
    let (status, view) = node.call("GET", "/v1/cluster").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["node_id"], "test-node");
    assert!(view["ownership_deadline_ms"].is_null(), "the embedded store has no lease: {view}");
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{view}");
    assert_eq!(members[0]["bots"], json!([{"id": "view-bot", "token": online["owner"]["token"]}]), "{view}");
    // One node on the embedded store has nowhere to hand its bots to.
    let (status, answer) = node.call("POST", "/v1/nodes/test-node/drain").await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("botvisor.api.unsupported")), "{answer}");
    let (status, answer) = node.call("POST", "/v1/nodes/nobody/drain").await;
    assert_eq!((status, answer["code"].as_str()), (404, Some("botvisor.api.unknown-node")), "{answer}");
    assert_eq!(node.call_as(None, "GET", "/v1/cluster", None).await.0, 401, "the cluster view needs the token");
    node.stop().await;
}

/// The bot user's availability as the simulator sees it.
async fn availability(sim: &SimHandle, login: &str) -> String {
    let agents = control(sim, "GET", "/sim/v1/agents", None).await;
    let agent = agents.as_array().unwrap().iter().find(|a| a["login"] == login).cloned().unwrap_or(Value::Null);
    agent["availability"].as_str().unwrap_or_default().to_owned()
}

async fn wait_availability(sim: &SimHandle, login: &str, expected: &str) {
    for _ in 0..100 {
        if availability(sim, login).await == expected {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{login} never became {expected}: {}", availability(sim, login).await);
}

#[actix_rt::test]
async fn a_running_bots_capacity_changes_at_once_its_availability_follows_and_the_change_is_kept() {
    let data = data_dir("capacity");
    let node = Node::start(&data, &[bot("cap-bot")]).await;
    node.wait_state("cap-bot", "online").await;
    wait_availability(&node.sim, "cap-bot", "ONLINE").await;
    for text in ["one", "two", "three"] {
        consumer_gets_answer(&node.sim, text, &format!("You said: {text}")).await;
    }
    // Three open: a recommended load of 2 sends the bot AWAY at once; nothing open is dropped.
    let (status, changed) = node.send("PATCH", "/v1/bots/cap-bot/capacity", &json!({"recommended": 2, "low_water": 1})).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["capacity"], json!({"recommended": 2, "hard": 999, "low_water": 1}));
    assert_eq!(changed["state"], "online", "still running");
    assert_eq!(changed["open_conversations"], 3);
    wait_availability(&node.sim, "cap-bot", "AWAY").await;
    // Raised again: back ONLINE.
    let (status, changed) = node.send("PATCH", "/v1/bots/cap-bot/capacity", &json!({"recommended": 50, "low_water": 40})).await;
    assert_eq!(status, 200, "{changed}");
    wait_availability(&node.sim, "cap-bot", "ONLINE").await;

    // Bad numbers name their field and change nothing; so do unknown fields.
    for (body, field) in [
        (json!({"recommended": 0}), "load.recommended"),
        (json!({"hard": 1000}), "load.hard"),
        (json!({"low_water": 60}), "load.low_water"),
        (json!({"recommended": 10, "color": "red"}), "color"),
        (json!({"recommended": "ten"}), "recommended"),
    ] {
        let (status, refused) = node.send("PATCH", "/v1/bots/cap-bot/capacity", &body).await;
        assert_eq!(status, 400, "{body}: {refused}");
        assert_eq!(refused["code"], "botvisor.api.invalid-config", "{refused}");
        assert!(refused["problems"].as_array().unwrap().iter().any(|p| p["path"] == field), "{body}: {refused}");
    }
    let (status, missing) = node.send("PATCH", "/v1/bots/nobody/capacity", &json!({"recommended": 2})).await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("botvisor.api.unknown-bot")));

    // Kept in the store: a restarted node runs the bot with it.
    node.stop().await;
    let node = Node::start(&data, &[bot("cap-bot")]).await;
    let (_, shown) = node.call("GET", "/v1/bots/cap-bot").await;
    assert_eq!(shown["capacity"], json!({"recommended": 50, "hard": 999, "low_water": 40}), "{shown}");
    assert_eq!(shown["config"]["settings"]["load"]["recommended"], 50);
    node.stop().await;
}

/// A consumer opens a conversation on the bots' skill and says `text`; its id once the bot has
/// answered.
async fn conversation_answered(sim: &SimHandle, text: &str) -> String {
    let opened = control(sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await;
    let id = opened["conversation_id"].as_str().unwrap().to_owned();
    control(sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
    for _ in 0..100 {
        let conversation = control(sim, "GET", &format!("/sim/v1/conversations/{id}"), None).await;
        if conversation["transcript"].as_array().unwrap().iter().any(|e| e["role"] == "ASSIGNED_AGENT" && e["kind"] == "text") {
            return id;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no answer in {id}");
}

#[actix_rt::test]
async fn conversation_actions_from_outside_are_carried_out_by_the_conversation() {
    let data = data_dir("actions");
    let node = Node::start(&data, &[bot("act-bot")]).await;
    node.wait_state("act-bot", "online").await;
    let c = conversation_answered(&node.sim, "hi").await;
    let at = |action: &str| format!("/v1/bots/act-bot/conversations/{c}/{action}");

    // Messages: a text for the consumer and a private note for agents, in order.
    let body = json!({"messages": [{"text": "A supervisor here."}, {"text": "Watch this one.", "private": true}]});
    let (status, done) = node.send("POST", &at("messages"), &body).await;
    assert_eq!((status, done["outcome"].as_str()), (200, Some("done")), "{done}");
    let conversation = control(&node.sim, "GET", &format!("/sim/v1/conversations/{c}"), None).await;
    let bot_texts: Vec<(String, String)> = conversation["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["role"] == "ASSIGNED_AGENT" && e["kind"] == "text")
        .map(|e| (e["text"].as_str().unwrap().to_owned(), e["audience"].as_str().unwrap_or("ALL").to_owned()))
        .collect();
    assert!(
        bot_texts.ends_with(&[("A supervisor here.".into(), "ALL".into()), ("Watch this one.".into(), "AGENTS_AND_MANAGERS".into())]),
        "{bot_texts:?}"
    );

    let (status, done) = node.send("POST", &at("ttr"), &json!({"ttr_type": "URGENT"})).await;
    assert_eq!((status, done["outcome"].as_str()), (200, Some("done")), "{done}");

    // Bad bodies name their field and do nothing.
    for (action, body, field) in [
        ("transfer", json!({"skill": ""}), "skill"),
        ("transfer", json!({"skil": "x"}), "skil"),
        ("ttr", json!({"ttr_type": "SOON"}), "ttr_type"),
        ("ttr", json!({"ttr_type": "CUSTOM"}), "seconds"),
        ("messages", json!({"messages": []}), "messages"),
        ("messages", json!({"messages": [{"text": "x", "structured_content": {}}]}), "messages[0]"),
    ] {
        let (status, refused) = node.send("POST", &at(action), &body).await;
        assert_eq!(status, 400, "{action} {body}: {refused}");
        assert!(refused["problems"].as_array().unwrap().iter().any(|p| p["path"] == field), "{action} {body}: {refused}");
    }
    let (status, missing) = node.send("POST", "/v1/bots/act-bot/conversations/no-such/close", &json!({})).await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("botvisor.api.unknown-conversation")));
    let (status, _) = node.send("POST", &at("launch"), &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(node.call("GET", &at("close")).await.0, 405);

    // A transfer to a skill the platform does not know escalates, as the vendor's would.
    let (status, escalated) = node.send("POST", &at("transfer"), &json!({"skill": "nowhere"})).await;
    assert_eq!(status, 422, "{escalated}");
    assert_eq!(escalated["code"], "botvisor.action.transfer-skill-not-existing");
    assert_eq!(escalated["escalated"], true);
    for _ in 0..100 {
        if control(&node.sim, "GET", &format!("/sim/v1/conversations/{c}"), None).await["skill"] == "human-agents" {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(control(&node.sim, "GET", &format!("/sim/v1/conversations/{c}"), None).await["skill"], "human-agents");

    // A transfer and a close that work.
    let d = conversation_answered(&node.sim, "hello").await;
    let (status, moved) =
        node.send("POST", &format!("/v1/bots/act-bot/conversations/{d}/transfer"), &json!({"skill": "human-agents"})).await;
    assert_eq!((status, moved["outcome"].as_str(), moved["skill"].as_str()), (200, Some("transferred"), Some("human-agents")), "{moved}");
    let e = conversation_answered(&node.sim, "hey").await;
    let (status, closed) = node.send("POST", &format!("/v1/bots/act-bot/conversations/{e}/close"), &json!({"without_pcs": true})).await;
    assert_eq!((status, closed["outcome"].as_str()), (200, Some("closed")), "{closed}");
    assert_eq!(control(&node.sim, "GET", &format!("/sim/v1/conversations/{e}"), None).await["state"], "CLOSE");

    // A stopped bot takes no action.
    node.call("POST", "/v1/bots/act-bot/stop").await;
    let (status, refused) = node.send("POST", &at("close"), &json!({})).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("botvisor.api.bot-not-running")));
    node.stop().await;
}

#[actix_rt::test]
async fn every_metric_and_label_the_grafana_dashboard_queries_is_on_metrics() {
    let data = data_dir("grafana");
    // A short text limit: an over-long message escalates, so every family has its samples.
    let mut graf = bot("graf-bot");
    graf["settings"]["conversation"] = json!({"max_text_length": 20});
    let node = Node::start(&data, &[graf]).await;
    node.wait_state("graf-bot", "online").await;
    consumer_gets_answer(&node.sim, "hi", "You said: hi").await;
    let opened = control(&node.sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await;
    let long = opened["conversation_id"].as_str().unwrap().to_owned();
    control(
        &node.sim,
        "POST",
        &format!("/sim/v1/conversations/{long}/events"),
        Some(json!({"type": "text", "text": "a message far longer than twenty characters"})),
    )
    .await;
    for _ in 0..100 {
        if control(&node.sim, "GET", &format!("/sim/v1/conversations/{long}"), None).await["skill"] == "human-agents" {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, metrics) = node.call("GET", "/metrics").await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    // Sample names and label names as Prometheus stores them.
    let mut samples = std::collections::HashSet::new();
    let mut labels: std::collections::HashSet<String> = ["instance", "job", "le"].iter().map(|l| (*l).to_owned()).collect();
    // A family with no sample yet (no escalation so far) is still described: its sample names.
    for line in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (Some(family), Some(kind)) = (parts.next(), parts.next()) else { continue };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_count", "_sum"],
            _ => &[""],
        };
        for suffix in suffixes {
            samples.insert(format!("{family}{suffix}"));
        }
    }
    for line in metrics.lines().filter(|l| l.starts_with("botvisor_")) {
        let name = line.split(['{', ' ']).next().unwrap();
        samples.insert(name.to_owned());
        if let Some(inner) = line.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(inner, _)| inner) {
            for pair in inner.split(',') {
                labels.insert(pair.split('=').next().unwrap().to_owned());
            }
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/grafana/botvisor.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let metric = regex::Regex::new(r"botvisor_[a-z_]+").unwrap();
    let by = regex::Regex::new(r"by \(([a-z_, ]+)\)").unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            queries += 1;
            for name in metric.find_iter(expr) {
                assert!(samples.contains(name.as_str()), "{:?} queries {} which /metrics does not have", panel["title"], name.as_str());
            }
            for group in by.captures_iter(expr) {
                for label in group[1].split(',').map(str::trim) {
                    assert!(labels.contains(label), "{:?} groups by {label}, a label no metric has", panel["title"]);
                }
            }
        }
    }
    assert!(queries >= 15, "{queries} queries");
    node.stop().await;
}
