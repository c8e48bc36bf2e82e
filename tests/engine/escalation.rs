//! Error escalation: the configured messages, the skill the conversation lands on, retries,
//! the own-skill loop guard, and the error codes.

use botvisor_actors::errors::{ErrorCode, VendorError};
use botvisor_actors::model::{BotAction, BotResponse};
use botvisor_actors::settings::BotSettings;
use botvisor_actors::testkit::{advance, settle, FakeReply, FakeVendor, PlatformCall};

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

async fn last_error_code(h: &Harness) -> ErrorCode {
    h.status().await.conversation_errors.last().expect("an error was recorded").report.code
}

#[test]
fn vendor_timeout_after_every_attempt_escalates_with_the_configured_messages() {
    run_test(async {
        let h = Harness::start(escalation_settings(), FakeVendor::scripted(|_| FakeReply::Hang)).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hello?");
        settle().await;
        advance(301 * MS).await; // the call starts at 300 ms
        assert_eq!(h.vendor.requests().len(), 1);
        // Attempt 1 times out at 60 s; attempt 2 follows 5 s later.
        advance(secs(65) - 2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 1);
        advance(2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 2);
        // Attempt 2 times out at 60 s; attempt 3 follows 10 s later.
        advance(secs(70) - 2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 2);
        advance(2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 3);
        advance(secs(60) - 2 * MS).await;
        assert_eq!(h.platform.skill_of("c1"), None, "still waiting for attempt 3");
        advance(2 * MS).await;

        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hello?", "bot: Connecting you with a human."]);
        assert_eq!(
            h.platform.transcript("c1"),
            ["consumer: hello?", "bot: Connecting you with a human.", "bot (private): Bot error, please take over."]
        );
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(last_error_code(&h).await, ErrorCode::VendorTimeout);
        assert_eq!(last_error_code(&h).await.as_str(), "botvisor.vendor.timeout");
        let status = h.status().await;
        assert_eq!((status.stats.escalated, status.open_conversations), (1, 0));
        assert_eq!(status.vendor.outcomes.get("timeout"), Some(&1), "one call, its three attempts included");
        assert!((status.vendor.latency_sum_seconds - 195.0).abs() < 0.01, "{}", status.vendor.latency_sum_seconds);
    });
}

#[test]
fn server_errors_are_retried_then_escalated() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Server { status: 503 }))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await; // attempt 1 at 300 ms
        advance(secs(5) - 2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 1);
        advance(2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 2, "attempt 2 after 5 s");
        advance(secs(10) - 2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 2);
        advance(2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 3, "attempt 3 after 10 more s");
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(last_error_code(&h).await, ErrorCode::VendorServerError);
    });
}

#[test]
fn a_refused_request_is_not_retried() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "401".into() }))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.requests().len(), 1);
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
    });
}

#[test]
fn a_vendor_that_answers_nothing_gets_the_input_again_once_then_escalates() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::scripted(|_| FakeReply::Fail(VendorError::NoAnswer))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await;
        advance(secs(60) - 2 * MS).await;
        assert_eq!(h.vendor.requests().len(), 1, "retryMessageInterval is 60 s");
        advance(2 * MS).await;
        assert_eq!(h.vendor.inputs(), ["hi", "hi"], "messageResendMaxRetries is 1");
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(last_error_code(&h).await, ErrorCode::VendorNoAnswer);
    });
}

#[test]
fn a_response_with_neither_messages_nor_action_escalates() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::scripted(|_| FakeReply::Answer(BotResponse::default()))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(last_error_code(&h).await.as_str(), "botvisor.response.missing-action-and-messages");
    });
}

#[test]
fn a_transfer_to_an_unknown_skill_escalates() {
    run_test(async {
        let response = BotResponse::default().with_action(BotAction::Transfer { skill: "Billing".into(), agent_id: None });
        let h = Harness::start(settings(), FakeVendor::scripted(move |_| FakeReply::Answer(response.clone()))).await;
        h.platform.with_skills(&["bots", "humans", "billing"]);
        h.open("c1").await;
        h.platform.consumer_says("c1", "invoice");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"), "skill names are case sensitive");
        assert_eq!(last_error_code(&h).await, ErrorCode::TransferSkillNotExisting);
    });
}

#[test]
fn an_over_long_message_is_refused_and_escalated_without_a_vendor_call() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", &"x".repeat(5001));
        settle().await;
        advance(301 * MS).await;
        assert!(h.vendor.requests().is_empty());
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(last_error_code(&h).await, ErrorCode::InputTextTooLong);
    });
}

