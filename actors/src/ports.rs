//! The ports: the only ways the core talks to the outside.
//!
//! A [`PlatformPort`] is one bot's session on the messaging platform; a [`VendorPort`] is one
//! bot's AI vendor. Both are used from the actor thread that owns the bot (their futures need not
//! be `Send`, so adapters may hold `!Send` HTTP clients). Events from the platform come into the
//! [`crate::bot::BotActor`] as [`PlatformEvent`] messages. A [`ConversationStatePort`] keeps
//! what a conversation needs beyond the platform's history (the store, fenced by the bot's owner
//! token), so the next owner of the bot carries on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::Message;
use serde_json::Value;

use crate::errors::{ErrorReport, PlatformError, VendorError};
use crate::model::{
    AnswerKey, Availability, BotId, BotResponse, ChatState, ConversationId, ConversationInfo, DialogId, DialogMessage, OutboundMessage,
    RingId, Sequence, TextMessage, Ttr,
};

/// A boxed future on the actor's thread.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The answer of a platform command.
pub type PlatformResult<T> = LocalFuture<Result<T, PlatformError>>;

/// One bot's session on the messaging platform: the commands a bot sends.
pub trait PlatformPort: 'static {
    /// Opens (or re-opens) the session. Connection progress arrives as [`PlatformEvent`]s.
    fn start_session(&self) -> PlatformResult<()>;
    /// Closes the session (logout).
    fn stop_session(&self) -> PlatformResult<()>;
    fn set_availability(&self, availability: Availability) -> PlatformResult<()>;
    fn accept_ring(&self, ring: &RingId) -> PlatformResult<()>;
    fn reject_ring(&self, ring: &RingId) -> PlatformResult<()>;
    /// The dialog's messages with a sequence at or after `from`, in sequence order.
    fn query_messages(&self, dialog: &DialogId, from: Sequence) -> PlatformResult<Vec<DialogMessage>>;
    /// Publishes a message; `answer` is attached as metadata so history shows what it answered.
    /// Returns the message's sequence.
    fn publish(
        &self,
        conversation: &ConversationId,
        dialog: &DialogId,
        message: OutboundMessage,
        answer: Option<AnswerKey>,
    ) -> PlatformResult<Sequence>;
    fn publish_chat_state(&self, conversation: &ConversationId, dialog: &DialogId, state: ChatState) -> PlatformResult<()>;
    /// A READ receipt for consumer messages.
    fn publish_read(&self, conversation: &ConversationId, dialog: &DialogId, sequences: &[Sequence]) -> PlatformResult<()>;
    /// Transfers to a skill (by name); the bot leaves the conversation.
    fn transfer_to_skill(&self, conversation: &ConversationId, skill: &str) -> PlatformResult<()>;
    /// Transfers to an agent of a skill (SUGGESTED participant); the bot leaves the conversation.
    fn transfer_to_agent(&self, conversation: &ConversationId, agent_id: &str, skill: &str) -> PlatformResult<()>;
    fn change_ttr(&self, conversation: &ConversationId, ttr: Ttr) -> PlatformResult<()>;
    /// Closes the conversation, with or without the post-conversation survey.
    fn close_conversation(&self, conversation: &ConversationId, with_survey: bool) -> PlatformResult<()>;
    /// The consumer's engagement attributes (SDES), `{authenticatedSdes, unauthenticatedSdes}`.
    fn engagement_attributes(&self, consumer_id: &str) -> PlatformResult<Value>;

    /// The platform's clock, in milliseconds since the epoch, as its `server_timestamp`s read
    /// (a conversation taken over from another node re-arms its inactivity from history).
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// What the platform tells a bot.
///
/// Adapters deliver these with `try_send` to the BotActor's bounded mailbox. A full mailbox
/// means the bot is overloaded; nothing is lost as long as the adapter treats the dialogs
/// concerned as needing a history read (their messages are all in the platform's history).
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub enum PlatformEvent {
    /// The session is up. `agent_id` is the bot's `account.userId` as it appears in participants.
    SessionConnected {
        agent_id: String,
    },
    /// The session dropped or cannot be established.
    SessionLost {
        error: ErrorReport,
    },
    /// Another session logged in as the same agent and took over.
    SessionKicked,
    /// The session gave up: the login was refused, or every reconnect attempt failed. The bot
    /// goes Offline with this error; an operator starts it again.
    SessionEnded {
        error: ErrorReport,
    },
    RingOffered {
        ring: RingId,
        conversation_id: ConversationId,
        skill_id: String,
    },
    RingWithdrawn {
        ring: RingId,
    },
    /// The bot became a participant of a conversation (ACTIVE or SUGGESTED).
    ConversationAssigned(ConversationInfo),
    /// A conversation the bot takes part in changed.
    ConversationUpdated(ConversationInfo),
    /// The conversation closed or the bot is no longer in it.
    ConversationRemoved {
        conversation_id: ConversationId,
    },
    /// Every conversation the bot is in, as the platform lists it after a (re)subscription;
    /// the bot lets go of any other it still holds (closed while it was disconnected).
    OpenConversations {
        conversation_ids: Vec<ConversationId>,
    },
    /// A messaging event in a dialog: the consumer's, the bot's own echo, another agent's.
    Message {
        conversation_id: ConversationId,
        message: DialogMessage,
    },
    ConsumerTyping {
        conversation_id: ConversationId,
        typing: bool,
    },
}

