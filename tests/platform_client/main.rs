//! botvisor's platform client end to end: the engine core with the in-process fake vendor,
//! logged in to the simulator over a real websocket on 127.0.0.1. Assertions are on the
//! simulator's transcripts and state. Real time with generous bounds.

#[path = "../common/mod.rs"]
mod common;

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor::sim::{self, SimConfig, SimHandle};
use botvisor_actors::bot::{BotActor, GetBotStatus, StartBot};
use botvisor_actors::model::{Availability, BotAction, BotResponse, BotState, MessageContent, Originator, Ttr};
use botvisor_actors::ports::{PlatformEvent, PlatformPort};
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::{input_text, FakeReply, FakeVendor};
use common::control;
use serde_json::{json, Value};

async fn simulator() -> SimHandle {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let handle = sim::start(SimConfig { plain_http: true, ..SimConfig::default() }).await.expect("simulator starts");
    control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "bots"}))).await;
    control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "humans", "human": true}))).await;
    control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "billing", "human": true}))).await;
    handle
}

fn session_settings(handle: &SimHandle, login: &str, password: &str) -> SessionSettings {
    let mut settings = SessionSettings::new(
        &handle.account,
        &handle.platform_addr.to_string(),
        LoginCredentials::Password { username: login.into(), password: password.into() },
    );
    settings.plain_http = true;
    settings.reconnect_first_delay = Duration::from_millis(200);
    settings.keepalive = Duration::from_millis(500);
    settings.request_timeout = Duration::from_millis(400);
    settings
}

struct Bot {
    actor: Addr<BotActor>,
    platform: LivePersonPlatform,
}

async fn start_bot(handle: &SimHandle, login: &str, password: &str, settings: BotSettings, vendor: FakeVendor) -> Bot {
    control(handle, "POST", "/sim/v1/agents", Some(json!({"login": login, "password": password, "skills": ["bots"]}))).await;
    start_existing_bot(handle, login, password, settings, vendor).await
}

async fn start_existing_bot(handle: &SimHandle, login: &str, password: &str, settings: BotSettings, vendor: FakeVendor) -> Bot {
    let platform = LivePersonPlatform::new(session_settings(handle, login, password)).expect("client builds");
    let actor = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor)).start();
    platform.attach(actor.clone().recipient());
    actor.send(StartBot).await.unwrap().expect("the bot starts");
    Bot { actor, platform }
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, check: impl FnMut() -> F) {
    wait_long_until(what, Duration::from_secs(10), check).await
}

