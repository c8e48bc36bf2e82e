//! The Dialogflow ES and CX vendors end to end: botvisor (engine core, LivePerson platform
//! client, Dialogflow vendor with Google service-account auth) against the simulator and its
//! Google fakes, all on 127.0.0.1. Assertions are on the transcripts the consumer sees, the skill
//! the conversation lands on, and what the fake received. Real time with generous bounds.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod cx;
mod es;
mod google_clients;

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::google::GoogleFakeConfig;
use botvisor::sim::{self, SimConfig, SimHandle};
use botvisor::vendors::dialogflow::cx::{DialogflowCxSettings, DialogflowCxVendor};
use botvisor::vendors::dialogflow::es::{DialogflowEsSettings, DialogflowEsVendor};
use botvisor::vendors::google_auth::{GoogleAuthMode, GoogleTokenSource, ServiceAccountKey};
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot};
use botvisor_actors::model::BotState;
use botvisor_actors::settings::BotSettings;
use common::control;
use serde_json::{json, Value};

pub const AGENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dialogflow/agents.json");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Api {
    Es,
    Cx,
}

/// How a world is set up.
pub struct Setup {
    pub api: Api,
    pub auth: GoogleAuthMode,
    pub token_lifetime: Duration,
    pub tune_bot: fn(&mut BotSettings),
}

impl Setup {
    pub fn new(api: Api) -> Self {
        Self { api, auth: GoogleAuthMode::TokenExchange, token_lifetime: Duration::from_secs(3600), tune_bot: |_| {} }
    }
}

pub struct World {
    pub sim: SimHandle,
    pub bot: Addr<BotActor>,
    pub tokens: Rc<GoogleTokenSource>,
}

fn bot_settings() -> BotSettings {
    let mut s = BotSettings::new("df-bot", "bots", "humans");
    s.conversation.vendor_call.timeout = Duration::from_secs(2);
    s.conversation.vendor_call.retry_backoff = Duration::from_millis(100);
    s.escalation.transfer_message_to_customer = "Connecting you with a human.".into();
    s.escalation.transfer_message_to_agent = "The bot failed; please take over.".into();
    s
}

pub async fn world(setup: Setup) -> World {
    let config = SimConfig {
        plain_http: true,
        google: Some(GoogleFakeConfig { token_lifetime: setup.token_lifetime, ..GoogleFakeConfig::new(AGENTS) }),
        ..SimConfig::default()
    };
    let sim = sim::start(config).await.expect("simulator starts");
    for (name, human) in [("bots", false), ("humans", true), ("billing", true)] {
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": name, "human": human}))).await;
    }
    control(&sim, "POST", "/sim/v1/agents", Some(json!({"login": "df-bot", "password": "pw", "skills": ["bots"]}))).await;
    let key = ServiceAccountKey::parse(&sim.google_key_json().expect("the fake made a key")).expect("the key parses");
    let endpoint = sim.platform_url();
    let mut settings = bot_settings();
    (setup.tune_bot)(&mut settings);
    let (vendor, tokens): (Rc<dyn botvisor_actors::ports::VendorPort>, _) = match setup.api {
        Api::Es => {
            let mut es = DialogflowEsSettings::new("test-project", "en-US", key);
            es.endpoint = endpoint;
            es.auth = setup.auth;
            es.request_timeout = settings.conversation.vendor_call.timeout;
            let vendor = DialogflowEsVendor::new(es).expect("vendor builds");
            let tokens = vendor.tokens();
            (Rc::new(vendor), tokens)
        }
        Api::Cx => {
            let mut cx = DialogflowCxSettings::new("test-project", "global", "test-agent", "en", key);
            cx.endpoint = Some(endpoint);
            cx.auth = setup.auth;
            cx.request_timeout = settings.conversation.vendor_call.timeout;
            let vendor = DialogflowCxVendor::new(cx).expect("vendor builds");
            let tokens = vendor.tokens();
            (Rc::new(vendor), tokens)
        }
    };
    let mut session = SessionSettings::new(
        &sim.account,
        &sim.platform_addr.to_string(),
        LoginCredentials::Password { username: "df-bot".into(), password: "pw".into() },
    );
    session.plain_http = true;
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let bot = BotActor::new(settings, Rc::new(platform.clone()), vendor).start();
    platform.attach(bot.clone().recipient());
    bot.send(StartBot).await.unwrap().expect("the bot starts");
    let world = World { sim, bot, tokens };
    world.wait_until("online", || async { world.state().await == BotState::Online }).await;
    world
}

impl World {
    pub async fn state(&self) -> BotState {
        self.bot.send(GetBotStatus).await.unwrap().state
    }

    pub async fn wait_until<F: std::future::Future<Output = bool>>(&self, what: &str, mut check: impl FnMut() -> F) {
        for _ in 0..300 {
            if check().await {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    pub async fn conversation(&self, id: &str) -> Value {
        control(&self.sim, "GET", &format!("/sim/v1/conversations/{id}"), None).await
    }

    /// Opens a conversation and waits for the bot to take it.
    pub async fn open(&self) -> String {
        let id = control(&self.sim, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.wait_until("assignment", || async { !self.conversation(&id).await["assigned_agent"].is_null() }).await;
        id
    }

    pub async fn say(&self, id: &str, text: &str) {
        control(&self.sim, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
    }

    /// Opens a conversation and says `text`.
    pub async fn consumer(&self, text: &str) -> String {
        let id = self.open().await;
        self.say(&id, text).await;
        id
    }

    /// The bot's messages as the transcript shows them: private ones marked, cards as `[card]`.
    pub async fn bot_lines(&self, id: &str) -> Vec<String> {
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

    pub async fn answered(&self, id: &str, lines: usize) {
        self.wait_until("the answer", || async { self.bot_lines(id).await.len() >= lines }).await;
    }

    /// The fake's counters and the requests it received.
    pub async fn google(&self) -> Value {
        control(&self.sim, "GET", "/sim/v1/google", None).await
    }

    /// The error codes of the bot's conversation errors, oldest first.
    pub async fn error_codes(&self) -> Vec<String> {
        self.bot.send(GetBotStatus).await.unwrap().conversation_errors.iter().map(|e| e.report.code.as_str().to_owned()).collect()
    }

    /// The messages of the bot's conversation errors, oldest first.
    pub async fn error_messages(&self) -> Vec<String> {
        self.bot.send(GetBotStatus).await.unwrap().conversation_errors.iter().map(|e| e.report.message.clone()).collect()
    }

    pub async fn stop(self) {
        self.sim.stop().await;
    }
}
