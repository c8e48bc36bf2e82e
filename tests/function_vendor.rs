//! The function vendor end to end, configured as an operator configures it: a node (the platform
//! simulator, the store, the bot registry) on 127.0.0.1 runs a bot whose logic is an HTTP
//! function. The simulator's demo function answers every message kind and action; the
//! simulator's function runner takes the bot's invocations. A "user code" server beside it plays
//! a function that fails in every way, and the bot's pre and post hooks, which change the request
//! and the answer. Assertions are on the simulator's transcripts and what the servers received.

#[path = "common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use botvisor::cluster::{EmbeddedStore, Member, Store};
use botvisor::config::BotConfig;
use botvisor::service::{BotLauncher, BotRegistry, EmbeddedPlatform};
use botvisor::sim::{self, SimConfig, SimHandle};
use common::control;
use serde_json::{json, Value};

/// What the user-code server received: (path, body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A function and two hooks, as a brand would write them.
async fn user_code(received: Received) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        let received = received.clone();
        App::new().app_data(web::Data::new(received)).default_service(web::to(
            |request: actix_web::HttpRequest, body: web::Bytes, received: web::Data<Received>| async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                received.lock().unwrap().push((request.path().to_owned(), body.clone()));
                let key = request.headers().get("x-function-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                match request.path() {
                    // The function's key goes with every call to it.
                    "/bot" if key != "fn-s3cret" => HttpResponse::Unauthorized().finish(),
                    "/bot" => bot(&body).await,
                    "/pre" => pre(&body),
                    "/post" => post(&body),
                    _ => HttpResponse::NotFound().finish(),
                }
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (format!("http://{addr}"), handle)
}

/// The function: its answer depends on the message.
async fn bot(request: &Value) -> HttpResponse {
    let message = request["message"].as_str().unwrap_or_default();
    match message {
        "boom" => HttpResponse::InternalServerError().body("oops"),
        "slow" => {
            actix_rt::time::sleep(Duration::from_secs(3)).await;
            HttpResponse::Ok().json(json!({"messages": ["too late"]}))
        }
        "empty" => HttpResponse::Ok().finish(),
        "garbage" => HttpResponse::Ok().content_type("application/json").body("{not json"),
        "two shapes" => HttpResponse::Ok().json(json!({"messages": [{"image": "x"}]})),
        "invoke and fail" => HttpResponse::Ok().json(json!({"messages": ["Checking."],
            "context": {"action": "INVOCATION", "actionParameters": {"lambdaUuid": "fail-orders", "payload": {}, "failOnError": true}}})),
        "invoke and carry on" => HttpResponse::Ok().json(json!({"messages": ["Checking."],
            "context": {"action": "INVOCATION", "actionParameters": {"lambdaUuid": "fail-orders", "payload": {}, "failOnError": false}}})),
        other => HttpResponse::Ok().json(json!({"messages": [format!("echo: {other}")]})),
    }
}

/// The pre hook: "hello" reaches the function as "HELLO"; "pre fails" makes it fail.
fn pre(hook: &Value) -> HttpResponse {
    let mut request = hook["request"].clone();
    match request["message"].as_str() {
        Some("pre fails") => HttpResponse::ServiceUnavailable().finish(),
        Some("hello") => {
            request["message"] = json!("HELLO");
            HttpResponse::Ok().json(json!({"request": request}))
        }
        _ => HttpResponse::NoContent().finish(),
    }
}

/// The post hook: an answer saying "echo: post fails" gets a wrong-shaped reply; every other
/// answer gets a line added.
fn post(hook: &Value) -> HttpResponse {
    let mut response = hook["response"].clone();
    let first = response.pointer("/messages/0").and_then(Value::as_str).unwrap_or_default().to_owned();
    if first == "echo: post fails" {
        return HttpResponse::Ok().json(json!({"unexpected": true}));
    }
    if let Some(messages) = response.get_mut("messages").and_then(Value::as_array_mut) {
        messages.push(json!("(checked by the post hook)"));
    }
    HttpResponse::Ok().json(json!({"response": response}))
}

struct Node {
    sim: SimHandle,
    registry: Arc<BotRegistry>,
}

impl Node {
    /// A node whose one bot is `bot(simulator control URL)` (the demo function and the function
    /// runner are on the control port).
    async fn start(name: &str, bot: impl FnOnce(&str) -> Value) -> Node {
        let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "bots"}))).await;
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": "human-agents", "human": true}))).await;
        let data = std::env::temp_dir().join(format!("botvisor-function-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let member = Member { node_id: "test-node".into(), admin_addr: "127.0.0.1:0".into(), capacity: 1, version: "test".into() };
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&data, member).expect("the store opens"));
        let stored = store.load_bots().await.expect("the store loads");
        let registry = Arc::new(BotRegistry::new(BotLauncher::on_current_arbiter(Some(EmbeddedPlatform::of(&sim))), store, stored.clone()));
        let config: BotConfig = serde_json::from_value(bot(&sim.control_url())).expect("a bot config");
        let problems = config.validate("", true);
        assert!(problems.is_empty(), "{problems:?}");
        registry.adopt_and_start(stored.apply(vec![config])).await.expect("the bot starts");
        Node { sim, registry }
    }

    async fn stop(self) {
        self.registry.stop_all().await;
        self.sim.stop().await;
    }

    async fn open(&self) -> String {
        let opened = control(&self.sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await;
        opened["conversation_id"].as_str().unwrap().to_owned()
    }

    async fn say(&self, conversation: &str, text: &str) {
        control(&self.sim, "POST", &format!("/sim/v1/conversations/{conversation}/events"), Some(json!({"type": "text", "text": text})))
            .await;
    }

    async fn conversation(&self, conversation: &str) -> Value {
        control(&self.sim, "GET", &format!("/sim/v1/conversations/{conversation}"), None).await
    }

    /// Waits (bounded) until `check` holds on the conversation; the bot's lines then: texts
    /// (private ones marked), rich content as `<rich>`.
    async fn until(&self, conversation: &str, what: &str, check: impl Fn(&Value, &[String]) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..150 {
            let value = self.conversation(conversation).await;
            lines = bot_lines(&value);
            if check(&value, &lines) {
                return lines;
            }
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: never happened; the bot said {lines:?}");
    }
}

fn bot_lines(conversation: &Value) -> Vec<String> {
    conversation["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["role"] == "ASSIGNED_AGENT" && e["kind"] != "accept_status")
        .map(|e| match (e["kind"].as_str(), e["text"].as_str()) {
            (Some("text"), Some(text)) if e["audience"] == "AGENTS_AND_MANAGERS" => format!("(private) {text}"),
            (Some("text"), Some(text)) => text.to_owned(),
            (kind, _) => format!("<{}>", kind.unwrap_or("?")),
        })
        .collect()
}

fn function_bot(id: &str, url: &str, functions: &str, hooks: Option<&str>) -> Value {
    let mut bot = json!({
        "id": id,
        "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": "pw"}}},
        "vendor": {"kind": "function", "url": url, "auth_header": {"name": "X-Function-Key", "value": {"value": "fn-s3cret"}}},
        "functions": {"url": functions, "timeout": "2s"},
        "settings": {
            "skill": "bots",
            "escalation": {"skill": "human-agents", "transfer_message_to_customer": "Connecting you with a human."},
            "conversation": {"welcome": true, "vendor_call": {"timeout": "1s", "max_attempts": 2, "retry_backoff": "100ms"}},
        },
    });
    if let Some(base) = hooks {
        bot["hooks"] = json!({"pre": {"url": format!("{base}/pre"), "timeout": "1s"}, "post": {"url": format!("{base}/post")}});
    }
    bot
}

