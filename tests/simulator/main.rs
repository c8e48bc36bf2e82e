//! The simulator driven through its websocket and control API, as a bot and a test would:
//! login and lockout, routing, queueing, ring expiry, the kick, transfers, TTR, close, history,
//! bad input and faults. Plain HTTP on 127.0.0.1, real time with generous bounds.

mod client;
#[path = "../common/mod.rs"]
mod common;
mod refusals;

use std::time::Duration;

use botvisor::sim::{self, SimConfig, SimHandle};
use serde_json::{json, Value};

use client::{control, get, login, open_socket, post, Agent};

async fn simulator(config: SimConfig) -> SimHandle {
    let handle = sim::start(SimConfig { plain_http: true, ..config }).await.expect("simulator starts");
    post(&handle, "/sim/v1/skills", json!({"name": "bots"})).await;
    post(&handle, "/sim/v1/skills", json!({"name": "humans", "human": true})).await;
    handle
}

async fn add_bot(handle: &SimHandle, login: &str) -> Value {
    post(handle, "/sim/v1/agents", json!({"login": login, "password": "pw", "skills": ["bots"]})).await
}

async fn open(handle: &SimHandle) -> String {
    post(handle, "/sim/v1/conversations", json!({"skill": "bots"})).await["conversation_id"].as_str().unwrap().to_owned()
}

/// Rings `agent` for a new conversation and accepts; returns the conversation id.
async fn take_conversation(handle: &SimHandle, agent: &mut Agent) -> String {
    let id = open(handle).await;
    let mut ring = agent.notification(".ams.routing.RoutingTaskNotification").await;
    // Skip the subscribe snapshot and the end of earlier rings.
    while ring["body"]["changes"][0]["result"]["conversationId"] != id.as_str()
        || ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringState"] != "WAITING"
    {
        ring = agent.notification(".ams.routing.RoutingTaskNotification").await;
    }
    let ring_id = ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringId"].as_str().unwrap().to_owned();
    let accepted = agent.request(".ams.routing.UpdateRingState", json!({"ringId": ring_id, "ringState": "ACCEPTED"})).await;
    assert_eq!((accepted["code"].as_u64(), accepted["body"].as_str()), (Some(202), Some("Ring state updated successfully")));
    id
}

#[actix_rt::test]
async fn csds_login_refresh_and_logout() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let csds: Value = awc::Client::default()
        .get(format!("{}/api/account/{}/service/baseURI.json?version=1.0", handle.platform_url(), handle.account))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let services: Vec<&str> = csds["baseURIs"].as_array().unwrap().iter().map(|s| s["service"].as_str().unwrap()).collect();
    for service in ["agentVep", "facadeMsg", "asyncMessagingEnt"] {
        assert!(services.contains(&service), "{services:?}");
    }
    assert_eq!(csds["baseURIs"][0]["baseURI"], handle.platform_addr.to_string());

    let (status, body, cookie) = login(&handle, json!({"username": "bot1", "password": "pw"})).await;
    assert_eq!(status, 200);
    for field in ["bearer", "csrf"] {
        assert!(body[field].as_str().is_some_and(|v| !v.is_empty()), "{field}: {body}");
    }
    assert!(body["config"]["userId"].is_string() && body["config"]["userPid"].is_string());
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.starts_with("session_id="));

    let refresh = |csrf: String, cookie: String| {
        let url = format!("{}/api/account/{}/refresh?v=1.3", handle.platform_url(), handle.account);
        async move { awc::Client::default().post(url).insert_header(("Cookie", cookie)).send_json(&json!({"csrf": csrf})).await.unwrap() }
    };
    assert_eq!(refresh(body["csrf"].as_str().unwrap().into(), cookie.clone()).await.status(), 200);
    let mut bad = refresh("wrong".into(), cookie.clone()).await;
    assert_eq!(bad.status(), 401);
    let error: Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["internalCode"], 10);
    handle.stop().await;
}