/// As `wait_until`, for work whose duration depends on how loaded the machine is.
async fn wait_long_until<F: std::future::Future<Output = bool>>(what: &str, bound: Duration, mut check: impl FnMut() -> F) {
    for _ in 0..bound.as_millis() / 50 {
        if check().await {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn conversation(handle: &SimHandle, id: &str) -> Value {
    control(handle, "GET", &format!("/sim/v1/conversations/{id}"), None).await
}

/// The texts of the transcript as `role: text`, private ones marked.
fn lines(conversation: &Value) -> Vec<String> {
    conversation["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "text")
        .map(|e| {
            let private = if e["audience"] == "AGENTS_AND_MANAGERS" { " (private)" } else { "" };
            format!("{}{private}: {}", if e["role"] == "CONSUMER" { "consumer" } else { "bot" }, e["text"].as_str().unwrap())
        })
        .collect()
}

async fn say(handle: &SimHandle, id: &str, text: &str) {
    control(handle, "POST", &format!("/sim/v1/conversations/{id}/events"), Some(json!({"type": "text", "text": text}))).await;
}

async fn open(handle: &SimHandle) -> String {
    control(handle, "POST", "/sim/v1/conversations", Some(json!({"skill": "bots"}))).await["conversation_id"].as_str().unwrap().to_owned()
}

async fn assigned(handle: &SimHandle, id: &str) -> bool {
    !conversation(handle, id).await["assigned_agent"].is_null()
}

fn settings() -> BotSettings {
    BotSettings::new("bot-1", "bots", "humans")
}

#[actix_rt::test]
async fn a_conversation_is_accepted_and_answered_and_quick_messages_get_one_answer() {
    let handle = simulator().await;
    let mut s = settings();
    let combine = std::sync::Arc::make_mut(&mut s.conversation.combine);
    combine.enabled = true;
    combine.time_frame = Duration::from_millis(500);
    let bot = start_bot(&handle, "bot1", "pw", s, FakeVendor::echo()).await;
    wait_until("the bot online", || async { bot.actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;

    let id = open(&handle).await;
    wait_until("the ring accepted", || assigned(&handle, &id)).await;
    for text in ["hello", "I need", "a refund"] {
        say(&handle, &id, text).await;
    }
    wait_until("the answer", || async { lines(&conversation(&handle, &id).await).len() == 4 }).await;
    let view = conversation(&handle, &id).await;
    assert_eq!(lines(&view), ["consumer: hello", "consumer: I need", "consumer: a refund", "bot: echo: hello I need a refund"]);
    let reads = view["transcript"].as_array().unwrap().iter().filter(|e| e["kind"] == "accept_status").count();
    assert_eq!(reads, 3, "one READ receipt per consumer message");
    // The vendor call does not wait for the receipts' responses, yet they reach the platform first.
    let transcript = view["transcript"].as_array().unwrap();
    let last_read = transcript.iter().rposition(|e| e["kind"] == "accept_status").unwrap();
    let answered_at = transcript.iter().position(|e| e["text"] == "echo: hello I need a refund").unwrap();
    assert!(last_read < answered_at, "the READ receipts before the answer: {transcript:?}");
    let answer = &transcript[answered_at];
    assert_eq!(answer["metadata"][0]["type"], "ExternalId", "answers carry their key");
    assert_eq!(bot.platform.bad_frames(), 0);
    handle.stop().await;
}

#[actix_rt::test]
async fn transfer_ttr_and_close_are_visible_on_the_platform() {
    let handle = simulator().await;
    let vendor = FakeVendor::scripted(|request| {
        FakeReply::Answer(match input_text(&request.input).as_str() {
            "billing" => {
                BotResponse::text("Passing you to billing").with_action(BotAction::Transfer { skill: "billing".into(), agent_id: None })
            }
            "urgent" => BotResponse::text("Marked urgent").with_action(BotAction::ChangeTtr(Ttr::Urgent)),
            "bye" => BotResponse::text("Goodbye").with_action(BotAction::CloseConversation { without_pcs: true }),
            "nowhere" => BotResponse::default().with_action(BotAction::Transfer { skill: "no-such-skill".into(), agent_id: None }),
            other => BotResponse::text(format!("echo: {other}")),
        })
    });
    let _bot = start_bot(&handle, "bot1", "pw", settings(), vendor).await;

    let a = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &a)).await;
    say(&handle, &a, "urgent").await;
    wait_until("the TTR", || async { conversation(&handle, &a).await["ttr"]["type"] == "URGENT" }).await;
    // The value LivePerson's TTRChange schema requires (the strict simulator refuses it without).
    assert_eq!(conversation(&handle, &a).await["ttr"]["value"], 300);
    say(&handle, &a, "billing").await;
    wait_until("the transfer", || async { conversation(&handle, &a).await["skill"] == "billing" }).await;
    let view = conversation(&handle, &a).await;
    assert!(view["assigned_agent"].is_null());
    assert_eq!(lines(&view).last().unwrap(), "bot: Passing you to billing");

    let b = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &b)).await;
    say(&handle, &b, "bye").await;
    wait_until("the close", || async { conversation(&handle, &b).await["state"] == "CLOSE" }).await;

    // An unknown skill escalates, with the agent message as a private message.
    let c = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &c)).await;
    say(&handle, &c, "nowhere").await;
    wait_until("the escalation", || async { conversation(&handle, &c).await["skill"] == "humans" }).await;
    let view = conversation(&handle, &c).await;
    assert_eq!(
        lines(&view),
        [
            "consumer: nowhere",
            "bot: One moment please, I am transferring you to an agent.",
            "bot (private): The bot could not handle this conversation and escalated it."
        ]
    );
    handle.stop().await;
}

#[actix_rt::test]
async fn a_dropped_connection_is_reconnected_and_the_message_sent_meanwhile_answered_once() {
    let handle = simulator().await;
    let bot = start_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    let id = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &id)).await;
    say(&handle, &id, "first").await;
    wait_until("the first answer", || async { lines(&conversation(&handle, &id).await).len() == 2 }).await;

    let agent = conversation(&handle, &id).await["assigned_agent"].as_str().unwrap().to_owned();
    control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "ums_unavailable", "for": "1s"}))).await;
    control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "drop_connections", "agent": agent}))).await;
    let agents = control(&handle, "GET", "/sim/v1/agents", None).await;
    assert_eq!(agents[0]["connections"], 0, "the bot is really away when the consumer writes");
    say(&handle, &id, "while you were away").await;
    wait_until("the answer after the reconnect", || async { lines(&conversation(&handle, &id).await).len() == 4 }).await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lines(&conversation(&handle, &id).await),
        ["consumer: first", "bot: echo: first", "consumer: while you were away", "bot: echo: while you were away"]
    );
    assert_eq!(bot.actor.send(GetBotStatus).await.unwrap().state, BotState::Online);
    handle.stop().await;
}

