//! Micro-benchmarks of the engine core (criterion), each next to a baseline in the same run:
//!
//! - messages per second through one ConversationActor with a zero-latency fake vendor (the
//!   consumer message goes platform → BotActor → ConversationActor → vendor → published answer),
//!   against a round trip over a tokio channel pair on the same thread;
//! - memory per idle ConversationActor: RSS delta over 10 000 open conversations, against
//!   10 000 empty actix actors;
//! - memory per passive conversation (see `conversation::passive`): the same 10 000, each
//!   bot's passivated once open.
//!
//! Run: `cargo bench --bench conversation`. Figures are printed as `figure:` lines.

#[path = "common/core_bench.rs"]
mod core_bench;

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Context};
use botvisor_actors::bot::{BotActor, GetBotStatus, PassivateSettled, StartBot};
use botvisor_actors::testkit::{settle, FakePlatform, FakeVendor};
use core_bench::{bench_settings, one_conversation};
use criterion::{Criterion, Throughput};
use tokio::sync::mpsc;
use tokio::time::Instant;

const IDLE_CONVERSATIONS: usize = 10_000;
const TIMED_MESSAGES: u64 = 50_000;

/// `iters` consumer messages, each waiting for its answer; returns the elapsed time.
fn conversation_round_trips(iters: u64) -> Duration {
    actix_rt::System::new().block_on(async move {
        let mut bench = one_conversation().await;
        let start = Instant::now();
        for _ in 0..iters {
            bench.platform.consumer_says("c1", "hello");
            bench.answers.recv().await.expect("an answer");
        }
        let elapsed = start.elapsed();
        bench.platform.forget_conversation("c1");
        elapsed
    })
}

/// Baseline: `iters` round trips between two tasks over tokio channels on the same thread.
fn channel_round_trips(iters: u64) -> Duration {
    actix_rt::System::new().block_on(async move {
        let (to_echo, mut echo_in) = mpsc::unbounded_channel::<u64>();
        let (to_main, mut main_in) = mpsc::unbounded_channel::<u64>();
        actix_rt::spawn(async move {
            while let Some(n) = echo_in.recv().await {
                let _ = to_main.send(n);
            }
        });
        let start = Instant::now();
        for n in 0..iters {
            to_echo.send(n).unwrap();
            main_in.recv().await.unwrap();
        }
        start.elapsed()
    })
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

struct EmptyActor;
impl Actor for EmptyActor {
    type Context = Context<Self>;
}

/// RSS delta per conversation over 10 000 open ones (bots hold at most 999; 12 bots here). With
/// `passivate`, each bot's conversations are passivated once open (`PassivateSettled`), so later
/// bots' actors reuse the memory the earlier ones freed, as in a node that runs for a while.
async fn memory_per_open_conversation(passivate: bool) -> f64 {
    let mut bots = Vec::new();
    let before = rss_bytes();
    let mut open = 0;
    let mut n = 0;
    while open < IDLE_CONVERSATIONS {
        let platform = FakePlatform::new();
        platform.forget_calls();
        let mut settings = bench_settings();
        settings.bot_id = format!("bench-bot-{n}").into();
        let bot = BotActor::new(settings, Rc::new(platform.clone()), Rc::new(FakeVendor::echo())).start();
        platform.attach(bot.clone().recipient());
        bot.send(StartBot).await.unwrap().unwrap();
        let batch = (IDLE_CONVERSATIONS - open).min(900);
        for c in 0..batch {
            platform.assign(&format!("b{n}-c{c}"));
        }
        settle().await;
        if passivate {
            bot.send(PassivateSettled { idle_for: Duration::ZERO }).await.unwrap();
            for _ in 0..5 {
                settle().await;
            }
        }
        let status = bot.send(GetBotStatus).await.unwrap();
        if passivate {
            assert_eq!(status.passive_conversations, status.open_conversations, "every conversation passive");
        }
        open += status.open_conversations;
        bots.push((bot, platform));
        n += 1;
    }
    for _ in 0..20 {
        settle().await;
    }
    (rss_bytes().saturating_sub(before)) as f64 / open as f64
}

/// RSS delta per passive conversation over 10 000.
fn memory_per_passive_conversation() -> f64 {
    actix_rt::System::new().block_on(memory_per_open_conversation(true))
}

/// RSS delta per idle conversation over 10 000, and per empty actix actor (the baseline).
fn memory_per_idle_conversation() -> (f64, f64) {
    actix_rt::System::new().block_on(async {
        // Baseline first: bare actix actors.
        let before = rss_bytes();
        let empties: Vec<_> = (0..IDLE_CONVERSATIONS).map(|_| EmptyActor.start()).collect();
        settle().await;
        let empty_per_actor = (rss_bytes().saturating_sub(before)) as f64 / IDLE_CONVERSATIONS as f64;
        drop(empties);
        settle().await;
        let per_conversation = memory_per_open_conversation(false).await;
        (per_conversation, empty_per_actor)
    })
}

fn main() {
    // Memory figures are RSS deltas: each is measured in a process of its own, so neither reuses
    // memory the other freed.
    if std::env::args().any(|a| a == "--passive-memory") {
        let per_passive = memory_per_passive_conversation();
        println!("figure: memory per passive conversation (RSS delta over {IDLE_CONVERSATIONS}): {per_passive:.0} bytes");
        return;
    }
    match std::env::current_exe().and_then(|exe| std::process::Command::new(exe).arg("--passive-memory").output()) {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(error) => eprintln!("the passive memory figure could not be measured: {error}"),
    }
    let (per_conversation, per_empty_actor) = memory_per_idle_conversation();
    println!("figure: memory per idle ConversationActor (RSS delta over {IDLE_CONVERSATIONS}): {per_conversation:.0} bytes");
    println!(
        "figure: baseline, memory per empty actix actor: {per_empty_actor:.0} bytes (ratio {:.1}x)",
        per_conversation / per_empty_actor.max(1.0)
    );

    let through_actor = conversation_round_trips(TIMED_MESSAGES);
    let through_channel = channel_round_trips(TIMED_MESSAGES);
    let actor_rate = TIMED_MESSAGES as f64 / through_actor.as_secs_f64();
    let channel_rate = TIMED_MESSAGES as f64 / through_channel.as_secs_f64();
    println!("figure: messages per second through one ConversationActor (zero-latency vendor, one at a time): {actor_rate:.0}");
    println!(
        "figure: baseline, round trips per second over a tokio channel pair: {channel_rate:.0} (actor/baseline {:.4})",
        actor_rate / channel_rate
    );

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("conversation");
    group.throughput(Throughput::Elements(1));
    group.bench_function("message_through_conversation_actor", |b| b.iter_custom(conversation_round_trips));
    group.bench_function("baseline_channel_round_trip", |b| b.iter_custom(channel_round_trips));
    group.finish();
    criterion.final_summary();
}
