//! A bot with one open conversation on the fake platform and the zero-latency echo vendor: the
//! core's message path, shared by the conversation and instructions benchmarks.

use std::rc::Rc;
use std::time::Duration;

use actix::Actor;
use botvisor_actors::bot::{BotActor, StartBot};
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::{settle, FakePlatform, FakeVendor};
use tokio::sync::mpsc;

pub fn bench_settings() -> BotSettings {
    let mut settings = BotSettings::new("bench-bot", "bots", "humans");
    // Every message is its own vendor call: no joining window.
    std::sync::Arc::make_mut(&mut settings.conversation.combine).message_delay = Duration::ZERO;
    settings.load.hard = 999;
    settings
}

pub struct Bench {
    pub platform: FakePlatform,
    pub answers: mpsc::UnboundedReceiver<()>,
}

/// A started bot with one open conversation `c1`, answers signalled on `answers`.
pub async fn one_conversation() -> Bench {
    let platform = FakePlatform::new();
    platform.forget_calls();
    platform.cap_history(64); // measure the engine, not the fake's growing transcript
    let (tx, answers) = mpsc::unbounded_channel();
    platform.on_publish(move |_, _| {
        let _ = tx.send(());
    });
    let bot = BotActor::new(bench_settings(), Rc::new(platform.clone()), Rc::new(FakeVendor::echo())).start();
    platform.attach(bot.clone().recipient());
    bot.send(StartBot).await.unwrap().unwrap();
    platform.assign("c1");
    settle().await;
    Bench { platform, answers }
}