#[actix_rt::test]
async fn expired_tokens_lead_to_a_new_login() {
    let handle = simulator().await;
    let bot = start_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    wait_until("the bot online", || async { bot.actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;
    control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "expire_tokens"}))).await;
    wait_until("a new session", || async {
        let agents = control(&handle, "GET", "/sim/v1/agents", None).await;
        agents[0]["sessions"] == 1 && agents[0]["connections"] == 1
    })
    .await;
    let id = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &id)).await;
    say(&handle, &id, "still there?").await;
    wait_until("the answer", || async { lines(&conversation(&handle, &id).await).len() == 2 }).await;
    handle.stop().await;
}

#[actix_rt::test]
async fn wrong_credentials_stop_the_bot_before_the_login_policy_disables_the_user() {
    let handle = simulator().await;
    control(&handle, "POST", "/sim/v1/agents", Some(json!({"login": "bot1", "password": "right", "skills": ["bots"]}))).await;
    let bot = start_existing_bot(&handle, "bot1", "wrong", settings(), FakeVendor::echo()).await;
    wait_until("the bot offline with the login error", || async {
        let status = bot.actor.send(GetBotStatus).await.unwrap();
        status.state == BotState::Offline && status.last_error.is_some_and(|e| e.code.as_str() == "botvisor.session.login-refused")
    })
    .await;
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    let agents = control(&handle, "GET", "/sim/v1/agents", None).await;
    assert_eq!(agents[0]["disabled"], false, "the account's failed-login budget is not burnt");
    assert!(agents[0]["failed_logins"].as_u64().unwrap() < 5);
    handle.stop().await;
}

#[actix_rt::test]
async fn a_second_botvisor_as_the_same_bot_is_reported_as_a_kick_without_a_login_loop() {
    let handle = simulator().await;
    let first = start_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    wait_until("the first online", || async { first.actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;
    let second = start_existing_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    wait_until("the kick reported", || async {
        let status = first.actor.send(GetBotStatus).await.unwrap();
        status.state == BotState::Offline && status.last_error.is_some_and(|e| e.code.as_str() == "botvisor.session.kicked")
    })
    .await;
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(second.actor.send(GetBotStatus).await.unwrap().state, BotState::Online, "the new session keeps the agent");
    let agents = control(&handle, "GET", "/sim/v1/agents", None).await;
    assert_eq!((agents[0]["sessions"].as_u64(), agents[0]["connections"].as_u64()), (Some(1), Some(1)), "no login loop");
    handle.stop().await;
}

#[actix_rt::test]
async fn two_bots_share_the_skill_and_a_full_bot_goes_away() {
    let handle = simulator().await;
    let mut s1 = settings();
    s1.load.recommended = 1;
    s1.load.low_water = 0;
    let bot1 = start_bot(&handle, "bot1", "pw", s1, FakeVendor::echo()).await;
    wait_until("bot1 online", || async { bot1.actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;
    let first = open(&handle).await;
    wait_until("bot1 takes the first", || assigned(&handle, &first)).await;
    wait_until("bot1 AWAY at its capacity", || async {
        control(&handle, "GET", "/sim/v1/agents", None).await[0]["availability"] == "AWAY"
    })
    .await;
    let mut s2 = settings();
    s2.bot_id = "bot-2".into();
    let bot2 = start_bot(&handle, "bot2", "pw", s2, FakeVendor::echo()).await;
    wait_until("bot2 online", || async { bot2.actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;
    let second = open(&handle).await;
    wait_until("the second assigned", || assigned(&handle, &second)).await;
    let bot1_agent = conversation(&handle, &first).await["assigned_agent"].clone();
    assert_ne!(conversation(&handle, &second).await["assigned_agent"], bot1_agent, "the other bot got it");
    handle.stop().await;
}

#[actix_rt::test]
async fn an_unavailable_messaging_service_is_a_service_interruption_and_nothing_is_lost() {
    let handle = simulator().await;
    let bot = start_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    let id = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &id)).await;
    let agent = conversation(&handle, &id).await["assigned_agent"].as_str().unwrap().to_owned();
    control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "ums_unavailable", "for": "2s"}))).await;
    control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "drop_connections", "agent": agent}))).await;
    wait_until("service interruption", || async { bot.actor.send(GetBotStatus).await.unwrap().state == BotState::ServiceInterruption })
        .await;
    say(&handle, &id, "anyone?").await;
    wait_until("online again", || async { bot.actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;
    wait_until("the answer", || async { lines(&conversation(&handle, &id).await).len() == 2 }).await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(lines(&conversation(&handle, &id).await), ["consumer: anyone?", "bot: echo: anyone?"], "answered once");
    handle.stop().await;
}

#[actix_rt::test]
async fn a_restarted_botvisor_answers_each_unanswered_message_once() {
    let handle = simulator().await;
    let first = start_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    let id = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &id)).await;
    say(&handle, &id, "one").await;
    wait_until("the first answer", || async { lines(&conversation(&handle, &id).await).len() == 2 }).await;
    // The whole engine goes away (a process restart: nothing survives but the platform).
    first.actor.send(botvisor_actors::bot::StopBot).await.unwrap();
    drop(first);
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    say(&handle, &id, "two").await;
    say(&handle, &id, "three").await;
    let _second = start_existing_bot(&handle, "bot1", "pw", settings(), FakeVendor::echo()).await;
    wait_until("the answers after the restart", || async { lines(&conversation(&handle, &id).await).len() == 5 }).await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        lines(&conversation(&handle, &id).await),
        ["consumer: one", "bot: echo: one", "consumer: two", "consumer: three", "bot: echo: two three"]
    );
    handle.stop().await;
}

