//! In-process fakes of the platform and vendor ports, and paused-time helpers (feature
//! `testkit`). Tests, benches and the early demo use them so they need no network.
//!
//! [`FakePlatform`] keeps each dialog's history like the real platform does: consumer messages
//! and the bot's published messages (with their answer keys) get sequences, so a rebuilt or
//! reconnected bot reads back exactly what a real one would.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use actix::Recipient;
use serde_json::{json, Value};

use crate::errors::{ErrorCode, ErrorReport, PlatformError, VendorError};
pub use crate::live::LiveActors;
use crate::model::{
    AnswerKey, Availability, BotResponse, ChatState, ConversationId, ConversationInfo, DialogId, DialogMessage, MessageAudience,
    MessageContent, Originator, OutboundMessage, Participant, ParticipantRole, ParticipantState, RingId, Sequence, Ttr,
};
use crate::ports::{
    BotErrorEvent, ConversationRecord, ConversationStatePort, ErrorHookPort, FunctionInvocation, FunctionPort, LocalFuture, PlatformEvent,
    PlatformPort, PlatformResult, VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult,
};

/// The agent id the fake platform gives the bot.
pub const FAKE_AGENT_ID: &str = "acc.bot";

/// One command the bot sent to the fake platform.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformCall {
    StartSession,
    StopSession,
    SetAvailability(Availability),
    AcceptRing(RingId),
    RejectRing(RingId),
    QueryMessages { dialog: DialogId, from: Sequence },
    Publish { conversation: ConversationId, message: OutboundMessage, answer: Option<AnswerKey> },
    ChatState { conversation: ConversationId, state: ChatState },
    Read { conversation: ConversationId, sequences: Vec<Sequence> },
    TransferToSkill { conversation: ConversationId, skill: String },
    TransferToAgent { conversation: ConversationId, agent_id: String, skill: String },
    ChangeTtr { conversation: ConversationId, ttr: Ttr },
    Close { conversation: ConversationId, with_survey: bool },
    EngagementAttributes { consumer_id: String },
}

/// Called with every message the bot publishes.
type PublishObserver = Rc<dyn Fn(&ConversationId, &OutboundMessage)>;

#[derive(Default)]
struct FakePlatformState {
    calls: Vec<PlatformCall>,
    dialogs: HashMap<DialogId, VecDeque<DialogMessage>>,
    /// `None`: every skill exists.
    known_skills: Option<HashSet<String>>,
    failing_transfers: HashSet<String>,
    /// TTR changes are refused (as the platform refuses a malformed TTRField).
    failing_ttr: bool,
    /// The next availability change panics in the caller (a bug in a bot's handler).
    panic_on_availability: bool,
    connected: bool,
    /// Whether `start_session` connects (delivers `SessionConnected`).
    refuse_sessions: bool,
    bot: Option<Recipient<PlatformEvent>>,
    skill_of: HashMap<ConversationId, String>,
    ttr_of: HashMap<ConversationId, Ttr>,
    closed: HashMap<ConversationId, bool>,
    clock_ms: i64,
    /// Messages reach the bot this long after their stamp (a platform, or a bot, behind).
    delivery_lag_ms: i64,
    on_publish: Option<PublishObserver>,
    /// Whether `calls` is kept (long demo runs turn it off).
    forget_calls: bool,
    /// The session drops when the bot next sends a transfer or a close (one shot).
    drop_session_on_transfer_or_close: bool,
    /// Each dialog's next sequence (kept apart from the history, which may be capped).
    next_sequence: HashMap<DialogId, Sequence>,
    /// Keep at most this many messages per dialog (benches and long demo runs).
    history_cap: Option<usize>,
}

/// The fake messaging platform, seen from one bot. Cheap to clone (shared state).
#[derive(Clone)]
pub struct FakePlatform {
    state: Rc<RefCell<FakePlatformState>>,
    /// When the fake was made: its clock starts at `FAKE_EPOCH_MS` then.
    started: tokio::time::Instant,
}

/// The fake platform's time when it is made (2026-01-01T00:00:00Z).
const FAKE_EPOCH_MS: i64 = 1_767_225_600_000;

