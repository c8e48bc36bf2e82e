//! A bot on the fake platform and fake vendor, started and connected; and the test runner that
//! retires every bot a test created and fails the test if an actor of the core is left running
//! (Quickwit's universe check).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr};
use botvisor_actors::bot::{BotActor, BotStatus, GetBotStatus, GetConversation, RetireBot, StartBot};
use botvisor_actors::conversation::execute::MAX_DELAY_SECONDS;
use botvisor_actors::conversation::{ConversationSnapshot, GetConversationSnapshot};
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::{no_live_actors_within, run_paused, settle, FakePlatform, FakeVendor, LiveActors};

pub const MS: Duration = Duration::from_millis(1);

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// How long a retired bot's actors may take to end. A conversation carrying out an answer when
/// the bot stopped finishes it first (so no action is lost); the longest such wait is a DELAY.
pub const RETIRE_GRACE: Duration = Duration::from_secs(MAX_DELAY_SECONDS as u64 + 1);

thread_local! {
    /// Every bot the running test created, retired when it ends.
    static BOTS: RefCell<Vec<Addr<BotActor>>> = const { RefCell::new(Vec::new()) };
}

/// Runs an engine test in paused time; then retires every bot it created and panics if any
/// BotActor, LoadActor or ConversationActor is still running `RETIRE_GRACE` later.
pub fn run_test(test: impl Future<Output = ()>) {
    run_paused(async {
        test.await;
        if let Err(left) = retire_all().await {
            panic!("the test left actors running after its bots were retired: {left}");
        }
    });
}

/// Retires every bot the test created and waits for the core's actors to end.
pub async fn retire_all() -> Result<(), LiveActors> {
    let bots = BOTS.with(|bots| std::mem::take(&mut *bots.borrow_mut()));
    for bot in bots {
        // A bot the test retired already no longer answers: nothing to do.
        let _ = bot.send(RetireBot).await;
    }
    no_live_actors_within(RETIRE_GRACE).await
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
        BOTS.with(|bots| bots.borrow_mut().push(bot.clone()));
        platform.attach(bot.clone().recipient());
        let harness = Self { bot, platform, vendor };
        harness.bot.send(StartBot).await.expect("bot alive").expect("bot starts");
        settle().await;
        harness
    }

    /// Starts the bot with its conversations' records kept in `state`.
    pub async fn start_with_state(
        settings: BotSettings,
        vendor: FakeVendor,
        state: botvisor_actors::testkit::MemoryConversationState,
    ) -> Self {
        let platform = FakePlatform::new();
        let bot =
            BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor.clone())).with_conversation_state(Rc::new(state)).start();
        BOTS.with(|bots| bots.borrow_mut().push(bot.clone()));
        platform.attach(bot.clone().recipient());
        let harness = Self { bot, platform, vendor };
        harness.bot.send(StartBot).await.expect("bot alive").expect("bot starts");
        settle().await;
        harness
    }

    /// Starts the bot with `functions` for the functions its vendor invokes.
    pub async fn start_with_functions(
        settings: BotSettings,
        vendor: FakeVendor,
        functions: botvisor_actors::testkit::FakeFunctions,
    ) -> Self {
        let platform = FakePlatform::new();
        let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor.clone())).with_functions(Rc::new(functions)).start();
        BOTS.with(|bots| bots.borrow_mut().push(bot.clone()));
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
        BOTS.with(|bots| bots.borrow_mut().push(bot.clone()));
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
