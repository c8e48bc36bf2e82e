//! The ConversationActor's API: what its BotActor tells it, and the exit notice it sends back.

use actix::Message;

use crate::errors::ErrorReport;
use crate::model::{ConversationId, DialogMessage, Sequence, Ttr};

/// How a ConversationActor begins.
#[derive(Debug, Clone, PartialEq)]
pub enum StartMode {
    /// A conversation newly assigned to the bot: welcome (if on), then the unanswered messages.
    New,
    /// A rebuild or a conversation found on reconnect: answer what history shows unanswered.
    Resume,
    /// Escalate at once without calling the vendor (load limit, vendor interruption, restarts).
    Escalate { report: Box<ErrorReport>, skill: String },
}

/// A live messaging event of the conversation's dialog (the consumer's, or an echo).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeliverMessage(pub DialogMessage);

/// The consumer started or stopped typing.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConsumerTypingChanged {
    pub typing: bool,
}

/// Re-read the dialog's history (after a reconnect, or when live events were shed).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Resync;

/// Stop without another word: the bot is no longer in the conversation (`ended`: the platform
/// says so; its record in the store goes), or the bot is stopping (the record stays for the
/// bot's next run, here or on another node).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConversationRemoved {
    pub ended: bool,
}

/// What a conversation looks like now.
#[derive(Debug, Message)]
#[rtype(result = "ConversationSnapshot")]
pub struct GetConversationSnapshot;

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSnapshot {
    pub conversation_id: ConversationId,
    pub phase: &'static str,
    /// Every consumer message below this sequence is answered.
    pub answered_below: Sequence,
    pub waiting_messages: usize,
    pub vendor_calls: u64,
    /// When this actor took the conversation.
    pub taken_at: std::time::SystemTime,
    pub ttr: Option<Ttr>,
    pub last_error: Option<ErrorReport>,
}

/// Why a ConversationActor ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitReason {
    /// Closed by the vendor's action, or for inactivity.
    Closed { idle: bool },
    /// Transferred by the vendor's action.
    Transferred { skill: String, agent_id: Option<String> },
    /// Escalated to a human skill on an error.
    Escalated { skill: String, report: ErrorReport },
    /// The bot left the conversation (closed by the consumer, transferred by someone else).
    Removed,
    /// It could not go on (e.g. its history could not be read); the bot may rebuild it.
    Failed(ErrorReport),
    /// It panicked; the bot rebuilds it.
    Panicked,
}

impl ExitReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExitReason::Closed { .. } => "closed",
            ExitReason::Transferred { .. } => "transferred",
            ExitReason::Escalated { .. } => "escalated",
            ExitReason::Removed => "removed",
            ExitReason::Failed(_) => "failed",
            ExitReason::Panicked => "panicked",
        }
    }
}

/// Sent by a ConversationActor to its BotActor when it ends, panics included.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConversationExited {
    pub conversation_id: ConversationId,
    /// The generation the BotActor gave this actor, so a stale notice is recognised.
    pub generation: u64,
    pub reason: ExitReason,
}
