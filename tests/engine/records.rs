//! What a conversation keeps in the store beyond the platform's history, and what the bot's next
//! run (a restart here, or the node that takes the bot over) does with it: an escalation under
//! way goes on counting its transfers instead of starting over or being left half done, and a
//! vendor's session handle is given back to the vendor. The records go when the conversation
//! ends for the bot.

use botvisor_actors::bot::{StartBot, StopBot};
use botvisor_actors::errors::{ErrorCode, VendorError};
use botvisor_actors::model::BotResponse;
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::{advance, settle, FakeReply, FakeVendor, MemoryConversationState, PlatformCall};
use serde_json::json;

use crate::harness::{run_test, secs, settings, Harness, MS};

fn escalation_settings() -> BotSettings {
    let mut s = settings();
    s.escalation.transfer_message_to_customer = "Connecting you with a human.".into();
    s.escalation.transfer_message_to_agent = "Bot error, please take over.".into();
    s.escalation.transfer_failure_message = "Sorry, nobody is free right now.".into();
    s
}

fn transfers_to(h: &Harness, skill: &str) -> usize {
    h.platform.count_calls(|c| matches!(c, PlatformCall::TransferToSkill { skill: s, .. } if s == skill))
}

/// Stops the bot and starts it again on the same store: its conversations are rebuilt from the
/// platform's history and their records, as on the node that takes a bot over.
async fn run_again(h: &Harness, conversation: &str) {
    h.bot.send(StopBot).await.unwrap();
    settle().await;
    h.bot.send(StartBot).await.unwrap().unwrap();
    settle().await;
    h.platform.assign(conversation);
    settle().await;
}

#[test]
fn an_escalation_cut_short_goes_on_counting_its_transfers_on_the_next_run() {
    run_test(async {
        let state = MemoryConversationState::default();
        let vendor = FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "bad".into() }));
        let h = Harness::start_with_state(escalation_settings(), vendor, state.clone()).await;
        h.platform.fail_transfers_to("humans");
        h.open("c1").await;
        h.platform.consumer_says("c1", "help");
        settle().await;
        advance(301 * MS).await;
        advance(secs(10)).await;
        assert_eq!(transfers_to(&h, "humans"), 2, "the first transfer and one retry");
        let kept = state.record("c1").and_then(|r| r.escalation).expect("the escalation's progress is in the store");
        assert_eq!((kept.skill.as_str(), kept.transfers_tried, kept.code.as_str()), ("humans", 2, "botvisor.vendor.request-failed"));

        // The node's session dies in the retry wait: the next attempt finds no session (a call the
        // escalation does not count), and the bot stops. Its next run reads the record.
        h.platform.lose_session();
        settle().await;
        advance(secs(10)).await;
        assert_eq!(transfers_to(&h, "humans"), 3, "two attempts and one that found no session");
        assert_eq!(state.record("c1").and_then(|r| r.escalation).map(|e| e.transfers_tried), Some(2));
        run_again(&h, "c1").await;
        for calls in 4..=7 {
            advance(secs(10) - 2 * MS).await;
            assert_eq!(transfers_to(&h, "humans"), calls - 1, "each retry waits for the retry interval");
            advance(2 * MS).await;
            assert_eq!(transfers_to(&h, "humans"), calls);
        }
        advance(secs(600)).await;
        assert_eq!(transfers_to(&h, "humans"), 7, "6 attempts (1 + max_escalation_retries) over both runs, not 6 more");
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: help", "bot: Connecting you with a human.", "bot: Sorry, nobody is free right now."],
            "nothing announced again, the failure message once"
        );
        assert_eq!(h.vendor.inputs(), ["help"], "the answered message is not asked again");
        let snapshot = h.conversation("c1").await.expect("the conversation stays with the bot");
        assert_eq!(snapshot.last_error.unwrap().code, ErrorCode::EscalationFailed);
        assert_eq!(state.record("c1"), None, "the escalation is over: its record is gone");
    });
}

#[test]
fn an_escalation_resumed_on_the_next_run_lands_on_the_skill_and_leaves_no_record() {
    run_test(async {
        let state = MemoryConversationState::default();
        let vendor = FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "bad".into() }));
        let h = Harness::start_with_state(escalation_settings(), vendor, state.clone()).await;
        h.platform.fail_transfers_to("humans");
        h.open("c1").await;
        h.platform.consumer_says("c1", "help");
        settle().await;
        advance(301 * MS).await;
        // The session dies in the retry wait (the retry finds none), the bot stops and runs again.
        h.platform.lose_session();
        settle().await;
        advance(secs(10)).await;
        run_again(&h, "c1").await;
        h.platform.allow_transfers_to("humans");
        advance(secs(10)).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(transfers_to(&h, "humans"), 3, "the first attempt, the one with no session, the resumed one");
        assert_eq!(h.platform.consumer_transcript("c1").len(), 3, "help, the announcement, the failure message: nothing twice");
        assert_eq!(h.status().await.stats.escalated, 1);
        assert_eq!(state.record("c1"), None);
    });
}

#[test]
fn a_vendor_session_is_kept_given_back_on_the_next_run_and_forgotten_when_the_conversation_ends() {
    run_test(async {
        let state = MemoryConversationState::default();
        // A vendor that opens a session on its first call and expects it back on every later one.
        let vendor = FakeVendor::scripted(|request| match &request.conversation.vendor_session {
            None => FakeReply::Answer(BotResponse { vendor_session: Some(json!({"session": "s-1"})), ..BotResponse::text("new session") }),
            Some(session) => FakeReply::Answer(BotResponse::text(format!("in {}", session["session"].as_str().unwrap_or("?")))),
        });
        let h = Harness::start_with_state(settings(), vendor, state.clone()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(state.record("c1").and_then(|r| r.vendor_session), Some(json!({"session": "s-1"})));

        run_again(&h, "c1").await;
        h.platform.consumer_says("c1", "again");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: new session", "consumer: again", "bot: in s-1"]);
        assert_eq!(state.saves().len(), 1, "an unchanged session is not written again");

        // The consumer closes the conversation: its record goes.
        h.platform.remove("c1");
        settle().await;
        assert_eq!(state.record("c1"), None);
    });
}

#[test]
fn a_conversation_that_never_needed_a_record_never_touches_the_store() {
    run_test(async {
        let state = MemoryConversationState::default();
        let h = Harness::start_with_state(settings(), FakeVendor::echo(), state.clone()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await;
        h.platform.remove("c1");
        settle().await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: echo: hi"]);
        assert!(state.saves().is_empty());
    });
}
