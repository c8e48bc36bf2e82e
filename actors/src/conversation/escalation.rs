//! Error escalation: tell the consumer, hand the conversation to humans with a private note,
//! and if that fails say so and retry a bounded number of times.

use crate::conversation::execute::Target;
use crate::errors::{ErrorCode, ErrorReport};
use crate::model::{AnswerKey, OutboundMessage, Sequence, TextMessage};
use crate::settings::EscalationSettings;

/// How an escalation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationOutcome {
    /// The conversation is on `skill` now.
    Transferred { skill: String },
    /// The conversation stays with the bot, which processes only new messages.
    Stayed(ErrorReport),
    /// The session dropped; the conversation redoes the escalation after the reconnect
    /// (`announced`: the consumer and agent messages are out already).
    Disconnected { announced: bool },
}

/// What an escalation is about and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationRequest {
    pub skill: String,
    /// The highest consumer sequence it covers, for the messages' answer keys.
    pub answers: Option<Sequence>,
    /// Send the consumer and agent messages (false when resuming after a disconnect).
    pub announce: bool,
}

/// Escalates to `skill` (the escalation skill, or the overflow skill under load): first the
/// "transfer message to customer", then the private "transfer message to agent", then the
/// transfer; on failure the "transfer failure message" once, then up to `max_retries` more
/// transfers `retry_interval` apart. When `skill` is the bot's own skill nothing is transferred
/// (it would loop): the consumer gets the failure message and the bot stays.
pub async fn escalate(target: Target, settings: &EscalationSettings, request: EscalationRequest, own_skill: &str) -> EscalationOutcome {
    let Target { platform, conversation_id, dialog_id } = &target;
    let EscalationRequest { skill, answers, announce } = request;
    let skill = skill.as_str();
    let key = |item: u32| Some(AnswerKey { conversation_id: conversation_id.clone(), answers, item });
    let publish = |text: TextMessage, item: u32| platform.publish(conversation_id, dialog_id, OutboundMessage::Text(text), key(item));

    if skill == own_skill {
        if let Err(error) = publish(TextMessage::plain(&settings.transfer_failure_message), 0).await {
            if error.is_disconnect() {
                return EscalationOutcome::Disconnected { announced: false };
            }
        }
        return EscalationOutcome::Stayed(ErrorReport::new(
            ErrorCode::EscalationLoopPrevented,
            format!("the escalation skill {skill:?} is the bot's own skill; configure another escalation skill"),
        ));
    }

    if announce {
        let texts = [TextMessage::plain(&settings.transfer_message_to_customer), TextMessage::private(&settings.transfer_message_to_agent)];
        for (item, text) in texts.into_iter().enumerate() {
            if let Err(error) = publish(text, item as u32).await {
                if error.is_disconnect() {
                    return EscalationOutcome::Disconnected { announced: item > 0 };
                }
                // The transfer matters more than the courtesy text: go on.
                tracing::warn!(%error, "escalation message could not be published");
            }
        }
    }

    let mut last_error = match platform.transfer_to_skill(conversation_id, skill).await {
        Ok(()) => return EscalationOutcome::Transferred { skill: skill.to_owned() },
        Err(error) if error.is_disconnect() => return EscalationOutcome::Disconnected { announced: true },
        Err(error) => error,
    };
    tracing::warn!(skill, error = %last_error, "escalation transfer failed");
    if let Err(error) = publish(TextMessage::plain(&settings.transfer_failure_message), 2).await {
        if error.is_disconnect() {
            return EscalationOutcome::Disconnected { announced: true };
        }
    }
    for retry in 1..=settings.max_retries {
        tokio::time::sleep(settings.retry_interval).await;
        match platform.transfer_to_skill(conversation_id, skill).await {
            Ok(()) => return EscalationOutcome::Transferred { skill: skill.to_owned() },
            Err(error) if error.is_disconnect() => return EscalationOutcome::Disconnected { announced: true },
            Err(error) => {
                tracing::warn!(skill, retry, error = %error, "escalation transfer retry failed");
                last_error = error;
            }
        }
    }
    EscalationOutcome::Stayed(ErrorReport::new(
        ErrorCode::EscalationFailed,
        format!(
            "the transfer to escalation skill {skill:?} failed {} times (last: {last_error}); the conversation stays with the bot",
            settings.max_retries + 1
        ),
    ))
}
