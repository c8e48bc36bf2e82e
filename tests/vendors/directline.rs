//! Direct Line 3.0 end to end with the simulator's built-in Bot Framework bot: every content kind
//! and action (channelData, multiMessage, hero cards, suggested actions, the handoff event), the
//! welcome, a conversation and watermark that survive a failover, an expired conversation, 502s
//! and every way a call can fail.

use crate::{world, Kind, Setup};

#[actix_rt::test]
async fn every_content_kind_and_action_reaches_the_consumer() {
    let w = world(Setup::new(Kind::DirectLine)).await;
    w.every_kind("Hello from the Bot Framework").await;
    let card = w.consumer("card").await;
    w.answered(&card, 1).await;
    let card = w.entry(&card, "[card]").await;
    assert!(card["metadata"].to_string().contains("BF-CARD"), "{card}");

    let hero = w.consumer("picture").await;
    w.answered(&hero, 1).await;
    let card = w.entry(&hero, "[card]").await.to_string();
    assert!(card.contains("https://example.com/shoes.png") && card.contains("Our shoes") && card.contains("buy"), "{card}");

    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    assert_eq!(w.entry(&menu, "Pick one").await["quick_replies"]["replies"][0]["title"], "Yes");

    let multi = w.consumer("multi").await;
    w.answered(&multi, 3).await;
    assert_eq!(w.bot_lines(&multi).await, ["first", "(private) a private one", "[card]"]);

    let handoff = w.consumer("handoff").await;
    w.wait_until("the handoff", || async { w.conversation(&handoff).await["skill"] == "billing" }).await;
    assert_eq!(w.bot_lines(&handoff).await, ["Handing you off"]);

    // What the bot received: LivePerson's context in channelData.
    let fakes = w.fakes().await;
    let posted = fakes["directline"]["log"].as_array().unwrap().iter().find(|r| r["body"]["text"] == "menu").unwrap().clone();
    let context = &posted["body"]["channelData"]["context"];
    assert_eq!(context["convId"], menu.as_str());
    assert!(context["msConversationId"].is_string() && context["lpEvent"].is_object(), "{posted}");
    assert_eq!(fakes["directline"]["unauthenticated"], 0);
    w.stop().await;
}

#[actix_rt::test]
async fn the_welcome_and_multiple_activities() {
    let w = world(Setup { tune_bot: |s| s.conversation.welcome = true, ..Setup::new(Kind::DirectLine) }).await;
    let id = w.consumer("hi").await;
    w.answered(&id, 2).await;
    assert_eq!(w.bot_lines(&id).await, ["Welcome to the Bot Framework bot!", "Hello from the Bot Framework"]);
    let fakes = w.fakes().await;
    let welcome = &fakes["directline"]["log"][0]["body"];
    assert_eq!(welcome["channelData"]["action"]["name"], "WELCOME", "{welcome}");
    assert_eq!(fakes["directline"]["conversations_started"], 1, "one Direct Line conversation per conversation");
    w.stop().await;
}

#[actix_rt::test]
async fn a_conversation_continues_after_a_failover_and_starts_again_when_expired() {
    let mut w = world(Setup::new(Kind::DirectLine)).await;
    let id = w.consumer("hello").await;
    w.answered(&id, 1).await;
    let session = w.state.record(&id).and_then(|r| r.vendor_session).expect("the conversation is in the store");
    assert!(session["conversationId"].is_string() && session["watermark"].is_string(), "{session}");

    w.fail_over().await;
    w.say(&id, "menu").await;
    w.answered(&id, 2).await;
    let fakes = w.fakes().await;
    assert_eq!(fakes["directline"]["conversations_started"], 1, "the next owner continues the same Direct Line conversation");
    let last = fakes["directline"]["log"].as_array().unwrap().last().unwrap()["path"].as_str().unwrap().to_owned();
    assert!(last.contains(session["conversationId"].as_str().unwrap()), "{last}");
    assert_eq!(w.bot_lines(&id).await, ["Hello from the Bot Framework", "Pick one"], "no old reply read again");

    crate::common::control(&w.sim, "POST", "/sim/v1/vendors/directline/expire-conversations", None).await;
    w.say(&id, "hello").await;
    w.answered(&id, 3).await;
    assert_eq!(w.fakes().await["directline"]["conversations_started"], 2);
    assert!(w.error_codes().await.is_empty());
    w.stop().await;
}

#[actix_rt::test]
async fn retries_and_failures_escalate_with_their_codes() {
    let w = world(Setup::new(Kind::DirectLine)).await;
    let id = w.consumer("flaky").await;
    w.answered(&id, 1).await;
    assert_eq!(w.bot_lines(&id).await, ["flaky but fine"], "two 502s (the bot failed), then the answer");
    w.escalates(&["error", "slow", "silent", "garbage", "odd"]).await;
    assert_eq!(
        w.error_codes().await,
        [
            "botvisor.vendor.server-error",
            "botvisor.vendor.server-error",
            "botvisor.vendor.no-answer",
            "botvisor.vendor.invalid-response",
            "botvisor.vendor.invalid-response"
        ]
    );
    let messages = w.error_messages().await;
    assert!(messages[3].contains("botvisor.microsoft.response.invalid-field"), "{}", messages[3]);
    assert!(messages[4].contains("botvisor.microsoft.activity.invalid-type"), "{}", messages[4]);
    w.stop().await;
}

#[actix_rt::test]
async fn a_wrong_secret_escalates_as_a_refused_request() {
    let w = world(Setup { wrong_credentials: true, ..Setup::new(Kind::DirectLine) }).await;
    w.escalates(&["hello"]).await;
    assert_eq!(w.error_codes().await, ["botvisor.vendor.request-failed"]);
    w.stop().await;
}

#[actix_rt::test]
async fn with_the_websocket_stream_the_replies_come_without_polling() {
    let mut w = world(Setup::new(Kind::DirectLineStream)).await;
    w.every_kind("Hello from the Bot Framework").await;
    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    assert_eq!(w.entry(&menu, "Pick one").await["quick_replies"]["replies"][0]["title"], "Yes");
    let handoff = w.consumer("handoff").await;
    w.wait_until("the handoff", || async { w.conversation(&handoff).await["skill"] == "billing" }).await;
    // The same Direct Line conversation continues after a failover, from its watermark.
    let id = w.consumer("hello").await;
    w.answered(&id, 1).await;
    w.fail_over().await;
    w.say(&id, "hello").await;
    w.answered(&id, 2).await;
    let fakes = w.fakes().await;
    let directline = &fakes["directline"];
    assert!(directline["streams_opened"].as_u64().unwrap() >= 4, "{directline}");
    assert_eq!(directline["activity_polls"], 0, "nothing was polled: {directline}");
    assert_eq!(w.bot_lines(&id).await, ["Hello from the Bot Framework", "Hello from the Bot Framework"]);
    w.stop().await;
}
