//! The Custom Endpoint vendor end to end: botvisor (engine core, LivePerson platform client,
//! Custom Endpoint vendor) + the simulator + the reference Custom Endpoint service, all on
//! 127.0.0.1. Assertions are on the simulator's transcripts and state, and on what the service
//! received. Real time with generous bounds.

#[path = "../common/mod.rs"]
mod common;

mod reference;

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor::hooks::error_hook::HttpErrorHook;
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::{self, SimConfig, SimHandle};
use botvisor::vendors::custom_endpoint::{CustomEndpointAuth, CustomEndpointSettings, CustomEndpointVendor};
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot};
use botvisor_actors::model::BotState;
use botvisor_actors::settings::BotSettings;
use common::control;
use serde_json::{json, Value};

struct World {
    sim: SimHandle,
    service: reference::Reference,
    bot: Addr<BotActor>,
}

fn bot_settings() -> BotSettings {
    let mut s = BotSettings::new("ce-bot", "bots", "humans");
    s.conversation.vendor_call.timeout = Duration::from_secs(2);
    s.conversation.vendor_call.retry_backoff = Duration::from_millis(100);
    s.lifecycle.vendor_health_interval = Duration::from_millis(300);
    s.escalation.transfer_message_to_customer = "Connecting you with a human.".into();
    s.escalation.transfer_message_to_agent = "The bot failed; please take over.".into();
    s
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(tune: impl FnOnce(&mut CustomEndpointSettings)) -> World {
    world_full(|_| {}, tune).await
}

async fn world_full(tune_bot: impl FnOnce(&mut BotSettings), tune: impl FnOnce(&mut CustomEndpointSettings)) -> World {
    let sim = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
    for (name, human) in [("bots", false), ("humans", true), ("billing", true)] {
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": name, "human": human}))).await;
    }
    control(&sim, "POST", "/sim/v1/agents", Some(json!({"login": "ce-bot", "password": "pw", "skills": ["bots"]}))).await;
    let service = reference::start();
    let auth = CustomEndpointAuth::ClientCredentials {
        token_url: service.token_url(),
        client_id: "client".into(),
        client_secret: "s3cret".into(),
    };
    let mut vendor_settings = CustomEndpointSettings::new(&service.base_url(), "bot-123", auth);
    tune(&mut vendor_settings);
    let vendor = CustomEndpointVendor::new(vendor_settings).expect("vendor builds");
    let mut session = SessionSettings::new(
        &sim.account,
        &sim.platform_addr.to_string(),
        LoginCredentials::Password { username: "ce-bot".into(), password: "pw".into() },
    );
    session.plain_http = true;
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let hook = HttpErrorHook::new(&format!("{}/hook", service.base_url()), None).expect("hook builds");
    let mut settings = bot_settings();
    tune_bot(&mut settings);
    let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor)).with_error_hook(Rc::new(hook)).start();
    platform.attach(bot.clone().recipient());
    bot.send(StartBot).await.unwrap().expect("the bot starts");
    let world = World { sim, service, bot };
    world.wait_until("online", || async { world.state().await == BotState::Online }).await;
    world
}

impl World {
    async fn state(&self) -> BotState {
        self.bot.send(GetBotStatus).await.unwrap().state
    }

