//! The demo that `botvisor run` plays until the service issue lands: a scripted vendor that
//! shows every item type and action, and what the simulated consumers say.

use botvisor_actors::model::{BotAction, BotResponse, ResponseItem, StructuredContentMessage, TextMessage, Ttr};
use botvisor_actors::ports::VendorInput;
use botvisor_actors::testkit::{FakeReply, FakeVendor};
use serde_json::json;

/// What each simulated consumer says, one script per conversation in turn.
pub const CONSUMER_SCRIPTS: &[&[&str]] = &[
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
