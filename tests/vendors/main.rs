//! The Amazon Lex V2, IBM Watson Assistant V2 and Direct Line 3.0 vendors end to end: botvisor
//! (engine core, LivePerson platform client, the vendor) against the simulator and its vendor
//! fakes, all on 127.0.0.1. Assertions are on the transcripts the consumer sees, the skill the
//! conversation lands on, and what the fakes received. Real time with generous bounds. The
//! vendors' own clients judge the Lex and Watson fakes in `clients` (boto3, ibm-watson).

#[path = "../common/mod.rs"]
mod common;

mod botframework;
mod clients;
mod directline;
mod lex;
mod watson;

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::vendors::VendorFakesConfig;
use botvisor::sim::{self, SimConfig, SimHandle};
use botvisor::vendors::directline::{DirectLineAuth, DirectLineSettings, DirectLineVendor};
use botvisor::vendors::lex::{AwsCredentials, LexSettings, LexVendor};
use botvisor::vendors::watson::{WatsonAuth, WatsonSettings, WatsonVendor};
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot, StopBot};
use botvisor_actors::model::BotState;
use botvisor_actors::ports::VendorPort;
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::MemoryConversationState;
use common::control;
use serde_json::{json, Value};

pub const BOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vendors/bots.json");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Lex,
    Watson,
    /// Watson with the environment-scoped paths.
    WatsonEnvironment,
    /// Watson with basic auth.
    WatsonBasic,
    DirectLine,
    /// Direct Line reading the bot's activities from the websocket stream.
    DirectLineStream,
}

/// How a world is set up.
pub struct Setup {
    pub kind: Kind,
    pub tune_bot: fn(&mut BotSettings),
    pub tune_fakes: fn(&mut VendorFakesConfig),
    /// A Bot Framework bot's `/api/messages` instead of the built-in one.
    pub directline_bot: Option<String>,
    /// The vendor is given credentials the fake does not accept.
    pub wrong_credentials: bool,
}

impl Setup {
    pub fn new(kind: Kind) -> Self {
        Self { kind, tune_bot: |_| {}, tune_fakes: |_| {}, directline_bot: None, wrong_credentials: false }
    }
}

pub struct World {
    pub sim: SimHandle,
    pub bot: Addr<BotActor>,
    pub kind: Kind,
    pub state: MemoryConversationState,
    settings: BotSettings,
    wrong_credentials: bool,
}

fn bot_settings() -> BotSettings {
    let mut s = BotSettings::new("vendor-bot", "bots", "humans");
    s.conversation.vendor_call.timeout = Duration::from_secs(3);
    s.conversation.vendor_call.retry_backoff = Duration::from_millis(100);
    s.conversation.vendor_call.retry_message_interval = Duration::from_millis(200);
    s.escalation.transfer_message_to_customer = "Connecting you with a human.".into();
    s.escalation.transfer_message_to_agent = "The bot failed; please take over.".into();
    s
}

