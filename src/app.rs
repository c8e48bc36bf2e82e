//! The composition root: the only place the actor tree is wired to its adapters.
//!
//! Today it wires the demo: one bot on the in-process platform fake and a scripted demo vendor.
//! The service issue replaces the fakes with the LivePerson client and the vendor clients.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::Actor;
use botvisor_actors::bot::{BotActor, StartBot};
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::FakePlatform;

use crate::demo;

pub struct RunOptions {
    pub bot_settings: PathBuf,
    pub run_for: Option<Duration>,
    pub every: Duration,
}

/// Reads and validates a bot's settings file; every problem is reported with its path.
pub fn read_bot_settings(path: &PathBuf) -> Result<BotSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let settings: BotSettings = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let problems = settings.validate("bot");
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(format!("{} is not valid:\n{}", path.display(), list.join("\n")));
    }
    Ok(settings)
}

pub fn run_demo(options: RunOptions) -> Result<(), String> {
    let settings = read_bot_settings(&options.bot_settings)?;
    actix_rt::System::new().block_on(async move {
        let platform = FakePlatform::new();
        platform.forget_calls();
        platform.cap_history(500);
        let vendor = demo::demo_vendor();
        let bot_id = settings.bot_id.clone();
        let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(vendor)).start();
        platform.attach(bot.clone().recipient());
        demo::log_bot_messages(&platform);
        match bot.send(StartBot).await {
            Ok(Ok(())) => tracing::info!(%bot_id, "bot started on the in-process demo platform"),
            Ok(Err(report)) => return Err(format!("the bot did not start: {report}")),
            Err(error) => return Err(format!("the bot actor is gone: {error}")),
        }
        let traffic = actix_rt::spawn(demo::consumer_traffic(platform.clone(), bot.clone(), options.every));
        match options.run_for {
            Some(run_for) => actix_rt::time::sleep(run_for).await,
            None => {
                let _ = actix_rt::signal::ctrl_c().await;
            }
        }
        traffic.abort();
        if let Ok(status) = bot.send(botvisor_actors::bot::GetBotStatus).await {
            tracing::info!(
                bot_id = %status.bot_id,
                state = status.state.as_str(),
                open = status.open_conversations,
                started = status.stats.conversations_started,
                closed = status.stats.closed,
                transferred = status.stats.transferred,
                escalated = status.stats.escalated,
                "demo finished"
            );
        }
        Ok(())
    })
}