impl Default for FakePlatform {
    fn default() -> Self {
        Self { state: Rc::default(), started: tokio::time::Instant::now() }
    }
}

impl FakePlatform {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where events for the bot go (its `Recipient<PlatformEvent>`).
    pub fn attach(&self, bot: Recipient<PlatformEvent>) {
        self.state.borrow_mut().bot = Some(bot);
    }

    /// Calls `observer` for every message the bot publishes (demo logging, benches).
    pub fn on_publish(&self, observer: impl Fn(&ConversationId, &OutboundMessage) + 'static) {
        self.state.borrow_mut().on_publish = Some(Rc::new(observer));
    }

    /// Only these skills exist; a transfer to another one fails with `UnknownSkill`.
    pub fn with_skills(&self, skills: &[&str]) {
        self.state.borrow_mut().known_skills = Some(skills.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Transfers to `skill` are refused by the platform (e.g. no agent available on it).
    /// The next availability change panics inside the BotActor's handler that asks for it.
    pub fn panic_on_next_availability(&self) {
        self.state.borrow_mut().panic_on_availability = true;
    }

    /// The fake platform's clock: tokio's time since the fake was made, from a fixed epoch.
    fn clock_now_ms(&self) -> i64 {
        FAKE_EPOCH_MS + i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX - FAKE_EPOCH_MS)
    }

    /// Every TTR change is refused with 400.
    pub fn fail_ttr_changes(&self) {
        self.state.borrow_mut().failing_ttr = true;
    }

    pub fn fail_transfers_to(&self, skill: &str) {
        self.state.borrow_mut().failing_transfers.insert(skill.to_owned());
    }

    pub fn allow_transfers_to(&self, skill: &str) {
        self.state.borrow_mut().failing_transfers.remove(skill);
    }

    /// The session drops exactly when the bot next sends a transfer or a close.
    pub fn drop_session_on_next_transfer_or_close(&self) {
        self.state.borrow_mut().drop_session_on_transfer_or_close = true;
    }

    fn maybe_drop_session(&self) {
        if std::mem::take(&mut self.state.borrow_mut().drop_session_on_transfer_or_close) {
            self.lose_session();
        }
    }

    /// Delivers a consumer message of another dialog of the conversation (e.g. a survey).
    pub fn consumer_says_in_dialog(&self, conversation: &str, dialog: &str, text: &str) {
        let message = self.append_message(dialog, Originator::Consumer, MessageContent::Text(text.into()), None, MessageAudience::All);
        self.send(PlatformEvent::Message { conversation_id: conversation.into(), message });
    }

    /// The platform's list of the bot's open conversations (after a resubscription).
    pub fn open_conversations(&self, conversations: &[&str]) {
        self.send(PlatformEvent::OpenConversations { conversation_ids: conversations.iter().map(|c| (*c).into()).collect() });
    }

    /// Sessions cannot be opened (every `start_session` fails).
    pub fn refuse_sessions(&self, refuse: bool) {
        self.state.borrow_mut().refuse_sessions = refuse;
    }

    fn send(&self, event: PlatformEvent) {
        let bot = self.state.borrow().bot.clone();
        if let Some(bot) = bot {
            bot.do_send(event);
        }
    }

    /// The session drops: commands fail with `NotConnected` until the bot reconnects.
    pub fn lose_session(&self) {
        self.state.borrow_mut().connected = false;
        self.send(PlatformEvent::SessionLost { error: ErrorReport::new(ErrorCode::SessionLost, "the websocket closed (1006)") });
    }

    /// The session is back (as after a reconnect).
    /// The new socket is up and the platform delivers on it, before the bot is told the
    /// session is back (as a real platform pushes events as soon as the socket opens).
    pub fn socket_up(&self) {
        self.state.borrow_mut().connected = true;
    }

    pub fn reconnect(&self) {
        self.state.borrow_mut().connected = true;
        self.send(PlatformEvent::SessionConnected { agent_id: FAKE_AGENT_ID.into() });
    }

    pub fn kick(&self) {
        self.state.borrow_mut().connected = false;
        self.send(PlatformEvent::SessionKicked);
    }

    pub fn is_connected(&self) -> bool {
        self.state.borrow().connected
    }

    /// The conversation as the platform describes it, with the bot as ACTIVE assigned agent.
    pub fn conversation_info(conversation: &str, bot_state: ParticipantState) -> ConversationInfo {
        let consumer: std::sync::Arc<str> = format!("consumer-{conversation}").into();
        ConversationInfo {
            conversation_id: conversation.into(),
            main_dialog_id: conversation.into(),
            skill_id: "bots".into(),
            consumer_id: consumer.clone(),
            participants: vec![
                Participant { id: consumer, role: ParticipantRole::Consumer, state: ParticipantState::Active },
                Participant { id: FAKE_AGENT_ID.into(), role: ParticipantRole::AssignedAgent, state: bot_state },
            ],
            context: crate::model::JsonText::new(&json!({"type": "MESSAGING", "skillId": "bots"})),
        }
    }

    /// Offers a ring for `conversation`.
    pub fn ring(&self, conversation: &str) -> RingId {
        let ring = RingId::new(format!("{conversation}_acc_ring"));
        self.send(PlatformEvent::RingOffered { ring: ring.clone(), conversation_id: conversation.into(), skill_id: "bots".into() });
        ring
    }

    /// The platform takes a ring back (another agent took it, or it expired).
    pub fn withdraw(&self, ring: &RingId) {
        self.send(PlatformEvent::RingWithdrawn { ring: ring.clone() });
    }

    /// Assigns `conversation` to the bot (ACTIVE).
    pub fn assign(&self, conversation: &str) {
        self.send(PlatformEvent::ConversationAssigned(Self::conversation_info(conversation, ParticipantState::Active)));
    }

    /// Sends an update for `conversation` with the bot in `state`.
    pub fn update(&self, conversation: &str, state: ParticipantState) {
        self.send(PlatformEvent::ConversationUpdated(Self::conversation_info(conversation, state)));
    }

    /// The consumer closed the conversation, or someone else took it.
    pub fn remove(&self, conversation: &str) {
        self.send(PlatformEvent::ConversationRemoved { conversation_id: conversation.into() });
    }

    /// Adds a message to the dialog's history without telling the bot (as if it arrived while
    /// the bot was disconnected). Returns its sequence.
    pub fn append(&self, conversation: &str, originator: Originator, content: MessageContent) -> Sequence {
        self.append_message(conversation, originator, content, None, MessageAudience::All).sequence
    }

    fn append_message(
        &self,
        conversation: &str,
        originator: Originator,
        content: MessageContent,
        answer: Option<AnswerKey>,
        audience: MessageAudience,
    ) -> DialogMessage {
        let mut state = self.state.borrow_mut();
        // The fake platform's clock follows tokio's (paused in tests), strictly increasing.
        state.clock_ms = (state.clock_ms + 1).max(self.clock_now_ms());
        let timestamp = state.clock_ms - state.delivery_lag_ms;
        let dialog_id = DialogId::new(conversation);
        let next = state.next_sequence.entry(dialog_id.clone()).or_insert(0);
        let sequence = *next;
        *next += 1;
        let cap = state.history_cap;
        let dialog = state.dialogs.entry(dialog_id).or_default();
        if let Some(cap) = cap {
            while dialog.len() >= cap {
                dialog.pop_front();
            }
        }
        let keep_raw = originator == Originator::Consumer || audience == MessageAudience::AgentsAndManagers;
        // As the LivePerson adapter: only a consumer's event is kept (a vendor sees it as
        // `lpEvent`); a private message keeps its audience for the transcript. The others are
        // not built at all (the benchmarks run the core through this fake).
        let raw = if keep_raw {
            let mut raw = json!({
                "sequence": sequence,
                "dialogId": conversation,
                "serverTimestamp": timestamp,
                "event": match &content {
                    MessageContent::Text(text) => json!({"type": "ContentEvent", "contentType": "text/plain", "message": text}),
                    MessageContent::RichContent(content) => json!({"type": "RichContentEvent", "content": content}),
                    MessageContent::File { relative_path, file_type, caption } => json!({"type": "ContentEvent", "contentType": "hosted/file", "message": {"relativePath": relative_path, "fileType": file_type, "caption": caption}}),
                    MessageContent::AcceptStatus { status, sequences } => json!({"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences}),
                    MessageContent::Other(value) => value.clone(),
                },
            });
            if audience == MessageAudience::AgentsAndManagers {
                raw["messageAudience"] = json!("AGENTS_AND_MANAGERS");
            }
            crate::model::JsonText::new(&raw)
        } else {
            crate::model::JsonText::default()
        };
        let message =
            DialogMessage { dialog_id: conversation.into(), sequence, originator, content, server_timestamp: timestamp, answer, raw };
        dialog.push_back(message.clone());
        message
    }

    /// The consumer sends a text: it lands in history and, if connected, reaches the bot.
    pub fn consumer_says(&self, conversation: &str, text: &str) -> Sequence {
        self.consumer_sends(conversation, MessageContent::Text(text.into()))
    }

    pub fn consumer_sends(&self, conversation: &str, content: MessageContent) -> Sequence {
        let message = self.append_message(conversation, Originator::Consumer, content, None, MessageAudience::All);
        let sequence = message.sequence;
        if self.is_connected() {
            self.send(PlatformEvent::Message { conversation_id: conversation.into(), message });
        }
        sequence
    }

    pub fn consumer_typing(&self, conversation: &str, typing: bool) {
        self.send(PlatformEvent::ConsumerTyping { conversation_id: conversation.into(), typing });
    }

    /// Every command the bot sent, in order.
    pub fn calls(&self) -> Vec<PlatformCall> {
        self.state.borrow().calls.clone()
    }

    pub fn count_calls(&self, matches: impl Fn(&PlatformCall) -> bool) -> usize {
        self.state.borrow().calls.iter().filter(|c| matches(c)).count()
    }

    /// The dialog as the consumer sees it: `consumer: …` and `bot: …` lines; private messages
    /// and other agents' messages are left out.
    pub fn consumer_transcript(&self, conversation: &str) -> Vec<String> {
        self.transcript(conversation).into_iter().filter(|line| !line.starts_with("bot (private)")).collect()
    }

    /// The whole dialog, private messages included (`bot (private): …`); receipts left out.
    pub fn transcript(&self, conversation: &str) -> Vec<String> {
        let state = self.state.borrow();
        let Some(dialog) = state.dialogs.get(&DialogId::new(conversation)) else { return Vec::new() };
        dialog
            .iter()
            .filter(|m| !matches!(m.content, MessageContent::AcceptStatus { .. }))
            .map(|m| {
                let who = match (&m.originator, &m.raw.to_value()["messageAudience"]) {
                    (Originator::Consumer, _) => "consumer".to_owned(),
                    (Originator::Me, Value::String(audience)) if audience == "AGENTS_AND_MANAGERS" => "bot (private)".to_owned(),
                    (Originator::Me, _) => "bot".to_owned(),
                    (Originator::OtherAgent(id), _) => format!("agent {id}"),
                    (Originator::System, _) => "system".to_owned(),
                };
                let what = match &m.content {
                    MessageContent::Text(text) => text.clone(),
                    MessageContent::RichContent(_) => "[rich content]".to_owned(),
                    MessageContent::File { .. } => "[file]".to_owned(),
                    MessageContent::AcceptStatus { .. } => unreachable!("receipts are filtered out above"),
                    MessageContent::Other(_) => "[structured content]".to_owned(),
                };
                format!("{who}: {what}")
            })
            .collect()
    }

    /// The skill the conversation was transferred to, if it was.
    pub fn skill_of(&self, conversation: &str) -> Option<String> {
        self.state.borrow().skill_of.get(&ConversationId::new(conversation)).cloned()
    }

    pub fn ttr_of(&self, conversation: &str) -> Option<Ttr> {
        self.state.borrow().ttr_of.get(&ConversationId::new(conversation)).copied()
    }

    /// `Some(with_survey)` once the bot closed the conversation.
    pub fn closed(&self, conversation: &str) -> Option<bool> {
        self.state.borrow().closed.get(&ConversationId::new(conversation)).copied()
    }

    /// The last availability the bot published.
    pub fn availability(&self) -> Option<Availability> {
        self.state.borrow().calls.iter().rev().find_map(|c| match c {
            PlatformCall::SetAvailability(a) => Some(*a),
            _ => None,
        })
    }

    /// Stops keeping the call log (a long-running demo would grow it forever).
    pub fn forget_calls(&self) {
        let mut state = self.state.borrow_mut();
        state.forget_calls = true;
        state.calls = Vec::new();
    }

    /// From now on, messages are stamped `lag` before they reach the bot (as when the bot or
    /// the platform is behind).
    pub fn set_delivery_lag(&self, lag: Duration) {
        self.state.borrow_mut().delivery_lag_ms = i64::try_from(lag.as_millis()).unwrap_or(i64::MAX);
    }

    /// Keeps at most `messages` per dialog, dropping the oldest (sequences go on counting).
    pub fn cap_history(&self, messages: usize) {
        self.state.borrow_mut().history_cap = Some(messages.max(1));
    }

    /// Drops a finished conversation's history and records.
    pub fn forget_conversation(&self, conversation: &str) {
        let mut state = self.state.borrow_mut();
        let id = ConversationId::new(conversation);
        state.dialogs.remove(&DialogId::new(conversation));
        state.next_sequence.remove(&DialogId::new(conversation));
        state.skill_of.remove(&id);
        state.ttr_of.remove(&id);
        state.closed.remove(&id);
    }

    fn record(&self, call: PlatformCall) -> Result<(), PlatformError> {
        let mut state = self.state.borrow_mut();
        if !state.forget_calls {
            state.calls.push(call);
        }
        if state.connected {
            Ok(())
        } else {
            Err(PlatformError::NotConnected)
        }
    }
}

fn ready<T: 'static>(value: Result<T, PlatformError>) -> PlatformResult<T> {
    Box::pin(std::future::ready(value))
}

impl PlatformPort for FakePlatform {
    fn start_session(&self) -> PlatformResult<()> {
        if !self.state.borrow().forget_calls {
            self.state.borrow_mut().calls.push(PlatformCall::StartSession);
        }
        if self.state.borrow().refuse_sessions {
            return ready(Err(PlatformError::Rejected { status: 503, message: "login service unavailable".into() }));
        }
        self.reconnect();
        ready(Ok(()))
    }

    fn stop_session(&self) -> PlatformResult<()> {
        let result = self.record(PlatformCall::StopSession);
        self.state.borrow_mut().connected = false;
        ready(result)
    }

    fn set_availability(&self, availability: Availability) -> PlatformResult<()> {
        if std::mem::take(&mut self.state.borrow_mut().panic_on_availability) {
            panic!("the fake platform panics on this availability change, as asked");
        }
        ready(self.record(PlatformCall::SetAvailability(availability)))
    }

    fn accept_ring(&self, ring: &RingId) -> PlatformResult<()> {
        ready(self.record(PlatformCall::AcceptRing(ring.clone())))
    }

    fn reject_ring(&self, ring: &RingId) -> PlatformResult<()> {
        ready(self.record(PlatformCall::RejectRing(ring.clone())))
    }

    fn query_messages(&self, dialog: &DialogId, from: Sequence) -> PlatformResult<Vec<DialogMessage>> {
        let result = self.record(PlatformCall::QueryMessages { dialog: dialog.clone(), from }).map(|()| {
            let state = self.state.borrow();
            state.dialogs.get(dialog).map(|d| d.iter().filter(|m| m.sequence >= from).cloned().collect()).unwrap_or_default()
        });
        ready(result)
    }

    fn publish(
        &self,
        conversation: &ConversationId,
        _dialog: &DialogId,
        message: OutboundMessage,
        answer: Option<AnswerKey>,
    ) -> PlatformResult<Sequence> {
        let call = PlatformCall::Publish { conversation: conversation.clone(), message: message.clone(), answer: answer.clone() };
        if let Err(error) = self.record(call) {
            return ready(Err(error));
        }
        let observer = self.state.borrow().on_publish.clone();
        if let Some(observer) = observer {
            observer(conversation, &message);
        }
        let (content, audience) = match message {
            OutboundMessage::Text(text) => (MessageContent::Text(text.text), text.audience),
            OutboundMessage::StructuredContent(sc) => (MessageContent::Other(sc.content), MessageAudience::All),
        };
        let published = self.append_message(conversation.as_str(), Originator::Me, content, answer, audience);
        ready(Ok(published.sequence))
    }

    fn publish_chat_state(&self, conversation: &ConversationId, _dialog: &DialogId, state: ChatState) -> PlatformResult<()> {
        ready(self.record(PlatformCall::ChatState { conversation: conversation.clone(), state }))
    }

    fn publish_read(&self, conversation: &ConversationId, _dialog: &DialogId, sequences: &[Sequence]) -> PlatformResult<()> {
        let result = self.record(PlatformCall::Read { conversation: conversation.clone(), sequences: sequences.to_vec() });
        if result.is_ok() {
            // Receipts are dialog events with their own sequence, like on the real platform.
            let receipt = MessageContent::AcceptStatus { status: "READ".into(), sequences: sequences.to_vec() };
            self.append_message(conversation.as_str(), Originator::Me, receipt, None, MessageAudience::All);
        }
        ready(result)
    }

    fn transfer_to_skill(&self, conversation: &ConversationId, skill: &str) -> PlatformResult<()> {
        self.maybe_drop_session();
        ready(
            self.record(PlatformCall::TransferToSkill { conversation: conversation.clone(), skill: skill.into() })
                .and_then(|()| self.transfer(conversation, skill)),
        )
    }

    fn transfer_to_agent(&self, conversation: &ConversationId, agent_id: &str, skill: &str) -> PlatformResult<()> {
        self.maybe_drop_session();
        let call = PlatformCall::TransferToAgent { conversation: conversation.clone(), agent_id: agent_id.into(), skill: skill.into() };
        ready(self.record(call).and_then(|()| self.transfer(conversation, skill)))
    }

    fn change_ttr(&self, conversation: &ConversationId, ttr: Ttr) -> PlatformResult<()> {
        let mut result = self.record(PlatformCall::ChangeTtr { conversation: conversation.clone(), ttr });
        if result.is_ok() && self.state.borrow().failing_ttr {
            result = Err(PlatformError::Rejected { status: 400, message: "TTRField: value is required".into() });
        }
        if result.is_ok() {
            self.state.borrow_mut().ttr_of.insert(conversation.clone(), ttr);
        }
        ready(result)
    }

    fn close_conversation(&self, conversation: &ConversationId, with_survey: bool) -> PlatformResult<()> {
        self.maybe_drop_session();
        let result = self.record(PlatformCall::Close { conversation: conversation.clone(), with_survey });
        if result.is_ok() {
            self.state.borrow_mut().closed.insert(conversation.clone(), with_survey);
        }
        ready(result)
    }

    fn engagement_attributes(&self, consumer_id: &str) -> PlatformResult<Value> {
        let result = self.record(PlatformCall::EngagementAttributes { consumer_id: consumer_id.into() });
        ready(result.map(|()| json!({"authenticatedSdes": {}, "unauthenticatedSdes": {"customerInfo": {"customerId": consumer_id}}})))
    }

    fn now_ms(&self) -> i64 {
        self.clock_now_ms().max(self.state.borrow().clock_ms)
    }
}

impl FakePlatform {
    fn transfer(&self, conversation: &ConversationId, skill: &str) -> Result<(), PlatformError> {
        let mut state = self.state.borrow_mut();
        if state.known_skills.as_ref().is_some_and(|known| !known.contains(skill)) {
            return Err(PlatformError::UnknownSkill { skill: skill.into() });
        }
        if state.failing_transfers.contains(skill) {
            return Err(PlatformError::Rejected { status: 400, message: format!("no agent available on skill {skill}") });
        }
        state.skill_of.insert(conversation.clone(), skill.into());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// What the fake vendor does with one request.
pub enum FakeReply {
    Answer(BotResponse),
    Fail(VendorError),
    /// Answer after a while (paused time in tests).
    After(Duration, Box<FakeReply>),
    /// Never answer.
    Hang,
    /// Panic inside the conversation's task.
    Panic(&'static str),
}

type Script = Box<dyn FnMut(&VendorRequest) -> FakeReply>;

struct FakeVendorState {
    script: Script,
    requests: Vec<VendorRequest>,
    health: Result<VendorHealth, VendorError>,
    /// The health check answers this long after it is asked.
    health_delay: Duration,
    health_checks: u32,
}

/// The fake AI vendor. Cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeVendor {
    state: Rc<RefCell<FakeVendorState>>,
}

impl FakeVendor {
    /// A vendor whose answers come from `script`.
    pub fn scripted(script: impl FnMut(&VendorRequest) -> FakeReply + 'static) -> Self {
        Self {
            state: Rc::new(RefCell::new(FakeVendorState {
                script: Box::new(script),
                requests: Vec::new(),
                health: Ok(VendorHealth::Online),
                health_delay: Duration::ZERO,
                health_checks: 0,
            })),
        }
    }

    /// Answers `echo: <input text>` (and `welcome!` to the welcome event).
    pub fn echo() -> Self {
        Self::scripted(|request| FakeReply::Answer(BotResponse::text(format!("echo: {}", input_text(&request.input)))))
    }

    /// Answers `answer to <input text>` after `delay` (a slow vendor, in paused time).
    pub fn answering_after(delay: Duration) -> Self {
        Self::scripted(move |request| {
            let text = input_text(&request.input);
            FakeReply::After(delay, Box::new(FakeReply::Answer(BotResponse::text(format!("answer to {text}")))))
        })
    }

    /// Replaces the script.
    pub fn set_script(&self, script: impl FnMut(&VendorRequest) -> FakeReply + 'static) {
        self.state.borrow_mut().script = Box::new(script);
    }

    pub fn set_health(&self, health: Result<VendorHealth, VendorError>) {
        self.state.borrow_mut().health = health;
    }

    pub fn requests(&self) -> Vec<VendorRequest> {
        self.state.borrow().requests.clone()
    }

    /// The input texts the vendor received, in order (`<welcome>` for welcome events).
    pub fn inputs(&self) -> Vec<String> {
        self.state.borrow().requests.iter().map(|r| input_text(&r.input)).collect()
    }

    /// The health check answers only after `delay` (a slow vendor at start).
    pub fn set_health_delay(&self, delay: Duration) {
        self.state.borrow_mut().health_delay = delay;
    }

    pub fn health_checks(&self) -> u32 {
        self.state.borrow().health_checks
    }
}

/// The text of a vendor input (`<welcome>` for the welcome event).
pub fn input_text(input: &VendorInput) -> String {
    match input {
        VendorInput::Message { text, .. } => text.clone(),
        VendorInput::Welcome { .. } => "<welcome>".into(),
    }
}

impl VendorPort for FakeVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let reply = {
            let mut state = self.state.borrow_mut();
            state.requests.push(request.clone());
            (state.script)(&request)
        };
        Box::pin(async move {
            let mut reply = reply;
            loop {
                match reply {
                    FakeReply::Answer(response) => return Ok(response),
                    FakeReply::Fail(error) => return Err(error),
                    FakeReply::After(wait, next) => {
                        tokio::time::sleep(wait).await;
                        reply = *next;
                    }
                    FakeReply::Hang => std::future::pending::<()>().await,
                    FakeReply::Panic(message) => panic!("{message}"),
                }
            }
        })
    }

    fn health(&self) -> VendorResult<VendorHealth> {
        let mut state = self.state.borrow_mut();
        state.health_checks += 1;
        let health = state.health.clone();
        let delay = state.health_delay;
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            health
        })
    }