#[actix_rt::test]
async fn a_user_is_disabled_after_too_many_failed_logins_until_enabled() {
    let handle = simulator(SimConfig { max_failed_logins: 3, ..SimConfig::default() }).await;
    let bot = add_bot(&handle, "bot1").await;
    for _ in 0..3 {
        let (status, _, _) = login(&handle, json!({"username": "bot1", "password": "nope"})).await;
        assert_eq!(status, 401);
    }
    let (status, body, _) = login(&handle, json!({"username": "bot1", "password": "pw"})).await;
    assert_eq!(status, 401, "disabled even with the right password");
    assert!(body["error"]["message"].as_str().unwrap().contains("disabled"), "{body}");
    let agents = get(&handle, "/sim/v1/agents").await;
    assert_eq!(agents[0]["disabled"], true);
    post(&handle, &format!("/sim/v1/agents/{}/enable", bot["user_id"].as_str().unwrap()), json!({})).await;
    assert_eq!(login(&handle, json!({"username": "bot1", "password": "pw"})).await.0, 200);
    handle.stop().await;
}

#[actix_rt::test]
async fn api_key_logins_work_and_wrong_keys_count_as_failures() {
    let handle = simulator(SimConfig::default()).await;
    let keys = json!({"appKey": "ak", "secret": "s", "accessToken": "at", "accessTokenSecret": "ats"});
    let mut body = keys.clone();
    body["login"] = json!("keybot");
    body["skills"] = json!(["bots"]);
    post(&handle, "/sim/v1/agents", body).await;
    let mut attempt = keys.clone();
    attempt["username"] = json!("keybot");
    assert_eq!(login(&handle, attempt.clone()).await.0, 200);
    attempt["secret"] = json!("wrong");
    assert_eq!(login(&handle, attempt).await.0, 401);
    assert_eq!(get(&handle, "/sim/v1/agents").await[0]["failed_logins"], 1);
    handle.stop().await;
}

#[actix_rt::test]
async fn a_ring_accepted_assigns_the_conversation_and_messages_flow_both_ways() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let snapshot = bot.notification(".ams.routing.RoutingTaskNotification").await;
    assert_eq!(snapshot["body"]["changes"], json!([]), "no rings yet");

    let id = open(&handle).await;
    let ring = bot.notification(".ams.routing.RoutingTaskNotification").await;
    let result = &ring["body"]["changes"][0]["result"];
    assert_eq!(result["conversationId"], id.as_str());
    let details = &result["ringsDetails"][0];
    assert_eq!(details["ringState"], "WAITING");
    assert_eq!(details["ringExpiration"], 72000);
    let ring_id = details["ringId"].as_str().unwrap().to_owned();
    assert!(ring_id.starts_with(&format!("{id}_{}_", handle.account)));

    let accepted = bot.request("routing.UpdateRingState", json!({"ringId": ring_id, "ringState": "ACCEPTED"})).await;
    assert_eq!(accepted["code"], 202);
    let change = bot.notification(".ams.aam.ExConversationChangeNotification").await;
    let details = &change["body"]["changes"][0]["result"]["conversationDetails"];
    assert_eq!(details["participants"]["ASSIGNED_AGENT"], json!([bot.old_id(&handle)]));
    assert_eq!(details["participantsPId"]["ASSIGNED_AGENT"], json!([bot.pid]));
    assert_eq!(
        details["dialogs"][0]["participantsDetails"][1],
        json!({"id": bot.old_id(&handle), "role": "ASSIGNED_AGENT", "state": "ACTIVE"})
    );
    assert_eq!(get(&handle, &format!("/sim/v1/conversations/{id}")).await["assigned_agent"], bot.old_id(&handle));

    // Consumer → bot.
    let sent = post(&handle, &format!("/sim/v1/conversations/{id}/events"), json!({"type": "text", "text": "hi"})).await;
    assert_eq!(sent["sequence"], 0);
    let event = bot.notification(".ams.ms.OnlineEventDistribution").await;
    assert_eq!((event["body"]["sequence"].as_u64(), event["body"]["event"]["message"].as_str()), (Some(0), Some("hi")));
    assert_eq!(event["body"]["originatorMetadata"]["role"], "CONSUMER");

    // Bot → consumer; the publisher gets its own event back.
    let published = bot
        .request(
            ".ams.ms.PublishEvent",
            json!({"dialogId": id, "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hello!"}}),
        )
        .await;
    assert_eq!((published["code"].as_u64(), published["body"]["sequence"].as_u64()), (Some(200), Some(1)));
    let echo = bot.notification(".ams.ms.OnlineEventDistribution").await;
    assert_eq!(
        (echo["body"]["originatorPId"].as_str(), echo["body"]["originatorId"].as_str()),
        (Some(bot.pid.as_str()), Some(bot.old_id(&handle).as_str()))
    );
    let typing =
        bot.request("ms.PublishEvent", json!({"dialogId": id, "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"}})).await;
    assert_eq!(typing["body"]["sequence"], 0, "chat states get no sequence");

    let history = bot.request(".ams.ms.QueryMessages", json!({"dialogId": id, "newerThanSequence": 0})).await;
    assert_eq!(history["type"], ".ams.ms.QueryMessages$Response");
    let texts: Vec<&str> = history["body"].as_array().unwrap().iter().map(|e| e["event"]["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hi", "hello!"]);
    let later = bot.request(".ams.ms.QueryMessages", json!({"dialogId": id, "newerThanSequence": 1})).await;
    assert_eq!(later["body"].as_array().unwrap().len(), 1);
    let clock = bot.request(".GetClock", json!({})).await;
    assert!(clock["body"]["currentTime"].as_i64().unwrap() > 0);
    handle.stop().await;
}

