//! ConversationActor: one per dialog. Combines the consumer's messages, calls the vendor,
//! carries out its answer in order, escalates on any failure, closes idle conversations.
//!
//! It works on one thing at a time (reading history, a vendor call, executing an answer, an
//! escalation); consumer messages that arrive meanwhile wait in the [`Combiner`] and go into the
//! next call: never dropped, never reordered. It does no I/O itself: everything goes through the
//! ports.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{json, Value};
use tokio::time::Instant;
use tracing::Instrument;

use crate::conversation::catch_panic::CatchPanic;
use crate::conversation::deps::ConversationDeps;
use crate::conversation::escalation::{escalate, EscalationOutcome, EscalationRequest};
use crate::conversation::execute::{execute, ExecutionOutcome, Functions, Target};
use crate::conversation::history::{analyse, HistoryAnalysis};
use crate::conversation::input::{map_batch, MappedInput};
use crate::conversation::machine::{Machine, Opening, Phase, Step, Unfinished};
use crate::conversation::messages::{
    CommandOutcome, CommandRefused, ConsumerTypingChanged, ConversationCommand, ConversationExited, ConversationRemoved,
    ConversationSnapshot, DeliverMessage, ExitReason, GetConversationSnapshot, Passivate, Resync, RunCommand, StartMode,
};
use crate::conversation::passive::PassiveConversation;
use crate::conversation::vendor_call::call_vendor;
use crate::errors::{ErrorCode, ErrorReport, PlatformError, VendorError};
use crate::live::{ActorKind, LiveToken};
use crate::model::{
    BotAction, BotResponse, ConversationInfo, DialogMessage, JsonText, Originator, OutboundMessage, Sequence, TextMessage, Ttr,
};
use crate::ports::{BotErrorEvent, ConversationContext, ConversationRecord, EscalationProgress, InputKind, VendorInput, VendorRequest};

/// Commands from outside waiting at most, per conversation.
pub const MAX_WAITING_COMMANDS: usize = 16;

/// A command waiting, with where its outcome goes.
type WaitingCommand = (ConversationCommand, tokio::sync::oneshot::Sender<Result<CommandOutcome, CommandRefused>>);

/// Mailbox capacity: the BotActor sheds into a history re-read beyond it.
pub const CONVERSATION_MAILBOX: usize = 64;
/// After a disconnect, history is re-read after this long even if no reconnect is announced.
const RESYNC_FALLBACK: Duration = Duration::from_secs(30);
/// An idle close that falls while the conversation is busy is looked at again after this long.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// Everything a ConversationActor is built from (the BotActor's factory input).
#[derive(Debug, Clone)]
pub struct ConversationSpec {
    pub info: ConversationInfo,
    /// Given by the BotActor; echoed in the exit notice.
    pub generation: u64,
    pub mode: StartMode,
}

pub struct ConversationActor {
    spec: ConversationSpec,
    /// The bot's settings and ports, shared by its conversations.
    deps: Rc<ConversationDeps>,
    parent: Recipient<ConversationExited>,
    /// What the conversation is doing and what waits; decides the next step.
    machine: Machine,
    /// Every consumer message below this sequence is answered.
    answered_below: Sequence,
    /// The consumer messages of the vendor call or escalation under way.
    in_flight: Vec<DialogMessage>,
    read_epoch: u64,
    /// READ receipts were sent for every consumer message below this sequence.
    read_below: Sequence,
    /// The vendor has seen this conversation (an earlier call, or the bot spoke in history).
    vendor_knows_conversation: bool,
    span: tracing::Span,
    /// The last vendor input sent, for error reports.
    last_vendor_input: Option<Box<Value>>,
    vendor_call_started: Option<Instant>,
    sdes: Option<Arc<Value>>,
    flush_timer: Option<SpawnHandle>,
    idle_timer: Option<SpawnHandle>,
    resync_timer: Option<SpawnHandle>,
    idle_warned: bool,
    vendor_calls: u64,
    /// Consumer messages below this sequence were counted as taken.
    counted_below: Sequence,
    /// When the actor took the conversation (wall clock, for people).
    taken_at: std::time::SystemTime,
    ttr: Option<Ttr>,
    last_error: Option<Box<ErrorReport>>,
    exit: Option<Box<ExitReason>>,
    /// Set while the actor's own code runs; still set in `stopped` means that code panicked.
    in_handler: bool,
    /// Set once the parent has been told; if the actor is dropped without it, it panicked.
    parent_told: bool,
    /// Counts this actor as running (see [`crate::live`]); a panicked one's goes when it is dropped.
    live: Option<LiveToken>,
    /// What the record holds now (the vendor session handle; an escalation under way is only in
    /// the store, written as it goes).
    record: ConversationRecord,
    /// The record was read from the store (once, with the first history read).
    record_loaded: bool,
    /// The store may hold a record for this conversation: forget it when the conversation ends.
    record_kept: bool,
    /// Commands from outside, in arrival order (bounded by `MAX_WAITING_COMMANDS`).
    commands: std::collections::VecDeque<WaitingCommand>,
    /// When the actor last ran its own code (an event, a timer, work done): see `passive`.
    last_activity: Instant,
    /// Futures spawned with `spawn_work` and not done yet.
    work_in_flight: u32,
    /// When `idle_timer` fires.
    idle_at: Option<Instant>,
    /// Handed its record back to the BotActor and stopped (no exit notice).
    passivated: bool,
}

