//! Carrying out a vendor's answer: its items in order, then its single action.

use std::rc::Rc;
use std::time::Duration;

use crate::errors::{ErrorCode, ErrorReport, PlatformError};
use crate::model::{AnswerKey, BotAction, BotResponse, ChatState, ConversationId, DialogId, OutboundMessage, ResponseItem, Sequence, Ttr};
use crate::ports::{FunctionInvocation, FunctionPort, PlatformPort};

/// The longest DELAY carried out; a vendor asking for more gets this (and a warning).
pub const MAX_DELAY_SECONDS: u32 = 60;

/// Where the conversation's answer goes.
#[derive(Clone)]
pub struct Target {
    pub platform: Rc<dyn PlatformPort>,
    pub conversation_id: ConversationId,
    pub dialog_id: DialogId,
}

/// Where a function invocation asked for by the vendor goes: the bot's functions, if it has any.
#[derive(Clone)]
pub struct Functions {
    pub bot_id: crate::model::BotId,
    pub port: Option<Rc<dyn FunctionPort>>,
}

/// How carrying out an answer ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionOutcome {
    /// Every item was published; the conversation goes on. An action that failed without
    /// needing an escalation (a function invoked without `failOnError`) is reported in `error`.
    Completed {
        ttr: Option<Ttr>,
        error: Option<ErrorReport>,
    },
    Transferred {
        skill: String,
        agent_id: Option<String>,
    },
    Closed,
    /// Something failed that a human must pick up.
    Escalate(ErrorReport),
    /// The session dropped; history will tell what is still unanswered after the reconnect.
    /// `pending_action` is the action still to perform then (the answer's messages were out).
    Disconnected {
        pending_action: Option<BotAction>,
    },
}