#[actix_rt::test]
async fn a_conversation_waits_in_the_queue_until_an_agent_is_available() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let id = open(&handle).await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let snapshot = bot.notification(".ams.routing.RoutingTaskNotification").await;
    let ringing = if snapshot["body"]["changes"].as_array().unwrap().is_empty() {
        bot.notification(".ams.routing.RoutingTaskNotification").await
    } else {
        snapshot
    };
    assert_eq!(ringing["body"]["changes"][0]["result"]["conversationId"], id.as_str());
    handle.stop().await;
}

#[actix_rt::test]
async fn an_expired_ring_rings_the_next_agent() {
    let handle = simulator(SimConfig { ring_expiration: Duration::from_millis(1500), ..SimConfig::default() }).await;
    add_bot(&handle, "bot1").await;
    add_bot(&handle, "bot2").await;
    let mut bot1 = Agent::connect(&handle, "bot1", "pw").await;
    bot1.go_online(&handle).await;
    bot1.notification(".ams.routing.RoutingTaskNotification").await;
    let id = open(&handle).await;
    let ring = bot1.notification(".ams.routing.RoutingTaskNotification").await;
    assert_eq!(ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringState"], "WAITING");
    let mut bot2 = Agent::connect(&handle, "bot2", "pw").await;
    bot2.go_online(&handle).await;
    bot2.notification(".ams.routing.RoutingTaskNotification").await; // empty snapshot: the ring is bot1's
    let expired = bot1.notification(".ams.routing.RoutingTaskNotification").await;
    assert_eq!(expired["body"]["changes"][0]["result"]["ringsDetails"][0]["ringState"], "EXPIRED");
    let next = bot2.notification(".ams.routing.RoutingTaskNotification").await;
    assert_eq!(next["body"]["changes"][0]["result"]["conversationId"], id.as_str());
    assert_eq!(next["body"]["changes"][0]["result"]["ringsDetails"][0]["ringState"], "WAITING");
    handle.stop().await;
}

#[actix_rt::test]
async fn a_second_login_for_the_same_agent_kicks_the_first_session() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut first = Agent::connect(&handle, "bot1", "pw").await;
    let _second = Agent::connect(&handle, "bot1", "pw").await;
    assert_eq!(first.close_code().await, Some(4409));
    assert!(open_socket(&handle, &first.bearer).await.is_err(), "the kicked session's token is revoked");
    let agents = get(&handle, "/sim/v1/agents").await;
    assert_eq!((agents[0]["connections"].as_u64(), agents[0]["sessions"].as_u64()), (Some(1), Some(1)));
    handle.stop().await;
}

