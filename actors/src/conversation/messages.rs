//! The ConversationActor's API: what its BotActor tells it, and the exit notice it sends back.

use actix::Message;

use crate::errors::ErrorReport;
use crate::model::{ConversationId, DialogMessage, ResponseItem, Sequence, Ttr};

/// How a ConversationActor begins.
#[derive(Debug, Clone, PartialEq)]
pub enum StartMode {
    /// A conversation newly assigned to the bot: welcome (if on), then the unanswered messages.
    New,
    /// A rebuild or a conversation found on reconnect: answer what history shows unanswered.
    Resume,
    /// Escalate at once without calling the vendor (load limit, vendor interruption, restarts).
    Escalate { report: Box<ErrorReport>, skill: String },
    /// Carry on from a passivated actor's record (see `passive`).
    Reactivate(Box<crate::conversation::passive::PassiveConversation>),
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

/// Hand back the conversation's record and stop, if it has been settled for `idle_for` (see
/// `passive`); `None` when it is doing something or was active more recently.
#[derive(Debug, Message)]
#[rtype(result = "Option<Box<crate::conversation::passive::PassiveConversation>>")]
pub struct Passivate {
    pub idle_for: std::time::Duration,
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

/// An action asked for from outside the conversation (the admin API, as LivePerson exposes these
/// to brands), carried out by the conversation's actor in order with its other work, with the
/// same rules as the vendor's actions: a failure escalates with the same codes.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationCommand {
    Transfer {
        skill: String,
        agent_id: Option<String>,
    },
    Close {
        without_pcs: bool,
    },
    ChangeTtr(Ttr),
    /// Messages from the bot (texts, private notes, structured content), in order.
    Send(Vec<ResponseItem>),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// Done; the conversation goes on.
    Done,
    Transferred {
        skill: String,
        agent_id: Option<String>,
    },
    Closed,
    /// It failed and the conversation was escalated, as a vendor's failed action would be.
    Escalated(ErrorReport),
    /// The session dropped once its messages were out: its action is carried out after the
    /// reconnect.
    Interrupted,
}

/// Why a command was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandRefused {
    #[error("the conversation has too many commands waiting; try again when they are done")]
    Busy,
    #[error("the conversation ended before the command was carried out")]
    Ended,
    #[error("the platform session dropped before the command was carried out; send it again once the bot is back online")]
    Disconnected,
}

/// Queue `command`; answers once it is carried out.
#[derive(Debug, Message)]
#[rtype(result = "Result<CommandOutcome, CommandRefused>")]
pub struct RunCommand(pub ConversationCommand);