impl ConversationActor {
    pub fn new(spec: ConversationSpec, deps: Rc<ConversationDeps>, parent: Recipient<ConversationExited>) -> Self {
        let span = tracing::info_span!("conversation", bot_id = %deps.settings.bot_id, conversation_id = %spec.info.conversation_id);
        Self {
            machine: Machine::new(deps.settings.conversation.combine.clone()),
            read_epoch: deps.session_epoch.current(),
            spec,
            deps,
            parent,
            answered_below: 0,
            in_flight: Vec::new(),
            read_below: 0,
            vendor_knows_conversation: false,
            span,
            last_vendor_input: None,
            vendor_call_started: None,
            sdes: None,
            flush_timer: None,
            idle_timer: None,
            resync_timer: None,
            idle_warned: false,
            vendor_calls: 0,
            counted_below: 0,
            taken_at: std::time::SystemTime::now(),
            ttr: None,
            last_error: None,
            exit: None,
            in_handler: false,
            parent_told: false,
            live: None,
            record: ConversationRecord::default(),
            record_loaded: false,
            record_kept: false,
            commands: std::collections::VecDeque::new(),
            last_activity: Instant::now(),
            work_in_flight: 0,
            idle_at: None,
            passivated: false,
        }
    }
}

impl ConversationActor {
    fn report_error(&self, report: &ErrorReport) {
        if let Some(hook) = &self.deps.error_hook {
            let event = BotErrorEvent::new(self.deps.settings.bot_id.clone(), self.deps.vendor.name(), report.clone())
                .in_conversation(self.spec.info.conversation_id.clone())
                .with_vendor_request(self.last_vendor_input.as_deref().cloned());
            hook.report(event);
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(CONVERSATION_MAILBOX);
        self.live = Some(LiveToken::new(ActorKind::Conversation));
        if let StartMode::Reactivate(passive) = &mut self.spec.mode {
            // The record moves into the actor; the mode left behind reads as a resume.
            let passive = std::mem::replace(passive, Box::new(PassiveConversation::empty()));
            self.spec.mode = StartMode::Resume;
            self.reactivate(ctx, *passive);
            return;
        }
        self.consumer_active(ctx);
        match self.spec.mode.clone() {
            StartMode::Escalate { report, skill } => {
                // No vendor call: only messages that arrive after this are processed.
                self.machine.opening = Opening::Done;
                self.start_escalation(ctx, *report, EscalationRequest::new(skill, None));
            }
            StartMode::New | StartMode::Resume | StartMode::Reactivate(_) => self.read_history(ctx),
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if self.passivated {
            self.live = None;
            return; // the BotActor holds its record
        }
        // A panic in a handler or timer: actix still stops the actor, with the flag left set.
        let reason = if self.in_handler { ExitReason::Panicked } else { self.exit.take().map_or(ExitReason::Removed, |reason| *reason) };
        tracing::debug!(
            bot_id = %self.deps.settings.bot_id,
            conversation_id = %self.spec.info.conversation_id,
            reason = reason.as_str(),
            "conversation actor stopped"
        );
        self.tell_parent(reason);
        self.live = None;
    }
}

impl Drop for ConversationActor {
    fn drop(&mut self) {
        // Dropped without `stopped`: the actor's task panicked. The BotActor rebuilds it.
        if !self.parent_told {
            tracing::error!(
                bot_id = %self.deps.settings.bot_id,
                conversation_id = %self.spec.info.conversation_id,
                "conversation panicked"
            );
            self.tell_parent(ExitReason::Panicked);
        }
    }
}

impl Handler<DeliverMessage> for ConversationActor {
    type Result = ();

    fn handle(&mut self, DeliverMessage(message): DeliverMessage, ctx: &mut Context<Self>) {
        if message.dialog_id != self.spec.info.main_dialog_id {
            return; // another dialog of the conversation (e.g. a survey): not this bot's
        }
        self.guarded(ctx, |act, ctx| match &message.originator {
            Originator::Consumer => act.receive_consumer_message(ctx, message),
            Originator::Me => {
                if let Some(answers) = message.answer.as_ref().and_then(|key| key.answers) {
                    act.answered_below = act.answered_below.max(answers + 1);
                }
            }
            Originator::OtherAgent(_) | Originator::System => {}
        })
    }
}

impl Handler<ConsumerTypingChanged> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: ConsumerTypingChanged, ctx: &mut Context<Self>) {
        self.guarded(ctx, |act, ctx| {
            act.consumer_active(ctx);
            act.machine.combiner.set_consumer_typing(msg.typing, Instant::now());
            act.pump(ctx);
        })
    }
}

impl Handler<Resync> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _msg: Resync, ctx: &mut Context<Self>) {
        self.guarded(ctx, |act, ctx| act.request_resync(ctx))
    }
}

impl Handler<ConversationRemoved> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: ConversationRemoved, ctx: &mut Context<Self>) {
        if msg.ended {
            self.forget_record();
        }
        if self.machine.removal() {
            self.finish(ctx, ExitReason::Removed);
        }
    }
}

impl Handler<RunCommand> for ConversationActor {
    type Result = ResponseFuture<Result<CommandOutcome, CommandRefused>>;

    fn handle(&mut self, RunCommand(command): RunCommand, ctx: &mut Context<Self>) -> Self::Result {
        if self.commands.len() >= MAX_WAITING_COMMANDS || self.exit.is_some() {
            let refused = if self.exit.is_some() { CommandRefused::Ended } else { CommandRefused::Busy };
            return Box::pin(std::future::ready(Err(refused)));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.push_back((command, tx));
        self.machine.commands_waiting = true;
        self.guarded(ctx, Self::pump);
        // A conversation that ends first drops the sender: the command did not happen.
        Box::pin(async move { rx.await.unwrap_or(Err(CommandRefused::Ended)) })
    }
}

impl Handler<Passivate> for ConversationActor {
    type Result = Option<Box<PassiveConversation>>;

