//! Capacity: 250 recommended (AWAY, back ONLINE below the low-water mark), 999 hard (every new
//! conversation escalated at once, no vendor call), overflow policies, and AWAY while the bot is
//! behind its messages.

use std::time::Duration;

use botvisor_actors::errors::ErrorCode;
use botvisor_actors::model::Availability;
use botvisor_actors::settings::OverflowPolicy;
use botvisor_actors::testkit::{advance, settle, FakeVendor, PlatformCall};

use crate::harness::{run_test, secs, settings, Harness, MS};

#[test]
fn at_250_the_bot_goes_away_and_comes_back_online_below_the_low_water_mark() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        assert_eq!(h.platform.availability(), Some(Availability::Online));
        for n in 0..249 {
            h.platform.assign(&format!("c{n}"));
        }
        settle().await;
        assert_eq!(h.platform.availability(), Some(Availability::Online));
        h.open("c249").await;
        assert_eq!(h.status().await.load.open, 250);
        assert_eq!(h.platform.availability(), Some(Availability::Away), "at the recommended 250 the bot goes AWAY");

        for n in 0..25 {
            h.platform.remove(&format!("c{n}"));
        }
        settle().await;
        assert_eq!(h.status().await.load.open, 225);
        assert_eq!(h.platform.availability(), Some(Availability::Away), "225 is not below the low-water mark");
        h.platform.remove("c25");
        settle().await;
        assert_eq!(h.platform.availability(), Some(Availability::Online));
        assert_eq!(h.platform.count_calls(|c| matches!(c, PlatformCall::SetAvailability(_))), 3);
    });
}

#[test]
fn the_1000th_conversation_is_escalated_at_once_without_a_vendor_call() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        for n in 0..999 {
            h.platform.assign(&format!("c{n}"));
        }
        settle().await;
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.load.open), (999, 999));

        h.platform.consumer_says("c999", "hello");
        h.platform.assign("c999");
        settle().await;
        advance(301 * MS).await;
        assert!(h.vendor.requests().is_empty(), "the vendor is never called");
        assert_eq!(h.platform.skill_of("c999").as_deref(), Some("humans"));
        assert_eq!(
            h.platform.consumer_transcript("c999"),
            ["consumer: hello", "bot: One moment please, I am transferring you to an agent."]
        );
        let status = h.status().await;
        let error = status.conversation_errors.last().unwrap();
        assert_eq!(error.conversation_id.as_str(), "c999");
        assert_eq!(
            error.report.code.as_str(),
            "com.liveperson.bot-connectors-worker.error.pipes.conversation-limit-checker.max-conv-limit-reached"
        );
        assert_eq!(status.load.escalated_at_hard_limit, 1);
        assert_eq!(status.load.open, 999, "the escalated one left again");

        // The others still work.
        h.platform.consumer_says("c5", "still there?");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs(), ["still there?"]);
    });
}

#[test]
fn the_hard_limit_is_tunable_below_999() {
    run_test(async {
        let mut s = settings();
        s.load.recommended = 2;
        s.load.low_water = 1;
        s.load.hard = 3;
        let h = Harness::start(s, FakeVendor::echo()).await;
        for n in 0..3 {
            h.open(&format!("c{n}")).await;
        }
        h.platform.consumer_says("c3", "hello");
        h.open("c3").await;
        assert_eq!(h.platform.skill_of("c3").as_deref(), Some("humans"));
        assert!(h.vendor.requests().is_empty(), "no vendor call for the conversation over the limit");
        assert_eq!(h.platform.consumer_transcript("c3"), ["consumer: hello", "bot: One moment please, I am transferring you to an agent."]);
        assert_eq!(h.status().await.conversation_errors.last().unwrap().report.code, ErrorCode::ConversationLimitReached);
    });
}

#[test]
fn overflow_policy_escalate_sends_new_conversations_to_the_overflow_skill() {
    run_test(async {
        let mut s = settings();
        s.load.recommended = 2;
        s.load.low_water = 1;
        s.load.overflow = OverflowPolicy::Escalate { skill: "overflow".into() };
        let h = Harness::start(s, FakeVendor::echo()).await;
        for n in 0..3 {
            h.open(&format!("c{n}")).await;
        }
        assert_eq!(h.platform.skill_of("c2").as_deref(), Some("overflow"));
        assert_eq!(h.platform.skill_of("c1"), None);
        assert_eq!(h.status().await.conversation_errors.last().unwrap().report.code, ErrorCode::OverflowEscalated);
    });
}

#[test]
fn overflow_policy_reject_ring_declines_rings_at_the_recommended_load() {
    run_test(async {
        let mut s = settings();
        s.load.recommended = 1;
        s.load.low_water = 0;
        s.load.overflow = OverflowPolicy::RejectRing;
        let h = Harness::start(s, FakeVendor::echo()).await;
        let first = h.platform.ring("c0");
        advance(101 * MS).await;
        assert!(h.platform.calls().contains(&PlatformCall::AcceptRing(first)));
        h.open("c0").await;
        let second = h.platform.ring("c1");
        advance(101 * MS).await;
        assert!(h.platform.calls().contains(&PlatformCall::RejectRing(second)));
    });
}

#[test]
fn a_bot_behind_its_messages_goes_away_until_it_catches_up() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "on time");
        settle().await;
        advance(secs(1)).await;
        assert_eq!(h.platform.availability(), Some(Availability::Online));
        assert!(!h.status().await.overloaded);

        // Messages now reach the bot 3 s after the platform stamped them (over the 2 s default).
        h.platform.set_delivery_lag(secs(3));
        h.platform.consumer_says("c1", "late");
        settle().await;
        advance(secs(1)).await;
        let status = h.status().await;
        assert!(status.overloaded, "a message 3 s late means the bot is behind");
        assert_eq!((status.stats.overloads, status.stats.event_lag_ms), (1, 3000));
        assert_eq!(h.platform.availability(), Some(Availability::Away), "routing gives new conversations to others");
        assert_eq!(h.platform.consumer_transcript("c1").last().unwrap(), "bot: echo: late", "what came late is still answered");

        // On time again: back after five calm seconds, not before.
        h.platform.set_delivery_lag(Duration::ZERO);
        h.platform.consumer_says("c1", "caught up");
        settle().await;
        advance(secs(3)).await;
        assert_eq!(h.platform.availability(), Some(Availability::Away));
        advance(secs(3)).await;
        assert!(!h.status().await.overloaded);
        assert_eq!(h.platform.availability(), Some(Availability::Online));
    });
}

#[test]
fn the_overload_signal_can_be_turned_off() {
    run_test(async {
        let mut s = settings();
        s.load.overload_lag = Duration::ZERO;
        let h = Harness::start(s, FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.set_delivery_lag(secs(60));
        h.platform.consumer_says("c1", "late");
        settle().await;
        advance(secs(1)).await;
        assert!(!h.status().await.overloaded);
        assert_eq!(h.platform.availability(), Some(Availability::Online));
    });
}
