//! Dialogflow CX end to end: payloads, action payloads, liveAgentHandoff and endInteraction, the
//! welcome event, the length limit, and failures with CX's codes.

use crate::{world, Api, Setup};

#[actix_rt::test]
async fn payloads_and_actions_reach_the_consumer() {
    let w = world(Setup::new(Api::Cx)).await;
    for (text, want) in [
        ("hello", vec!["Hello from Dialogflow"]),
        ("card", vec!["[card]"]),
        ("private", vec!["public part", "(private) a note for agents"]),
        ("delay", vec!["after a pause"]),
        ("tagged", vec!["tagged text"]),
        ("menu", vec!["Pick one"]),
    ] {
        let id = w.consumer(text).await;
        w.answered(&id, want.len()).await;
        assert_eq!(w.bot_lines(&id).await, want, "{text}");
        if text == "menu" {
            let view = w.conversation(&id).await;
            let line = view["transcript"].as_array().unwrap().iter().find(|e| e["text"] == "Pick one").unwrap().clone();
            assert_eq!(line["quick_replies"]["replies"].as_array().map(Vec::len), Some(2), "{line}");
        }
    }

    let urgent = w.consumer("urgent").await;
    w.wait_until("the TTR", || async { w.conversation(&urgent).await["ttr"]["type"] == "URGENT" }).await;

    let transfer = w.consumer("transfer").await;
    w.wait_until("the transfer", || async { w.conversation(&transfer).await["skill"] == "billing" }).await;
    assert_eq!(w.bot_lines(&transfer).await, ["Transferring you to billing"]);

    let close = w.consumer("close").await;
    w.wait_until("the close", || async { w.conversation(&close).await["state"] == "CLOSE" }).await;
    assert_eq!(w.bot_lines(&close).await, ["Goodbye"]);

    let request = w.google().await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["body"]["queryInput"]["text"]["text"] == "hello")
        .unwrap()
        .clone();
    assert_eq!(request["body"]["queryInput"]["languageCode"], "en");
    assert!(request["body"]["queryParams"]["payload"]["lpEvent"].is_object(), "{request}");
    assert!(request["path"].as_str().unwrap().starts_with("projects/test-project/locations/global/agents/test-agent/sessions/"));
    w.stop().await;
}

#[actix_rt::test]
async fn live_agent_handoff_transfers_and_end_interaction_closes() {
    let w = world(Setup::new(Api::Cx)).await;
    let human = w.consumer("human").await;
    w.wait_until("the handoff", || async { w.conversation(&human).await["skill"] == "billing" }).await;
    assert_eq!(w.bot_lines(&human).await, ["A person will help you"]);

    let anyone = w.consumer("anyone").await;
    w.wait_until("the handoff to the escalation skill", || async { w.conversation(&anyone).await["skill"] == "humans" }).await;
    assert!(w.error_codes().await.is_empty(), "a handoff with no skill is a transfer, not an error");

    let bye = w.consumer("bye").await;
    w.wait_until("the close", || async { w.conversation(&bye).await["state"] == "CLOSE" }).await;
    assert_eq!(w.bot_lines(&bye).await, ["Bye now"]);
    w.stop().await;
}

#[actix_rt::test]
async fn welcome_length_limit_and_failures_with_cx_codes() {
    let w = world(Setup { tune_bot: |s| s.conversation.welcome = true, ..Setup::new(Api::Cx) }).await;
    let id = w.consumer("hi").await;
    w.answered(&id, 2).await;
    assert_eq!(w.bot_lines(&id).await, ["Welcome! How can I help?", "Hello from Dialogflow"]);
    w.say(&id, &"x".repeat(300)).await;
    w.answered(&id, 3).await;
    assert_eq!(w.bot_lines(&id).await[2], "That is too long for me; please be brief.");

    for trigger in ["garbage", "two actions", "error"] {
        let id = w.consumer(trigger).await;
        w.wait_until("the escalation", || async { w.conversation(&id).await["skill"] == "humans" }).await;
        assert_eq!(
            w.bot_lines(&id).await[1..],
            ["Connecting you with a human.", "(private) The bot failed; please take over."],
            "{trigger}"
        );
    }
    let messages = w.error_messages().await;
    assert!(messages[0].contains("botvisor.dialogflow-cx.response.unknown-payload"), "{}", messages[0]);
    assert!(messages[1].contains("botvisor.dialogflow-cx.response.multiple-actions"), "{}", messages[1]);
    assert_eq!(w.error_codes().await[2], "botvisor.vendor.server-error");
    w.stop().await;
}