#[actix_rt::test]
async fn a_function_bot_answers_with_every_message_kind_and_carries_out_its_actions() {
    let node = Node::start("demo", |base| {
        function_bot("fn-bot", &format!("{base}/functions/demo"), &format!("{base}/functions/invoke/{{lambdaUuid}}"), None)
    })
    .await;
    let c = node.open().await;
    node.until(&c, "the welcome", |_, lines| lines.iter().any(|l| l.starts_with("Welcome!"))).await;
    node.say(&c, "hi").await;
    let lines = node.until(&c, "quick replies", |_, lines| lines.iter().any(|l| l == "Hello! What would you like?")).await;
    let conversation = node.conversation(&c).await;
    let quick = conversation["transcript"].as_array().unwrap().iter().find(|e| e["text"] == "Hello! What would you like?").unwrap();
    assert_eq!(quick["quick_replies"]["replies"].as_array().map(Vec::len), Some(3), "{lines:?}");
    node.say(&c, "a card please").await;
    node.until(&c, "a card", |_, lines| lines.iter().any(|l| l == "<rich>")).await;
    node.say(&c, "leave a note").await;
    node.until(&c, "a private note", |_, lines| {
        lines.iter().any(|l| l == "(private) A note for the agents.") && lines.iter().any(|l| l == "Noted.")
    })
    .await;
    node.say(&c, "where is my order").await;
    node.until(&c, "the order answer", |_, lines| lines.iter().any(|l| l == "Your order is on its way.")).await;
    // The invocation reached the function runner with its payload and the conversation.
    let invocations = control(&node.sim, "GET", "/sim/v1/functions/invocations", None).await;
    let invocation = &invocations["invocations"][0];
    assert_eq!(invocation["lambda_uuid"], "order-status");
    assert_eq!(invocation["request"]["conversationId"], c.as_str());
    assert_eq!(invocation["request"]["botId"], "fn-bot");
    assert_eq!(invocation["request"]["payload"]["asked"], "where is my order");
    node.say(&c, "I want an agent").await;
    let lines = node.until(&c, "the transfer", |conversation, _| conversation["skill"] == "human-agents").await;
    assert!(lines.contains(&"(private) The consumer asked for an agent.".to_owned()), "{lines:?}");
    let d = node.open().await;
    node.say(&d, "bye").await;
    node.until(&d, "the close", |conversation, _| conversation["state"] == "CLOSE").await;
    node.stop().await;
}

