//! Passivation: a conversation with nothing to do is kept as data instead of an actor.
//!
//! Most open conversations are idle most of the time (a consumer reading, thinking, gone for
//! lunch). An actor per conversation costs its actix context, mailbox and timers — about 2 KB
//! each, most of a node's memory at 100 000 open conversations. After `lifecycle.passivate_after`
//! without activity, the BotActor asks each of its conversation actors to passivate: one that is
//! settled (no vendor call, answer, escalation, command, waiting message or history read under
//! way) hands this record back and stops. The BotActor keeps the record in the conversation's
//! slot and builds a new actor from it on the conversation's next event, command or timer
//! (`StartMode::Reactivate`), which carries on exactly where the old one stopped (as Orleans does
//! with its virtual actors). Every conversation that is doing anything still has its actor.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use tokio::time::Instant;

use crate::conversation::messages::ConversationSnapshot;
use crate::errors::ErrorReport;
use crate::model::{ConversationId, Sequence, Ttr};
use crate::ports::ConversationRecord;

/// What a settled conversation actor knows that the platform's history does not say at once.
#[derive(Debug, Clone, PartialEq)]
pub struct PassiveConversation {
    /// Every consumer message below this sequence is answered.
    pub answered_below: Sequence,
    /// READ receipts were sent for every consumer message below this sequence.
    pub read_below: Sequence,
    /// Consumer messages below this sequence were counted as taken.
    pub counted_below: Sequence,
    /// The bot's session epoch when history was last read (see `SessionEpoch`).
    pub read_epoch: u64,
    pub vendor_knows_conversation: bool,
    /// The inactivity timer's next firing, if inactivity is on, and whether it warned already.
    pub idle_at: Option<Instant>,
    pub idle_warned: bool,
    pub vendor_calls: u64,
    pub taken_at: SystemTime,
    pub ttr: Option<Ttr>,
    pub last_error: Option<Box<ErrorReport>>,
    /// The consumer's engagement attributes, read once.
    pub sdes: Option<Arc<Value>>,
    /// The stored record, boxed when there is one (most conversations have none).
    pub record: Option<Box<ConversationRecord>>,
    pub record_loaded: bool,
    pub record_kept: bool,
}

impl PassiveConversation {
    /// A placeholder left behind when the record moves into an actor.
    pub(crate) fn empty() -> Self {
        Self {
            answered_below: 0,
            read_below: 0,
            counted_below: 0,
            read_epoch: 0,
            vendor_knows_conversation: false,
            idle_at: None,
            idle_warned: false,
            vendor_calls: 0,
            taken_at: SystemTime::UNIX_EPOCH,
            ttr: None,
            last_error: None,
            sdes: None,
            record: None,
            record_loaded: false,
            record_kept: false,
        }
    }

    /// What the admin API shows for it: phase `passive`, nothing waiting.
    pub fn snapshot(&self, conversation_id: ConversationId) -> ConversationSnapshot {
        ConversationSnapshot {
            conversation_id,
            phase: "passive",
            answered_below: self.answered_below,
            waiting_messages: 0,
            vendor_calls: self.vendor_calls,
            taken_at: self.taken_at,
            ttr: self.ttr,
            last_error: self.last_error.as_deref().cloned(),
        }
    }
}
