//! The demo that `botvisor run` plays until the service issue lands: a scripted vendor that
//! shows every item type and action, and a trickle of simulated consumers on the platform fake.

use std::time::Duration;

use actix::Addr;
use botvisor_actors::bot::BotActor;
use botvisor_actors::model::{
    BotAction, BotResponse, MessageAudience, OutboundMessage, ResponseItem, StructuredContentMessage, TextMessage, Ttr,
};
use botvisor_actors::ports::VendorInput;
use botvisor_actors::testkit::{FakePlatform, FakeReply, FakeVendor};
use serde_json::json;

/// What each simulated consumer says, one script per conversation in turn.
const CONSUMER_SCRIPTS: &[&[&str]] = &[
    &["hi", "menu", "urgent please", "bye"],
    &["hello", "show me a card", "I want an agent"],
    &["hey there", "what can you do?", "bye"],
];

/// The demo bot's brain: keywords to answers, with every item type and action.
pub fn demo_vendor() -> FakeVendor {
    FakeVendor::scripted(|request| {
        let text = match &request.input {
            VendorInput::Welcome { .. } => return FakeReply::Answer(BotResponse::text("Welcome! Type menu to see what I can do.")),
            VendorInput::Message { text, .. } => text.to_lowercase(),
        };
        let response = if text.contains("agent") {
            BotResponse::text("Let me find you a human.")
                .with_item(ResponseItem::Text(TextMessage::private("Demo consumer asked for an agent.")))
                .with_action(BotAction::Transfer { skill: "human-agents".into(), agent_id: None })
        } else if text.contains("bye") {
            BotResponse::text("Goodbye!").with_action(BotAction::CloseConversation { without_pcs: false })
        } else if text.contains("urgent") {
            BotResponse::text("I have marked this conversation urgent.").with_action(BotAction::ChangeTtr(Ttr::Urgent))
        } else if text.contains("menu") {
            BotResponse {
                items: vec![ResponseItem::Text(TextMessage {
                    text: "What would you like?".into(),
                    quick_replies: Some(json!({"type": "quickReplies", "itemsPerRow": 3, "replies": [
                        {"type": "button", "title": "Card", "click": {"actions": [{"type": "publishText", "text": "card"}]}},
                        {"type": "button", "title": "Agent", "click": {"actions": [{"type": "publishText", "text": "agent"}]}},
                        {"type": "button", "title": "Bye", "click": {"actions": [{"type": "publishText", "text": "bye"}]}}
                    ]})),
                    ..TextMessage::default()
                })],
                ..BotResponse::default()
            }
        } else if text.contains("card") {
            BotResponse::default().with_item(ResponseItem::StructuredContent(StructuredContentMessage {
                content: json!({"type": "vertical", "elements": [{"type": "text", "text": "botvisor demo card"}]}),
                metadata: None,
                encoded_metadata: None,
            }))
        } else {
            BotResponse::default()
                .with_item(ResponseItem::Delay { seconds: 1, typing: true })
                .with_item(ResponseItem::Text(TextMessage::plain(format!("You said: {text}"))))
        };
        FakeReply::Answer(response)
    })
}

/// Logs every message the bot publishes.
pub fn log_bot_messages(platform: &FakePlatform) {
    platform.on_publish(|conversation_id, message| match message {
        OutboundMessage::Text(text) if text.audience == MessageAudience::AgentsAndManagers => {
            tracing::info!(%conversation_id, text = %text.text, "bot note for agents")
        }
        OutboundMessage::Text(text) => tracing::info!(%conversation_id, text = %text.text, "bot says"),
        OutboundMessage::StructuredContent(_) => tracing::info!(%conversation_id, "bot sends structured content"),
    });
}

/// A new simulated consumer every `every`, each following one of the scripts.
pub async fn consumer_traffic(platform: FakePlatform, bot: Addr<BotActor>, every: Duration) {
    for n in 0u64.. {
        actix_rt::time::sleep(every).await;
        let conversation = format!("demo-{n}");
        let script = CONSUMER_SCRIPTS[(n as usize) % CONSUMER_SCRIPTS.len()];
        actix_rt::spawn(one_consumer(platform.clone(), conversation, script));
        if !bot.connected() {
            return;
        }
    }
}

async fn one_consumer(platform: FakePlatform, conversation: String, script: &'static [&'static str]) {
    tracing::info!(conversation_id = %conversation, text = script[0], "consumer opens a conversation");
    platform.consumer_says(&conversation, script[0]);
    platform.ring(&conversation);
    actix_rt::time::sleep(Duration::from_millis(150)).await;
    platform.assign(&conversation);
    for line in &script[1..] {
        actix_rt::time::sleep(Duration::from_millis(1500)).await;
        if platform.closed(&conversation).is_some() || platform.skill_of(&conversation).is_some() {
            break;
        }
        tracing::info!(conversation_id = %conversation, text = line, "consumer says");
        platform.consumer_says(&conversation, line);
    }
    actix_rt::time::sleep(Duration::from_secs(5)).await;
    platform.remove(&conversation);
    platform.forget_conversation(&conversation);
}
