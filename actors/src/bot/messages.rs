//! The BotActor's API. Platform news arrives as [`crate::ports::PlatformEvent`]; children report
//! with [`crate::conversation::ConversationExited`].

use actix::{Addr, Message};
use tokio::time::Instant;

use crate::conversation::ConversationActor;
use crate::errors::ErrorReport;
use crate::load::LoadSnapshot;
use crate::model::{BotId, BotState, ConversationId};

/// Start the bot: check the vendor, then open the platform session.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ErrorReport>")]
pub struct StartBot;

/// Stop the bot: close the session, let go of its conversations (they stay open on the platform).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopBot;

/// Stop the bot as `StopBot` does, then end its actor (the bot was deleted or replaced). Answers
/// once the platform session is closed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RetireBot;

#[derive(Debug, Message)]
#[rtype(result = "BotStatus")]
pub struct GetBotStatus;

/// New capacity thresholds, applied at once (the LoadActor re-decides availability and
/// admission; nothing open is dropped). Answers once the load has them.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetCapacity(pub crate::load::Capacity);

/// The conversations the bot holds, with their actors when running.
#[derive(Debug, Message)]
#[rtype(result = "Vec<(ConversationId, ConversationView)>")]
pub struct GetConversations;

/// Ask every running conversation actor settled for `idle_for` to passivate now, as the bot's
/// own sweep does every `lifecycle.passivate_after / 2`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PassivateSettled {
    pub idle_for: std::time::Duration,
}

/// How a conversation of the bot can be looked at.
#[derive(Debug)]
pub enum ConversationView {
    /// Its actor runs: ask it.
    Running(Addr<ConversationActor>),
    /// Passivated (settled): its record, as of now.
    Passive(crate::conversation::ConversationSnapshot),
    /// Being admitted or rebuilt.
    Starting,
}

/// The address of a conversation's actor, if the bot runs one.
#[derive(Debug, Message)]
#[rtype(result = "Option<Addr<ConversationActor>>")]
pub struct GetConversation {
    pub conversation_id: ConversationId,
}

/// What a bot reports about itself.
#[derive(Debug, Clone)]
pub struct BotStatus {
    pub bot_id: BotId,
    pub state: BotState,
    /// When the bot entered `state`.
    pub since: Instant,
    pub last_error: Option<ErrorReport>,
    /// Conversations the bot holds (running, passive, being admitted or being rebuilt).
    pub open_conversations: usize,
    /// Of those, the ones kept as data until their next event (see `conversation::passive`).
    pub passive_conversations: usize,
    /// Behind its messages (see `LoadSettings::overload_lag`): AWAY until it catches up.
    pub overloaded: bool,
    pub load: LoadSnapshot,
    pub stats: BotStats,
    /// The most recent conversation errors (newest last), each with its conversation.
    pub conversation_errors: Vec<ConversationError>,
    /// Vendor calls by outcome and their latencies.
    pub vendor: crate::bot::vendor_stats::VendorCallStats,
}

/// An error that made a conversation escalate, fail or stay with the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationError {
    pub conversation_id: ConversationId,
    pub report: ErrorReport,
}

/// Counters since the bot was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotStats {
    pub conversations_started: u64,
    pub closed: u64,
    pub transferred: u64,
    pub escalated: u64,
    pub removed: u64,
    pub failed: u64,
    pub panicked: u64,
    pub rebuilt: u64,
    /// Escalations by the error code that caused them.
    pub escalated_by_reason: std::collections::BTreeMap<&'static str, u64>,
    /// Deliveries a conversation's full mailbox refused (the message is read back from history
    /// later; typing is dropped).
    pub mailbox_overloads: u64,
    /// Conversation actors passivated, and rebuilt from their records.
    pub passivated: u64,
    pub reactivated: u64,
    /// Events that came for a conversation while its actor was asked to passivate (held, then
    /// delivered in order).
    pub held: u64,
    /// Times the bot fell behind its messages (went AWAY for it).
    pub overloads: u64,
    /// How long the last consumer message took from the platform's stamp to the bot, in ms.
    pub event_lag_ms: u64,
}