    fn name(&self) -> &'static str {
        "fake"
    }
}

/// An error hook that keeps what it is told.
#[derive(Clone, Default)]
pub struct FakeErrorHook {
    events: Rc<RefCell<Vec<BotErrorEvent>>>,
}

impl FakeErrorHook {
    pub fn events(&self) -> Vec<BotErrorEvent> {
        self.events.borrow().clone()
    }
}

impl ErrorHookPort for FakeErrorHook {
    fn report(&self, event: BotErrorEvent) {
        self.events.borrow_mut().push(event);
    }
}

/// Functions that record their invocations; the ones named in `failing` fail.
#[derive(Clone, Default)]
pub struct FakeFunctions {
    invocations: Rc<RefCell<Vec<FunctionInvocation>>>,
    failing: Rc<RefCell<HashSet<String>>>,
}

impl FakeFunctions {
    /// Invoking `lambda_uuid` fails from now on.
    pub fn fail(&self, lambda_uuid: &str) {
        self.failing.borrow_mut().insert(lambda_uuid.to_owned());
    }

    pub fn invocations(&self) -> Vec<FunctionInvocation> {
        self.invocations.borrow().clone()
    }
}

impl FunctionPort for FakeFunctions {
    fn invoke(&self, invocation: FunctionInvocation) -> LocalFuture<Result<(), String>> {
        let failed = self.failing.borrow().contains(&invocation.lambda_uuid);
        self.invocations.borrow_mut().push(invocation);
        Box::pin(std::future::ready(if failed { Err("the function answered 500".to_owned()) } else { Ok(()) }))
    }
}

