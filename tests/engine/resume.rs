//! Resume: after a reconnect or a restart, every unanswered consumer message is answered
//! exactly once.

use botvisor_actors::bot::{StartBot, StopBot};
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, ResponseItem};
use botvisor_actors::testkit::{advance, input_text, settle, FakeReply, FakeVendor, PlatformCall};

use crate::harness::{run_test, secs, settings, Harness, MS};

#[test]
fn messages_sent_while_disconnected_are_answered_once_after_the_reconnect() {
    run_test(async {
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
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: a", "bot: echo: a", "consumer: b", "consumer: c", "bot: echo: b c"]);
    });
}

#[test]
fn a_live_message_before_the_resume_does_not_skip_what_was_said_while_disconnected() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "a");
        settle().await;
        advance(301 * MS).await;

        h.platform.lose_session();
        settle().await;
        h.platform.consumer_says("c1", "b"); // only in history
        h.platform.consumer_says("c1", "c");
        advance(secs(5)).await;
        // The new socket delivers "d" before the bot has handled the reconnect.
        h.platform.socket_up();
        h.platform.consumer_says("c1", "d");
        settle().await;
        advance(secs(1)).await;
        h.platform.reconnect();
        settle().await;
        advance(secs(1)).await;
        assert_eq!(h.vendor.inputs(), ["a", "b c d"]);
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: a", "bot: echo: a", "consumer: b", "consumer: c", "consumer: d", "bot: echo: b c d"]
        );
    });
}

#[test]
fn an_answer_lost_with_the_session_is_given_once_after_the_reconnect() {
    run_test(async {
        let vendor = FakeVendor::answering_after(secs(10));
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
    run_test(async {
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
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: first", "bot: echo: first", "consumer: second", "bot: echo: second"]);
    });
}

#[test]
fn a_reconnect_during_a_vendor_call_still_reads_back_what_was_said_meanwhile() {
    run_test(async {
        let vendor = FakeVendor::answering_after(secs(10));
        let h = Harness::start(settings(), vendor).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "q1");
        settle().await;
        advance(secs(2)).await; // the call for q1 is in flight until 10.3 s
        h.platform.lose_session();
        h.platform.consumer_says("c1", "q2"); // said during the outage: not delivered live
        advance(secs(2)).await;
        h.platform.reconnect(); // the resync arrives while the actor is busy
        settle().await;
        advance(secs(20)).await;
        assert_eq!(h.vendor.inputs(), ["q1", "q2"]);
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: q1", "consumer: q2", "bot: answer to q1", "bot: answer to q2"]);
    });
}

#[test]
fn an_escalation_cut_by_a_disconnect_is_completed_after_the_reconnect() {
    run_test(async {
        let vendor = FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "broken".into() }));
        let h = Harness::start(settings(), vendor).await;
        h.open("c1").await;
        h.platform.drop_session_on_next_transfer_or_close();
        h.platform.consumer_says("c1", "help");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.skill_of("c1"), None, "the transfer was cut");
        h.platform.reconnect();
        settle().await;
        advance(MS).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: help", "bot: One moment please, I am transferring you to an agent."],
            "the consumer is told once"
        );
        assert_eq!(h.vendor.requests().len(), 1, "the vendor is not asked again");
    });
}

#[test]
fn an_action_cut_by_a_disconnect_is_performed_after_the_reconnect() {
    run_test(async {
        let response =
            BotResponse::text("Passing you to billing").with_action(BotAction::Transfer { skill: "billing".into(), agent_id: None });
        let h = Harness::start(settings(), FakeVendor::scripted(move |_| FakeReply::Answer(response.clone()))).await;
        h.open("c1").await;
        h.platform.drop_session_on_next_transfer_or_close();
        h.platform.consumer_says("c1", "invoice");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.skill_of("c1"), None);
        h.platform.reconnect();
        settle().await;
        advance(MS).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("billing"));
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: invoice", "bot: Passing you to billing"]);
        assert_eq!(h.vendor.requests().len(), 1);
    });
}

#[test]
fn a_restart_does_not_welcome_again_and_a_delay_only_answer_is_asked_again_unseen() {
    run_test(async {
        let mut s = settings();
        s.conversation.welcome = true;
        let vendor = FakeVendor::scripted(|request| match input_text(&request.input).as_str() {
            "<welcome>" => FakeReply::Answer(BotResponse::text("Welcome!")),
            // A delay-only answer: the documented way to say nothing.
            _ => FakeReply::Answer(BotResponse::default().with_item(ResponseItem::Delay { seconds: 1, typing: false })),
        });
        let h = Harness::start(s, vendor).await;
        h.platform.consumer_says("c1", "hmm");
        h.platform.assign("c1");
        settle().await;
        advance(secs(2)).await;
        assert_eq!(h.vendor.inputs(), ["<welcome>", "hmm"]);

        h.bot.send(StopBot).await.unwrap();
        settle().await;
        h.bot.send(StartBot).await.unwrap().unwrap();
        settle().await;
        h.platform.assign("c1");
        settle().await;
        advance(secs(2)).await;
        // The READ receipt went out before the answer, so it does not prove the answer: an answer
        // that published nothing is asked again (at least once towards the vendor), the welcome
        // is not, and the consumer sees nothing twice.
        assert_eq!(h.vendor.inputs(), ["<welcome>", "hmm", "hmm"]);
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hmm", "bot: Welcome!"]);
        let reads = h.platform.count_calls(|c| matches!(c, PlatformCall::Read { conversation, .. } if conversation.as_str() == "c1"));
        assert_eq!(reads, 1, "one READ receipt for the one consumer message, not again after the restart");
    });
}

#[test]
fn more_messages_than_the_buffer_holds_are_all_answered_in_order() {
    run_test(async {
        let mut s = settings();
        s.conversation.max_buffered_messages = 2;
        let vendor = FakeVendor::answering_after(secs(10));
        let h = Harness::start(s, vendor).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "m1");
        settle().await;
        advance(secs(1)).await;
        for text in ["m2", "m3", "m4", "m5"] {
            h.platform.consumer_says("c1", text);
        }
        settle().await;
        advance(secs(11)).await; // "m2 m3" is in flight now; m4 and m5 wait in history
        h.platform.consumer_says("c1", "m6"); // must not overtake m4 and m5
        settle().await;
        advance(secs(60)).await;
        assert_eq!(h.vendor.inputs(), ["m1", "m2 m3", "m4 m5", "m6"], "m4 and m5 waited in history, m6 after them");
        let answers: Vec<_> = h.platform.consumer_transcript("c1").into_iter().filter(|l| l.starts_with("bot:")).collect();
        assert_eq!(answers, ["bot: answer to m1", "bot: answer to m2 m3", "bot: answer to m4 m5", "bot: answer to m6"]);
    });
}