#[actix_rt::test]
async fn hooks_change_the_request_and_the_answer_and_every_failure_escalates_with_its_code() {
    let received = Received::default();
    let (base, server) = user_code(received.clone()).await;
    let node = Node::start("hooks", |sim| {
        let mut bot = function_bot("fn-hooked", &format!("{base}/bot"), &format!("{sim}/functions/invoke/{{lambdaUuid}}"), Some(&base));
        bot["settings"]["conversation"]["welcome"] = json!(false);
        bot
    })
    .await;

    // The pre hook turns "hello" into "HELLO"; the post hook adds a line to every answer.
    let c = node.open().await;
    node.say(&c, "hello").await;
    let lines = node.until(&c, "the hooked answer", |_, lines| lines.iter().any(|l| l == "(checked by the post hook)")).await;
    assert_eq!(lines, ["echo: HELLO", "(checked by the post hook)"]);
    let to_function: Vec<Value> =
        received.lock().unwrap().iter().filter(|(path, _)| path == "/bot").map(|(_, body)| body.clone()).collect();
    assert_eq!(to_function[0]["message"], "HELLO");
    assert_eq!(to_function[0]["convId"], c.as_str());
    assert!(to_function[0]["context"]["lpEvent"].is_object());
    let hooks: Vec<(String, Value)> = received.lock().unwrap().iter().filter(|(path, _)| path != "/bot").cloned().collect();
    assert_eq!(hooks[0].1["hook"], "pre");
    assert_eq!(hooks[0].1["vendor"], "faas");
    assert_eq!(hooks[1].1["response"]["messages"][0], "echo: HELLO");

    // Each failure escalates to the escalation skill with its code, the consumer told once.
    for (text, code) in [
        ("boom", "botvisor.vendor.server-error"),
        ("slow", "botvisor.vendor.timeout"),
        ("empty", "botvisor.vendor.invalid-response"),
        ("garbage", "botvisor.vendor.invalid-response"),
        ("two shapes", "botvisor.vendor.invalid-response"),
        ("pre fails", "botvisor.hook.failed"),
        ("post fails", "botvisor.hook.failed"),
        ("invoke and fail", "botvisor.action.invoke-function-failed"),
    ] {
        let c = node.open().await;
        node.say(&c, text).await;
        let lines = node.until(&c, &format!("{text:?} escalated"), |conversation, _| conversation["skill"] == "human-agents").await;
        assert!(lines.contains(&"Connecting you with a human.".to_owned()), "{text}: {lines:?}");
        let bot = node.registry.get("fn-hooked").unwrap();
        let status = bot.addr.send(botvisor_actors::bot::GetBotStatus).await.unwrap();
        let last = status.conversation_errors.iter().rev().find(|e| e.conversation_id.as_str() == c).expect("the error is on record");
        assert_eq!(last.report.code.as_str(), code, "{text}: {}", last.report.message);
    }

    // A failed invocation without failOnError: the bot carries on.
    let c = node.open().await;
    node.say(&c, "invoke and carry on").await;
    node.until(&c, "the answer", |_, lines| lines.iter().any(|l| l == "Checking.")).await;
    node.say(&c, "still there?").await;
    let lines = node.until(&c, "the next answer", |_, lines| lines.iter().any(|l| l == "echo: still there?")).await;
    assert!(!lines.contains(&"Connecting you with a human.".to_owned()), "{lines:?}");
    assert_eq!(node.conversation(&c).await["skill"], "bots");
    node.stop().await;
    server.stop(true).await;
}