/// What the vendor is asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorRequest {
    pub bot_id: BotId,
    pub conversation: ConversationContext,
    pub input: VendorInput,
}

/// The conversation as a vendor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationContext {
    pub conversation_id: ConversationId,
    pub dialog_id: DialogId,
    pub skill_id: Arc<str>,
    pub consumer_id: Arc<str>,
    /// The platform's conversation context (campaign, engagement, visitor).
    pub context: crate::model::JsonText,
    /// Engagement attributes (`lpSdes`), fetched once at start when enabled.
    pub sdes: Option<Arc<Value>>,
    /// Whether this is the first vendor call of the conversation (Custom Endpoint creates the
    /// conversation on its side first).
    pub first_call: bool,
    /// The vendor's handle on its side of the conversation, as its adapter last returned it
    /// (`BotResponse::vendor_session`), kept in the store across failovers.
    pub vendor_session: Option<Value>,
}

/// The kind of consumer input, which decides the event type a vendor receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Text,
    RichContent,
    File,
}

/// One input to the vendor.
#[derive(Debug, Clone, PartialEq)]
pub enum VendorInput {
    /// Consumer messages (one, or several combined).
    Message {
        /// The text: the consumer's words, or the rich content / file identifier; combined
        /// messages are joined by a space in sequence order.
        text: String,
        /// The kind of the last message (decides the event type).
        kind: InputKind,
        /// The consumer sequences this input covers, ascending.
        sequences: Vec<Sequence>,
        /// The raw event of the last message (`lpEvent`).
        lp_event: crate::model::JsonText,
    },
    /// The welcome (START) event: the bot greets first.
    Welcome {
        /// The last thing the consumer said, when the conversation was transferred in.
        last_consumer_message: Option<String>,
        lp_event: crate::model::JsonText,
    },
}

/// The vendor's reported health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VendorHealth {
    Online,
    /// Anything but online (`offline`, `error`, `maintenance`, …), with the vendor's word.
    NotOnline {
        state: String,
    },
}

/// The answer of a vendor call.
pub type VendorResult<T> = LocalFuture<Result<T, VendorError>>;

/// One bot's AI vendor.
pub trait VendorPort: 'static {
    /// Sends one input and returns the normalised answer. The core applies timeouts and retries.
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse>;
    fn health(&self) -> VendorResult<VendorHealth>;

    /// The vendor's kind, for error reports (`custom-endpoint`, `scripted`, …).
    fn name(&self) -> &'static str {
        "vendor"
    }
}