/// Conversation records in memory, shared by its clones: a bot started again with the same one
/// is the bot's next owner reading the store.
#[derive(Clone, Default)]
pub struct MemoryConversationState {
    records: Rc<RefCell<HashMap<ConversationId, ConversationRecord>>>,
    /// Every save, in order, as it was written.
    saves: Rc<RefCell<Vec<(ConversationId, ConversationRecord)>>>,
}

impl MemoryConversationState {
    pub fn record(&self, conversation: &str) -> Option<ConversationRecord> {
        self.records.borrow().get(&ConversationId::new(conversation)).cloned()
    }

    pub fn saves(&self) -> Vec<(ConversationId, ConversationRecord)> {
        self.saves.borrow().clone()
    }
}

impl ConversationStatePort for MemoryConversationState {
    fn load(&self, conversation: &ConversationId) -> LocalFuture<Result<Option<ConversationRecord>, String>> {
        let record = self.records.borrow().get(conversation).cloned();
        Box::pin(std::future::ready(Ok(record)))
    }

    fn save(&self, conversation: &ConversationId, record: &ConversationRecord) -> LocalFuture<Result<(), String>> {
        self.records.borrow_mut().insert(conversation.clone(), record.clone());
        self.saves.borrow_mut().push((conversation.clone(), record.clone()));
        Box::pin(std::future::ready(Ok(())))
    }

