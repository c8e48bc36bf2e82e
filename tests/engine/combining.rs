//! Message combining: windows, typing, max messages, messages during an in-flight call.

use botvisor_actors::testkit::{advance, settle, FakeVendor};

use crate::harness::{run_test, secs, settings, Harness, MS};

fn combining_settings() -> botvisor_actors::settings::BotSettings {
    let mut s = settings();
    std::sync::Arc::make_mut(&mut s.conversation.combine).enabled = true;
    s
}

#[test]
fn three_quick_messages_make_one_vendor_call_with_the_joined_text() {
    run_test(async {
        let h = Harness::start(combining_settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hello");
        h.platform.consumer_says("c1", "I need");
        h.platform.consumer_says("c1", "a refund");
        settle().await;

        advance(secs(2) - MS).await;
        assert!(h.vendor.inputs().is_empty(), "the 2 s window is still open");
        advance(2 * MS).await;
        assert_eq!(h.vendor.inputs(), ["hello I need a refund"]);
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: hello", "consumer: I need", "consumer: a refund", "bot: echo: hello I need a refund"]
        );
    });
}

#[test]
fn the_window_slides_with_each_message() {
    run_test(async {
        let h = Harness::start(combining_settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "a");
        advance(secs(1)).await;
        h.platform.consumer_says("c1", "b");
        settle().await;
        advance(secs(2) - MS).await;
        assert!(h.vendor.inputs().is_empty());
        advance(2 * MS).await;
        assert_eq!(h.vendor.inputs(), ["a b"]);
    });
}

#[test]
fn typing_extends_the_window_to_the_typing_time_frame() {
    run_test(async {
        let h = Harness::start(combining_settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "wait");
        settle().await;
        advance(secs(1)).await;
        h.platform.consumer_typing("c1", true);
        settle().await;
        // Without typing the call would be due at 2 s; typing moves it to 1 s + 5 s.
        advance(secs(5) - MS).await;
        assert!(h.vendor.inputs().is_empty(), "the consumer is still typing");
        advance(2 * MS).await;
        assert_eq!(h.vendor.inputs(), ["wait"]);
    });
}

#[test]
fn max_messages_sends_at_once() {
    run_test(async {
        let h = Harness::start(combining_settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        for word in ["one", "two", "three", "four"] {
            h.platform.consumer_says("c1", word);
        }
        settle().await;
        assert!(h.vendor.inputs().is_empty());
        h.platform.consumer_says("c1", "five");
        settle().await;
        assert_eq!(h.vendor.inputs(), ["one two three four five"], "the fifth message sends without waiting");
    });
}

#[test]
fn without_combining_messages_within_the_message_delay_are_still_joined() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(secs(0) + 200 * MS).await;
        h.platform.consumer_says("c1", "there");
        settle().await;
        advance(100 * MS - MS).await;
        assert!(h.vendor.inputs().is_empty(), "300 ms from the first message have not passed");
        advance(2 * MS).await;
        assert_eq!(h.vendor.inputs(), ["hi there"]);
        h.platform.consumer_says("c1", "later");
        settle().await;
        advance(300 * MS + MS).await;
        assert_eq!(h.vendor.inputs(), ["hi there", "later"]);
    });
}

#[test]
fn a_message_during_an_in_flight_call_is_answered_in_the_next_call() {
    run_test(async {
        let vendor = FakeVendor::answering_after(secs(10));
        let h = Harness::start(settings(), vendor).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "first");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs(), ["first"]);
        h.platform.consumer_says("c1", "second");
        h.platform.consumer_says("c1", "third");
        settle().await;
        advance(secs(5)).await;
        assert_eq!(h.vendor.inputs(), ["first"], "one call at a time");
        advance(secs(5)).await;
        assert_eq!(h.vendor.inputs(), ["first", "second third"], "queued messages go into the next call, in order");
        advance(secs(10) + MS).await;
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: first", "consumer: second", "consumer: third", "bot: answer to first", "bot: answer to second third",]
        );
    });
}
