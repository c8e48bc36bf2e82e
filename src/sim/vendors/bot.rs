//! The simulator's built-in Bot Framework bot, behind the Direct Line fake when no real bot is
//! configured: it takes each turn in process, matches the consumer's text (or the welcome: an
//! empty text with `channelData.action.name = "WELCOME"`, or the `startConversation` event) to an
//! intent of the bots file's `directline` part, and replies with that intent's activities, each
//! with `replyToId` set to the consumer's activity, as a Bot Builder bot does.

use serde_json::{json, Value};

use crate::sim::vendors::bots::{match_input, WELCOME_EVENT};
use crate::sim::vendors::directline::{reply_in_process, BOT_ID};
use crate::sim::vendors::VendorFakes;

/// One turn; `Err(status)` when the bot was told to fail.
pub async fn turn(fakes: &VendorFakes, activity: &Value) -> Result<(), u16> {
    let Some(bot) = &fakes.bots.directline else { return Ok(()) };
    let conversation = activity.pointer("/conversation/id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let id = activity.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let welcome = match activity.get("type").and_then(Value::as_str) {
        Some("message") => activity.pointer("/channelData/action/name").and_then(Value::as_str) == Some(WELCOME_EVENT),
        Some("event") => activity.get("name").and_then(Value::as_str) == Some("startConversation"),
        _ => return Ok(()),
    };
    let text = activity.get("text").and_then(Value::as_str);
    let intent = match_input(&bot.intents, text, welcome.then_some(WELCOME_EVENT));
    let answer = match intent {
        Some(intent) => {
            if let Some(fault) = &intent.fault {
                if fakes.should_fail(&conversation, &intent.name, fault.times) {
                    if let Some(delay) = fault.delay {
                        actix_rt::time::sleep(delay).await;
                    }
                    if let Some(status) = fault.status {
                        return Err(status);
                    }
                    if let Some(raw) = &fault.raw {
                        reply_in_process(fakes, &conversation, &id, raw.clone());
                        return Ok(());
                    }
                }
            }
            intent.answer.clone()
        }
        None => bot.fallback.clone().unwrap_or_else(|| json!({"activities": [{"type": "message", "text": "Sorry, I did not get that."}]})),
    };
    for reply in answer.get("activities").and_then(Value::as_array).into_iter().flatten() {
        let mut reply = reply.clone();
        if reply.get("type").is_none() {
            reply["type"] = json!("message");
        }
        reply["from"] = json!({"id": BOT_ID, "name": "Bot"});
        reply["recipient"] = activity.get("from").cloned().unwrap_or(Value::Null);
        reply["replyToId"] = json!(id);
        reply_in_process(fakes, &conversation, &id, reply);
    }
    Ok(())
}
