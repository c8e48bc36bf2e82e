//! Shared domain types: identifiers, bot states, what the consumer said, what the bot answers.
//!
//! These are the words the core speaks. Adapters translate wire formats to and from them; the
//! core never sees a frame or an HTTP body.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(value: impl Into<Arc<str>>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, shared (another id with the same text holds it without a copy).
            pub fn shared(&self) -> Arc<str> {
                self.0.clone()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        /// Hashes and compares as its text, so maps keyed by it are looked up with a `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }
    };
}

id_type!(
    /// The bot's id in botvisor's configuration.
    BotId
);
id_type!(
    /// A platform conversation id.
    ConversationId
);
id_type!(
    /// A dialog of a conversation; the main dialog's id equals the conversation id.
    DialogId
);
id_type!(
    /// A routing ring offered to the bot.
    RingId
);

/// A dialog's message sequence number, as assigned by the platform.
pub type Sequence = u64;

/// The agent availability a bot publishes to the platform's routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Availability {
    /// Rings for new conversations.
    Online,
    /// Rings for transfers only.
    Occupied,
    /// No rings.
    Away,
}

/// The four documented runtime states of a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    /// Stopped: takes and processes nothing.
    Offline,
    /// Normal operation.
    Online,
    /// The AI vendor is failing its health check: new conversations are escalated at once.
    VendorInterruption,
    /// The platform session is lost or failing: no new conversations; retried periodically.
    ServiceInterruption,
}

impl BotState {
    pub fn as_str(self) -> &'static str {
        match self {
            BotState::Offline => "offline",
            BotState::Online => "online",
            BotState::VendorInterruption => "vendor_interruption",
            BotState::ServiceInterruption => "service_interruption",
        }
    }

    /// Whether the bot takes rings and new conversations in this state.
    pub fn takes_conversations(self) -> bool {
        matches!(self, BotState::Online | BotState::VendorInterruption)
    }
}

/// Who wrote a message in a dialog, as seen by this bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Originator {
    Consumer,
    /// This bot (recognised by the adapter through the agent's PID).
    Me,
    /// Another agent (human or bot); carries its id.
    OtherAgent(String),
    /// The platform or anything else that is neither consumer nor agent.
    System,
}

/// What a dialog message holds.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    Text(String),
    /// A rich content event (the raw `content` JSON).
    RichContent(Value),
    /// A hosted file.
    File {
        relative_path: String,
        file_type: String,
        caption: Option<String>,
    },
    /// An AcceptStatusEvent (ACCEPT, READ, …) for the listed sequences. The bot's own READ
    /// receipts mark consumer messages as handled in history.
    AcceptStatus {
        status: String,
        sequences: Vec<Sequence>,
    },
    /// Structured content or anything else the core does not interpret.
    Other(Value),
}

