//! IBM Watson Assistant V2 end to end: every response type and action, the welcome, encoded
//! metadata that sticks, sessions (made once, kept across a failover, made again when expired),
//! IAM tokens, retries and every way a call can fail.

use crate::{world, Kind, Setup};

#[actix_rt::test]
async fn every_response_type_and_action_reaches_the_consumer() {
    let w = world(Setup::new(Kind::Watson)).await;
    w.every_kind("Hello from Watson").await;
    let picture = w.consumer("picture").await;
    w.answered(&picture, 1).await;
    let card = w.entry(&picture, "[card]").await.to_string();
    assert!(card.contains("https://example.com/shoes.png") && card.contains("Comfortable"), "{card}");
    let menu = w.consumer("menu").await;
    w.answered(&menu, 1).await;
    let replies = w.entry(&menu, "Pick one").await["quick_replies"].clone();
    assert_eq!(replies["replies"][1]["click"]["actions"][0]["text"], "no", "{replies}");

    // Encoded metadata set in the context sticks to the next answers.
    let id = w.consumer("tagged").await;
    w.answered(&id, 1).await;
    w.say(&id, "again").await;
    w.answered(&id, 2).await;
    assert_eq!(w.entry(&id, "still tagged").await["encoded_metadata"], "ZXhhbXBsZQ==");

    let fakes = w.fakes().await;
    let watson = &fakes["watson"];
    let request = watson["log"].as_array().unwrap().iter().find(|r| r["body"]["input"]["text"] == "picture").unwrap().clone();
    let user_defined = &request["body"]["context"]["skills"]["main skill"]["user_defined"];
    assert_eq!(user_defined["convId"], picture.as_str());
    assert!(user_defined["lpEvent"].is_object(), "{request}");
    assert!(request["path"].as_str().unwrap().starts_with("/instances/test/v2/assistants/test-assistant/sessions/"));
    assert_eq!(watson["tokens_issued"], 1, "one IAM token, cached");
    assert_eq!(watson["unauthenticated"], 0);
    assert_eq!(watson["invalid_requests"], 0);
    w.stop().await;
}

#[actix_rt::test]
async fn the_environment_paths_basic_auth_and_the_welcome() {
    for kind in [Kind::WatsonEnvironment, Kind::WatsonBasic] {
        let w = world(Setup { tune_bot: |s| s.conversation.welcome = true, ..Setup::new(kind) }).await;
        let id = w.consumer("hi").await;
        w.answered(&id, 2).await;
        assert_eq!(w.bot_lines(&id).await, ["Welcome to the Watson bot!", "Hello from Watson"], "{kind:?}");
        let fakes = w.fakes().await;
        let path = fakes["watson"]["log"].as_array().unwrap().last().unwrap()["path"].as_str().unwrap().to_owned();
        if kind == Kind::WatsonEnvironment {
            assert!(path.contains("/environments/draft/sessions/"), "{path}");
        } else {
            assert_eq!(fakes["watson"]["tokens_issued"], 0, "basic auth needs no token");
        }
        w.stop().await;
    }
}

#[actix_rt::test]
async fn a_session_continues_after_a_failover_and_is_made_again_when_it_expired() {
    let mut w = world(Setup::new(Kind::Watson)).await;
    let id = w.consumer("hello").await;
    w.answered(&id, 1).await;
    assert_eq!(w.fakes().await["watson"]["sessions_created"], 1);
    let session = w.state.record(&id).and_then(|r| r.vendor_session).expect("the session is in the store");

    w.fail_over().await;
    w.say(&id, "menu").await;
    w.answered(&id, 2).await;
    let fakes = w.fakes().await;
    assert_eq!(fakes["watson"]["sessions_created"], 1, "the next owner continues the same Watson session");
    let last = fakes["watson"]["log"].as_array().unwrap().last().unwrap()["path"].as_str().unwrap().to_owned();
    assert!(last.contains(session["session_id"].as_str().unwrap()), "{last} {session}");

    // Watson forgets every session: the next message silently gets a new one.
    crate::common::control(&w.sim, "POST", "/sim/v1/vendors/watson/expire-sessions", None).await;
    w.say(&id, "hello").await;
    w.answered(&id, 3).await;
    assert_eq!(w.bot_lines(&id).await[2], "Hello from Watson");
    assert_eq!(w.fakes().await["watson"]["sessions_created"], 2);
    assert!(w.error_codes().await.is_empty(), "an expired session is not an error");

    // Revoked tokens: a 401 renews the token once, and the conversation goes on.
    crate::common::control(&w.sim, "POST", "/sim/v1/vendors/watson/revoke-tokens", None).await;
    w.say(&id, "hi").await;
    w.answered(&id, 4).await;
    assert!(w.error_codes().await.is_empty());
    w.stop().await;
}

#[actix_rt::test]
async fn retries_and_failures_escalate_with_their_codes() {
    let w = world(Setup::new(Kind::Watson)).await;
    let id = w.consumer("flaky").await;
    w.answered(&id, 1).await;
    assert_eq!(w.bot_lines(&id).await, ["flaky but fine"]);
    w.escalates(&["error", "slow", "garbage", "two actions"]).await;
    assert_eq!(
        w.error_codes().await,
        ["botvisor.vendor.server-error", "botvisor.vendor.timeout", "botvisor.vendor.invalid-response", "botvisor.vendor.invalid-response"]
    );
    let messages = w.error_messages().await;
    assert!(messages[2].contains("botvisor.watsonv2.response.invalid-field"), "{}", messages[2]);
    assert!(messages[3].contains("botvisor.watsonv2.response.multiple-actions"), "{}", messages[3]);
    w.stop().await;
}

#[actix_rt::test]
async fn a_wrong_api_key_keeps_the_bot_from_starting_with_ibms_word() {
    let w = world(Setup { wrong_credentials: true, ..Setup::new(Kind::Watson) }).await;
    let errors = crate::START_ERRORS.with(|e| e.borrow().clone());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("botvisor.vendor.not-online") && errors[0].contains("IBM IAM refused the API key"), "{errors:?}");
    assert_ne!(w.state().await, botvisor_actors::model::BotState::Online);
    w.stop().await;
}