#[actix_rt::test]
async fn transfers_ttr_and_close() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let human = post(&handle, "/sim/v1/agents", json!({"login": "anna", "password": "pw", "skills": ["humans"], "kind": "human"})).await;
    let humans_id = get(&handle, "/sim/v1/skills").await.as_array().unwrap().iter().find(|s| s["name"] == "humans").unwrap()["id"].clone();
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;

    // TTR, then transfer to the human skill.
    let a = take_conversation(&handle, &mut bot).await;
    let ttr = bot
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": a, "conversationField": [{"field": "TTRField", "ttrType": "URGENT", "value": 300}]}),
        )
        .await;
    assert_eq!(ttr["code"], 200);
    let view = get(&handle, &format!("/sim/v1/conversations/{a}")).await;
    assert_eq!(view["ttr"], json!({"type": "URGENT", "value": 300}));
    let transfer = bot
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": a, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "role": "ASSIGNED_AGENT", "userId": bot.old_id(&handle)},
            {"field": "Skill", "type": "UPDATE", "skill": humans_id}]}),
        )
        .await;
    assert_eq!((transfer["code"].as_u64(), transfer["body"].as_str()), (Some(200), Some("OK Agent removed successfully")));
    let view = get(&handle, &format!("/sim/v1/conversations/{a}")).await;
    assert_eq!((view["skill"].as_str(), view["assigned_agent"].is_null(), view["state"].as_str()), (Some("humans"), true, Some("OPEN")));
    let published = bot
        .request("ms.PublishEvent", json!({"dialogId": a, "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "x"}}))
        .await;
    assert_eq!(published["code"], 400, "no longer a participant");

    // Transfer to an agent: SUGGESTED until accepted.
    let b = take_conversation(&handle, &mut bot).await;
    let suggest = bot
        .request(
            "cm.UpdateConversationField",
            json!({"conversationId": b, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "role": "ASSIGNED_AGENT"},
            {"field": "ParticipantsChange", "type": "SUGGEST", "userId": human["agent_id"], "role": "ASSIGNED_AGENT"},
            {"field": "Skill", "type": "UPDATE", "skill": humans_id}]}),
        )
        .await;
    assert_eq!(suggest["code"], 200, "{suggest}");
    let view = get(&handle, &format!("/sim/v1/conversations/{b}")).await;
    assert_eq!(view["suggested_agent"], human["agent_id"]);
    assert!(view["participants"]
        .as_array()
        .unwrap()
        .contains(&json!({"id": human["agent_id"], "role": "ASSIGNED_AGENT", "state": "SUGGESTED"})));

    // Close.
    let c = take_conversation(&handle, &mut bot).await;
    let close = bot
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": c, "conversationField": [{"field": "ConversationStateField", "conversationState": "CLOSE"}]}),
        )
        .await;
    assert_eq!(close["code"], 200);
    let view = get(&handle, &format!("/sim/v1/conversations/{c}")).await;
    assert_eq!((view["state"].as_str(), view["close_reason"].as_str()), (Some("CLOSE"), Some("AGENT")));
    let open_list = get(&handle, "/sim/v1/conversations?state=OPEN&skill=humans").await;
    assert_eq!(open_list.as_array().unwrap().len(), 2);
    handle.stop().await;
}

