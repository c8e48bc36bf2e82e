//! A hostile vendor on 127.0.0.1 (plain blocking sockets, one thread per connection, nothing in
//! it botvisor's) behind a function bot that talks to the simulator over the real protocol: an
//! answer that dribbles a byte a second, one that never comes, one of 256 MiB, one that is not
//! JSON, one with thousands of messages — many conversations at once. Each consumer message is
//! escalated exactly once (the consumer told once) within the call's bounds, the bot stays
//! online, and the process's memory stays bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use botvisor::config::http_call::HttpCall;
use botvisor::hooks::vendor_hooks::VendorHooks;
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::{self, SimConfig, SimHandle};
use botvisor::vendors::function::FunctionVendor;
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot};
use botvisor_actors::model::BotState;
use botvisor_actors::settings::BotSettings;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::common::control;

/// Requests the hostile vendor saw.
static REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// Answers each request as its message says.
fn serve(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    // The head, then the body by Content-Length.
    let (head_end, length) = loop {
        let Ok(n) = stream.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            break (end + 4, length);
        }
    };
    while request.len() < head_end + length {
        let Ok(n) = stream.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..n]);
    }
    REQUESTS.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&request[head_end..]).unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    let head = |length: usize| format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n");
    match message.as_str() {
        "dribble" => {
            let _ = stream.write_all(head(1000).as_bytes());
            for _ in 0..1000 {
                if stream.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "silent" => std::thread::sleep(Duration::from_secs(120)),
        "huge" => {
            let _ = stream.write_all(head(256 << 20).as_bytes());
            let chunk = vec![b' '; 1 << 16];
            for _ in 0..(256 << 4) {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
        "garbage" => {
            let _ = stream.write_all(head(16).as_bytes());
            let _ = stream.write_all(b"\x00\xff{{{{not json!");
        }
        "flood" => {
            let messages: Vec<String> = (0..5000).map(|n| format!("message {n}")).collect();
            let answer = json!({"messages": messages}).to_string();
            let _ = stream.write_all(head(answer.len()).as_bytes());
            let _ = stream.write_all(answer.as_bytes());
        }
        other => {
            let answer = json!({"messages": [format!("echo: {other}")]}).to_string();
            let _ = stream.write_all(head(answer.len()).as_bytes());
            let _ = stream.write_all(answer.as_bytes());
        }
    }
}

fn hostile_vendor() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// The process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

async fn consumer(sim: &SimHandle, text: &str) -> String {
    let opened = control(sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await;
    let id = opened["conversation_id"].as_str().unwrap().to_owned();
    control(sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
    id
}

#[actix_rt::test]
async fn every_hostile_answer_escalates_each_message_once_within_bounds_and_memory_stays_bounded() {
    let vendor = hostile_vendor();
    let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
    for (name, human) in [("bots", false), ("humans", true)] {
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": name, "human": human}))).await;
    }
    control(&sim, "POST", "/sim/v1/agents", Some(json!({"login": "fn-bot", "password": "pw", "skills": ["bots"], "max_slots": 200}))).await;
    let mut settings = BotSettings::new("fn-bot", "bots", "humans");
    settings.escalation.transfer_message_to_customer = "Connecting you with a human.".into();
    settings.conversation.vendor_call.timeout = Duration::from_secs(2);
    settings.conversation.vendor_call.max_attempts = 2;
    settings.conversation.vendor_call.retry_backoff = Duration::from_millis(100);
    let call = HttpCall { url: format!("http://{vendor}/bot"), header: None, ca: None, timeout: Duration::from_secs(2) };
    let mut session = SessionSettings::new(
        &sim.account,
        &sim.platform_addr.to_string(),
        LoginCredentials::Password { username: "fn-bot".into(), password: "pw".into() },
    );
    session.plain_http = true;
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let bot =
        BotActor::new(settings, Rc::new(platform.clone()), Rc::new(FunctionVendor::new(call, VendorHooks::default()).unwrap())).start();
    platform.attach(bot.clone().recipient());
    bot.send(StartBot).await.unwrap().expect("the bot starts");

    let before = rss();
    let started = Instant::now();
    // Ten conversations of each hostile kind at once, and some that work, interleaved.
    let kinds = ["dribble", "silent", "huge", "garbage", "flood", "fine"];
    let mut conversations = Vec::new();
    for round in 0..10 {
        for kind in kinds {
            let text = if kind == "fine" { format!("fine {round}") } else { kind.to_owned() };
            conversations.push((kind, consumer(&sim, &text).await));
        }
    }
    let peak = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        peak.fetch_max(rss() as usize, Ordering::SeqCst);
        let mut pending = Vec::new();
        for (kind, id) in &conversations {
            let conversation = control(&sim, "GET", &format!("/sim/v1/conversations/{id}"), None).await;
            let done = if *kind == "fine" {
                conversation["transcript"].to_string().contains("echo: fine")
            } else {
                conversation["skill"] == "humans"
            };
            if !done {
                pending.push((kind, id, conversation));
            }
        }
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} conversations neither answered nor escalated after {:?}: {pending:?}\nthe bot: {:?}",
            pending.len(),
            started.elapsed(),
            bot.send(GetBotStatus).await.unwrap()
        );
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
    // Each message escalated (or answered) exactly once: the consumer told once.
    for (kind, id) in &conversations {
        let conversation = control(&sim, "GET", &format!("/sim/v1/conversations/{id}"), None).await;
        let told = conversation["transcript"].as_array().unwrap().iter().filter(|e| e["text"] == "Connecting you with a human.").count();
        assert_eq!(told, usize::from(*kind != "fine"), "{kind} {id}: {conversation}");
    }
    let status = bot.send(GetBotStatus).await.unwrap();
    assert_eq!(status.state, BotState::Online, "the bot stays online");
    let codes: Vec<&str> = status.conversation_errors.iter().map(|e| e.report.code.as_str()).collect();
    for code in ["botvisor.vendor.timeout", "botvisor.vendor.request-failed", "botvisor.vendor.invalid-response"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    // 2.5 GiB of hostile answers were offered; the process kept a few MiB of them at most.
    let grown = (peak.load(Ordering::SeqCst) as u64).saturating_sub(before);
    assert!(grown < 200 << 20, "memory grew by {} MiB", grown >> 20);
    assert!(REQUESTS.load(Ordering::SeqCst) >= 60, "the vendor was asked");
    sim.stop().await;
}
