//! Carrying out a vendor's answer: its items in order, then its single action.

use std::rc::Rc;
use std::time::Duration;

use crate::errors::{ErrorCode, ErrorReport, PlatformError};
use crate::model::{
    AnswerKey, BotAction, BotResponse, ChatState, ConversationId, DialogId, OutboundMessage, ResponseItem,
    Sequence, Ttr,
};
use crate::ports::PlatformPort;

/// Where the conversation's answer goes.
#[derive(Clone)]
pub struct Target {
    pub platform: Rc<dyn PlatformPort>,
    pub conversation_id: ConversationId,
    pub dialog_id: DialogId,
}

/// How carrying out an answer ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionOutcome {
    /// Every item was published; the conversation goes on. An action that failed without
    /// needing an escalation (a TTR change, a function) is reported in `error`.
    Completed { ttr: Option<Ttr>, error: Option<ErrorReport> },
    Transferred { skill: String, agent_id: Option<String> },
    Closed,
    /// Something failed that a human must pick up.
    Escalate(ErrorReport),
    /// The session dropped; history will tell what is still unanswered after the reconnect.
    Disconnected,
}

/// Publishes `response`'s items in order (each tagged with an answer key for `answers`), then
/// performs its action.
pub async fn execute(
    target: Target,
    response: BotResponse,
    answers: Option<Sequence>,
    with_survey: bool,
) -> ExecutionOutcome {
    let Target { platform, conversation_id, dialog_id } = &target;
    for (index, item) in response.items.into_iter().enumerate() {
        let key = AnswerKey { conversation_id: conversation_id.clone(), answers, item: index as u32 };
        let published = match item {
            ResponseItem::Delay { seconds, typing } => {
                if typing {
                    if let Err(error) = platform.publish_chat_state(conversation_id, dialog_id, ChatState::Composing).await {
                        if error.is_disconnect() {
                            return ExecutionOutcome::Disconnected;
                        }
                        tracing::warn!(%conversation_id, %error, "typing indicator failed");
                    }
                }
                tokio::time::sleep(Duration::from_secs(u64::from(seconds))).await;
                if typing {
                    // The indicator is best effort: a failure here loses nothing the consumer reads.
                    let _ = platform.publish_chat_state(conversation_id, dialog_id, ChatState::Active).await;
                }
                Ok(())
            }
            ResponseItem::Text(text) => {
                platform.publish(conversation_id, dialog_id, OutboundMessage::Text(text), Some(key)).await.map(drop)
            }
            ResponseItem::StructuredContent(content) => platform
                .publish(conversation_id, dialog_id, OutboundMessage::StructuredContent(content), Some(key))
                .await
                .map(drop),
        };
        if let Err(error) = published {
            return failed_command(error, "publishing the bot's answer");
        }
    }
    match response.action {
        None => ExecutionOutcome::Completed { ttr: None, error: None },
        Some(BotAction::Transfer { skill, agent_id }) => {
            let result = match &agent_id {
                Some(agent) => platform.transfer_to_agent(conversation_id, agent, &skill).await,
                None => platform.transfer_to_skill(conversation_id, &skill).await,
            };
            match result {
                Ok(()) => ExecutionOutcome::Transferred { skill, agent_id },
                Err(PlatformError::UnknownSkill { skill }) => ExecutionOutcome::Escalate(ErrorReport::new(
                    ErrorCode::TransferSkillNotExisting,
                    format!("the vendor asked for a transfer to skill {skill:?}, which the platform does not know; check the skill name (case sensitive)"),
                )),
                Err(error) => failed_command(error, "the transfer asked for by the vendor"),
            }
        }
        Some(BotAction::CloseConversation { without_pcs }) => {
            match platform.close_conversation(conversation_id, with_survey && !without_pcs).await {
                Ok(()) => ExecutionOutcome::Closed,
                Err(error) => failed_command(error, "closing the conversation as the vendor asked"),
            }
        }
        Some(BotAction::ChangeTtr(ttr)) => match platform.change_ttr(conversation_id, ttr).await {
            Ok(()) => ExecutionOutcome::Completed { ttr: Some(ttr), error: None },
            Err(error) if error.is_disconnect() => ExecutionOutcome::Disconnected,
            // The consumer has the answer; a TTR that did not change is reported, not escalated.
            Err(error) => ExecutionOutcome::Completed {
                ttr: None,
                error: Some(ErrorReport::new(ErrorCode::ActionFailed, format!("changing the TTR failed: {error}"))),
            },
        },
        Some(BotAction::InvokeFunction { lambda_uuid, fail_on_error, .. }) => {
            let report = ErrorReport::new(
                ErrorCode::FunctionInvocationFailed,
                format!("INVOKE_FUNCTION {lambda_uuid}: botvisor does not run platform functions"),
            );
            if fail_on_error {
                ExecutionOutcome::Escalate(report)
            } else {
                ExecutionOutcome::Completed { ttr: None, error: Some(report) }
            }
        }
    }
}

fn failed_command(error: PlatformError, what: &str) -> ExecutionOutcome {
    if error.is_disconnect() {
        ExecutionOutcome::Disconnected
    } else {
        ExecutionOutcome::Escalate(ErrorReport::new(ErrorCode::PlatformCommandFailed, format!("{what} failed: {error}")))
    }
}