    fn forget(&self, conversation: &ConversationId) -> LocalFuture<Result<(), String>> {
        self.records.borrow_mut().remove(conversation);
        Box::pin(std::future::ready(Ok(())))
    }
}

// ---------------------------------------------------------------------------------------------

/// Runs `test` to completion in a fresh actix system whose clock starts paused.
///
/// Why not `tokio::time::pause()` as the test's first line: the runtime's timer grid starts when
/// the runtime is built, a fraction of a millisecond before `pause()` runs, so every paused
/// auto-advance then overshoots by 1 ms and chained timers drift. A runtime built paused has its
/// grid aligned with the clock: timers fire exactly at their deadlines, and a test can assert
/// 1 ms before and after each one.
pub fn run_paused<F: std::future::Future>(test: F) -> F::Output {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a current-thread tokio runtime builds")
    };
    actix_rt::System::with_tokio_rt(runtime).block_on(test)
}

/// Lets every ready task run (paused-time tests: nothing moves the clock).
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Moves paused time forward by `by`, firing due timers on the way, then settles.
pub async fn advance(by: Duration) {
    tokio::time::sleep(by).await;
    settle().await;
}

/// How many of the core's actors run on this thread.
pub fn live_actors() -> LiveActors {
    LiveActors::on_this_thread()
}

/// Waits in paused time, at most `grace`, until no actor of the core runs on this thread; the
/// ones still running then are the error. Work in flight when a bot stopped (a vendor call, an
/// escalation's retries) may end within `grace`; an actor nobody stops never does.
pub async fn no_live_actors_within(grace: Duration) -> Result<(), LiveActors> {
    const STEP: Duration = Duration::from_millis(100);
    let start = tokio::time::Instant::now();
    loop {
        settle().await;
        let live = live_actors();
        if live.total() == 0 {
            return Ok(());
        }
        if start.elapsed() >= grace {
            return Err(live);
        }
        advance(STEP).await;
    }
}
