//! No actor outlives its bot: retiring a bot ends its LoadActor and every ConversationActor,
//! and the engine harness fails a test that leaves one running (Quickwit's universe check).

use std::rc::Rc;

use actix::Actor;
use botvisor_actors::bot::{RetireBot, StopBot};
use botvisor_actors::load::{GetLoad, LoadActor};
use botvisor_actors::model::{BotResponse, ResponseItem, TextMessage};
use botvisor_actors::testkit::{advance, live_actors, run_paused, settle, FakeReply, FakeVendor, LiveActors};

use crate::harness::{retire_all, run_test, secs, settings, Harness, MS};

/// c1 waits for a vendor that never answers, c2 carries out a 60 s DELAY, c3 is idle.
async fn three_busy_conversations() -> Harness {
    let vendor = FakeVendor::scripted(|request| match request.conversation.conversation_id.as_str() {
        "c1" => FakeReply::Hang,
        _ => FakeReply::Answer(
            BotResponse::default()
                .with_item(ResponseItem::Delay { seconds: 60, typing: false })
                .with_item(ResponseItem::Text(TextMessage::plain("late"))),
        ),
    });
    let h = Harness::start(settings(), vendor).await;
    for id in ["c1", "c2", "c3"] {
        h.open(id).await;
    }
    h.platform.consumer_says("c1", "hello?");
    h.platform.consumer_says("c2", "take your time");
    settle().await;
    advance(301 * MS).await; // the combining delay: both vendor calls are made
    assert_eq!(h.vendor.requests().len(), 2);
    assert_eq!(live_actors(), LiveActors { bots: 1, loads: 1, conversations: 3 });
    h
}

#[test]
fn retiring_a_bot_ends_its_load_actor_and_every_conversation() {
    run_test(async {
        let h = three_busy_conversations().await;
        h.bot.send(RetireBot).await.unwrap();
        settle().await;
        assert_eq!(
            live_actors(),
            LiveActors { bots: 0, loads: 0, conversations: 1 },
            "only the conversation in the middle of its answer is left"
        );
        advance(secs(60)).await;
        assert_eq!(live_actors().total(), 0, "it ends once its DELAY is over");
        assert_eq!(h.platform.consumer_transcript("c2"), ["consumer: take your time"], "nothing is published after the session closed");
    });
}

#[test]
fn a_bot_that_panics_takes_its_conversations_with_it() {
    run_test(async {
        let mut s = settings();
        s.conversation.inactivity =
            Some(botvisor_actors::settings::InactivitySettings { close_after: secs(30), warning: None, close_message: None });
        let h = Harness::start(s, FakeVendor::echo()).await;
        h.open("c1").await;
        h.open("c2").await;
        assert_eq!(live_actors(), LiveActors { bots: 1, loads: 1, conversations: 2 });
        // The bot's handler for the reconnect asks for its availability: that call panics.
        h.platform.lose_session();
        settle().await;
        h.platform.panic_on_next_availability();
        h.platform.reconnect();
        settle().await;
        assert!(!h.bot.connected(), "the BotActor died");
        advance(MS).await;
        assert_eq!(live_actors().total(), 0, "its LoadActor and conversations ended with it: {}", live_actors());
        advance(secs(31)).await;
        assert_eq!(h.platform.closed("c1"), None, "no inactivity close for a bot that is gone");
    });
}

#[test]
fn stopping_a_bot_ends_its_conversations_and_keeps_the_bot() {
    run_test(async {
        let h = three_busy_conversations().await;
        h.bot.send(StopBot).await.unwrap();
        advance(secs(61)).await;
        assert_eq!(live_actors(), LiveActors { bots: 1, loads: 1, conversations: 0 });
    });
}

#[test]
fn the_check_reports_a_load_actor_nobody_stopped() {
    run_paused(async {
        let leaked = LoadActor::new(settings().load, "humans".into()).start();
        leaked.send(GetLoad).await.unwrap();
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        assert_eq!(retire_all().await, Err(LiveActors { bots: 0, loads: 1, conversations: 0 }));
        drop(leaked);
        assert_eq!(retire_all().await, Ok(()), "an actor whose last address goes stops");
    });
}

#[test]
#[should_panic(expected = "the test left actors running after its bots were retired: 0 BotActor, 1 LoadActor, 0 ConversationActor")]
fn the_engine_harness_fails_a_test_that_leaves_an_actor_running() {
    run_test(async {
        let leaked = Rc::new(LoadActor::new(settings().load, "humans".into()).start());
        leaked.send(GetLoad).await.unwrap();
        std::mem::forget(leaked); // as a BotActor that never lets go of its LoadActor
    });
}