#[test]
fn escalation_to_the_bots_own_skill_does_not_loop() {
    run_test(async {
        let mut s = escalation_settings();
        s.escalation.skill = "bots".into(); // the bot's own skill
        let vendor = FakeVendor::scripted(|request| match botvisor_actors::testkit::input_text(&request.input).as_str() {
            "break" => FakeReply::Fail(VendorError::InvalidResponse { code: "x".into(), message: "garbage".into() }),
            other => FakeReply::Answer(BotResponse::text(format!("echo: {other}"))),
        });
        let h = Harness::start(s, vendor).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "break");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(transfers_to(&h, "bots"), 0, "no transfer to itself");
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: break", "bot: Sorry, nobody is free right now."]);
        let snapshot = h.conversation("c1").await.expect("the bot keeps the conversation");
        assert_eq!(snapshot.last_error.unwrap().code, ErrorCode::EscalationLoopPrevented);

        h.platform.consumer_says("c1", "hello again");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs(), ["break", "hello again"], "only the new message is processed");
        assert_eq!(h.platform.consumer_transcript("c1").last().unwrap(), "bot: echo: hello again");
    });
}

#[test]
fn a_failed_escalation_says_so_and_retries_at_most_max_retries_times() {
    run_test(async {
        let h = Harness::start(
            escalation_settings(),
            FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "bad".into() })),
        )
        .await;
        h.platform.fail_transfers_to("humans");
        h.open("c1").await;
        h.platform.consumer_says("c1", "help");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(transfers_to(&h, "humans"), 1);
        assert_eq!(
            h.platform.consumer_transcript("c1"),
            ["consumer: help", "bot: Connecting you with a human.", "bot: Sorry, nobody is free right now."]
        );
        for retry in 1..=5 {
            advance(secs(10) - 2 * MS).await;
            assert_eq!(transfers_to(&h, "humans"), retry, "retry {retry} is 10 s after the previous attempt");
            advance(2 * MS).await;
            assert_eq!(transfers_to(&h, "humans"), retry + 1);
        }
        advance(secs(600)).await;
        assert_eq!(transfers_to(&h, "humans"), 6, "1 attempt + max_escalation_retries (5)");
        assert_eq!(h.platform.consumer_transcript("c1").len(), 3, "the failure message is sent once");
        let snapshot = h.conversation("c1").await.expect("the conversation stays with the bot");
        assert_eq!(snapshot.last_error.unwrap().code, ErrorCode::EscalationFailed);
    });
}

#[test]
fn an_escalation_retry_that_succeeds_lands_on_the_escalation_skill() {
    run_test(async {
        let h = Harness::start(
            escalation_settings(),
            FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "bad".into() })),
        )
        .await;
        h.platform.fail_transfers_to("humans");
        h.open("c1").await;
        h.platform.consumer_says("c1", "help");
        settle().await;
        advance(301 * MS).await;
        advance(secs(15)).await;
        h.platform.allow_transfers_to("humans");
        advance(secs(5)).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(transfers_to(&h, "humans"), 3);
        assert_eq!(h.status().await.stats.escalated, 1);
    });
}

#[test]
fn every_error_reaches_the_error_hook_with_the_failed_vendor_input() {
    run_test(async {
        let hook = botvisor_actors::testkit::FakeErrorHook::default();
        let h = Harness::start_with_hook(
            settings(),
            FakeVendor::scripted(|_| FakeReply::Fail(VendorError::Request { message: "403".into() })),
            hook.clone(),
        )
        .await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "help me");
        settle().await;
        advance(301 * MS).await;
        let events = hook.events();
        assert_eq!(events.len(), 1, "one report per error: {events:?}");
        let event = &events[0];
        assert_eq!(event.bot_id.as_str(), "bot-1");
        assert_eq!(event.conversation_id.as_ref().unwrap().as_str(), "c1");
        assert_eq!(event.error.code, ErrorCode::VendorRequestFailed);
        assert_eq!(event.vendor, "fake");
        assert_eq!(event.vendor_request.as_ref().unwrap()["text"], "help me");
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"), "the escalation goes on regardless");

        h.vendor.set_health(Err(VendorError::Server { status: 503 }));
        advance(secs(31)).await;
        let events = hook.events();
        assert_eq!(events.len(), 2);
        assert_eq!((events[1].error.code, events[1].conversation_id.is_none()), (ErrorCode::VendorNotOnline, true), "lifecycle errors too");
    });
}
