//! Steady consumer traffic: a thread posts consumer texts to the round's conversations, round robin,
//! at a fixed rate whatever the bots do (`POST /sim/v1/conversations/{id}/events`). Each text is a
//! unique token without spaces (`q{round}.{n}`), so an answer names exactly what it answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::http;
use super::processes::CONTROL_TIMEOUT;

/// A round's traffic never runs longer than this, whatever happens to the run.
const MAX_DURATION: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    pub sent: u64,
    /// Posts the simulator refused or did not answer.
    pub failed: u64,
}

pub struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Sent>>,
}

impl Traffic {
    pub fn start(control: String, conversations: Vec<String>, per_second: f64, round: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || send(&control, &conversations, per_second, round, &flag));
        Traffic { stop, thread: Some(thread) }
    }

    /// Stops sending; what was sent.
    pub fn stop(mut self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn send(control: &str, conversations: &[String], per_second: f64, round: usize, stop: &AtomicBool) -> Sent {
    let mut out = Sent::default();
    if conversations.is_empty() {
        return out;
    }
    let interval = Duration::from_secs_f64(1.0 / per_second.max(0.1));
    let start = Instant::now();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < MAX_DURATION {
        let due = start + interval.mul_f64(n as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
            continue;
        }
        let conversation = &conversations[(n % conversations.len() as u64) as usize];
        let body = json!({"type": "text", "text": format!("q{round}.{n}")});
        match http::ok(control, "POST", &format!("/sim/v1/conversations/{conversation}/events"), Some(&body), CONTROL_TIMEOUT) {
            Ok(_) => out.sent += 1,
            Err(_) => out.failed += 1,
        }
        n += 1;
    }
    out
}
