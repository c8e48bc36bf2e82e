//! botvisor against a hostile platform — frames no client may accept, answers that dribble a byte
//! a second, requests never answered, subscriptions never confirmed — and a hostile vendor
//! (`vendor.rs`): dribbling, silent, huge, garbage and flooding answers, many at once. Each test asserts what a
//! user would notice: the bot's state and last error, that it reconnects instead of spinning,
//! and that bad frames are counted once per connection. Real sockets on 127.0.0.1, real time.

#[path = "../common/mod.rs"]
mod common;
mod platform;
mod vendor;

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor::platform::liveperson::login::LoginCredentials;
use botvisor::platform::liveperson::{LivePersonPlatform, SessionSettings};
use botvisor_actors::bot::{BotActor, BotStatus, GetBotStatus, StartBot};
use botvisor_actors::model::BotState;
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::FakeVendor;
use platform::{Behaviour, HostilePlatform, Reply, Socket, ACCOUNT};

struct Bot {
    actor: Addr<BotActor>,
    platform: LivePersonPlatform,
}

impl Bot {
    async fn start(hostile: &HostilePlatform) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
        let mut settings = SessionSettings::new(
            ACCOUNT,
            &hostile.addr.to_string(),
            LoginCredentials::Password { username: "bot".into(), password: "pw".into() },
        );
        settings.plain_http = true;
        settings.reconnect_first_delay = Duration::from_millis(200);
        settings.request_timeout = Duration::from_millis(500);
        settings.keepalive = Duration::from_secs(1);
        let platform = LivePersonPlatform::new(settings).expect("client builds");
        let actor =
            BotActor::new(BotSettings::new("hostile-bot", "bots", "humans"), Rc::new(platform.clone()), Rc::new(FakeVendor::echo()))
                .start();
        platform.attach(actor.clone().recipient());
        actor.send(StartBot).await.unwrap().expect("the bot starts");
        Self { actor, platform }
    }

    async fn status(&self) -> BotStatus {
        self.actor.send(GetBotStatus).await.expect("the bot's actor is alive")
    }
}

#[actix_rt::test]
async fn a_malformed_websocket_frame_ends_the_connection_and_is_counted_once() {
    for (socket, why) in [
        (Socket::ReservedBits, "malformed websocket frame"),
        (Socket::BadOpcode, "malformed websocket frame"),
        (Socket::BadUtf8, "not UTF-8"),
        (Socket::StrayContinuation, "malformed"),
        (Socket::OversizedMessage, "over 16 MiB"),
    ] {
        let hostile = HostilePlatform::start(Behaviour { socket, ..Behaviour::default() });
        let bot = Bot::start(&hostile).await;
        actix_rt::time::sleep(Duration::from_secs(3)).await;
        let upgrades = hostile.upgrades();
        let bad = bot.platform.bad_frames() as usize;
        // Before: one frame with reserved bits made the reader return the same error endlessly
        // (a million log lines and ~0.7 core) until the keepalive happened to reconnect; a text
        // frame that was not UTF-8, or a broken fragmented message, left the connection open.
        assert!(upgrades >= 2, "{socket:?}: the bot reconnected after the bad frame ({upgrades} connections)");
        assert!(bad <= upgrades && bad + 1 >= upgrades, "{socket:?}: each bad frame counted once: {bad} for {upgrades} connections");
        let status = bot.status().await;
        assert_eq!(status.state, BotState::ServiceInterruption, "{socket:?}: not online on a broken connection");
        let error = status.last_error.expect("the bot says why");
        assert!(error.message.contains(why), "{socket:?}: {}", error.message);
    }
}

#[actix_rt::test]
async fn every_step_of_connecting_has_a_deadline() {
    let cases = [
        ("CSDS", Behaviour { csds: Reply::Dribble, ..Behaviour::default() }),
        ("the login service", Behaviour { login: Reply::Dribble, ..Behaviour::default() }),
        ("the login service", Behaviour { login: Reply::Never, ..Behaviour::default() }),
        ("the websocket upgrade", Behaviour { upgrade: Reply::Never, ..Behaviour::default() }),
    ];
    for (step, behaviour) in cases {
        let hostile = HostilePlatform::start(behaviour);
        let bot = Bot::start(&hostile).await;
        actix_rt::time::sleep(Duration::from_millis(2500)).await;
        let status = bot.status().await;
        // Before: a platform dribbling one byte a second left the bot "connecting" forever with
        // no error.
        assert_eq!(status.state, BotState::ServiceInterruption, "{step}");
        let error = status.last_error.unwrap_or_else(|| panic!("{step}: the bot says why"));
        let message = error.message.to_lowercase();
        let named = match step {
            "CSDS" => message.contains("csds"),
            "the login service" => message.contains("login"),
            _ => message.contains("websocket"),
        };
        assert!(named && (message.contains("within 500ms") || message.contains("timeout")), "{step}: {}", error.message);
        let seen = &hostile.seen;
        let tries = match step {
            "CSDS" => seen.csds.load(std::sync::atomic::Ordering::SeqCst),
            "the login service" => seen.login.load(std::sync::atomic::Ordering::SeqCst),
            _ => seen.upgrades.load(std::sync::atomic::Ordering::SeqCst),
        };
        assert!(tries >= 2, "{step}: tried again after the deadline ({tries})");
    }
}

#[actix_rt::test]
async fn the_bot_is_not_online_until_its_subscriptions_are_confirmed() {
    let hostile = HostilePlatform::start(Behaviour { socket: Socket::Silent, ..Behaviour::default() });
    let bot = Bot::start(&hostile).await;
    for _ in 0..20 {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        // Before: the bot said Online as soon as the socket opened.
        assert_ne!(bot.status().await.state, BotState::Online, "online with no subscription confirmed");
    }
    assert!(hostile.upgrades() >= 2, "unconfirmed subscriptions drop the connection and reconnect");
}