    async fn wait_until<F: std::future::Future<Output = bool>>(&self, what: &str, mut check: impl FnMut() -> F) {
        for _ in 0..200 {
            if check().await {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn conversation(&self, id: &str) -> Value {
        control(&self.sim, "GET", &format!("/sim/v1/conversations/{id}"), None).await
    }

    /// Opens a conversation, waits for the bot to take it, and says `text`.
    async fn consumer(&self, text: &str) -> String {
        let id = control(&self.sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.wait_until("assignment", || async { !self.conversation(&id).await["assigned_agent"].is_null() }).await;
        control(&self.sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
        id
    }

    /// The bot's texts, private ones marked.
    async fn bot_lines(&self, id: &str) -> Vec<String> {
        self.conversation(id).await["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["role"] != "CONSUMER" && (e["kind"] == "text" || e["kind"] == "rich"))
            .map(|e| match (e["kind"].as_str(), e["audience"].as_str()) {
                (Some("rich"), _) => "[card]".to_owned(),
                (_, Some("AGENTS_AND_MANAGERS")) => format!("(private) {}", e["text"].as_str().unwrap()),
                _ => e["text"].as_str().unwrap().to_owned(),
            })
            .collect()
    }

    async fn answered(&self, id: &str, lines: usize) {
        self.wait_until("the answer", || async { self.bot_lines(id).await.len() >= lines }).await;
    }

    async fn stop(self) {
        self.service.stop().await;
        self.sim.stop().await;
    }
}

#[actix_rt::test]
async fn each_trigger_gives_the_right_transcript_and_state() {
    let w = world().await;
    let echo = w.consumer("hello").await;
    w.answered(&echo, 1).await;
    assert_eq!(w.bot_lines(&echo).await, ["echo: hello"]);

    let card = w.consumer("card").await;
    w.answered(&card, 1).await;
    assert_eq!(w.bot_lines(&card).await, ["[card]"]);

    let private = w.consumer("private").await;
    w.answered(&private, 2).await;
    assert_eq!(w.bot_lines(&private).await, ["public part", "(private) a note for agents"]);

    let delay = w.consumer("delay").await;
    w.answered(&delay, 1).await;
    assert_eq!(w.bot_lines(&delay).await, ["after a pause"]);

    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    assert_eq!(w.bot_lines(&menu).await, ["Pick one"]);
    let view = w.conversation(&menu).await;
    let replies = view["transcript"].as_array().unwrap().iter().find(|e| e["text"] == "Pick one").unwrap()["quick_replies"].clone();
    assert_eq!(replies["replies"].as_array().map(Vec::len), Some(2), "quick replies reach the consumer: {replies}");

    let urgent = w.consumer("urgent").await;
    w.wait_until("the TTR", || async { w.conversation(&urgent).await["ttr"]["type"] == "URGENT" }).await;

    let transfer = w.consumer("transfer").await;
    w.wait_until("the transfer", || async { w.conversation(&transfer).await["skill"] == "billing" }).await;
    assert_eq!(w.bot_lines(&transfer).await, ["Transferring you to billing"]);

    let close = w.consumer("close").await;
    w.wait_until("the close", || async { w.conversation(&close).await["state"] == "CLOSE" }).await;

    let received: Vec<String> = w.service.events().into_iter().map(|(kind, text)| format!("{kind}:{text}")).collect();
    for expected in ["TEXT:hello", "TEXT:card", "TEXT:transfer", "TEXT:close"] {
        assert!(received.contains(&expected.to_owned()), "{received:?}");
    }
    w.stop().await;
}

#[actix_rt::test]
async fn server_errors_twice_then_success_give_one_answer() {
    let w = world().await;
    let id = w.consumer("flaky").await;
    w.answered(&id, 1).await;
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.bot_lines(&id).await, ["echo: flaky"]);
    assert_eq!(w.service.events().iter().filter(|(_, t)| t == "flaky").count(), 3, "two 503s, then the answer");
    assert_eq!(w.service.state.lock().unwrap().creations, 1, "the conversation is created once, not again before each retry");
    w.stop().await;
}

#[actix_rt::test]
async fn errors_timeouts_and_unusable_answers_escalate_with_the_configured_messages() {
    let w = world().await;
    for trigger in ["error", "slow", "garbage"] {
        let id = w.consumer(trigger).await;
        w.wait_until("the escalation", || async { w.conversation(&id).await["skill"] == "humans" }).await;
        assert_eq!(w.bot_lines(&id).await, ["Connecting you with a human.", "(private) The bot failed; please take over."], "{trigger}");
    }
    let codes: Vec<String> =
        w.bot.send(GetBotStatus).await.unwrap().conversation_errors.iter().map(|e| e.report.code.as_str().to_owned()).collect();
    assert_eq!(codes, ["botvisor.vendor.server-error", "botvisor.vendor.timeout", "botvisor.vendor.invalid-response"]);
    // Each error was POSTed to the error hook, without a secret.
    w.wait_until("the hook reports", || async { w.service.state.lock().unwrap().hook_reports.len() >= 3 }).await;
    let reports = w.service.state.lock().unwrap().hook_reports.clone();
    let first = &reports[0];
    assert_eq!((first["botId"].as_str(), first["vendor"].as_str()), (Some("ce-bot"), Some("custom-endpoint")));
    assert_eq!(first["error"]["code"], "botvisor.vendor.server-error");
    assert_eq!(first["vendorRequest"]["text"], "error");
    assert!(first["conversationId"].is_string());
    let all = serde_json::to_string(&reports).unwrap();
    assert!(!all.contains("s3cret") && !all.contains("tok-"), "no credentials in error reports: {all}");
    w.stop().await;
}

#[actix_rt::test]
async fn an_offline_vendor_interrupts_the_bot_and_new_conversations_are_escalated_without_a_call() {
    let w = world().await;
    w.service.set_state("offline");
    w.wait_until("vendor interruption", || async { w.state().await == BotState::VendorInterruption }).await;
    let before = w.service.events().len();
    // The bot takes it and escalates at once (too fast to watch the assignment).
    let id = control(&w.sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.wait_until("the escalation", || async { w.conversation(&id).await["skill"] == "humans" }).await;
    assert_eq!(w.bot_lines(&id).await, ["Connecting you with a human.", "(private) The bot failed; please take over."]);
    assert_eq!(w.service.events().len(), before, "no vendor call in Vendor Interruption");
    w.service.set_state("online");
    w.wait_until("online again", || async { w.state().await == BotState::Online }).await;
    let id = w.consumer("back?").await;
    w.answered(&id, 1).await;
    assert_eq!(w.bot_lines(&id).await, ["echo: back?"]);
    w.stop().await;
}

#[actix_rt::test]
async fn a_token_that_claims_to_live_forever_is_capped_not_a_crash() {
    let w = world().await;
    {
        let mut s = w.service.state.lock().unwrap();
        s.token_lifetime = Some(json!(u64::MAX)); // `overflow when adding duration to instant` before
        s.expire_next = true;
    }
    let id = w.consumer("one").await;
    w.answered(&id, 1).await;
    let tokens = w.service.state.lock().unwrap().token_requests;
    let second = w.consumer("two").await;
    w.answered(&second, 1).await;
    assert_eq!(w.bot_lines(&second).await, ["echo: two"]);
    assert_eq!(w.service.state.lock().unwrap().token_requests, tokens, "the token is cached, not fetched per call");
    assert_eq!(w.state().await, BotState::Online, "the bot lives on");
    w.stop().await;
}

#[actix_rt::test]
async fn an_expired_token_is_refreshed_once_and_a_forgotten_conversation_created_again() {
    let w = world().await;
    let id = w.consumer("one").await;
    w.answered(&id, 1).await;
    let tokens_before = w.service.state.lock().unwrap().token_requests;
    w.service.state.lock().unwrap().expire_next = true;
    let second = w.consumer("two").await;
    w.answered(&second, 1).await;
    assert_eq!(w.service.state.lock().unwrap().token_requests, tokens_before + 1, "one refresh");

    let creations = w.service.state.lock().unwrap().creations;
    w.service.state.lock().unwrap().forget_next = true;
    control(&w.sim, "POST", &format!("/sim/v1/conversations/{second}/events"), Some(json!({"type": "text", "text": "three"}))).await;
    w.answered(&second, 2).await;
    assert_eq!(w.bot_lines(&second).await, ["echo: two", "echo: three"]);
    assert_eq!(w.service.state.lock().unwrap().creations, creations + 1, "created again, once");
    w.stop().await;
}

#[actix_rt::test]
async fn a_burst_of_200_conversations_stays_within_the_vendor_quota() {
    const PER_SECOND: u32 = 80;
    // Calls wait at the quota: the vendor timeout is long, as in production (60 s by default).
    let w = world_full(|s| s.conversation.vendor_call.timeout = Duration::from_secs(30), |v| v.requests_per_second = PER_SECOND).await;
    let mut ids = Vec::new();
    for _ in 0..200 {
        let id = control(&w.sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        control(&w.sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": "hi"}))).await;
        ids.push(id);
    }
    w.wait_until("every consumer answered", || async {
        let open = control(&w.sim, "GET", "/sim/v1/conversations?state=OPEN", None).await;
        open.as_array().unwrap().iter().filter(|c| c["transcript"].as_array().unwrap().iter().any(|e| e["text"] == "echo: hi")).count()
            == 200
    })
    .await;
    let times = w.service.state.lock().unwrap().event_times.clone();
    assert_eq!(times.len(), 200, "one call per conversation");
    // The quota lets a burst of PER_SECOND through, then one call per 1/PER_SECOND s: in any
    // one-second window at most twice the quota.
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| t.duration_since(*start) < Duration::from_secs(1)).count();
        assert!(in_window <= 2 * PER_SECOND as usize, "{in_window} calls within one second");
    }
    w.stop().await;
}

#[actix_rt::test]
async fn the_welcome_is_a_start_event_and_the_bot_greets_first() {
    let w = world_full(|s| s.conversation.welcome = true, |_| {}).await;
    let id = w.consumer("hi").await;
    w.answered(&id, 2).await;
    assert_eq!(w.bot_lines(&id).await, ["Welcome!", "echo: hi"]);
    let events = w.service.events();
    assert_eq!(events[0].0, "START", "the welcome event comes first: {events:?}");
    w.stop().await;
}

#[actix_rt::test]
async fn environments_are_listed_with_the_token() {
    let service = reference::start();
    let auth = CustomEndpointAuth::ClientCredentials {
        token_url: service.token_url(),
        client_id: "client".into(),
        client_secret: "s3cret".into(),
    };
    let vendor = CustomEndpointVendor::new(CustomEndpointSettings::new(&format!("{}/", service.base_url()), "bot-123", auth)).unwrap();
    assert_eq!(vendor.environments().await.unwrap(), ["draft"]);
    service.stop().await;
}