/// A vendor of the kind, pointed at the simulator's fakes.
pub fn vendor(sim: &SimHandle, kind: Kind, wrong_credentials: bool) -> Rc<dyn VendorPort> {
    let origin = sim.platform_url();
    let mut fakes = sim.vendors.as_ref().expect("the vendor fakes run").config.clone();
    if wrong_credentials {
        fakes.aws_secret_access_key = "not-the-secret".into();
        fakes.watson_api_key = "not-the-key".into();
        fakes.directline_secret = "not-the-secret".into();
    }
    match kind {
        Kind::Lex => {
            let credentials = AwsCredentials {
                access_key_id: fakes.aws_access_key_id.clone(),
                secret_access_key: fakes.aws_secret_access_key.clone(),
                session_token: None,
            };
            let mut settings = LexSettings::new("TESTBOT001", "TSTALIASID", "en_US", "us-east-1", credentials);
            settings.endpoint = Some(origin);
            settings.request_timeout = Duration::from_secs(2);
            Rc::new(LexVendor::new(settings, Default::default()).unwrap())
        }
        Kind::Watson | Kind::WatsonEnvironment | Kind::WatsonBasic => {
            let auth = if kind == Kind::WatsonBasic {
                WatsonAuth::Basic { username: "apikey".into(), password: fakes.watson_api_key.clone() }
            } else {
                WatsonAuth::Iam { api_key: fakes.watson_api_key.clone(), token_url: format!("{origin}/identity/token") }
            };
            let mut settings = WatsonSettings::new(&format!("{origin}/instances/test"), "test-assistant", auth);
            if kind == Kind::WatsonEnvironment {
                settings.environment_id = Some("draft".into());
            }
            settings.request_timeout = Duration::from_secs(2);
            Rc::new(WatsonVendor::new(settings, Default::default()).unwrap())
        }
        Kind::DirectLine | Kind::DirectLineStream => {
            let mut settings = DirectLineSettings::new(DirectLineAuth::Secret(fakes.directline_secret.clone()));
            settings.stream = kind == Kind::DirectLineStream;
            settings.endpoint = format!("{origin}/v3/directline");
            settings.poll_interval = Duration::from_millis(50);
            settings.request_timeout = Duration::from_millis(2500);
            Rc::new(DirectLineVendor::new(settings, Default::default()).unwrap())
        }
    }
}

pub async fn world(setup: Setup) -> World {
    let mut fakes = VendorFakesConfig::new(BOTS);
    fakes.directline_bot_timeout = Duration::from_secs(1);
    fakes.directline_bot = setup.directline_bot.clone();
    (setup.tune_fakes)(&mut fakes);
    let config = SimConfig { plain_http: true, vendors: Some(fakes), ..SimConfig::default() };
    let sim = sim::start(config).await.expect("simulator starts");
    for (name, human) in [("bots", false), ("humans", true), ("billing", true)] {
        control(&sim, "POST", "/sim/v1/skills", Some(json!({"name": name, "human": human}))).await;
    }
    control(&sim, "POST", "/sim/v1/agents", Some(json!({"login": "vendor-bot", "password": "pw", "skills": ["bots"]}))).await;
    let mut settings = bot_settings();
    (setup.tune_bot)(&mut settings);
    let state = MemoryConversationState::default();
    let bot = start_bot(&sim, setup.kind, &settings, &state, setup.wrong_credentials).await;
    let world = World { sim, bot, kind: setup.kind, state, settings, wrong_credentials: setup.wrong_credentials };
    if !setup.wrong_credentials {
        world.wait_until("online", || async { world.state().await == BotState::Online }).await;
    }
    world
}

async fn start_bot(sim: &SimHandle, kind: Kind, settings: &BotSettings, state: &MemoryConversationState, wrong: bool) -> Addr<BotActor> {
    let mut session = SessionSettings::new(
        &sim.account,
        &sim.platform_addr.to_string(),
        LoginCredentials::Password { username: "vendor-bot".into(), password: "pw".into() },
    );
    session.plain_http = true;
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let bot = BotActor::new(settings.clone(), Rc::new(platform.clone()), vendor(sim, kind, wrong))
        .with_conversation_state(Rc::new(state.clone()))
        .start();
    platform.attach(bot.clone().recipient());
    if let Err(error) = bot.send(StartBot).await.unwrap() {
        assert!(wrong, "the bot starts: {error}");
        START_ERRORS.with(|e| e.borrow_mut().push(error.to_string()));
    }
    bot
}