#[actix_rt::test]
async fn bad_frames_get_a_400_and_the_connection_stays() {
    let handle = simulator(SimConfig { max_frame_bytes: 2048, ..SimConfig::default() }).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.send_text("{not json".into()).await;
    let answer = bot.response_to_null().await;
    assert_eq!(answer["code"], 400);
    assert!(answer["body"].as_str().unwrap().starts_with("malformed JSON"));
    let unknown = bot.request(".ams.nope.Whatever", json!({})).await;
    assert_eq!((unknown["code"].as_u64(), unknown["type"].as_str()), (Some(400), Some(".ReqBody$StringResp")));
    let missing = bot.request(".ams.ms.QueryMessages", json!({})).await;
    assert_eq!(missing["body"], "dialogId: required (queryMessages.json)");
    let wrong = bot.request(".ams.routing.SetAgentState", json!({"availability": "SLEEPY"})).await;
    assert!(wrong["body"].as_str().unwrap().starts_with("availability: must be one of"));
    let huge = json!({"kind": "req", "id": "big", "type": "GetClock", "body": {"pad": "x".repeat(4096)}}).to_string();
    bot.send_text(huge).await;
    let answer = bot.response_to("big").await;
    assert_eq!(answer["code"], 400);
    assert!(answer["body"].as_str().unwrap().contains("over the limit"));
    let unknown_dialog =
        bot.request("ms.PublishEvent", json!({"dialogId": "nope", "event": {"type": "ContentEvent", "message": "x"}})).await;
    assert_eq!(unknown_dialog["code"], 400);
    assert_eq!(bot.request("GetClock", json!({})).await["code"], 200, "still connected");
    handle.stop().await;
}

#[actix_rt::test]
async fn faults_expire_tokens_and_refuse_logins_and_upgrades() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    post(&handle, "/sim/v1/faults", json!({"kind": "expire_tokens"})).await;
    assert_eq!(bot.close_code().await, Some(4401));

    post(&handle, "/sim/v1/faults", json!({"kind": "login_unavailable", "for": "30s"})).await;
    assert_eq!(login(&handle, json!({"username": "bot1", "password": "pw"})).await.0, 503);
    let (status, _) = control(&handle, "DELETE", "/sim/v1/faults", None).await;
    assert_eq!(status, 200);
    let (status, body, _) = login(&handle, json!({"username": "bot1", "password": "pw"})).await;
    assert_eq!(status, 200);
    post(&handle, "/sim/v1/faults", json!({"kind": "ums_unavailable", "for": "30s"})).await;
    assert!(open_socket(&handle, body["bearer"].as_str().unwrap()).await.is_err(), "the upgrade is refused");
    let url =
        format!("{}/ws_api/account/{}/messaging/brand/{}?v=2.1", handle.platform_url(), handle.account, body["bearer"].as_str().unwrap());
    assert_eq!(awc::Client::default().get(url).send().await.unwrap().status(), 503);
    control(&handle, "DELETE", "/sim/v1/faults", None).await;

    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    post(&handle, "/sim/v1/faults", json!({"kind": "rate_limit", "requests_per_second": 2})).await;
    let codes = [
        bot.request("GetClock", json!({})).await["code"].clone(),
        bot.request("GetClock", json!({})).await["code"].clone(),
        bot.request("GetClock", json!({})).await["code"].clone(),
    ];
    assert_eq!(codes, [json!(200), json!(200), json!(429)]);
    handle.stop().await;
}

#[actix_rt::test]
async fn the_control_api_names_the_field_to_fix() {
    let handle = simulator(SimConfig::default()).await;
    let (status, body) = control(&handle, "POST", "/sim/v1/skills", Some(json!({"name": "x", "colour": "red"}))).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"), "{body}");
    let (status, body) = control(&handle, "POST", "/sim/v1/conversations", Some(json!({"skill": "nope"}))).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("skill"), "{body}");
    let (status, _) = control(&handle, "GET", "/sim/v1/conversations/nope", None).await;
    assert_eq!(status, 404);
    let (status, body) = control(&handle, "POST", "/sim/v1/agents", Some(json!({"login": "b", "password": "p", "slots": 3}))).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown field `slots`"), "{body}");
    let (status, body) = control(&handle, "POST", "/sim/v1/faults", Some(json!({"kind": "meteor"}))).await;
    assert_eq!(status, 400, "{body}");
    handle.stop().await;
}

