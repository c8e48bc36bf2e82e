//! The simulator is as strict as the platform: a request frame that breaks a documented field
//! rule gets a 400 naming the field and the rule, and nothing of it is applied; what a bot
//! publishes is kept with its frame-level fields, as the consumer's side receives it.

use serde_json::{json, Value};

use crate::client::{get, Agent};
use crate::{add_bot, simulator, take_conversation};
use botvisor::sim::SimConfig;

fn text(message: &str) -> Value {
    json!({"type": "ContentEvent", "contentType": "text/plain", "message": message})
}

/// Asserts a 400 string response whose body starts with `expected`.
fn assert_refused(response: &Value, expected: &str) {
    assert_eq!((response["code"].as_u64(), response["type"].as_str()), (Some(400), Some(".ReqBody$StringResp")), "{response}");
    let body = response["body"].as_str().unwrap_or_default();
    assert!(body.starts_with(expected), "{body:?} should start with {expected:?}");
}

#[actix_rt::test]
async fn refused_frames_get_a_400_naming_the_rule_and_change_nothing() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let id = take_conversation(&handle, &mut bot).await;
    let path = format!("/sim/v1/conversations/{id}");
    let view = |handle| get(handle, &path);
    let before = view(&handle).await;
    assert_eq!(before["ttr"], json!({"type": "NORMAL", "value": 3600}));

    // A TTR change without its value (TTRChange.json requires field, ttrType, value).
    let ttr = bot
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": id, "conversationField": [{"field": "TTRField", "ttrType": "URGENT"}]}),
        )
        .await;
    assert_eq!(ttr["body"], "conversationField[0].value: required (TTRChange.json)");
    assert_refused(&ttr, "conversationField[0].value: required");
    assert_eq!(view(&handle).await["ttr"], json!({"type": "NORMAL", "value": 3600}), "the TTR is unchanged");

    // conversationField must be an array, even of one change; the close is not applied.
    let lone = bot
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": id, "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"}}),
        )
        .await;
    assert_refused(&lone, "conversationField: must be an array");
    assert_eq!(view(&handle).await["state"], "OPEN", "not closed");

    // A transfer with an unknown role is refused as a whole: the agent stays assigned.
    let transfer = bot
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": id, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "role": "OWNER"},
            {"field": "Skill", "type": "UPDATE", "skill": "1001"}]}),
        )
        .await;
    assert_refused(&transfer, "conversationField[0].role: must be one of MANAGER, READER, ASSIGNED_AGENT, AGENT");
    assert_eq!(view(&handle).await["assigned_agent"], bot.old_id(&handle));

    // An ExternalId over 64 characters, and two ExternalIds in one frame: nothing published.
    let long = bot.request_frame(json!({"type": ".ams.ms.PublishEvent", "body": {"dialogId": id, "event": text("card")}, "metadata": [{"type": "ExternalId", "id": "x".repeat(65)}]})).await;
    assert_refused(&long, "metadata[0].id: must be 0 to 64 characters, not 65 (ExternalId.json)");
    let two = bot
        .request_frame(json!({"type": ".ams.ms.PublishEvent", "body": {"dialogId": id, "event": text("card")},
            "metadata": [{"type": "ExternalId", "id": "vendor-card"}, {"type": "ExternalId", "id": "botvisor:answer"}]}))
        .await;
    assert_refused(&two, "metadata[1]: at most one ExternalId per request (reports pick cards by it), found 2");

    // Enums and types: a chat state, an accept status, the availability, a ring state.
    let typing =
        bot.request("ms.PublishEvent", json!({"dialogId": id, "event": {"type": "ChatStateEvent", "chatState": "SHOUTING"}})).await;
    assert_refused(&typing, "event.chatState: must be one of ACTIVE, INACTIVE, GONE, COMPOSING, PAUSE, BACKGROUND");
    let receipt = bot
        .request("ms.PublishEvent", json!({"dialogId": id, "event": {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": "0"}}))
        .await;
    assert_refused(&receipt, "event.sequenceList: must be an array of non-negative integers");
    let state = bot.request(".ams.routing.SetAgentState", json!({"availability": "ONLINE", "agentUserId": 42})).await;
    assert_refused(&state, "agentUserId: must be a string (setAgentState.json)");
    let ring = bot.request(".ams.routing.UpdateRingState", json!({"ringId": "r", "ringState": "MAYBE"})).await;
    assert_refused(&ring, "ringState: must be one of ACCEPTED, REJECTED");
    let encoded = bot
        .request_frame(
            json!({"type": ".ams.ms.PublishEvent", "body": {"dialogId": id, "event": text("x")}, "encodedMetadata": "not base64!"}),
        )
        .await;
    assert_refused(&encoded, "encodedMetadata: must be base64");

    // The control API lists what was refused, for whoever reads a failing test.
    let refusals = get(&handle, "/sim/v1/refusals").await;
    assert_eq!(refusals["total"], 10, "{refusals:#}");
    assert_eq!(refusals["recent"][0]["message"], "conversationField[0].value: required (TTRChange.json)");
    assert_eq!(refusals["recent"][0]["agent"], bot.old_id(&handle));
    assert_eq!(refusals["recent"][0]["frame"]["body"]["conversationField"][0], json!({"field": "TTRField", "ttrType": "URGENT"}));

    let after = view(&handle).await;
    assert_eq!(after["transcript"], before["transcript"], "no refused event reached the transcript");
    assert_eq!(bot.request("GetClock", json!({})).await["code"], 200, "the connection stays");
    handle.stop().await;
}

#[actix_rt::test]
async fn frames_as_the_sdk_sends_them_are_accepted() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let id = take_conversation(&handle, &mut bot).await;
    // Spec §10 item 10: headers null or {}, metadata arrays, encodedMetadata null, numeric ids,
    // string bodies, short and qualified type names.
    bot.send_text(json!({"kind": "req", "id": 77, "type": "ms.PublishEvent", "body": {"dialogId": id, "event": text("a")}, "headers": null, "metadata": [{"type": "ExternalId", "id": "CARD"}], "encodedMetadata": null}).to_string()).await;
    assert_eq!(bot.response_to("77").await["code"], 200);
    let body = json!({"dialogId": id, "event": text("b")}).to_string();
    let sent = bot.request_frame(json!({"type": ".ams.ms.PublishEvent", "body": body, "headers": {}})).await;
    assert_eq!(sent["code"], 200, "{sent}");
    let ttr = bot
        .request(
            "cm.UpdateConversationField",
            json!({"conversationId": id, "conversationField": [{"field": "TTRField", "ttrType": "URGENT", "value": 0}]}),
        )
        .await;
    assert_eq!(ttr["code"], 200, "{ttr}");
    assert_eq!(get(&handle, &format!("/sim/v1/conversations/{id}")).await["ttr"], json!({"type": "URGENT", "value": 0}));
    handle.stop().await;
}

#[actix_rt::test]
async fn the_transcript_keeps_metadata_and_encoded_metadata_as_the_consumer_receives_them() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let id = take_conversation(&handle, &mut bot).await;
    let metadata = json!([
        {"type": "ExternalId", "id": "botvisor:c:1:0"},
        {"type": "BotResponse", "externalConversationId": "v-1", "businessCases": ["billing"], "intents": [{"id": "pay", "name": "pay", "confidence": 0.9}]},
        {"type": "ActionReason", "reason": "faq"}
    ]);
    let card = json!({"type": "RichContentEvent", "content": {"type": "vertical", "elements": [{"type": "text", "text": "hi"}]}, "quickReplies": {"type": "quickReplies", "itemsPerRow": 1, "replies": []}});
    let sent = bot.request_frame(json!({"type": ".ams.ms.PublishEvent", "body": {"dialogId": id, "event": card}, "headers": null, "metadata": metadata, "encodedMetadata": "eyJjYXJkIjoxfQ=="})).await;
    assert_eq!(sent["code"], 200, "{sent}");
    let private = bot.request_frame(json!({"type": ".ams.ms.PublishEvent", "body": {"dialogId": id, "messageAudience": "AGENTS_AND_MANAGERS", "event": text("note")}})).await;
    assert_eq!(private["code"], 200);

    let view = get(&handle, &format!("/sim/v1/conversations/{id}")).await;
    let transcript = view["transcript"].as_array().unwrap();
    let entry = &transcript[transcript.len() - 2];
    assert_eq!(entry["kind"], "rich");
    assert_eq!(entry["metadata"], metadata, "the metadata array as sent");
    assert_eq!(entry["encoded_metadata"], "eyJjYXJkIjoxfQ==", "the frame-level encodedMetadata");
    assert_eq!(entry["event"], card, "the event as sent, quick replies included");
    assert_eq!(
        (entry["originator"].as_str(), entry["originator_pid"].as_str()),
        (Some(bot.old_id(&handle).as_str()), Some(bot.pid.as_str()))
    );
    let last = &transcript[transcript.len() - 1];
    assert_eq!(
        (last["audience"].as_str(), last["metadata"].is_null(), last["encoded_metadata"].is_null()),
        (Some("AGENTS_AND_MANAGERS"), true, true)
    );

    // The agents' live event carries the metadata too (spec §5.4).
    let mut echo = bot.notification(".ams.ms.OnlineEventDistribution").await;
    while echo["body"]["event"]["type"] != "RichContentEvent" {
        echo = bot.notification(".ams.ms.OnlineEventDistribution").await;
    }
    assert_eq!(echo["body"]["metadata"], metadata);
    handle.stop().await;
}