/// Publishes `response`'s items in order (each tagged with an answer key for `answers`), then
/// performs its action.
/// `default_skill` is used for a transfer that names an agent but no skill.
pub async fn execute(
    target: Target,
    functions: Functions,
    response: BotResponse,
    answers: Option<Sequence>,
    with_survey: bool,
    default_skill: &str,
) -> ExecutionOutcome {
    let Target { platform, conversation_id, dialog_id } = &target;
    let mut published_any = false;
    let action = response.action.clone();
    // After a disconnect the action is kept only once part of the answer is out; otherwise the
    // consumer's messages are still unanswered in history and the vendor is asked again.
    let disconnected =
        |published_any: bool| ExecutionOutcome::Disconnected { pending_action: if published_any { action.clone() } else { None } };
    for (index, item) in response.items.into_iter().enumerate() {
        let key = AnswerKey { conversation_id: conversation_id.clone(), answers, item: index as u32 };
        let published = match item {
            ResponseItem::Delay { seconds, typing } => {
                if typing {
                    if let Err(error) = platform.publish_chat_state(conversation_id, dialog_id, ChatState::Composing).await {
                        if error.is_disconnect() {
                            return disconnected(published_any);
                        }
                        tracing::warn!(%error, "typing indicator failed");
                    }
                }
                if seconds > MAX_DELAY_SECONDS {
                    tracing::warn!(seconds, max = MAX_DELAY_SECONDS, "the vendor asked for a longer DELAY than botvisor carries out");
                }
                tokio::time::sleep(Duration::from_secs(u64::from(seconds.min(MAX_DELAY_SECONDS)))).await;
                if typing {
                    // The indicator is best effort: a failure here loses nothing the consumer reads.
                    let _ = platform.publish_chat_state(conversation_id, dialog_id, ChatState::Active).await;
                }
                Ok(())
            }
            ResponseItem::Text(text) => {
                platform.publish(conversation_id, dialog_id, OutboundMessage::Text(text), Some(key)).await.map(drop)
            }
            ResponseItem::StructuredContent(content) => {
                platform.publish(conversation_id, dialog_id, OutboundMessage::StructuredContent(content), Some(key)).await.map(drop)
            }
        };
        match published {
            Err(error) if error.is_disconnect() => return disconnected(published_any),
            Err(error) => return failed_command(error, "publishing the bot's answer"),
            Ok(()) => published_any = true,
        }
    }
    let published_any = true; // from here on, only the action remains
    match response.action {
        None => ExecutionOutcome::Completed { ttr: None, error: None },
        Some(BotAction::Transfer { skill, agent_id }) => {
            let skill = if skill.is_empty() { default_skill.to_owned() } else { skill };
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
                Err(error @ PlatformError::SkillsNotReadable { .. }) => {
                    ExecutionOutcome::Escalate(ErrorReport::new(ErrorCode::SkillLookupForbidden, error.to_string()))
                }
                Err(error) if error.is_disconnect() => disconnected(published_any),
                Err(error) => failed_command(error, "the transfer asked for by the vendor"),
            }
        }
        Some(BotAction::CloseConversation { without_pcs }) => {
            match platform.close_conversation(conversation_id, with_survey && !without_pcs).await {
                Ok(()) => ExecutionOutcome::Closed,
                Err(error) if error.is_disconnect() => disconnected(published_any),
                Err(error) => failed_command(error, "closing the conversation as the vendor asked"),
            }
        }
        Some(BotAction::ChangeTtr(ttr)) => match platform.change_ttr(conversation_id, ttr).await {
            Ok(()) => ExecutionOutcome::Completed { ttr: Some(ttr), error: None },
            Err(error) if error.is_disconnect() => disconnected(published_any),
            // The vendor asked for urgency and the platform refused it: a human must see the
            // conversation rather than let it wait at the old TTR.
            Err(error) => ExecutionOutcome::Escalate(ErrorReport::new(
                ErrorCode::ActionFailed,
                format!("changing the TTR as the vendor asked failed: {error}"),
            )),
        },
        Some(BotAction::InvokeFunction { lambda_uuid, payload, fail_on_error }) => {
            let failure = match &functions.port {
                None => Some(format!("function {lambda_uuid}: the bot has no functions configured ([bots.functions] url)")),
                Some(port) => {
                    let invocation = FunctionInvocation {
                        bot_id: functions.bot_id.clone(),
                        conversation_id: conversation_id.clone(),
                        lambda_uuid: lambda_uuid.clone(),
                        payload,
                    };
                    port.invoke(invocation).await.err().map(|error| format!("function {lambda_uuid}: {error}"))
                }
            };
            match failure {
                None => ExecutionOutcome::Completed { ttr: None, error: None },
                // failOnError: a human takes over; otherwise the conversation goes on, the error
                // on record (LivePerson's default).
                Some(message) if fail_on_error => {
                    ExecutionOutcome::Escalate(ErrorReport::new(ErrorCode::FunctionInvocationFailed, message))
                }
                Some(message) => {
                    ExecutionOutcome::Completed { ttr: None, error: Some(ErrorReport::new(ErrorCode::FunctionInvocationFailed, message)) }
                }
            }
        }
    }
}

fn failed_command(error: PlatformError, what: &str) -> ExecutionOutcome {
    ExecutionOutcome::Escalate(ErrorReport::new(ErrorCode::PlatformCommandFailed, format!("{what} failed: {error}")))
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::testkit::FakePlatform;

    #[test]
    fn a_delay_longer_than_the_cap_waits_the_cap() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let platform = FakePlatform::new();
            platform.reconnect();
            let target = Target { platform: Rc::new(platform.clone()), conversation_id: "c".into(), dialog_id: "c".into() };
            let response = BotResponse::default()
                .with_item(ResponseItem::Delay { seconds: 86_400, typing: false })
                .with_item(ResponseItem::Text(crate::model::TextMessage::plain("late")));
            let start = tokio::time::Instant::now();
            let functions = Functions { bot_id: crate::model::BotId::new("b"), port: None };
            let outcome = execute(target, functions, response, Some(0), true, "humans").await;
            assert_eq!(outcome, ExecutionOutcome::Completed { ttr: None, error: None });
            assert_eq!(start.elapsed(), Duration::from_secs(u64::from(MAX_DELAY_SECONDS)));
            assert_eq!(platform.consumer_transcript("c"), ["bot: late"]);
        });
    }
}