#[actix_rt::test]
async fn the_traffic_generator_opens_conversations_and_consumers_talk() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let (status, body) = control(&handle, "POST", "/sim/v1/traffic", Some(json!({"skill": "nope", "conversations_per_minute": 10}))).await;
    assert_eq!(status, 400, "{body}");
    post(
        &handle,
        "/sim/v1/traffic",
        json!({"skill": "bots", "conversations_per_minute": 600, "messages_per_conversation": 2, "think_time": "100ms", "typing": true}),
    )
    .await;
    // Accept the first ring; the consumer's messages reach the bot.
    let mut ring = bot.notification(".ams.routing.RoutingTaskNotification").await;
    while ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringState"] != "WAITING" {
        ring = bot.notification(".ams.routing.RoutingTaskNotification").await;
    }
    let ring_id = ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringId"].as_str().unwrap().to_owned();
    bot.request("routing.UpdateRingState", json!({"ringId": ring_id, "ringState": "ACCEPTED"})).await;
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let event = bot.notification(".ams.ms.OnlineEventDistribution").await;
        if let Some(text) = event["body"]["event"]["message"].as_str() {
            texts.push(text.to_owned());
        }
    }
    assert_eq!(texts, ["message 1 of 2", "message 2 of 2"]);
    let status = get(&handle, "/sim/v1/traffic").await;
    assert!(status["opened"].as_u64().unwrap() >= 1);
    control(&handle, "DELETE", "/sim/v1/traffic", None).await;
    assert_eq!(get(&handle, "/sim/v1/traffic").await["running"], false);
    handle.stop().await;
}

#[actix_rt::test]
async fn an_idle_connection_is_closed_and_pings_are_answered() {
    let handle = simulator(SimConfig { idle_timeout: Duration::from_millis(500), ..SimConfig::default() }).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.ping().await;
    assert_eq!(bot.close_code().await, Some(1000), "closed after 500 ms without traffic");
    handle.stop().await;
}

#[actix_rt::test]
async fn get_user_profile_returns_the_consumers_engagement_attributes() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let sdes = json!({"firstName": "Ada", "lp_sdes": [{"type": "ctmrinfo", "info": {"customerId": "c-42"}}]});
    let opened = post(&handle, "/sim/v1/conversations", json!({"skill": "bots", "sdes": sdes})).await;
    let consumer = opened["consumer_id"].as_str().unwrap();
    // The SDK sends the consumer id as a JSON string body.
    bot.send_text(
        json!({"kind": "req", "id": "p1", "type": ".ams.userprofile.GetUserProfile", "body": format!("\"{consumer}\"")}).to_string(),
    )
    .await;
    let profile = bot.response_to("p1").await;
    assert_eq!(profile["type"], ".ams.userprofile.GetUserProfile$Response");
    assert_eq!(profile["body"]["firstName"], "Ada");
    assert_eq!(profile["body"]["authenticatedData"]["lp_sdes"][0]["info"]["customerId"], "c-42");
    handle.stop().await;
}

#[actix_rt::test]
async fn dropped_connections_and_latency_faults() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    add_bot(&handle, "bot2").await;
    let mut bot1 = Agent::connect(&handle, "bot1", "pw").await;
    let mut bot2 = Agent::connect(&handle, "bot2", "pw").await;
    post(&handle, "/sim/v1/faults", json!({"kind": "drop_connections", "agent": format!("{}.{}", handle.account, bot1.user_id)})).await;
    assert_eq!(bot1.close_code().await, None, "dropped without a close frame");
    assert_eq!(bot2.request("GetClock", json!({})).await["code"], 200, "the other agent is untouched");

    post(&handle, "/sim/v1/faults", json!({"kind": "latency", "ms": 300})).await;
    let start = tokio::time::Instant::now();
    assert_eq!(bot2.request("GetClock", json!({})).await["code"], 200);
    assert!(start.elapsed() >= Duration::from_millis(300), "answered after the injected latency");
    control(&handle, "DELETE", "/sim/v1/faults", None).await;
    handle.stop().await;
}

