//! Dialogflow ES end to end: every message kind and action, the welcome event, the length limit,
//! retries and every way a call can fail.

use serde_json::Value;

use crate::{world, Api, Setup};

#[actix_rt::test]
async fn every_message_kind_and_action_reaches_the_consumer() {
    let w = world(Setup::new(Api::Es)).await;
    let hello = w.consumer("hello").await;
    w.answered(&hello, 1).await;
    assert_eq!(w.bot_lines(&hello).await, ["Hello from Dialogflow"]);

    let card = w.consumer("card").await;
    w.answered(&card, 1).await;
    assert_eq!(w.bot_lines(&card).await, ["[card]"]);
    let view = w.conversation(&card).await;
    let rich = view["transcript"].as_array().unwrap().iter().find(|e| e["kind"] == "rich").unwrap().clone();
    assert!(rich["metadata"].to_string().contains("CARD-1"), "the card's metadata is published: {rich}");

    let private = w.consumer("private").await;
    w.answered(&private, 2).await;
    assert_eq!(w.bot_lines(&private).await, ["public part", "(private) a note for agents"]);

    let delay = w.consumer("delay").await;
    w.answered(&delay, 1).await;
    assert_eq!(w.bot_lines(&delay).await, ["after a pause"]);

    let tagged = w.consumer("tagged").await;
    w.answered(&tagged, 1).await;
    let view = w.conversation(&tagged).await;
    let line = view["transcript"].as_array().unwrap().iter().find(|e| e["text"] == "tagged text").unwrap().clone();
    assert_eq!(line["encoded_metadata"], "ZXhhbXBsZQ==");

    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    assert_eq!(w.bot_lines(&menu).await, ["Pick one"]);
    let view = w.conversation(&menu).await;
    let replies = view["transcript"].as_array().unwrap().iter().find(|e| e["text"] == "Pick one").unwrap()["quick_replies"].clone();
    let titles: Vec<&str> = replies["replies"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Yes", "No"], "Dialogflow's quick replies reach the consumer as buttons: {replies}");

    let urgent = w.consumer("urgent").await;
    w.wait_until("the TTR", || async { w.conversation(&urgent).await["ttr"]["type"] == "URGENT" }).await;
    assert_eq!(w.bot_lines(&urgent).await, ["Hurrying"]);

    let transfer = w.consumer("transfer").await;
    w.wait_until("the transfer", || async { w.conversation(&transfer).await["skill"] == "billing" }).await;
    assert_eq!(w.bot_lines(&transfer).await, ["Transferring you to billing"]);

    let close = w.consumer("bye").await;
    w.wait_until("the close", || async { w.conversation(&close).await["state"] == "CLOSE" }).await;
    assert_eq!(w.bot_lines(&close).await, ["Goodbye"]);

    // The fake saw the consumer's text with LivePerson's context in queryParams.payload.
    let google = w.google().await;
    let request =
        google["requests"].as_array().unwrap().iter().find(|r| r["body"]["queryInput"]["text"]["text"] == "hello").unwrap().clone();
    assert_eq!(request["body"]["queryInput"]["text"]["languageCode"], "en-US");
    assert!(request["body"]["queryParams"]["payload"]["lpEvent"].is_object(), "lpEvent travels: {request}");
    assert_eq!(request["path"], format!("projects/test-project/agent/sessions/{hello}:detectIntent"), "a session per conversation");
    assert_eq!(google["invalid_requests"], 0);
    w.stop().await;
}

#[actix_rt::test]
async fn the_welcome_event_greets_first_and_long_texts_become_the_char_limit_event() {
    let w = world(Setup { tune_bot: |s| s.conversation.welcome = true, ..Setup::new(Api::Es) }).await;
    let id = w.consumer("hi").await;
    w.answered(&id, 2).await;
    assert_eq!(w.bot_lines(&id).await, ["Welcome! How can I help?", "Hello from Dialogflow"]);
    w.say(&id, &"This is a very long message. ".repeat(12)).await;
    w.answered(&id, 3).await;
    assert_eq!(w.bot_lines(&id).await[2], "That is too long for me; please be brief.");
    let google = w.google().await;
    let events: Vec<&Value> = google["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["body"]["queryInput"]["event"]["name"])
        .filter(|e| e.is_string())
        .collect();
    assert_eq!(events, ["WELCOME", "DIALOGFLOW_CHAR_LIMIT"]);
    assert_eq!(google["invalid_requests"], 0, "no text over 256 characters reached Dialogflow");
    w.stop().await;
}

#[actix_rt::test]
async fn server_errors_twice_then_success_give_one_answer() {
    let w = world(Setup::new(Api::Es)).await;
    let id = w.consumer("flaky").await;
    w.answered(&id, 1).await;
    assert_eq!(w.bot_lines(&id).await, ["flaky but fine"]);
    let google = w.google().await;
    let calls = google["requests"].as_array().unwrap().iter().filter(|r| r["body"]["queryInput"]["text"]["text"] == "flaky").count();
    assert_eq!(calls, 3, "two 503s, then the answer");
    w.stop().await;
}

#[actix_rt::test]
async fn failures_escalate_with_the_configured_messages_and_their_codes() {
    let w = world(Setup::new(Api::Es)).await;
    for trigger in ["error", "slow", "garbage", "two actions"] {
        let id = w.consumer(trigger).await;
        w.wait_until("the escalation", || async { w.conversation(&id).await["skill"] == "humans" }).await;
        assert_eq!(w.bot_lines(&id).await, ["Connecting you with a human.", "(private) The bot failed; please take over."], "{trigger}");
    }
    assert_eq!(
        w.error_codes().await,
        ["botvisor.vendor.server-error", "botvisor.vendor.timeout", "botvisor.vendor.invalid-response", "botvisor.vendor.invalid-response"]
    );
    let messages = w.error_messages().await;
    assert!(messages[2].contains("botvisor.dialogflow-es.response.unknown-payload"), "{}", messages[2]);
    assert!(messages[3].contains("botvisor.dialogflow-es.response.multiple-actions"), "{}", messages[3]);
    w.stop().await;
}
