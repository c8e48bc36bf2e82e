//! Inactivity: a warning, then the close, so bots do not fill up to their hard limit.

use std::time::Duration;

use botvisor_actors::settings::{BotSettings, InactivitySettings, InactivityWarning};
use botvisor_actors::testkit::{advance, settle, FakeVendor};

use crate::harness::{run_test, settings, Harness, MS};

const MINUTE: Duration = Duration::from_secs(60);

fn idle_settings() -> BotSettings {
    let mut s = settings();
    s.conversation.inactivity = Some(InactivitySettings {
        close_after: 10 * MINUTE,
        warning: Some(InactivityWarning { before_close: 2 * MINUTE, message: "Are you still there?".into() }),
        close_message: Some("Closing this chat, write again any time.".into()),
    });
    s
}

#[test]
fn an_idle_conversation_is_warned_then_closed() {
    run_test(async {
        let h = Harness::start(idle_settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(8 * MINUTE - MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: echo: hi"]);
        advance(2 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c1").last().unwrap(), "bot: Are you still there?");
        advance(2 * MINUTE - 2 * MS).await;
        assert_eq!(h.platform.closed("c1"), None);
        advance(2 * MS).await;
        assert_eq!(h.platform.closed("c1"), Some(true));
        assert_eq!(h.platform.consumer_transcript("c1").last().unwrap(), "bot: Closing this chat, write again any time.");
        let status = h.status().await;
        assert_eq!((status.stats.closed, status.open_conversations), (1, 0));
    });
}

#[test]
fn consumer_activity_restarts_the_inactivity_clock() {
    run_test(async {
        let h = Harness::start(idle_settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        advance(7 * MINUTE).await;
        h.platform.consumer_says("c1", "still here");
        settle().await;
        advance(8 * MINUTE - MS).await;
        assert!(!h.platform.consumer_transcript("c1").contains(&"bot: Are you still there?".to_owned()));
        advance(2 * MS).await;
        assert!(h.platform.consumer_transcript("c1").contains(&"bot: Are you still there?".to_owned()));
    });
}

#[test]
fn inactivity_close_is_off_by_default() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        advance(Duration::from_secs(90 * 24 * 3600)).await;
        assert_eq!(h.platform.closed("c1"), None);
        assert_eq!(h.status().await.open_conversations, 1);
    });
}

#[test]
fn a_conversation_taken_over_counts_its_inactivity_from_the_consumers_last_message() {
    run_test(async {
        // The consumer wrote 9 minutes ago, on a node that died; this bot takes the conversation
        // over now: the warning (due at 8 minutes) comes at once, the close 2 minutes later —
        // not a fresh 10 minutes from the takeover.
        let h = Harness::start(idle_settings(), FakeVendor::echo()).await;
        h.platform.consumer_says("c1", "anyone?");
        advance(9 * MINUTE).await;
        h.platform.assign("c1");
        settle().await;
        advance(MS).await;
        assert!(
            h.platform.consumer_transcript("c1").contains(&"bot: Are you still there?".to_owned()),
            "{:?}",
            h.platform.consumer_transcript("c1")
        );
        advance(2 * MINUTE - 2 * MS).await;
        assert_eq!(h.platform.closed("c1"), None);
        advance(2 * MS).await;
        assert_eq!(h.platform.closed("c1"), Some(true));
    });
}

#[test]
fn a_conversation_idle_past_its_close_on_a_dead_node_is_closed_at_once() {
    run_test(async {
        let h = Harness::start(idle_settings(), FakeVendor::echo()).await;
        h.platform.consumer_says("c1", "hello?");
        advance(30 * MINUTE).await;
        h.platform.assign("c1");
        settle().await;
        // Its unanswered message is answered first (nothing is dropped), then it closes.
        advance(Duration::from_secs(1)).await;
        assert_eq!(h.platform.closed("c1"), Some(true));
        let transcript = h.platform.consumer_transcript("c1");
        assert!(transcript.contains(&"bot: echo: hello?".to_owned()), "{transcript:?}");
        assert!(!transcript.contains(&"bot: Are you still there?".to_owned()), "no warning read too late: {transcript:?}");
    });
}