#[actix_rt::test]
async fn a_rejected_ring_is_not_offered_again_at_once_and_plain_gets_do_not_kick() {
    let handle = simulator(SimConfig { ring_expiration: Duration::from_millis(800), ..SimConfig::default() }).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    bot.notification(".ams.routing.RoutingTaskNotification").await; // snapshot
    let id = open(&handle).await;
    let ring = bot.notification(".ams.routing.RoutingTaskNotification").await;
    let ring_id = ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringId"].as_str().unwrap().to_owned();
    let rejected_at = tokio::time::Instant::now();
    assert_eq!(bot.request("routing.UpdateRingState", json!({"ringId": ring_id, "ringState": "REJECTED"})).await["code"], 202);
    // The next WAITING ring for the lone bot comes after a ring period, not at once.
    loop {
        let next = bot.notification(".ams.routing.RoutingTaskNotification").await;
        let details = &next["body"]["changes"][0]["result"]["ringsDetails"][0];
        if details["ringState"] == "WAITING" {
            assert_ne!(details["ringId"].as_str().unwrap(), ring_id, "a new ring id");
            assert_eq!(next["body"]["changes"][0]["result"]["conversationId"], id.as_str());
            break;
        }
    }
    assert!(rejected_at.elapsed() >= Duration::from_millis(700), "offered again after the ring period");

    // A plain GET on the websocket path with a valid token is refused without kicking.
    let url = format!("{}/ws_api/account/{}/messaging/brand/{}?v=2.1", handle.platform_url(), handle.account, bot.bearer);
    let status = awc::Client::default().get(url).send().await.unwrap().status();
    assert!(status.is_client_error(), "{status}");
    assert_eq!(bot.request("GetClock", json!({})).await["code"], 200, "still connected");
    handle.stop().await;
}

#[actix_rt::test]
async fn logout_ends_the_session_and_a_second_socket_on_the_same_token_kicks_the_first() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    let (_, body, cookie) = login(&handle, json!({"username": "bot1", "password": "pw"})).await;
    let bearer = body["bearer"].as_str().unwrap();
    let _first = open_socket(&handle, bearer).await.unwrap();
    let _second = open_socket(&handle, bearer).await.unwrap();
    let agents = get(&handle, "/sim/v1/agents").await;
    assert_eq!(agents[0]["connections"], 1, "one connection per agent");

    let url = |path: &str| format!("{}/api/account/{}/{path}?v=1.3", handle.platform_url(), handle.account);
    let csrf = json!({"csrf": body["csrf"]});
    let response =
        awc::Client::default().post(url("logout")).insert_header(("Cookie", cookie.clone().unwrap())).send_json(&csrf).await.unwrap();
    assert_eq!(response.status(), 200);
    let refresh = awc::Client::default().post(url("refresh")).insert_header(("Cookie", cookie.unwrap())).send_json(&csrf).await.unwrap();
    assert_eq!(refresh.status(), 401, "the session is gone");
    assert_eq!(get(&handle, "/sim/v1/agents").await[0]["connections"], 0, "its socket is closed");
    handle.stop().await;
}

#[actix_rt::test]
async fn a_transfer_to_an_agent_rings_that_agent() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    add_bot(&handle, "bot2").await;
    let bots_id = get(&handle, "/sim/v1/skills").await[0]["id"].clone();
    let mut bot1 = Agent::connect(&handle, "bot1", "pw").await;
    bot1.go_online(&handle).await;
    let id = take_conversation(&handle, &mut bot1).await;
    let mut bot2 = Agent::connect(&handle, "bot2", "pw").await;
    bot2.go_online(&handle).await;
    let target = bot2.old_id(&handle);
    let transfer = bot1
        .request(
            "cm.UpdateConversationField",
            json!({"conversationId": id, "conversationField": [
            {"field": "ParticipantsChange", "type": "REMOVE", "role": "ASSIGNED_AGENT"},
            {"field": "ParticipantsChange", "type": "SUGGEST", "userId": target, "role": "ASSIGNED_AGENT"},
            {"field": "Skill", "type": "UPDATE", "skill": bots_id}]}),
        )
        .await;
    assert_eq!(transfer["code"], 200);
    let mut ring = bot2.notification(".ams.routing.RoutingTaskNotification").await;
    while ring["body"]["changes"][0]["result"]["conversationId"] != id.as_str() {
        ring = bot2.notification(".ams.routing.RoutingTaskNotification").await;
    }
    let ring_id = ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringId"].as_str().unwrap().to_owned();
    bot2.request("routing.UpdateRingState", json!({"ringId": ring_id, "ringState": "ACCEPTED"})).await;
    let view = get(&handle, &format!("/sim/v1/conversations/{id}")).await;
    assert_eq!(view["assigned_agent"], target.as_str());
    assert!(view["suggested_agent"].is_null(), "the suggestion is settled");
    handle.stop().await;
}