/// A stand-in for the BotActor whose mailbox holds one event: it accepts every ring and keeps
/// every event it is given, in order.
struct OneSlotBot {
    platform: LivePersonPlatform,
    events: Rc<std::cell::RefCell<Vec<PlatformEvent>>>,
}

impl Actor for OneSlotBot {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1);
    }
}

impl actix::Handler<PlatformEvent> for OneSlotBot {
    type Result = ();

    fn handle(&mut self, event: PlatformEvent, _ctx: &mut Self::Context) {
        if let PlatformEvent::RingOffered { ring, .. } = &event {
            let accept = self.platform.accept_ring(ring);
            actix_rt::spawn(async move {
                let _ = accept.await;
            });
        }
        self.events.borrow_mut().push(event);
    }
}

#[actix_rt::test]
async fn a_bot_behind_on_its_events_pauses_the_socket_and_gets_every_event_in_order() {
    let handle = simulator().await;
    control(&handle, "POST", "/sim/v1/agents", Some(json!({"login": "slow", "password": "pw", "skills": ["bots"]}))).await;
    let mut session = session_settings(&handle, "slow", "pw");
    // While the bot is behind, the socket is not read, GetClock answers included: a keepalive
    // shorter than the backlog takes (on a loaded machine) would reconnect and lose this bot's
    // events (it reads no history). The default keepalive is 30 s.
    session.keepalive = Duration::from_secs(30);
    session.request_timeout = Duration::from_secs(10);
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let events = Rc::new(std::cell::RefCell::new(Vec::new()));
    let bot = OneSlotBot { platform: platform.clone(), events: events.clone() }.start();
    platform.attach(bot.recipient());
    platform.start_session().await.unwrap();
    wait_until("the session", || async { events.borrow().iter().any(|e| matches!(e, PlatformEvent::SessionConnected { .. })) }).await;
    platform.set_availability(Availability::Online).await.unwrap();

    control(&handle, "POST", "/sim/v1/load/conversations", Some(json!({"skill": "bots", "count": 20, "per_second": 1000}))).await;
    wait_until("20 conversations accepted", || async { control(&handle, "GET", "/sim/v1/load", None).await["assigned"] == 20 }).await;
    // 2 000 consumer messages within about 20 ms: far more than a mailbox of one holds.
    control(&handle, "POST", "/sim/v1/load/messages", Some(json!({"rate": 100_000, "count": 2000}))).await;
    let consumer_texts = || -> Vec<(String, String)> {
        events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                PlatformEvent::Message { conversation_id, message } if message.originator == Originator::Consumer => match &message.content
                {
                    MessageContent::Text(text) => Some((conversation_id.to_string(), text.clone())),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    wait_long_until("every consumer message delivered", Duration::from_secs(60), || async { consumer_texts().len() >= 2000 }).await;

    let texts = consumer_texts();
    assert_eq!(texts.len(), 2000, "none twice");
    // Round robin over 20 conversations: message n went to conversation n % 20, in order.
    let mut per_conversation: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for (conversation, text) in &texts {
        per_conversation.entry(conversation.clone()).or_default().push(text.trim_start_matches('m').parse().unwrap());
    }
    assert_eq!(per_conversation.len(), 20);
    for numbers in per_conversation.values() {
        assert_eq!(numbers.len(), 100);
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 20), "in order, none missing: {numbers:?}");
    }
    assert!(platform.counters().read_pauses() > 0, "the socket was paused while the bot was behind");
    assert_eq!(platform.bad_frames(), 0);
    handle.stop().await;
}