impl MessageContent {
    /// The plain text of a text message.
    pub fn text(&self) -> Option<&str> {
        match self {
            MessageContent::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// One messaging event of a dialog: live or read from history.
#[derive(Debug, Clone, PartialEq)]
pub struct DialogMessage {
    pub dialog_id: DialogId,
    pub sequence: Sequence,
    pub originator: Originator,
    pub content: MessageContent,
    /// Milliseconds since the epoch, as stamped by the platform.
    pub server_timestamp: i64,
    /// For this bot's own messages: the answer key it attached, read back from the metadata.
    pub answer: Option<AnswerKey>,
    /// A consumer's raw event as received; it travels to the vendor as `lpEvent` (shared, not
    /// copied). `null` for the other originators' events.
    pub raw: JsonText,
}

/// The key attached to every bot message so that, read back from history, it tells which
/// consumer message it answered. Adapters encode it as message metadata (ExternalId-style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerKey {
    pub conversation_id: ConversationId,
    /// The highest consumer sequence this answer covers; `None` for a welcome answer.
    pub answers: Option<Sequence>,
    /// The position of the item in the vendor's answer.
    pub item: u32,
}

impl AnswerKey {
    /// The ExternalId-style string form: `botvisor:{conversation}:{sequence or -}:{item}`.
    pub fn external_id(&self) -> String {
        match self.answers {
            Some(answers) => format!("botvisor:{}:{answers}:{}", self.conversation_id, self.item),
            None => format!("botvisor:{}:-:{}", self.conversation_id, self.item),
        }
    }

    /// Parses [`AnswerKey::external_id`]'s form; `None` for anything else.
    pub fn parse(external_id: &str) -> Option<AnswerKey> {
        let rest = external_id.strip_prefix("botvisor:")?;
        let mut parts = rest.rsplitn(3, ':');
        let item = parts.next()?.parse().ok()?;
        let answers = match parts.next()? {
            "-" => None,
            answers => Some(answers.parse().ok()?),
        };
        let conversation = parts.next()?;
        if conversation.is_empty() {
            return None;
        }
        Some(AnswerKey { conversation_id: ConversationId::new(conversation), answers, item })
    }
}

/// A participant role in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParticipantRole {
    Consumer,
    AssignedAgent,
    Agent,
    Manager,
    Reader,
    Controller,
}

/// Whether a participant is in the conversation or only suggested (transfer to agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParticipantState {
    Active,
    Suggested,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The agent's `account.userId` id, or the consumer's PID (shared with `consumer_id`, and an
    /// agent's among the bot's conversations: tens of thousands are open).
    pub id: Arc<str>,
    pub role: ParticipantRole,
    pub state: ParticipantState,
}

/// What the platform tells about a conversation the bot takes part in.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationInfo {
    pub conversation_id: ConversationId,
    pub main_dialog_id: DialogId,
    pub skill_id: Arc<str>,
    pub consumer_id: Arc<str>,
    pub participants: Vec<Participant>,
    /// The platform's conversation context (campaign, engagement, visitor…), passed to vendors.
    pub context: JsonText,
}

/// A JSON value from the platform kept as its text, shared: the conversation's context, each
/// message's raw event. As a parsed `Value` tree it costs about four times the memory, in each
/// of tens of thousands of open conversations and each buffered message; a vendor that wants it
/// (as `lpEvent`, say) parses it once per call. `null` is kept without an allocation.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct JsonText(Option<Arc<str>>);

impl JsonText {
    pub fn new(value: &Value) -> Self {
        match value {
            Value::Null => Self(None),
            value => Self(Some(Arc::from(value.to_string()))),
        }
    }

    /// JSON text as received (an adapter read it from a frame that parsed). Text that does not
    /// parse reads as `null`.
    pub fn from_json(text: &str) -> Self {
        match text.trim() {
            "null" => Self(None),
            _ => Self(Some(Arc::from(text))),
        }
    }

    /// The value (`null` for the default).
    pub fn to_value(&self) -> Value {
        self.0.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or(Value::Null)
    }

    /// The JSON text (`null` for the default).
    pub fn as_json(&self) -> &str {
        self.0.as_deref().unwrap_or("null")
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

impl ConversationInfo {
    /// The state of `agent_id` as the conversation's assigned agent, if it is one.
    pub fn assignment_of(&self, agent_id: &str) -> Option<ParticipantState> {
        self.participants
            .iter()
            .filter(|p| &*p.id == agent_id && p.role == ParticipantRole::AssignedAgent)
            .map(|p| p.state)
            .max_by_key(|state| matches!(state, ParticipantState::Active))
    }
}

/// Time-to-response priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ttrType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Ttr {
    Urgent,
    Normal,
    Prioritized,
    Custom { seconds: u64 },
}

/// Who may see a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageAudience {
    #[default]
    All,
    /// Private: agents and managers only, never the consumer.
    AgentsAndManagers,
}

/// Consumer-side chat states the bot publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    Composing,
    Active,
}

/// A text the bot publishes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextMessage {
    pub text: String,
    pub audience: MessageAudience,
    /// Quick replies (`structuredContent.quickReplies` JSON).
    pub quick_replies: Option<Value>,
    /// Message metadata array (ExternalId, BotResponse, …).
    pub metadata: Option<Value>,
    /// Base64 encoded metadata, at most 5 KB.
    pub encoded_metadata: Option<String>,
}

