//! Error escalation: tell the consumer, hand the conversation to humans with a private note,
//! and if that fails say so and retry a bounded number of times.

use crate::conversation::execute::Target;
use crate::errors::{ErrorCode, ErrorReport};
use crate::model::{OutboundMessage, TextMessage};
use crate::settings::EscalationSettings;

/// How an escalation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationOutcome {
    /// The conversation is on `skill` now.
    Transferred { skill: String },
    /// The conversation stays with the bot, which processes only new messages.
    Stayed(ErrorReport),
    /// The session dropped; the escalation is redone after the reconnect.
    Disconnected,
}

/// Escalates to `skill` (the escalation skill, or the overflow skill under load): first the
/// "transfer message to customer", then the private "transfer message to agent", then the
/// transfer; on failure the "transfer failure message" once, then up to `max_retries` more
/// transfers `retry_interval` apart. When `skill` is the bot's own skill nothing is transferred
/// (it would loop): the consumer gets the failure message and the bot stays.
pub async fn escalate(target: Target, settings: &EscalationSettings, skill: &str, own_skill: &str) -> EscalationOutcome {
    let Target { platform, conversation_id, dialog_id } = &target;
    let publish = |text: TextMessage| platform.publish(conversation_id, dialog_id, OutboundMessage::Text(text), None);

    if skill == own_skill {
        if let Err(error) = publish(TextMessage::plain(&settings.transfer_failure_message)).await {
            if error.is_disconnect() {
                return EscalationOutcome::Disconnected;
            }
        }
        return EscalationOutcome::Stayed(ErrorReport::new(
            ErrorCode::EscalationLoopPrevented,
            format!("the escalation skill {skill:?} is the bot's own skill; configure another escalation skill"),
        ));
    }

    for text in [TextMessage::plain(&settings.transfer_message_to_customer), TextMessage::private(&settings.transfer_message_to_agent)] {
        if let Err(error) = publish(text).await {
            if error.is_disconnect() {
                return EscalationOutcome::Disconnected;
            }
            // The transfer matters more than the courtesy text: go on.
            tracing::warn!(%conversation_id, %error, "escalation message could not be published");
        }
    }

    let mut last_error = match platform.transfer_to_skill(conversation_id, skill).await {
        Ok(()) => return EscalationOutcome::Transferred { skill: skill.to_owned() },
        Err(error) if error.is_disconnect() => return EscalationOutcome::Disconnected,
        Err(error) => error,
    };
    tracing::warn!(%conversation_id, skill, error = %last_error, "escalation transfer failed");
    if let Err(error) = publish(TextMessage::plain(&settings.transfer_failure_message)).await {
        if error.is_disconnect() {
            return EscalationOutcome::Disconnected;
        }
    }
    for retry in 1..=settings.max_retries {
        tokio::time::sleep(settings.retry_interval).await;
        match platform.transfer_to_skill(conversation_id, skill).await {
            Ok(()) => return EscalationOutcome::Transferred { skill: skill.to_owned() },
            Err(error) if error.is_disconnect() => return EscalationOutcome::Disconnected,
            Err(error) => {
                tracing::warn!(%conversation_id, skill, retry, error = %error, "escalation transfer retry failed");
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
