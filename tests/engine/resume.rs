//! Resume: after a reconnect or a restart, every unanswered consumer message is answered
//! exactly once.

use botvisor_actors::bot::{StartBot, StopBot};
use botvisor_actors::model::BotResponse;
use botvisor_actors::testkit::{run_paused, advance, input_text, settle, FakeReply, FakeVendor};

use crate::harness::{secs, settings, Harness, MS};

#[test]
fn messages_sent_while_disconnected_are_answered_once_after_the_reconnect() {
    run_paused(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "a");
        settle().await;
        advance(301 * MS).await;

        h.platform.lose_session();
        settle().await;
        h.platform.consumer_says("c1", "b"); // the bot is not connected: it does not see these
        h.platform.consumer_says("c1", "c");
        advance(secs(5)).await;
        assert_eq!(h.vendor.inputs(), ["a"]);

        h.platform.reconnect();
        settle().await;
        advance(MS).await;
        assert_eq!(h.vendor.inputs(), ["a", "b c"]);
        // Another reconnect finds nothing unanswered.
        h.platform.lose_session();
        h.platform.reconnect();
        settle().await;
        advance(secs(1)).await;
        assert_eq!(h.vendor.inputs(), ["a", "b c"]);
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: a", "bot: echo: a", "consumer: b", "consumer: c", "bot: echo: b c"]
        );
    });
}

#[test]
fn an_answer_lost_with_the_session_is_given_once_after_the_reconnect() {
    run_paused(async {
        let vendor = FakeVendor::scripted(|request| {
            let text = input_text(&request.input);
            FakeReply::After(secs(10), Box::new(FakeReply::Answer(BotResponse::text(format!("answer to {text}")))))
        });
        let h = Harness::start(settings(), vendor).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "q");
        settle().await;
        advance(secs(5)).await;
        h.platform.lose_session(); // the answer comes at 10 s and cannot be published
        advance(secs(10)).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: q"]);

        h.platform.reconnect();
        settle().await;
        advance(secs(11)).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: q", "bot: answer to q"]);
        advance(secs(60)).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: q", "bot: answer to q"], "exactly once");
    });
}

#[test]
fn after_a_restart_only_unanswered_messages_are_answered() {
    run_paused(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "first");
        settle().await;
        advance(301 * MS).await;
        h.bot.send(StopBot).await.unwrap();
        settle().await;
        h.platform.consumer_says("c1", "second");

        h.bot.send(StartBot).await.unwrap().unwrap();
        settle().await;
        h.platform.assign("c1"); // the platform's snapshot of open conversations
        settle().await;
        advance(MS).await;
        assert_eq!(h.vendor.inputs(), ["first", "second"]);
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: first", "bot: echo: first", "consumer: second", "bot: echo: second"]
        );
    });
}