#[actix_rt::test]
async fn a_manager_joins_sees_private_messages_and_file_urls_are_answered() {
    let handle = simulator(SimConfig::default()).await;
    add_bot(&handle, "bot1").await;
    post(&handle, "/sim/v1/agents", json!({"login": "greeter", "password": "pw", "skills": []})).await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let id = take_conversation(&handle, &mut bot).await;
    let mut greeter = Agent::connect(&handle, "greeter", "pw").await;
    let joined = greeter
        .request(
            ".ams.cm.UpdateConversationField",
            json!({"conversationId": id, "conversationField": [{"field": "ParticipantsChange", "type": "ADD", "role": "MANAGER"}]}),
        )
        .await;
    assert_eq!((joined["code"].as_u64(), joined["body"].as_str()), (Some(200), Some("OK Agent added successfully")));
    let view = get(&handle, &format!("/sim/v1/conversations/{id}")).await;
    assert!(view["participants"].as_array().unwrap().iter().any(|p| p["role"] == "MANAGER" && p["id"] == greeter.old_id(&handle)));

    let private = bot.request("ms.PublishEvent", json!({"dialogId": id, "messageAudience": "AGENTS_AND_MANAGERS", "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "for agents"}})).await;
    assert_eq!(private["code"], 200);
    let seen = greeter.notification(".ams.ms.OnlineEventDistribution").await;
    assert_eq!(
        (seen["body"]["messageAudience"].as_str(), seen["body"]["event"]["message"].as_str()),
        (Some("AGENTS_AND_MANAGERS"), Some("for agents"))
    );
    let view = get(&handle, &format!("/sim/v1/conversations/{id}")).await;
    assert_eq!(view["transcript"].as_array().unwrap().last().unwrap()["audience"], "AGENTS_AND_MANAGERS");

    let url = bot.request(".ams.ms.GenerateURLForUploadFile", json!({"fileSize": 5020, "fileType": "JPEG"})).await;
    assert_eq!(url["code"], 200);
    assert!(url["body"]["relativePath"].is_string() && url["body"]["queryParams"]["temp_url_sig"].is_string());
    let typing = post(&handle, &format!("/sim/v1/conversations/{id}/events"), json!({"type": "typing"})).await;
    assert_eq!(typing["sequence"], 0);
    let (status, body) = control(&handle, "GET", "/sim/v1/conversations?colour=red", None).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"), "{body}");
    handle.stop().await;
}

#[actix_rt::test]
async fn a_dialog_keeps_its_newest_events_when_bounded_and_sequences_go_on() {
    let handle = simulator(SimConfig { max_dialog_events: Some(10), ..SimConfig::default() }).await;
    add_bot(&handle, "bot1").await;
    let mut bot = Agent::connect(&handle, "bot1", "pw").await;
    bot.go_online(&handle).await;
    let id = take_conversation(&handle, &mut bot).await;
    for n in 0..45 {
        let sent = post(&handle, &format!("/sim/v1/conversations/{id}/events"), json!({"type": "text", "text": format!("m{n}")})).await;
        assert_eq!(sent["sequence"], n, "sequences go on past the bound");
    }
    let history = bot.request(".ams.ms.QueryMessages", json!({"dialogId": id, "newerThanSequence": 0})).await;
    let texts: Vec<&str> = history["body"].as_array().unwrap().iter().map(|e| e["event"]["message"].as_str().unwrap()).collect();
    assert!((10..20).contains(&texts.len()), "between the bound and twice it: {texts:?}");
    assert_eq!(texts.last(), Some(&"m44"), "the newest are kept");
    let sequences: Vec<u64> = history["body"].as_array().unwrap().iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1), "a contiguous tail: {sequences:?}");
    handle.stop().await;
}