    fn handle(&mut self, msg: Passivate, ctx: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        if !self.is_settled(now) || now.duration_since(self.last_activity) < msg.idle_for {
            return None;
        }
        if let Some(handle) = self.idle_timer.take() {
            ctx.cancel_future(handle);
        }
        let passive = PassiveConversation {
            answered_below: self.answered_below,
            read_below: self.read_below,
            counted_below: self.counted_below,
            read_epoch: self.read_epoch,
            vendor_knows_conversation: self.vendor_knows_conversation,
            idle_at: self.idle_at,
            idle_warned: self.idle_warned,
            vendor_calls: self.vendor_calls,
            taken_at: self.taken_at,
            ttr: self.ttr,
            last_error: self.last_error.take(),
            sdes: self.sdes.take(),
            record: Some(std::mem::take(&mut self.record)).filter(|record| !record.is_empty()).map(Box::new),
            record_loaded: self.record_loaded,
            record_kept: self.record_kept,
        };
        // No exit notice: the BotActor keeps the record and builds the next actor from it.
        self.passivated = true;
        self.parent_told = true;
        ctx.stop();
        Some(Box::new(passive))
    }
}

impl Handler<GetConversationSnapshot> for ConversationActor {
    type Result = MessageResult<GetConversationSnapshot>;

    fn handle(&mut self, _msg: GetConversationSnapshot, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(ConversationSnapshot {
            conversation_id: self.spec.info.conversation_id.clone(),
            phase: self.machine.phase.as_str(),
            answered_below: self.answered_below,
            waiting_messages: self.machine.combiner.len(),
            vendor_calls: self.vendor_calls,
            taken_at: self.taken_at,
            ttr: self.ttr,
            last_error: self.last_error.as_deref().cloned(),
        })
    }
}

impl ConversationActor {
    /// Runs the actor's own code with the panic flag set (see `stopped`).
    fn guarded<R>(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self, &mut Context<Self>) -> R) -> R {
        let span = self.span.clone();
        let _entered = span.enter();
        self.in_handler = true;
        self.last_activity = Instant::now();
        let result = f(self, ctx);
        self.in_handler = false;
        result
    }

    /// Nothing under way and nothing waiting: the actor may hand its record back.
    fn is_settled(&self, now: Instant) -> bool {
        self.exit.is_none()
            && self.machine.phase == Phase::Ready
            && self.machine.next_step(now) == Step::Idle
            && self.machine.combiner.is_empty()
            && self.in_flight.is_empty()
            && self.commands.is_empty()
            && self.work_in_flight == 0
            && self.flush_timer.is_none()
            && self.resync_timer.is_none()
            && self.read_epoch == self.deps.session_epoch.current()
    }

    /// Carries on from a passivated actor's record: settled, history read, its inactivity timer
    /// where it was.
    fn reactivate(&mut self, ctx: &mut Context<Self>, passive: PassiveConversation) {
        let PassiveConversation {
            answered_below,
            read_below,
            counted_below,
            read_epoch,
            vendor_knows_conversation,
            idle_at,
            idle_warned,
            vendor_calls,
            taken_at,
            ttr,
            last_error,
            sdes,
            record,
            record_loaded,
            record_kept,
        } = passive;
        self.answered_below = answered_below;
        self.read_below = read_below;
        self.counted_below = counted_below;
        self.read_epoch = read_epoch;
        self.vendor_knows_conversation = vendor_knows_conversation;
        self.idle_warned = idle_warned;
        self.vendor_calls = vendor_calls;
        self.taken_at = taken_at;
        self.ttr = ttr;
        self.last_error = last_error;
        self.sdes = sdes;
        self.record = record.map(|record| *record).unwrap_or_default();
        self.record_loaded = record_loaded;
        self.record_kept = record_kept;
        self.machine.phase = Phase::Ready;
        self.machine.opening = Opening::Done;
        if let (Some(at), Some(_)) = (idle_at, &self.deps.settings.conversation.inactivity) {
            self.arm_idle(ctx, at.saturating_duration_since(Instant::now()));
        }
        // A session lost while it was passive: read history as any conversation does.
        if self.read_epoch != self.deps.session_epoch.current() {
            self.guarded(ctx, Self::request_resync);
        }
    }