/// One function invocation a vendor asked for (`INVOCATION`, `INVOKE_FUNCTION`).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionInvocation {
    pub bot_id: BotId,
    pub conversation_id: ConversationId,
    pub lambda_uuid: String,
    pub payload: Value,
}

/// Where a bot's functions run (an HTTP function per `lambdaUuid`). The answer is only success
/// or what went wrong: a function's output does not reach the conversation.
pub trait FunctionPort: 'static {
    fn invoke(&self, invocation: FunctionInvocation) -> LocalFuture<Result<(), String>>;
}

/// What a conversation keeps beyond the platform's history, so that the next owner of its bot
/// (after a failover, a handoff or a restart) carries on where it was.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConversationRecord {
    /// The vendor's handle on its side of the conversation (a Watson session id, a Direct Line
    /// conversation id and watermark): opaque to the core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_session: Option<Value>,
    /// An escalation under way: the next owner finishes it instead of leaving the consumer,
    /// already told about the transfer, with the bot.
    /// Boxed: rare, and the record lives in every conversation's actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Box<EscalationProgress>>,
}

impl ConversationRecord {
    pub fn is_empty(&self) -> bool {
        self.vendor_session.is_none() && self.escalation.is_none()
    }
}

/// How far an escalation got: announced to the consumer and the agents, and how many transfers
/// were tried (the retries left are `max_retries + 1 - transfers_tried`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EscalationProgress {
    pub skill: String,
    /// The highest consumer sequence it covers.
    pub answers: Option<Sequence>,
    pub transfers_tried: u32,
    /// The error that started it (`ErrorCode::as_str`) and its message.
    pub code: String,
    pub message: String,
}

/// Where a bot's conversation records live. Saves are fenced by the bot's ownership: a node that
/// lost the bot has its writes refused. Errors are logged by the caller; a record that could not
/// be kept costs only what it was for (the next owner starts that escalation's count over, or a
/// new vendor session).
pub trait ConversationStatePort: 'static {
    fn load(&self, conversation: &ConversationId) -> LocalFuture<Result<Option<ConversationRecord>, String>>;
    fn save(&self, conversation: &ConversationId, record: &ConversationRecord) -> LocalFuture<Result<(), String>>;
    fn forget(&self, conversation: &ConversationId) -> LocalFuture<Result<(), String>>;
}

/// An error of a bot, as reported to its error hook.
#[derive(Debug, Clone, PartialEq)]
pub struct BotErrorEvent {
    pub bot_id: BotId,
    pub conversation_id: Option<ConversationId>,
    pub error: ErrorReport,
    /// The vendor's kind.
    pub vendor: &'static str,
    /// The vendor input that failed, when a vendor call did (no credentials in it).
    pub vendor_request: Option<Value>,
}

impl BotErrorEvent {
    /// A bot-level error (no conversation, no vendor input).
    pub fn new(bot_id: BotId, vendor: &'static str, error: ErrorReport) -> Self {
        Self { bot_id, conversation_id: None, error, vendor, vendor_request: None }
    }

    /// The error is about `conversation_id`.
    pub fn in_conversation(mut self, conversation_id: ConversationId) -> Self {
        self.conversation_id = Some(conversation_id);
        self
    }

    /// The vendor input that was under way when the error happened, if any.
    pub fn with_vendor_request(mut self, vendor_request: Option<Value>) -> Self {
        self.vendor_request = vendor_request;
        self
    }
}

/// Where a bot's errors are reported, fire-and-forget (an HTTP POST, a log). Never blocks.
pub trait ErrorHookPort: 'static {
    fn report(&self, event: BotErrorEvent);
}

/// The error escalation's private note travels as a private text before the transfer.
pub fn private_note(text: &str) -> OutboundMessage {
    OutboundMessage::Text(TextMessage::private(text))
}
