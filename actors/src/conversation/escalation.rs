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
    /// (`announced`: the consumer and agent messages are out already; `transfers_tried`: the
    /// count goes on from there).
    Disconnected { announced: bool, transfers_tried: u32 },
}

/// What an escalation is about and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationRequest {
    pub skill: String,
    /// The highest consumer sequence it covers, for the messages' answer keys.
    pub answers: Option<Sequence>,
    /// Send the consumer and agent messages (false when resuming after a disconnect).
    pub announce: bool,
    /// Transfers already tried (resuming after a disconnect, or on the bot's next owner).
    pub transfers_tried: u32,
}

impl EscalationRequest {
    /// A new escalation of the messages up to `answers`.
    pub fn new(skill: impl Into<String>, answers: Option<Sequence>) -> Self {
        Self { skill: skill.into(), answers, announce: true, transfers_tried: 0 }
    }
}

/// Escalates to `skill` (the escalation skill, or the overflow skill under load): first the
/// "transfer message to customer", then the private "transfer message to agent", then the
/// transfer; on failure the "transfer failure message" once, then up to `max_retries` more
/// transfers `retry_interval` apart. When `skill` is the bot's own skill nothing is transferred
/// (it would loop): the consumer gets the failure message and the bot stays.
///
/// `progress` is told the transfers tried so far once the escalation is announced, and after
/// each failed transfer (the conversation keeps it in the store, so the bot's next owner goes on
/// counting instead of starting over).
pub async fn escalate<F>(
    target: Target,
    settings: &EscalationSettings,
    request: EscalationRequest,
    own_skill: &str,
    progress: impl Fn(u32) -> F,
) -> EscalationOutcome
where
    F: std::future::Future<Output = ()>,
{
    let Target { platform, conversation_id, dialog_id } = &target;
    let EscalationRequest { skill, answers, announce, mut transfers_tried } = request;
    let skill = skill.as_str();
    let key = |item: u32| Some(AnswerKey { conversation_id: conversation_id.clone(), answers, item });
    let publish = |text: TextMessage, item: u32| platform.publish(conversation_id, dialog_id, OutboundMessage::Text(text), key(item));

    if skill == own_skill {
        if let Err(error) = publish(TextMessage::plain(&settings.transfer_failure_message), 0).await {
            if error.is_disconnect() {
                return EscalationOutcome::Disconnected { announced: false, transfers_tried };
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
                    return EscalationOutcome::Disconnected { announced: item > 0, transfers_tried };
                }
                // The transfer matters more than the courtesy text: go on.
                tracing::warn!(%error, "escalation message could not be published");
            }
        }
    }
    progress(transfers_tried).await;

    let attempts = settings.max_retries.saturating_add(1);
    let mut last_error = None;
    while transfers_tried < attempts {
        if transfers_tried > 0 {
            tokio::time::sleep(settings.retry_interval).await;
        }
        match platform.transfer_to_skill(conversation_id, skill).await {
            Ok(()) => return EscalationOutcome::Transferred { skill: skill.to_owned() },
            Err(error) if error.is_disconnect() => return EscalationOutcome::Disconnected { announced: true, transfers_tried },
            Err(error) => {
                tracing::warn!(skill, attempt = transfers_tried + 1, %error, "escalation transfer failed");
                last_error = Some(error);
            }
        }
        transfers_tried += 1;
        if transfers_tried == 1 {
            if let Err(error) = publish(TextMessage::plain(&settings.transfer_failure_message), 2).await {
                if error.is_disconnect() {
                    return EscalationOutcome::Disconnected { announced: true, transfers_tried };
                }
            }
        }
        if transfers_tried < attempts {
            progress(transfers_tried).await;
        }
    }
    let last = last_error.map_or_else(|| "tried before this node took the bot".to_owned(), |e| e.to_string());
    EscalationOutcome::Stayed(ErrorReport::new(
        ErrorCode::EscalationFailed,
        format!("the transfer to escalation skill {skill:?} failed {attempts} times (last: {last}); the conversation stays with the bot"),
    ))
}