    /// Spawns port work; its result comes back to `then` on the actor. A panic inside the work
    /// (an adapter bug) ends the conversation as `Panicked`, so the BotActor rebuilds it.
    fn spawn_work<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl std::future::Future<Output = T> + 'static,
        then: impl FnOnce(&mut Self, &mut Context<Self>, T) + 'static,
    ) {
        self.work_in_flight += 1;
        ctx.spawn(CatchPanic::new(work.instrument(self.span.clone())).into_actor(self).map(move |result, act, ctx| match result {
            Ok(value) => {
                act.work_in_flight = act.work_in_flight.saturating_sub(1);
                act.guarded(ctx, |act, ctx| then(act, ctx, value))
            }
            Err(panic) => {
                tracing::error!(
                    bot_id = %act.deps.settings.bot_id,
                    conversation_id = %act.spec.info.conversation_id,
                    panic = %panic,
                    "conversation work panicked"
                );
                act.finish(ctx, ExitReason::Panicked);
            }
        }));
    }

    fn target(&self) -> Target {
        Target {
            platform: self.deps.platform.clone(),
            conversation_id: self.spec.info.conversation_id.clone(),
            dialog_id: self.spec.info.main_dialog_id.clone(),
        }
    }

    fn tell_parent(&mut self, reason: ExitReason) {
        self.parent_told = true;
        self.parent.do_send(ConversationExited {
            conversation_id: self.spec.info.conversation_id.clone(),
            generation: self.spec.generation,
            reason,
        });
    }

    fn finish(&mut self, ctx: &mut Context<Self>, reason: ExitReason) {
        if matches!(reason, ExitReason::Closed { .. } | ExitReason::Transferred { .. } | ExitReason::Escalated { .. }) {
            self.forget_record();
        }
        if self.exit.is_none() {
            self.exit = Some(Box::new(reason));
        }
        ctx.stop();
    }

    fn receive_consumer_message(&mut self, ctx: &mut Context<Self>, message: DialogMessage) {
        self.consumer_active(ctx);
        let sequence = message.sequence;
        let duplicate = sequence < self.answered_below
            || self.machine.combiner.contains(sequence)
            || self.in_flight.iter().any(|m| m.sequence == sequence);
        if duplicate {
            return;
        }
        if self.machine.overflowed || self.machine.combiner.len() >= self.deps.settings.conversation.max_buffered_messages {
            // Bounded: the message stays in the platform's history and is read back once the
            // waiting ones are handled (later ones too, so none is skipped).
            if !self.machine.overflowed {
                tracing::warn!(
                    sequence,
                    code = ErrorCode::InputBacklogFull.as_str(),
                    "too many waiting consumer messages, leaving the rest in history for now"
                );
            }
            self.machine.overflowed = true;
            return;
        }
        tracing::info!(sequence, "consumer message");
        self.count_taken(sequence);
        self.machine.combiner.push(message, Instant::now());
        self.pump(ctx);
    }

    fn request_resync(&mut self, ctx: &mut Context<Self>) {
        if self.machine.resync_requested() {
            self.read_history(ctx);
        }
    }

    /// Reads the dialog after the last answered message; one query at a time.
    fn read_history(&mut self, ctx: &mut Context<Self>) {
        self.machine.phase = Phase::Loading;
        self.machine.resync_pending = false;
        self.read_epoch = self.deps.session_epoch.current();
        if let Some(handle) = self.resync_timer.take() {
            ctx.cancel_future(handle);
        }
        let platform = self.deps.platform.clone();
        let dialog = self.spec.info.main_dialog_id.clone();
        let from = self.answered_below;
        let fetch_sdes = self.deps.settings.conversation.engagement_attributes && self.sdes.is_none();
        let consumer_id = self.spec.info.consumer_id.clone();
        let load_record = self.deps.state.clone().filter(|_| !self.record_loaded);
        let conversation_id = self.spec.info.conversation_id.clone();
        let work = async move {
            let record = match load_record {
                Some(state) => Some(state.load(&conversation_id).await),
                None => None,
            };
            let sdes = if fetch_sdes {
                match platform.engagement_attributes(&consumer_id).await {
                    Ok(sdes) => Some(Arc::new(sdes)),
                    Err(error) => {
                        tracing::warn!(%error, "engagement attributes could not be read; going on without them");
                        None
                    }
                }
            } else {
                None
            };
            (sdes, record, platform.query_messages(&dialog, from).await)
        };
        self.spawn_work(ctx, work, |act, ctx, (sdes, record, history)| {
            if sdes.is_some() {
                act.sdes = sdes;
            }
            if let Some(record) = record {
                act.restore_record(record);
            }
            match history {
                Ok(history) => act.apply_history(ctx, history),
                Err(error) if error.is_disconnect() => act.wait_for_session(ctx),
                Err(error) => act.finish(
                    ctx,
                    ExitReason::Failed(ErrorReport::new(
                        ErrorCode::PlatformCommandFailed,
                        format!("reading the conversation's history failed: {error}"),
                    )),
                ),
            }
        });
    }

    /// Takes back what the store kept for this conversation: the vendor session, and an
    /// escalation under way, resumed where it got to (announced, with its transfers counted).
    fn restore_record(&mut self, loaded: Result<Option<ConversationRecord>, String>) {
        self.record_loaded = true;
        let record = match loaded {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "the conversation's record could not be read; going on without it");
                // It may exist: forget it when the conversation ends.
                self.record_kept = true;
                return;
            }
        };
        self.record_kept = true;
        self.record.vendor_session = record.vendor_session;
        if let (Some(progress), None) = (record.escalation, &self.machine.unfinished) {
            tracing::info!(skill = %progress.skill, transfers_tried = progress.transfers_tried, "resuming an escalation under way");
            let code = ErrorCode::parse(&progress.code).unwrap_or(ErrorCode::EscalationFailed);
            let report = ErrorReport::new(code, progress.message);
            let request = EscalationRequest {
                skill: progress.skill,
                answers: progress.answers,
                announce: false,
                transfers_tried: progress.transfers_tried,
            };
            self.machine.unfinished = Some(Unfinished::Escalation(Box::new((report, request))));
        }
    }

    /// Saves the record as it is now (the vendor session changed, an escalation ended), or
    /// forgets it when nothing is left in it. Fire and forget: a failed save is logged and costs
    /// only what the record was for.
    fn save_record(&mut self) {
        let Some(state) = self.deps.state.clone() else { return };
        let conversation_id = self.spec.info.conversation_id.clone();
        if self.record.is_empty() {
            if std::mem::take(&mut self.record_kept) {
                actix::spawn(async move {
                    if let Err(error) = state.forget(&conversation_id).await {
                        tracing::debug!(%error, "the conversation's record could not be removed");
                    }
                });
            }
            return;
        }
        self.record_kept = true;
        let record = self.record.clone();
        actix::spawn(async move {
            if let Err(error) = state.save(&conversation_id, &record).await {
                tracing::warn!(%error, "the conversation's record could not be saved");
            }
        });
    }

    /// The conversation ended for the bot: its record goes (it outlives the actor's stop).
    fn forget_record(&mut self) {
        self.record = ConversationRecord::default();
        self.save_record();
    }

    /// Counts a consumer message taken to be answered, once however often it is seen.
    fn count_taken(&mut self, sequence: Sequence) {
        if sequence >= self.counted_below {
            self.counted_below = sequence + 1;
            self.deps.vendor_stats.borrow_mut().consumer_messages += 1;
        }
    }

    fn apply_history(&mut self, ctx: &mut Context<Self>, history: Vec<DialogMessage>) {
        let analysis = analyse(&history, self.answered_below);
        self.answered_below = analysis.answered_below;
        // What history shows read (a receipt lost with a dropped connection is sent again).
        self.read_below = analysis.read_below.max(self.answered_below);
        self.vendor_knows_conversation |= analysis.bot_spoke;
        self.machine.combiner.discard_below(self.answered_below);
        let now = Instant::now();
        let fresh: Vec<DialogMessage> = analysis
            .unanswered
            .iter()
            .filter(|m| !self.in_flight.iter().any(|f| f.sequence == m.sequence))
            .take(self.deps.settings.conversation.max_buffered_messages.saturating_sub(self.machine.combiner.len()))
            .cloned()
            .collect();
        self.machine.overflowed = fresh.len() < analysis.unanswered.len();
        for message in &fresh {
            self.count_taken(message.sequence);
        }
        // What waited in history has waited long enough: it is due at once.
        self.machine.combiner.restore(fresh, now);
        if self.machine.opening == Opening::Unread {
            self.rearm_inactivity_from(ctx, &history);
            let opening = if self.spec.mode == StartMode::New { self.opening_input(&analysis) } else { None };
            self.machine.opening = opening.map_or(Opening::Done, |input| Opening::Pending(Box::new(input)));
        }
        self.machine.phase = Phase::Ready;
        self.pump(ctx);
    }

    /// What a newly assigned conversation sends first: the welcome event when it is on; for a
    /// conversation transferred in with nothing unanswered, the last message as the utterance.
    fn opening_input(&self, analysis: &HistoryAnalysis) -> Option<VendorInput> {
        let settings = &self.deps.settings.conversation;
        let info = &self.spec.info;
        if analysis.bot_spoke_since_transfer {
            return None; // the bot is back (restart, reconnect): it already spoke here
        }
        if settings.welcome {
            let last = analysis.last_consumer_text.as_ref().filter(|_| analysis.transferred_in);
            let last_text = last.and_then(|m| m.content.text()).map(str::to_owned);
            return Some(VendorInput::Welcome {
                lp_event: JsonText::new(&json!({
                    "conversationId": info.conversation_id,
                    "dialogId": info.main_dialog_id,
                    "lastConsumerMessage": last_text,
                    "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "welcome"},
                })),
                last_consumer_message: last_text,
            });
        }
        if !analysis.transferred_in || !analysis.unanswered.is_empty() {
            return None;
        }
        let utterance = if settings.skip_agent_message {
            analysis.last_consumer_text.as_ref()
        } else {
            analysis.last_agent_text.as_ref().or(analysis.last_consumer_text.as_ref())
        }?;
        Some(VendorInput::Message {
            text: utterance.content.text()?.to_owned(),
            kind: InputKind::Text,
            sequences: Vec::new(),
            lp_event: utterance.raw.clone(),
        })
    }

    /// Carries out the machine's next step: starts the next piece of work if the conversation is
    /// free, or arms the combining timer.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.read_epoch != self.deps.session_epoch.current() {
            // The session was lost since history was read: what was said meanwhile is only
            // in history, so read it before answering anything newer.
            self.machine.resync_pending = true;
        }
        let now = Instant::now();
        let step = self.machine.next_step(now);
        if step == Step::Busy {
            return;
        }
        if let Some(handle) = self.flush_timer.take() {
            ctx.cancel_future(handle);
        }
        match step {
            Step::Busy | Step::Idle => {}
            Step::Finish => self.finish(ctx, ExitReason::Removed),
            Step::Resync | Step::ReadBacklog => self.read_history(ctx),
            Step::ResumeEscalation | Step::ResumeAction => match self.machine.unfinished.take() {
                Some(Unfinished::Escalation(pending)) => {
                    let (report, request) = *pending;
                    self.start_escalation(ctx, report, request);
                }
                Some(Unfinished::Action(action)) => {
                    let response = BotResponse { action: Some(*action), ..BotResponse::default() };
                    self.execute(ctx, response, None);
                }
                None => {}
            },
            Step::RunCommand => {
                let next = self.commands.pop_front();
                self.machine.commands_waiting = !self.commands.is_empty();
                if let Some((command, reply)) = next {
                    self.run_command(ctx, command, reply);
                }
            }
            Step::SendOpening => {
                if let Some(input) = self.machine.take_opening() {
                    self.call_vendor(ctx, input, Vec::new());
                }
            }
            Step::SendBatch => {
                let batch = self.machine.combiner.take();
                match map_batch(&batch, self.deps.settings.conversation.max_text_length) {
                    MappedInput::Send(input) => self.call_vendor(ctx, input, batch),
                    MappedInput::Nothing => {
                        // Only empty messages: nothing to answer, but they are read.
                        self.in_flight = batch;
                        self.batch_handled(ctx);
                        self.pump(ctx);
                    }
                    MappedInput::Refused(report) => {
                        self.in_flight = batch;
                        self.escalate_in_flight(ctx, report);
                    }
                }
            }
            Step::WaitUntil(deadline) => {
                let wait = deadline.saturating_duration_since(now);
                self.flush_timer = Some(ctx.run_later(wait, |act, ctx| {
                    act.flush_timer = None;
                    act.guarded(ctx, Self::pump);
                }));
            }
        }
    }

    /// One READ receipt per consumer message in flight, once, as LivePerson's SDK bots send them:
    /// when the bot takes the message, before its answer. The future publishes them in order;
    /// poll it before anything that answers.
    fn read_receipts(&mut self) -> impl std::future::Future<Output = ()> + 'static {
        let target = self.target();
        let read_below = self.read_below;
        let sequences: Vec<Sequence> = self.in_flight.iter().map(|m| m.sequence).filter(|s| *s >= read_below).collect();
        if let Some(last) = sequences.last() {
            self.read_below = last + 1;
        }
        // Each publish is polled once, in order, before any is awaited: all take their places in
        // the socket's queue at once, in sequence order.
        let mut receipts: Vec<_> = sequences
            .into_iter()
            .map(|sequence| Some((sequence, target.platform.publish_read(&target.conversation_id, &target.dialog_id, &[sequence]))))
            .collect();
        std::future::poll_fn(move |cx| {
            let mut waiting = false;
            for slot in &mut receipts {
                let Some((sequence, receipt)) = slot else { continue };
                match receipt.as_mut().poll(cx) {
                    std::task::Poll::Ready(result) => {
                        if let Err(error) = result {
                            tracing::debug!(%error, sequence = *sequence, "read receipt failed");
                        }
                        *slot = None;
                    }
                    std::task::Poll::Pending => waiting = true,
                }
            }
            if waiting {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
    }

    /// The READ receipts of the messages in flight not read yet, on their own.
    fn send_read_receipts(&mut self, ctx: &mut Context<Self>) {
        let work = self.read_receipts();
        self.spawn_work(ctx, work, |_, _, ()| {});
    }

    fn call_vendor(&mut self, ctx: &mut Context<Self>, input: VendorInput, batch: Vec<DialogMessage>) {
        self.machine.phase = Phase::Calling;
        let answers = batch.last().map(|m| m.sequence);
        self.in_flight = batch;
        let info = &self.spec.info;
        let request = VendorRequest {
            bot_id: self.deps.settings.bot_id.clone(),
            conversation: ConversationContext {
                conversation_id: info.conversation_id.clone(),
                dialog_id: info.main_dialog_id.clone(),
                skill_id: info.skill_id.clone(),
                consumer_id: info.consumer_id.clone(),
                context: info.context.clone(),
                sdes: self.sdes.clone(),
                first_call: !self.vendor_knows_conversation,
                vendor_session: self.record.vendor_session.clone(),
            },
            input,
        };
        self.vendor_calls += 1;
        self.vendor_knows_conversation = true;
        self.vendor_call_started = Some(Instant::now());
        // Kept for the error hook's report only: not built for every message when no hook listens.
        self.last_vendor_input = self.deps.error_hook.is_some().then(|| {
            Box::new(match &request.input {
                VendorInput::Message { text, sequences, .. } => json!({"type": "message", "text": text, "sequences": sequences}),
                VendorInput::Welcome { last_consumer_message, .. } => {
                    json!({"type": "welcome", "lastConsumerMessage": last_consumer_message})
                }
            })
        });
        let vendor = self.deps.vendor.clone();
        let settings = self.deps.settings.clone();
        let read = self.read_receipts();
        // The receipts are published first (`join!` polls them first, and a publish takes its
        // place in the socket's queue when first polled), and the vendor is called without waiting
        // for their responses: the answer follows them on the socket, in the same write when the
        // vendor answers at once, rather than a round trip later.
        let work = async move {
            let ((), answer) = tokio::join!(read, call_vendor(vendor, request, &settings.conversation.vendor_call));
            answer
        };
        self.spawn_work(ctx, work, move |act, ctx, answer| act.on_vendor_answer(ctx, answer, answers));
    }

    fn on_vendor_answer(&mut self, ctx: &mut Context<Self>, answer: Result<BotResponse, VendorError>, answers: Option<Sequence>) {
        if let Some(started) = self.vendor_call_started.take() {
            let stats = &self.deps.vendor_stats;
            let outcome = match &answer {
                Ok(_) => "ok",
                Err(error) => error.code().as_str().rsplit('.').next().unwrap_or("error"),
            };
            stats.borrow_mut().record(outcome, started.elapsed());
        }
        match answer {
            Ok(mut response) => {
                if let Some(session) = response.vendor_session.take() {
                    if self.record.vendor_session.as_ref() != Some(&session) {
                        self.record.vendor_session = Some(session);
                        self.save_record();
                    }
                }
                if response.is_empty() {
                    let report = ErrorReport::new(
                        ErrorCode::ResponseMissingActionAndMessages,
                        "the vendor answered with neither messages nor an action",
                    );
                    self.escalate_in_flight(ctx, report);
                } else {
                    self.execute(ctx, response, answers);
                }
            }
            Err(error) => self.escalate_in_flight(ctx, error.report()),
        }
    }

    fn execute(&mut self, ctx: &mut Context<Self>, response: BotResponse, answers: Option<Sequence>) {
        self.machine.phase = Phase::Executing;
        let with_survey = self.deps.settings.conversation.close_with_survey;
        let settings = self.deps.settings.clone();
        let target = self.target();
        let functions = Functions { bot_id: self.deps.settings.bot_id.clone(), port: self.deps.functions.clone() };
        let work = async move { execute(target, functions, response, answers, with_survey, &settings.escalation.skill).await };
        self.spawn_work(ctx, work, |act, ctx, outcome| match outcome {
            ExecutionOutcome::Completed { ttr, error } => {
                tracing::info!(answers = ?act.in_flight.last().map(|m| m.sequence), ttr = ?ttr, "answered");
                if ttr.is_some() {
                    act.ttr = ttr;
                }
                if let Some(report) = error {
                    tracing::warn!(conversation_id = %act.spec.info.conversation_id, code = report.code.as_str(), message = %report.message, "bot action failed");
                    act.report_error(&report);
                    act.last_error = Some(Box::new(report));
                }
                act.batch_handled(ctx);
                act.machine.phase = Phase::Ready;
                act.pump(ctx);
            }
            ExecutionOutcome::Transferred { skill, agent_id } => {
                act.finish(ctx, ExitReason::Transferred { skill, agent_id })
            }
            ExecutionOutcome::Closed => act.finish(ctx, ExitReason::Closed { idle: false }),
            ExecutionOutcome::Escalate(report) => act.escalate_in_flight(ctx, report),
            ExecutionOutcome::Disconnected { pending_action: Some(action) } => {
                // The answer is out; only its action remains for after the reconnect.
                act.batch_handled(ctx);
                act.machine.unfinished = Some(Unfinished::Action(Box::new(action)));
                act.wait_for_session(ctx);
            }
            ExecutionOutcome::Disconnected { pending_action: None } => act.wait_for_session(ctx),
        });
    }

    /// Carries out a command from outside as the vendor's answer would be: its messages (with no
    /// answer key: they answer no consumer message), then its action; a failure escalates.
    fn run_command(
        &mut self,
        ctx: &mut Context<Self>,
        command: ConversationCommand,
        reply: tokio::sync::oneshot::Sender<Result<CommandOutcome, CommandRefused>>,
    ) {
        tracing::info!(?command, "carrying out a command from the admin API");
        self.machine.phase = Phase::Executing;
        let response = match command {
            ConversationCommand::Transfer { skill, agent_id } => {
                BotResponse::default().with_action(BotAction::Transfer { skill, agent_id })
            }
            ConversationCommand::Close { without_pcs } => BotResponse::default().with_action(BotAction::CloseConversation { without_pcs }),
            ConversationCommand::ChangeTtr(ttr) => BotResponse::default().with_action(BotAction::ChangeTtr(ttr)),
            ConversationCommand::Send(items) => BotResponse { items, ..BotResponse::default() },
        };
        let with_survey = self.deps.settings.conversation.close_with_survey;
        let settings = self.deps.settings.clone();
        let target = self.target();
        let functions = Functions { bot_id: self.deps.settings.bot_id.clone(), port: self.deps.functions.clone() };
        let work = async move { execute(target, functions, response, None, with_survey, &settings.escalation.skill).await };
        self.spawn_work(ctx, work, move |act, ctx, outcome| match outcome {
            ExecutionOutcome::Completed { ttr, error } => {
                if ttr.is_some() {
                    act.ttr = ttr;
                }
                if let Some(report) = error {
                    act.last_error = Some(Box::new(report));
                }
                let _ = reply.send(Ok(CommandOutcome::Done));
                act.machine.phase = Phase::Ready;
                act.pump(ctx);
            }
            ExecutionOutcome::Transferred { skill, agent_id } => {
                let _ = reply.send(Ok(CommandOutcome::Transferred { skill: skill.clone(), agent_id: agent_id.clone() }));
                act.finish(ctx, ExitReason::Transferred { skill, agent_id });
            }
            ExecutionOutcome::Closed => {
                let _ = reply.send(Ok(CommandOutcome::Closed));
                act.finish(ctx, ExitReason::Closed { idle: false });
            }
            ExecutionOutcome::Escalate(report) => {
                let _ = reply.send(Ok(CommandOutcome::Escalated(report.clone())));
                act.escalate_in_flight(ctx, report);
            }
            ExecutionOutcome::Disconnected { pending_action: Some(action) } => {
                let _ = reply.send(Ok(CommandOutcome::Interrupted));
                act.machine.unfinished = Some(Unfinished::Action(Box::new(action)));
                act.wait_for_session(ctx);
            }
            ExecutionOutcome::Disconnected { pending_action: None } => {
                let _ = reply.send(Err(CommandRefused::Disconnected));
                act.wait_for_session(ctx);
            }
        });
    }

    /// Escalates the messages in flight to the escalation skill.
    fn escalate_in_flight(&mut self, ctx: &mut Context<Self>, report: ErrorReport) {
        let request = EscalationRequest::new(self.deps.settings.escalation.skill.clone(), self.in_flight.last().map(|m| m.sequence));
        self.start_escalation(ctx, report, request);
    }

    fn start_escalation(&mut self, ctx: &mut Context<Self>, report: ErrorReport, request: EscalationRequest) {
        self.machine.phase = Phase::Escalating;
        tracing::warn!(
            code = report.code.as_str(),
            error_id = %report.error_id,
            message = %report.message,
            skill = %request.skill,
            "escalating"
        );
        if request.announce {
            self.report_error(&report); // once per escalation, not again when resumed
        }
        self.last_error = Some(Box::new(report.clone()));
        let read = self.read_receipts();
        let settings = self.deps.settings.clone();
        let target = self.target();
        let resume = request.clone();
        // Each step is written to the store as it is reached, fenced by the bot's ownership.
        let progress_store = self.deps.state.clone().map(|state| {
            self.record_kept = true;
            let base = self.record.clone();
            let progress = EscalationProgress {
                skill: request.skill.clone(),
                answers: request.answers,
                transfers_tried: request.transfers_tried,
                code: report.code.as_str().to_owned(),
                message: report.message.clone(),
            };
            (state, self.spec.info.conversation_id.clone(), base, progress)
        });
        let progress = move |transfers_tried: u32| {
            let save = progress_store.as_ref().map(|(state, conversation_id, base, progress)| {
                let record = ConversationRecord {
                    escalation: Some(Box::new(EscalationProgress { transfers_tried, ..progress.clone() })),
                    ..base.clone()
                };
                state.save(conversation_id, &record)
            });
            async move {
                if let Some(save) = save {
                    if let Err(error) = save.await {
                        tracing::warn!(%error, "the escalation's progress could not be saved");
                    }
                }
            }
        };
        let work = async move {
            read.await;
            escalate(target, &settings.escalation, request, &settings.skill, progress).await
        };
        self.spawn_work(ctx, work, move |act, ctx, outcome| match outcome {
            EscalationOutcome::Transferred { skill } => act.finish(ctx, ExitReason::Escalated { skill, report }),
            EscalationOutcome::Stayed(stayed) => {
                tracing::error!(
                    conversation_id = %act.spec.info.conversation_id,
                    code = stayed.code.as_str(),
                    message = %stayed.message,
                    "escalation did not transfer; the bot keeps the conversation"
                );
                act.report_error(&stayed);
                act.last_error = Some(Box::new(stayed));
                // The escalation is over: the next owner must not take it up again.
                act.save_record();
                act.batch_handled(ctx);
                act.machine.phase = Phase::Ready;
                act.pump(ctx);
            }
            EscalationOutcome::Disconnected { announced, transfers_tried } => {
                let request = EscalationRequest { announce: resume.announce && !announced, transfers_tried, ..resume };
                act.machine.unfinished = Some(Unfinished::Escalation(Box::new((report.clone(), request))));
                act.wait_for_session(ctx);
            }
        });
    }

    /// The messages in flight are answered (or handed to a human, or left for good).
    fn batch_handled(&mut self, ctx: &mut Context<Self>) {
        self.last_vendor_input = None; // later errors are not about this input
        self.send_read_receipts(ctx);
        if let Some(last) = self.in_flight.last() {
            self.answered_below = self.answered_below.max(last.sequence + 1);
        }
        self.in_flight.clear();
    }

    fn wait_for_session(&mut self, ctx: &mut Context<Self>) {
        if self.machine.removal_pending {
            self.finish(ctx, ExitReason::Removed);
            return;
        }
        if !self.machine.escalation_unfinished() {
            // Unanswered: back to waiting (history confirms after the reconnect).
            let in_flight = std::mem::take(&mut self.in_flight);
            self.machine.combiner.restore(in_flight, Instant::now());
        }
        self.machine.phase = Phase::WaitingForSession;
        if let Some(handle) = self.resync_timer.take() {
            ctx.cancel_future(handle);
        }
        self.resync_timer = Some(ctx.run_later(RESYNC_FALLBACK, |act, ctx| {
            act.resync_timer = None;
            act.guarded(ctx, Self::request_resync);
        }));
    }

    // ---- inactivity -----------------------------------------------------------------------

    /// The consumer did something: the inactivity clock starts again.
    fn consumer_active(&mut self, ctx: &mut Context<Self>) {
        let Some(inactivity) = &self.deps.settings.conversation.inactivity else { return };
        self.idle_warned = false;
        let wait = match &inactivity.warning {
            Some(warning) => inactivity.close_after.saturating_sub(warning.before_close),
            None => inactivity.close_after,
        };
        self.arm_idle(ctx, wait);
    }

    /// On this actor's first read of history (a start, a rebuild, a takeover from another node):
    /// the inactivity clock counts from the consumer's last message, not from now, so a
    /// conversation idle on a node that died is not given a fresh period on the next one.
    fn rearm_inactivity_from(&mut self, ctx: &mut Context<Self>, history: &[DialogMessage]) {
        let Some(inactivity) = self.deps.settings.conversation.inactivity.clone() else { return };
        let last = history.iter().filter(|m| m.originator == Originator::Consumer).map(|m| m.server_timestamp).max();
        let Some(last) = last else { return };
        let idle = Duration::from_millis(u64::try_from(self.deps.platform.now_ms().saturating_sub(last)).unwrap_or(0));
        if idle.is_zero() {
            return;
        }
        let warn_at = inactivity.warning.as_ref().map_or(inactivity.close_after, |w| inactivity.close_after.saturating_sub(w.before_close));
        // Past the close: close now, without a warning the consumer would read too late.
        self.idle_warned = idle >= inactivity.close_after;
        let wait = if self.idle_warned { inactivity.close_after.saturating_sub(idle) } else { warn_at.saturating_sub(idle) };
        self.arm_idle(ctx, wait);
    }

    /// (Re)arms the inactivity timer to fire after `wait`.
    fn arm_idle(&mut self, ctx: &mut Context<Self>, wait: Duration) {
        if let Some(handle) = self.idle_timer.take() {
            ctx.cancel_future(handle);
        }
        self.idle_at = Instant::now().checked_add(wait);
        self.idle_timer = Some(ctx.run_later(wait, |act, ctx| act.guarded(ctx, Self::on_idle)));
    }

    fn on_idle(&mut self, ctx: &mut Context<Self>) {
        self.idle_timer = None;
        self.idle_at = None;
        let Some(inactivity) = self.deps.settings.conversation.inactivity.clone() else { return };
        if let (Some(warning), false) = (&inactivity.warning, self.idle_warned) {
            self.idle_warned = true;
            self.publish_courtesy(ctx, &warning.message);
            self.arm_idle(ctx, warning.before_close);
            return;
        }
        if self.machine.phase != Phase::Ready {
            self.arm_idle(ctx, IDLE_RECHECK);
            return;
        }
        self.machine.phase = Phase::Closing;
        let target = self.target();
        let with_survey = self.deps.settings.conversation.close_with_survey;
        let work = async move {
            if let Some(message) = &inactivity.close_message {
                let text = OutboundMessage::Text(TextMessage::plain(message));
                let _ = target.platform.publish(&target.conversation_id, &target.dialog_id, text, None).await;
            }
            target.platform.close_conversation(&target.conversation_id, with_survey).await
        };
        self.spawn_work(ctx, work, move |act, ctx, result: Result<(), PlatformError>| match result {
            Ok(()) => act.finish(ctx, ExitReason::Closed { idle: true }),
            Err(error) => {
                tracing::warn!(conversation_id = %act.spec.info.conversation_id, %error, "closing an idle conversation failed");
                act.machine.phase = Phase::Ready;
                act.idle_warned = true;
                act.arm_idle(ctx, inactivity.close_after);
                act.pump(ctx);
            }
        });
    }

    fn publish_courtesy(&mut self, ctx: &mut Context<Self>, text: &str) {
        let target = self.target();
        let message = OutboundMessage::Text(TextMessage::plain(text));
        let work = async move {
            if let Err(error) = target.platform.publish(&target.conversation_id, &target.dialog_id, message, None).await {
                tracing::warn!(%error, "inactivity warning could not be published");
            }
        };
        self.spawn_work(ctx, work, |_, _, ()| {});
    }
}
