//! The bot's states (Offline, Online, Vendor Interruption, Service Interruption), rings and
//! assignments.

use botvisor_actors::bot::{StartBot, StopBot};
use botvisor_actors::errors::{ErrorCode, VendorError};
use botvisor_actors::model::{BotAction, BotResponse, BotState, ParticipantState};
use botvisor_actors::ports::VendorHealth;
use botvisor_actors::testkit::{advance, settle, FakeReply, FakeVendor, PlatformCall};

use crate::harness::{run_test, secs, settings, Harness, MS};

#[test]
fn a_started_bot_is_online_and_a_stopped_one_offline() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        let status = h.status().await;
        assert_eq!(status.state, BotState::Online);
        assert!(status.last_error.is_none());
        h.bot.send(StopBot).await.unwrap();
        settle().await;
        assert_eq!(h.status().await.state, BotState::Offline);
        assert!(h.platform.calls().contains(&PlatformCall::StopSession));
    });
}

#[test]
fn the_bot_does_not_start_while_the_vendor_is_not_online() {
    run_test(async {
        let vendor = FakeVendor::echo();
        vendor.set_health(Ok(VendorHealth::NotOnline { state: "maintenance".into() }));
        let h = Harness::create(settings(), vendor);
        let refusal = h.bot.send(StartBot).await.unwrap().unwrap_err();
        assert_eq!(refusal.code, ErrorCode::VendorNotOnline);
        assert!(refusal.message.contains("maintenance"), "{}", refusal.message);
        let status = h.status().await;
        assert_eq!(status.state, BotState::Offline);
        assert_eq!(status.last_error.unwrap().code, ErrorCode::VendorNotOnline);
        assert!(!h.platform.calls().contains(&PlatformCall::StartSession), "no login while the vendor is down");
    });
}

#[test]
fn a_stop_cancels_a_start_that_waits_for_a_slow_vendor_at_once() {
    run_test(async {
        let vendor = FakeVendor::echo();
        vendor.set_health_delay(secs(50)); // the vendor call timeout is 60 s
        let h = Harness::create(settings(), vendor);
        let start = h.bot.send(StartBot);
        let start = actix_rt::spawn(start);
        settle().await;
        advance(secs(1)).await;
        let stopped_at = tokio::time::Instant::now();
        h.bot.send(StopBot).await.unwrap();
        let refusal = start.await.unwrap().unwrap().unwrap_err();
        assert_eq!(refusal.code, ErrorCode::StartCancelled);
        assert!(stopped_at.elapsed() < secs(1), "the start ended with the stop, not when the vendor answered");
        assert_eq!(h.status().await.state, BotState::Offline);
        assert!(!h.platform.calls().contains(&PlatformCall::StartSession), "a cancelled start never logs in");
    });
}

#[test]
fn a_failing_vendor_health_check_puts_the_bot_in_vendor_interruption_and_new_conversations_are_escalated() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.vendor.set_health(Err(VendorError::Server { status: 503 }));
        advance(secs(30) - MS).await;
        assert_eq!(h.status().await.state, BotState::Online, "the first check is at 30 s");
        advance(2 * MS).await;
        let status = h.status().await;
        assert_eq!(status.state, BotState::VendorInterruption);
        assert_eq!(status.last_error.as_ref().unwrap().code, ErrorCode::VendorNotOnline);

        h.platform.consumer_says("c1", "hi");
        h.platform.assign("c1");
        settle().await;
        assert!(h.vendor.requests().is_empty(), "no vendor call in Vendor Interruption");
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        assert_eq!(h.status().await.conversation_errors.last().unwrap().report.code, ErrorCode::VendorInterruption);

        h.vendor.set_health(Ok(VendorHealth::Online));
        advance(secs(30)).await;
        assert_eq!(h.status().await.state, BotState::Online, "recovery puts the bot back Online");
        h.open("c2").await;
        h.platform.consumer_says("c2", "hello");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs(), ["hello"]);
    });
}

#[test]
fn service_interruption_retries_the_session_once_a_minute() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        let logins = || h.platform.count_calls(|c| *c == PlatformCall::StartSession);
        assert_eq!(logins(), 1);
        h.platform.refuse_sessions(true);
        h.platform.lose_session();
        settle().await;
        let status = h.status().await;
        assert_eq!(status.state, BotState::ServiceInterruption);
        assert_eq!(status.last_error.unwrap().code, ErrorCode::SessionLost);

        advance(secs(60) - MS).await;
        assert_eq!(logins(), 1);
        advance(2 * MS).await;
        assert_eq!(logins(), 2, "retried after one minute");
        advance(secs(60) - 2 * MS).await;
        assert_eq!(logins(), 2);
        advance(2 * MS).await;
        assert_eq!(logins(), 3);
        assert_eq!(h.status().await.state, BotState::ServiceInterruption);

        h.platform.refuse_sessions(false);
        advance(secs(60)).await;
        assert_eq!(h.status().await.state, BotState::Online);
        advance(secs(600)).await;
        assert_eq!(logins(), 4, "no more retries once connected");
    });
}