thread_local! {
    /// Why bots given wrong credentials did not start.
    pub static START_ERRORS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl World {
    pub async fn state(&self) -> BotState {
        self.bot.send(GetBotStatus).await.unwrap().state
    }

    /// The bot's node fails over: this bot stops, a new one (a new vendor client, nothing in
    /// memory) takes over with the same store.
    pub async fn fail_over(&mut self) {
        self.bot.send(StopBot).await.unwrap();
        self.bot = start_bot(&self.sim, self.kind, &self.settings, &self.state, self.wrong_credentials).await;
        self.wait_until("online again", || async { self.state().await == BotState::Online }).await;
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

    /// The transcript entry whose text is `text` (or the first card for `[card]`).
    pub async fn entry(&self, id: &str, text: &str) -> Value {
        let view = self.conversation(id).await;
        view["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| if text == "[card]" { e["kind"] == "rich" } else { e["text"] == text })
            .cloned()
            .unwrap_or_else(|| panic!("no {text:?} in {view}"))
    }

    pub async fn answered(&self, id: &str, lines: usize) {
        self.wait_until("the answer", || async { self.bot_lines(id).await.len() >= lines }).await;
    }

    /// The fakes' counters and the requests they received.
    pub async fn fakes(&self) -> Value {
        control(&self.sim, "GET", "/sim/v1/vendors", None).await
    }

    pub async fn error_codes(&self) -> Vec<String> {
        self.bot.send(GetBotStatus).await.unwrap().conversation_errors.iter().map(|e| e.report.code.as_str().to_owned()).collect()
    }

    pub async fn error_messages(&self) -> Vec<String> {
        self.bot.send(GetBotStatus).await.unwrap().conversation_errors.iter().map(|e| e.report.message.clone()).collect()
    }

    /// Each trigger's conversation lands on the escalation skill with the configured messages.
    pub async fn escalates(&self, triggers: &[&str]) {
        for trigger in triggers {
            let id = self.consumer(trigger).await;
            for _ in 0..300 {
                if self.conversation(&id).await["skill"] == "humans" {
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
            let view = self.conversation(&id).await;
            assert_eq!(view["skill"], "humans", "{trigger}: {:?} {:?} {view}", self.error_codes().await, self.state().await);
            let lines = self.bot_lines(&id).await;
            assert_eq!(
                lines[lines.len() - 2..],
                ["Connecting you with a human.", "(private) The bot failed; please take over."],
                "{trigger}"
            );
        }
    }

    /// The common script: every content kind and action, as the consumer sees them.
    pub async fn every_kind(&self, hello: &str) {
        let id = self.consumer("hello").await;
        self.answered(&id, 1).await;
        assert_eq!(self.bot_lines(&id).await, [hello]);

        let card = self.consumer("card").await;
        self.answered(&card, 1).await;
        assert_eq!(self.bot_lines(&card).await, ["[card]"]);

        let private = self.consumer("private").await;
        self.answered(&private, 2).await;
        assert_eq!(self.bot_lines(&private).await, ["public part", "(private) a note for agents"]);

        let delay = self.consumer("delay").await;
        self.answered(&delay, 1).await;
        assert_eq!(self.bot_lines(&delay).await, ["after a pause"]);

        let tagged = self.consumer("tagged").await;
        self.answered(&tagged, 1).await;
        assert_eq!(self.entry(&tagged, "tagged text").await["encoded_metadata"], "ZXhhbXBsZQ==");

        let urgent = self.consumer("urgent").await;
        self.wait_until("the TTR", || async { self.conversation(&urgent).await["ttr"]["type"] == "URGENT" }).await;
        assert_eq!(self.bot_lines(&urgent).await, ["Hurrying"]);

        let transfer = self.consumer("transfer").await;
        self.wait_until("the transfer", || async { self.conversation(&transfer).await["skill"] == "billing" }).await;
        assert_eq!(self.bot_lines(&transfer).await, ["Transferring you to billing"]);

        let close = self.consumer("bye").await;
        self.wait_until("the close", || async { self.conversation(&close).await["state"] == "CLOSE" }).await;
        assert_eq!(self.bot_lines(&close).await, ["Goodbye"]);
    }

    pub async fn stop(self) {
        self.sim.stop().await;
    }
}
