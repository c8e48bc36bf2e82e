//! Amazon Lex V2 end to end: every message kind and action, the welcome intent, image cards,
//! retries and every way a call can fail.

use serde_json::Value;

use crate::{world, Kind, Setup};

#[actix_rt::test]
async fn every_message_kind_and_action_reaches_the_consumer() {
    let w = world(Setup::new(Kind::Lex)).await;
    w.every_kind("Hello from Lex").await;
    let card = w.consumer("card").await;
    w.answered(&card, 1).await;
    let card = w.entry(&card, "[card]").await;
    assert!(card["metadata"].to_string().contains("LEX-CARD"), "the custom payload's metadata is published: {card}");

    // An image response card: structured content with the image, title, subtitle and buttons.
    let picture = w.consumer("picture").await;
    w.answered(&picture, 1).await;
    let card = w.entry(&picture, "[card]").await;
    let shown = card.to_string();
    assert!(shown.contains("https://example.com/shoes.png") && shown.contains("Pick a size") && shown.contains("publishText"), "{card}");
    // Without an image: a text with quick replies.
    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    let replies = w.entry(&menu, "Pick one").await["quick_replies"].clone();
    let titles: Vec<&str> = replies["replies"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Yes", "No"], "{replies}");

    // What Lex received: the text, the context as LivePerson sends it, a session per conversation.
    let fakes = w.fakes().await;
    let lex = &fakes["lex"];
    let request = lex["log"].as_array().unwrap().iter().find(|r| r["body"]["text"] == "picture").unwrap().clone();
    assert_eq!(request["path"], format!("/bots/TESTBOT001/botAliases/TSTALIASID/botLocales/en_US/sessions/{picture}/text"));
    assert_eq!(request["body"]["sessionState"]["sessionAttributes"]["convId"], picture.as_str());
    let context: Value = serde_json::from_str(request["body"]["requestAttributes"]["BC-LP-CONTEXT"].as_str().unwrap()).unwrap();
    assert!(context["lpEvent"].is_object(), "lpEvent travels as a JSON string: {context}");
    assert_eq!(lex["unauthenticated"], 0, "every signature verified");
    assert_eq!(lex["invalid_requests"], 0);
    w.stop().await;
}

#[actix_rt::test]
async fn the_welcome_intent_greets_first() {
    let w = world(Setup { tune_bot: |s| s.conversation.welcome = true, ..Setup::new(Kind::Lex) }).await;
    let id = w.consumer("hi").await;
    w.answered(&id, 2).await;
    assert_eq!(w.bot_lines(&id).await, ["Welcome to the Lex bot!", "Hello from Lex"]);
    w.stop().await;
}

#[actix_rt::test]
async fn server_errors_twice_then_success_give_one_answer() {
    let w = world(Setup::new(Kind::Lex)).await;
    let id = w.consumer("flaky").await;
    w.answered(&id, 1).await;
    assert_eq!(w.bot_lines(&id).await, ["flaky but fine"]);
    let fakes = w.fakes().await;
    let calls = fakes["lex"]["log"].as_array().unwrap().iter().filter(|r| r["body"]["text"] == "flaky").count();
    assert_eq!(calls, 3, "two 503s, then the answer");
    w.stop().await;
}

#[actix_rt::test]
async fn failures_and_a_failed_intent_escalate_with_their_codes() {
    let w = world(Setup::new(Kind::Lex)).await;
    w.escalates(&["error", "slow", "garbage", "speech", "give up"]).await;
    assert_eq!(
        w.error_codes().await,
        [
            "botvisor.vendor.server-error",
            "botvisor.vendor.timeout",
            "botvisor.vendor.invalid-response",
            "botvisor.vendor.invalid-response",
            "botvisor.vendor.invalid-response"
        ]
    );
    let messages = w.error_messages().await;
    assert!(messages[2].contains("botvisor.lex.response.custom-payload-malformed"), "{}", messages[2]);
    assert!(messages[3].contains("botvisor.lex.response.message-format-not-supported"), "{}", messages[3]);
    assert!(messages[4].contains("botvisor.lex.response.intent-failed"), "{}", messages[4]);
    w.stop().await;
}

#[actix_rt::test]
async fn a_wrong_secret_key_is_refused_by_the_signature_check_and_escalates() {
    let w = world(Setup { wrong_credentials: true, ..Setup::new(Kind::Lex) }).await;
    w.escalates(&["hello"]).await;
    assert_eq!(w.error_codes().await, ["botvisor.vendor.request-failed"]);
    assert!(w.error_messages().await[0].contains("InvalidSignatureException"), "{:?}", w.error_messages().await);
    assert_eq!(w.fakes().await["lex"]["unauthenticated"], 1);
    w.stop().await;
}