#[test]
fn a_kicked_session_is_reported_and_not_fought() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.platform.kick();
        settle().await;
        let status = h.status().await;
        assert_eq!(status.state, BotState::Offline);
        assert_eq!(status.last_error.unwrap().code, ErrorCode::SessionKicked);
        advance(secs(3600)).await;
        assert_eq!(h.platform.count_calls(|c| *c == PlatformCall::StartSession), 1, "no login back");
    });
}

#[test]
fn a_ring_is_accepted_after_the_ring_accept_wait_unless_withdrawn() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        let ring = h.platform.ring("c1");
        settle().await;
        advance(100 * MS - MS).await;
        assert!(!h.platform.calls().contains(&PlatformCall::AcceptRing(ring.clone())));
        advance(2 * MS).await;
        assert!(h.platform.calls().contains(&PlatformCall::AcceptRing(ring)));

        let withdrawn = h.platform.ring("c2");
        settle().await;
        h.platform.withdraw(&withdrawn);
        advance(secs(1)).await;
        assert!(!h.platform.calls().contains(&PlatformCall::AcceptRing(withdrawn)));
    });
}

#[test]
fn a_suggested_participant_is_not_yet_assigned() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.platform.update("c1", ParticipantState::Suggested);
        settle().await;
        assert!(h.conversation("c1").await.is_none());
        assert_eq!(h.status().await.open_conversations, 0);
        h.platform.update("c1", ParticipantState::Active);
        settle().await;
        assert!(h.conversation("c1").await.is_some());
    });
}

#[test]
fn one_actor_and_one_history_query_per_conversation() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        for _ in 0..3 {
            h.platform.assign("c1");
            h.platform.update("c1", ParticipantState::Active);
        }
        settle().await;
        assert_eq!(h.status().await.open_conversations, 1);
        assert_eq!(h.platform.count_calls(|c| matches!(c, PlatformCall::QueryMessages { .. })), 1);
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: echo: hi"], "answered once");
    });
}

#[test]
fn a_conversation_the_bot_leaves_is_forgotten() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.remove("c1");
        settle().await;
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.load.open, status.stats.removed), (0, 0, 1));
    });
}

#[test]
fn a_kicked_bot_lets_go_of_its_conversations() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.kick();
        settle().await;
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.load.open), (0, 0));
        advance(secs(120)).await;
        assert_eq!(h.platform.count_calls(|c| matches!(c, PlatformCall::QueryMessages { .. })), 1, "no history reads while Offline");
    });
}

#[test]
fn a_conversation_removed_and_assigned_again_at_once_keeps_an_actor() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.remove("c1");
        h.platform.assign("c1");
        settle().await;
        assert!(h.conversation("c1").await.is_some(), "the bot is assigned, so it runs the conversation");
        assert_eq!(h.status().await.load.open, 1);
        h.platform.consumer_says("c1", "still there?");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: still there?", "bot: echo: still there?"]);
    });
}

#[test]
fn a_stale_update_after_a_transfer_does_not_revive_the_conversation() {
    run_test(async {
        let response = BotResponse::default().with_action(BotAction::Transfer { skill: "billing".into(), agent_id: None });
        let h = Harness::start(settings(), FakeVendor::scripted(move |_| FakeReply::Answer(response.clone()))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "invoice");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("billing"));
        h.platform.update("c1", ParticipantState::Active); // sent before the platform saw the transfer
        settle().await;
        advance(secs(1)).await;
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.stats.conversations_started), (0, 1));
    });
}

#[test]
fn conversations_missing_from_the_open_list_are_let_go() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.open("c2").await;
        h.platform.open_conversations(&["c1"]);
        settle().await;
        assert!(h.conversation("c1").await.is_some());
        assert!(h.conversation("c2").await.is_none(), "closed while the bot was away");
        assert_eq!(h.status().await.load.open, 1);
    });
}

#[test]
fn messages_of_another_dialog_are_not_the_bots() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says_in_dialog("c1", "c1-survey", "5 stars");
        settle().await;
        advance(secs(1)).await;
        assert!(h.vendor.inputs().is_empty());
    });
}