#[actix_rt::test]
async fn a_burst_of_503s_from_the_function_is_retried_and_one_that_outlasts_every_attempt_escalates() {
    let node = Node::start("unavailable", |base| {
        let mut bot =
            function_bot("fn-bursts", &format!("{base}/functions/demo"), &format!("{base}/functions/invoke/{{lambdaUuid}}"), None);
        bot["settings"]["conversation"]["welcome"] = json!(false);
        bot["settings"]["conversation"]["vendor_call"] = json!({"timeout": "1s", "max_attempts": 2, "retry_backoff": "3s"});
        bot
    })
    .await;
    let fault = |duration: &str| json!({"kind": "functions_unavailable", "for": duration});

    // A burst that ends within the backoff: the retry is answered, the conversation stays with
    // the bot. The burst ends once the function has refused the first attempt (whenever the
    // bot makes it), before the retry three seconds later.
    let c = node.open().await;
    control(&node.sim, "POST", "/sim/v1/faults", Some(fault("30s"))).await;
    node.say(&c, "during a burst").await;
    for _ in 0..150 {
        if control(&node.sim, "GET", "/sim/v1/functions/invocations", None).await["demo_unavailable_answers"] == 1 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    control(&node.sim, "DELETE", "/sim/v1/faults", None).await;
    let refused = control(&node.sim, "GET", "/sim/v1/functions/invocations", None).await["demo_unavailable_answers"].clone();
    assert_eq!(refused, 1, "the first attempt was refused, and only it");
    let lines = node.until(&c, "the answer after the burst", |_, lines| lines.iter().any(|l| l == "You said: during a burst")).await;
    assert_eq!(lines, ["You said: during a burst"], "answered once, by the retry; nobody told of an escalation");
    assert_eq!(node.conversation(&c).await["skill"], "bots");

    // A burst longer than every attempt: escalated once, with the code that says so.
    let d = node.open().await;
    control(&node.sim, "POST", "/sim/v1/faults", Some(fault("30s"))).await;
    node.say(&d, "during an outage").await;
    let lines = node.until(&d, "the escalation", |conversation, _| conversation["skill"] == "human-agents").await;
    assert_eq!(lines.iter().filter(|l| *l == "Connecting you with a human.").count(), 1, "{lines:?}");
    let bot = node.registry.get("fn-bursts").unwrap();
    let status = bot.addr.send(botvisor_actors::bot::GetBotStatus).await.unwrap();
    let last = status.conversation_errors.iter().rev().find(|e| e.conversation_id.as_str() == d).expect("the error is on record");
    assert_eq!(last.report.code.as_str(), "botvisor.vendor.server-error", "{}", last.report.message);
    control(&node.sim, "DELETE", "/sim/v1/faults", None).await;
    node.stop().await;
}
