//! Supervision: a failing or panicking conversation is rebuilt from history and the bot stays
//! up; one that keeps failing is handed to a human.

use botvisor_actors::errors::ErrorCode;
use botvisor_actors::model::{BotResponse, BotState};
use botvisor_actors::testkit::{advance, input_text, settle, FakeReply, FakeVendor};

use crate::harness::{run_test, secs, settings, Harness, MS};

#[test]
fn a_panicking_conversation_is_rebuilt_and_the_bot_stays_online() {
    run_test(async {
        let mut calls = 0;
        let vendor = FakeVendor::scripted(move |request| {
            calls += 1;
            if calls == 1 {
                FakeReply::Panic("vendor adapter bug")
            } else {
                FakeReply::Answer(BotResponse::text(format!("echo: {}", input_text(&request.input))))
            }
        });
        let h = Harness::start(settings(), vendor).await;
        h.open("c1").await;
        h.open("c2").await;
        h.platform.consumer_says("c1", "boom");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.status().await.stats.panicked, 1);
        advance(secs(1)).await; // rebuild backoff: 500 ms, jittered by ±50 %
        let status = h.status().await;
        assert_eq!(status.state, BotState::Online);
        assert_eq!(status.stats.rebuilt, 1);
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: boom", "bot: echo: boom"], "answered once after the rebuild");

        h.platform.consumer_says("c2", "unaffected");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c2"), ["consumer: unaffected", "bot: echo: unaffected"]);
    });
}

#[test]
fn a_conversation_that_keeps_failing_is_escalated_after_the_restart_limit() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::scripted(|_| FakeReply::Panic("always"))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "boom");
        settle().await;
        advance(secs(30)).await;
        assert_eq!(h.vendor.requests().len(), 4, "the first run and 3 rebuilds");
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        let status = h.status().await;
        assert_eq!(status.state, BotState::Online);
        assert_eq!(status.conversation_errors.last().unwrap().report.code, ErrorCode::ConversationRestartLimit);
        assert_eq!(status.open_conversations, 0);
    });
}