#[actix_rt::test]
async fn a_burst_of_rings_beyond_the_in_flight_limit_waits_for_a_slot_and_is_accepted() {
    let handle = simulator().await;
    control(&handle, "POST", "/sim/v1/agents", Some(json!({"login": "bot1", "password": "pw", "skills": ["bots"]}))).await;
    let mut session = session_settings(&handle, "bot1", "pw");
    session.max_pending_requests = 2;
    session.request_timeout = Duration::from_secs(5);
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let actor = BotActor::new(settings(), Rc::new(platform.clone()), Rc::new(FakeVendor::echo())).start();
    platform.attach(actor.clone().recipient());
    actor.send(StartBot).await.unwrap().expect("the bot starts");
    wait_until("the bot online", || async { actor.send(GetBotStatus).await.unwrap().state == BotState::Online }).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(open(&handle).await);
    }
    // Before: beyond the limit, accepts failed locally ("too many requests in flight") and the
    // rings waited for the platform to expire them.
    for id in &ids {
        wait_until("every ring accepted", || assigned(&handle, id)).await;
    }
    for id in &ids {
        say(&handle, id, "hi").await;
    }
    for id in &ids {
        wait_until("every answer", || async { lines(&conversation(&handle, id).await) == ["consumer: hi", "bot: echo: hi"] }).await;
    }
    handle.stop().await;
}

#[actix_rt::test]
async fn without_permission_to_read_skills_transfers_use_the_configured_skill_ids() {
    let handle = simulator().await;
    control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "sales", "human": true}))).await;
    let skills = control(&handle, "GET", "/sim/v1/skills", None).await;
    let id_of = |name: &str| {
        skills
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["id"].as_str().map(str::to_owned).unwrap_or_else(|| s["id"].to_string()))
            .unwrap()
    };
    control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "skills_forbidden"}))).await;
    control(&handle, "POST", "/sim/v1/agents", Some(json!({"login": "bot1", "password": "pw", "skills": ["bots"]}))).await;
    let mut session = session_settings(&handle, "bot1", "pw");
    session.skills = [("humans", id_of("humans")), ("billing", id_of("billing"))].into_iter().map(|(n, i)| (n.to_owned(), i)).collect();
    let vendor = FakeVendor::scripted(|request| {
        let skill = input_text(&request.input);
        FakeReply::Answer(BotResponse::text(format!("to {skill}")).with_action(BotAction::Transfer { skill, agent_id: None }))
    });
    let platform = LivePersonPlatform::new(session).expect("client builds");
    let actor = BotActor::new(settings(), Rc::new(platform.clone()), Rc::new(vendor)).start();
    platform.attach(actor.clone().recipient());
    actor.send(StartBot).await.unwrap().expect("the bot starts");

    let configured = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &configured)).await;
    say(&handle, &configured, "billing").await;
    wait_until("the transfer by a configured name", || async { conversation(&handle, &configured).await["skill"] == "billing" }).await;

    // A name neither listed nor configured escalates with its own code.
    let unknown = open(&handle).await;
    wait_until("assignment", || assigned(&handle, &unknown)).await;
    say(&handle, &unknown, "sales").await;
    wait_until("the escalation", || async { conversation(&handle, &unknown).await["skill"] == "humans" }).await;
    let errors = actor.send(GetBotStatus).await.unwrap().conversation_errors;
    assert!(errors.iter().any(|e| e.report.code.as_str() == "botvisor.action.skill-lookup-forbidden"), "{errors:?}");
    handle.stop().await;
}