impl TextMessage {
    pub fn plain(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    pub fn private(text: impl Into<String>) -> Self {
        Self { text: text.into(), audience: MessageAudience::AgentsAndManagers, ..Self::default() }
    }
}

/// A structured content message the bot publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredContentMessage {
    pub content: Value,
    pub metadata: Option<Value>,
    pub encoded_metadata: Option<String>,
}

/// Something the bot publishes into a dialog.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundMessage {
    Text(TextMessage),
    StructuredContent(StructuredContentMessage),
}

// ---------------------------------------------------------------------------------------------
// The normalised vendor answer (spec/third-party-bots.md §1.1).

/// What a vendor answered for one input: ordered items, at most one action, intents.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotResponse {
    pub items: Vec<ResponseItem>,
    pub action: Option<BotAction>,
    pub intents: Vec<Intent>,
    /// A vendor that keeps a session per conversation returns its handle here when it made or
    /// changed one; the core keeps it (in the store) and passes it back in
    /// `ConversationContext::vendor_session`.
    pub vendor_session: Option<serde_json::Value>,
}

impl BotResponse {
    /// A response made of one plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Self { items: vec![ResponseItem::Text(TextMessage::plain(text))], ..Self::default() }
    }

    pub fn with_item(mut self, item: ResponseItem) -> Self {
        self.items.push(item);
        self
    }

    pub fn with_action(mut self, action: BotAction) -> Self {
        self.action = Some(action);
        self
    }

    /// A response with neither messages nor an action says nothing and does nothing: an error.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.action.is_none()
    }
}

/// One ordered item of a vendor answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseItem {
    /// Text; private when its audience is `AgentsAndManagers`.
    Text(TextMessage),
    StructuredContent(StructuredContentMessage),
    /// Wait before the next item, showing the typing indicator when `typing`.
    Delay {
        seconds: u32,
        typing: bool,
    },
}

/// The single action a vendor answer may end with.
#[derive(Debug, Clone, PartialEq)]
pub enum BotAction {
    /// Transfer to a skill by name, optionally to a specific agent of it.
    Transfer {
        skill: String,
        agent_id: Option<String>,
    },
    CloseConversation {
        without_pcs: bool,
    },
    ChangeTtr(Ttr),
    InvokeFunction {
        lambda_uuid: String,
        payload: Value,
        fail_on_error: bool,
    },
}

/// An intent the vendor recognised, for analytics.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub id: String,
    pub name: Option<String>,
    pub confidence: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_key_round_trips_through_its_external_id() {
        let key = AnswerKey { conversation_id: "conv:with:colons".into(), answers: Some(17), item: 2 };
        assert_eq!(key.external_id(), "botvisor:conv:with:colons:17:2");
        assert_eq!(AnswerKey::parse(&key.external_id()), Some(key));
        let welcome = AnswerKey { conversation_id: "c".into(), answers: None, item: 0 };
        assert_eq!(welcome.external_id(), "botvisor:c:-:0");
        assert_eq!(AnswerKey::parse(&welcome.external_id()), Some(welcome));
    }

    #[test]
    fn answer_key_rejects_foreign_ids() {
        assert_eq!(AnswerKey::parse("someone-else:1:2"), None);
        assert_eq!(AnswerKey::parse("botvisor::1:2"), None);
        assert_eq!(AnswerKey::parse("botvisor:c:x:2"), None);
    }

    #[test]
    fn suggested_assignment_is_not_active() {
        let info = ConversationInfo {
            conversation_id: "c".into(),
            main_dialog_id: "c".into(),
            skill_id: "1".into(),
            consumer_id: "consumer".into(),
            participants: vec![Participant {
                id: "acc.bot".into(),
                role: ParticipantRole::AssignedAgent,
                state: ParticipantState::Suggested,
            }],
            context: JsonText::default(),
        };
        assert_eq!(info.assignment_of("acc.bot"), Some(ParticipantState::Suggested));
        assert_eq!(info.assignment_of("acc.other"), None);
    }
}
