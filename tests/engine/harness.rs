//! A bot on the fake platform and fake vendor, started and connected.

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor_actors::bot::{BotActor, BotStatus, GetBotStatus, GetConversation, StartBot};
use botvisor_actors::conversation::{ConversationSnapshot, GetConversationSnapshot};
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::{settle, FakePlatform, FakeVendor};

pub const MS: Duration = Duration::from_millis(1);

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A bot `bot-1` on skill `bots`, escalating to `humans`.
pub fn settings() -> BotSettings {
    BotSettings::new("bot-1", "bots", "humans")
}

pub struct Harness {
    pub bot: Addr<BotActor>,
    pub platform: FakePlatform,
    pub vendor: FakeVendor,
}

impl Harness {
    /// Starts the bot (vendor health online) and lets the fake session connect.
    pub async fn start(settings: BotSettings, vendor: FakeVendor) -> Self {
        let harness = Self::create(settings, vendor);
        harness.bot.send(StartBot).await.expect("bot alive").expect("bot starts");
        settle().await;
        harness
    }

    /// Starts the bot with an error hook.
    pub async fn start_with_hook(settings: BotSettings, vendor: FakeVendor, hook: botvisor_actors::testkit::FakeErrorHook) -> Self {
        let platform = FakePlatform::new();
        let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor.clone())).with_error_hook(Rc::new(hook)).start();
        platform.attach(bot.clone().recipient());
        let harness = Self { bot, platform, vendor };
        harness.bot.send(StartBot).await.expect("bot alive").expect("bot starts");
        settle().await;
        harness
    }

    /// Creates the bot without starting it.
    pub fn create(settings: BotSettings, vendor: FakeVendor) -> Self {
        let platform = FakePlatform::new();
        let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor.clone())).start();
        platform.attach(bot.clone().recipient());
        Self { bot, platform, vendor }
    }

    pub async fn status(&self) -> BotStatus {
        self.bot.send(GetBotStatus).await.expect("bot alive")
    }

    pub async fn conversation(&self, id: &str) -> Option<ConversationSnapshot> {
        let addr = self.bot.send(GetConversation { conversation_id: id.into() }).await.expect("bot alive")?;
        addr.send(GetConversationSnapshot).await.ok()
    }

    /// Assigns a conversation and lets its actor read its (empty) history.
    pub async fn open(&self, id: &str) {
        self.platform.assign(id);
        settle().await;
    }
}
