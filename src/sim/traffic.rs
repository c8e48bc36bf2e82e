//! The traffic generator: N conversations per minute on a skill, each consumer sending M
//! messages with think time, optionally typing first and sending files and rich content.
//! Started from the config or the control API; bounded in rate, in concurrent consumers and,
//! when asked, in duration.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

pub use crate::sim::config::TrafficConfig;
use crate::sim::state::Shared;
use crate::sim::timers;

/// Consumers talking at once, at most; a new one waits its turn beyond this.
const MAX_ACTIVE_CONSUMERS: u64 = 20_000;

/// A running generator; dropping the handle does not stop it, `stop` does.
#[derive(Clone)]
pub struct TrafficHandle {
    stopped: Arc<AtomicBool>,
    /// The generator ended (its duration is over, or its skill is gone).
    pub finished: Arc<AtomicBool>,
    pub opened: Arc<AtomicU64>,
    pub messages: Arc<AtomicU64>,
}

impl TrafficHandle {
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Starts generating on the current actix system.
pub fn start(shared: Shared, config: TrafficConfig) -> TrafficHandle {
    let handle = TrafficHandle {
        stopped: Arc::new(AtomicBool::new(false)),
        finished: Arc::new(AtomicBool::new(false)),
        opened: Arc::new(AtomicU64::new(0)),
        messages: Arc::new(AtomicU64::new(0)),
    };
    let generator = handle.clone();
    actix_rt::spawn(async move {
        let every = Duration::from_secs(60) / config.conversations_per_minute.max(1);
        let started = tokio::time::Instant::now();
        let active = Arc::new(AtomicU64::new(0));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if generator.stopped.load(Ordering::Relaxed) || config.duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            if active.load(Ordering::Relaxed) >= MAX_ACTIVE_CONSUMERS {
                continue;
            }
            let opened = {
                let mut state = shared.lock().expect("state lock");
                let opened = state.open_conversation(&config.skill, json!({}));
                (opened, state.take_timers())
            };
            timers::arm(&shared, opened.1);
            let Ok((conversation, _)) = opened.0 else {
                tracing::warn!(skill = %config.skill, "traffic: no such skill, stopping");
                break;
            };
            generator.opened.fetch_add(1, Ordering::Relaxed);
            active.fetch_add(1, Ordering::Relaxed);
            let script = if config.scripts.is_empty() {
                None
            } else {
                let n = generator.opened.load(Ordering::Relaxed) as usize;
                Some(config.scripts[(n.saturating_sub(1)) % config.scripts.len()].clone())
            };
            actix_rt::spawn(consumer(shared.clone(), config.clone(), conversation, script, generator.clone(), active.clone()));
        }
        generator.finished.store(true, Ordering::Relaxed);
    });
    handle
}

async fn consumer(
    shared: Shared,
    config: TrafficConfig,
    conversation: String,
    script: Option<Vec<String>>,
    handle: TrafficHandle,
    active: Arc<AtomicU64>,
) {
    let count = script.as_ref().map_or(config.messages_per_conversation, |s| s.len() as u32);
    for n in 1..=count {
        tokio::time::sleep(config.think_time).await;
        if handle.stopped.load(Ordering::Relaxed) {
            break;
        }
        let mut state = shared.lock().expect("state lock");
        if state.conversations.get(&conversation).is_none_or(|c| c.state != "OPEN") {
            break;
        }
        if config.typing {
            let _ = state.consumer_event(&conversation, json!({"type": "ChatStateEvent", "chatState": "COMPOSING"}));
        }
        let event = if config.files && n % 3 == 0 {
            json!({"type": "ContentEvent", "contentType": "hosted/file", "message": {"relativePath": format!("/v1/AUTH_sim/{conversation}/{n}.png"), "fileType": "PNG", "caption": "a picture"}})
        } else if config.rich && n % 4 == 0 {
            json!({"type": "RichContentEvent", "content": {"type": "map", "la": 52.52, "lo": 13.40, "alt": "Berlin"}})
        } else {
            let text = match &script {
                Some(lines) => lines[(n - 1) as usize].clone(),
                None => format!("message {n} of {count}"),
            };
            json!({"type": "ContentEvent", "contentType": "text/plain", "message": text})
        };
        if state.consumer_event(&conversation, event).is_ok() {
            handle.messages.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some(close_after) = config.close_after {
        tokio::time::sleep(close_after).await;
        let timers = {
            let mut state = shared.lock().expect("state lock");
            state.close(&conversation, "CONSUMER");
            state.flush_notifications();
            state.take_timers()
        };
        timers::arm(&shared, timers);
    }
    active.fetch_sub(1, Ordering::Relaxed);
}
