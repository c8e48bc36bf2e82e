//! BotActor: one per bot agent. Owns the lifecycle, answers rings, admits conversations through
//! its LoadActor, and supervises one ConversationActor per conversation — rebuilding failed or
//! panicked ones from its factory, and resuming every conversation after a reconnect.

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use tokio::time::Instant;

use crate::bot::factory::ConversationFactory;
use crate::bot::messages::{
    BotStats, BotStatus, ConversationError, ConversationView, GetBotStatus, GetConversation, GetConversations, PassivateSettled, RetireBot,
    SetCapacity, StartBot, StopBot,
};
use crate::bot::restart::{Restart, RestartPolicy};
use crate::bot::state::{Lifecycle, SessionStatus};
use crate::conversation::{
    ConsumerTypingChanged, ConversationActor, ConversationExited, ConversationRemoved, ConversationSpec, DeliverMessage, ExitReason,
    Passivate, PassiveConversation, Resync, StartMode,
};
use crate::errors::{ErrorCode, ErrorReport, VendorError};
use crate::live::{ActorKind, LiveToken};
use crate::load::{
    Admission, AdmitConversation, DecideRing, GetLoad, GetLoadAvailability, LoadActor, ReleaseConversation, RingDecision, SetLoadCapacity,
};
use crate::model::{Availability, BotState, ConversationId, ConversationInfo, DialogMessage, Originator, ParticipantState, RingId};
use crate::ports::{
    BotErrorEvent, ConversationStatePort, ErrorHookPort, FunctionPort, PlatformEvent, PlatformPort, VendorHealth, VendorPort,
};
use crate::settings::BotSettings;

const BOT_MAILBOX: usize = 4096;
/// Rings waiting for their accept delay, at most.
const MAX_PENDING_RINGS: usize = 1024;
/// A conversation the bot ended (closed, transferred, escalated) is not taken back for this
/// long: a platform update sent before the platform saw the ending must not revive it.
const TOMBSTONE_TTL: Duration = Duration::from_secs(10);
/// Tombstones kept, at most.
const MAX_TOMBSTONES: usize = 4096;
/// Conversation errors kept for the status, at most.
const MAX_CONVERSATION_ERRORS: usize = 100;
/// A conversation whose mailbox was full re-reads its history after this long.
const SHED_RESYNC_DELAY: Duration = Duration::from_millis(100);

/// One conversation as the bot holds it.
struct Slot {
    info: ConversationInfo,
    /// The incarnation of the conversation's actor; a notice from another one is stale.
    generation: u64,
    run: SlotRun,
    /// The actor was told to stop (the bot left the conversation).
    removing: bool,
    /// Assigned again while `removing`: rebuilt when the old actor's exit arrives.
    reassigned: Option<Box<ConversationInfo>>,
    /// When something last reached its actor, in whole seconds of the bot's clock (see
    /// `BotActor::clock`): a conversation touched more recently than the passivation delay is
    /// not asked to passivate.
    touched_at: u32,
}

enum SlotRun {
    /// Waiting for the LoadActor's admission decision.
    Admitting,
    Running(Addr<ConversationActor>),
    /// Asked to passivate; what comes for it meanwhile waits here, in order.
    Passivating {
        addr: Addr<ConversationActor>,
        held: Vec<Held>,
    },
    /// Settled and kept as data until its next event (see `conversation::passive`).
    Passive(Box<PassiveConversation>),
    /// To be rebuilt (after a backoff, or once the session is back) in this mode.
    AwaitingRebuild(StartMode),
}

/// What reaches a conversation's actor from its bot.
enum Held {
    Message(DialogMessage),
    Typing(bool),
    Resync,
    Removed { ended: bool },
}

/// Sends `what` unless the actor's mailbox is full (then it comes back; a removal always goes).
fn try_send(addr: &Addr<ConversationActor>, what: Held) -> Result<(), Box<Held>> {
    match what {
        Held::Message(message) => addr.try_send(DeliverMessage(message)).map_err(|e| Box::new(Held::Message(e.into_inner().0))),
        Held::Typing(typing) => addr.try_send(ConsumerTypingChanged { typing }).map_err(|_| Box::new(Held::Typing(typing))),
        Held::Resync => addr.try_send(Resync).map_err(|_| Box::new(Held::Resync)),
        Held::Removed { ended } => {
            addr.do_send(ConversationRemoved { ended });
            Ok(())
        }
    }
}

/// Events held for one conversation while it is asked to passivate (the answer comes within a
/// poll of its actor; beyond this, its messages are read back from history).
const MAX_HELD: usize = 64;

pub struct BotActor {
    settings: Rc<BotSettings>,
    platform: Rc<dyn PlatformPort>,
    vendor: Rc<dyn VendorPort>,
    factory: ConversationFactory,
    load: Addr<LoadActor>,
    lifecycle: Lifecycle,
    /// The bot's agent id as the platform names it in participants; known once connected.
    agent_id: Option<String>,
    /// Boxed: the table keeps up to twice as many buckets as conversations, and a bucket is
    /// then a pointer rather than a whole slot (≈ 200 B) — at 999 conversations per bot.
    conversations: HashMap<ConversationId, Box<Slot>>,
    /// Conversations the bot ended itself, and when (see `TOMBSTONE_TTL`).
    ended: HashMap<ConversationId, Instant>,
    rings: HashMap<RingId, SpawnHandle>,
    /// Rings whose accept wait is over and whose LoadActor decision is pending.
    deciding_rings: HashSet<RingId>,
    /// Set while a StartBot waits for the vendor's health; StopBot fires it, which ends the
    /// start at once (`botvisor.bot.start-cancelled`).
    starting: Option<tokio::sync::oneshot::Sender<()>>,
    /// The availability the load asks for, the one last published, and whether one is in flight.
    availability_wanted: Availability,
    availability_sent: Option<Availability>,
    availability_in_flight: bool,
    /// When failed conversations are rebuilt, and when they are given up on.
    restarts: RestartPolicy,
    next_generation: u64,
    service_retry: Option<SpawnHandle>,
    health_timer: Option<SpawnHandle>,
    health_check_in_flight: bool,
    stats: BotStats,
    conversation_errors: VecDeque<ConversationError>,
    error_hook: Option<Rc<dyn ErrorHookPort>>,
    /// The lifecycle error last reported to the hook (each is reported once).
    last_hooked_error: Option<String>,
    /// Counts this actor as running (see [`crate::live`]).
    live: Option<LiveToken>,
    /// Passive conversations' timers (inactivity), by when they fire: each is rebuilt then, if
    /// still passive in the same generation.
    wakeups: std::collections::BTreeMap<Instant, Vec<(ConversationId, u64)>>,
    /// The one timer armed for the earliest wakeup.
    wakeup_timer: Option<(Instant, SpawnHandle)>,
    /// Behind its messages since, and when the last late one came (see `observe_lag`).
    overload: Option<Overload>,
    /// When the bot was built: the start of the seconds its slots are touched at.
    epoch: Instant,
}

/// The bot is behind its messages: AWAY until they are on time again.
struct Overload {
    last_late: Instant,
    check: SpawnHandle,
}

/// Messages on time (under half `overload_lag`) for this long end an overload.
pub const OVERLOAD_CALM: Duration = Duration::from_secs(5);

impl BotActor {
    /// Must be called inside a running actix system (it starts the bot's LoadActor).
    pub fn new(settings: BotSettings, platform: Rc<dyn PlatformPort>, vendor: Rc<dyn VendorPort>) -> Self {
        let settings = Rc::new(settings);
        let load = LoadActor::new(settings.load.clone(), settings.escalation.skill.clone()).start();
        let restarts = RestartPolicy::from_os_rng(&settings.lifecycle);
        Self {
            factory: ConversationFactory::new(settings.clone(), platform.clone(), vendor.clone()),
            settings,
            platform,
            vendor,
            load,
            lifecycle: Lifecycle::new(Instant::now()),
            agent_id: None,
            conversations: HashMap::new(),
            ended: HashMap::new(),
            rings: HashMap::new(),
            deciding_rings: HashSet::new(),
            starting: None,
            availability_wanted: Availability::Online,
            availability_sent: None,
            availability_in_flight: false,
            restarts,
            next_generation: 0,
            service_retry: None,
            health_timer: None,
            health_check_in_flight: false,
            stats: BotStats::default(),
            conversation_errors: VecDeque::new(),
            error_hook: None,
            last_hooked_error: None,
            live: None,
            wakeups: std::collections::BTreeMap::new(),
            wakeup_timer: None,
            overload: None,
            epoch: Instant::now(),
        }
    }
}

impl BotActor {
    /// Every error of this bot and its conversations is also reported to `hook`.
    pub fn with_error_hook(mut self, hook: Rc<dyn ErrorHookPort>) -> Self {
        self.factory.set_error_hook(hook.clone());
        self.error_hook = Some(hook);
        self
    }

    /// Its conversations keep what the platform cannot give back (escalations under way, vendor
    /// session handles) in `state`, for the bot's next run here or on another node.
    pub fn with_conversation_state(mut self, state: Rc<dyn ConversationStatePort>) -> Self {
        self.factory.set_conversation_state(state);
        self
    }

    /// The functions its vendor invokes (`INVOCATION`, `INVOKE_FUNCTION`) run through `functions`.
    pub fn with_functions(mut self, functions: Rc<dyn FunctionPort>) -> Self {
        self.factory.set_functions(functions);
        self
    }

    /// Draws the restart jitter from `rng` (a seeded one makes rebuild delays reproducible).
    pub fn with_restart_rng(mut self, rng: rand::rngs::StdRng) -> Self {
        self.restarts = RestartPolicy::new(&self.settings.lifecycle, rng);
        self
    }
}

impl Actor for BotActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(BOT_MAILBOX);
        self.live = Some(LiveToken::new(ActorKind::Bot));
        let idle_for = self.settings.lifecycle.passivate_after;
        if !idle_for.is_zero() {
            // Asked at a quarter of the period: a conversation settled for `idle_for` is passive
            // within 1.25 × `idle_for`. A sweep only asks conversations untouched for that long.
            ctx.run_interval((idle_for / 4).max(Duration::from_millis(100)), move |act, ctx| act.passivate_settled(ctx, idle_for));
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        tracing::info!(bot_id = %self.settings.bot_id, "bot actor stopped");
        self.live = None;
    }
}

impl Drop for BotActor {
    /// A bot dropped without being retired (a panic in one of its handlers) tells its
    /// conversations to stop: none goes on — an inactivity close, a resync — for a bot that is
    /// gone. After a retire the conversations were let go already and this sends nothing new.
    fn drop(&mut self) {
        for slot in self.conversations.values() {
            if let SlotRun::Running(addr) | SlotRun::Passivating { addr, .. } = &slot.run {
                addr.do_send(ConversationRemoved { ended: false });
            }
        }
    }
}

impl Handler<StartBot> for BotActor {
    type Result = ResponseActFuture<Self, Result<(), ErrorReport>>;

    fn handle(&mut self, _msg: StartBot, _ctx: &mut Context<Self>) -> Self::Result {
        if self.lifecycle.is_running() || self.starting.is_some() {
            return Box::pin(fut::ready(Ok(())));
        }
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        self.starting = Some(cancel);
        let vendor = self.vendor.clone();
        let timeout = self.settings.conversation.vendor_call.timeout;
        let check = async move {
            tokio::select! {
                health = tokio::time::timeout(timeout, vendor.health()) => Some(health),
                _ = cancelled => None,
            }
        };
        Box::pin(check.into_actor(self).map(|health, act, ctx| {
            let cancelled = || Err(ErrorReport::new(ErrorCode::StartCancelled, "the bot was stopped while it was starting"));
            let Some(health) = health else { return cancelled() };
            if act.starting.take().is_none() {
                return cancelled();
            }
            if let Some(problem) = health_problem(health) {
                let message = match problem {
                    HealthProblem::NotOnline { .. } => format!("{problem}, not online; the bot starts once the vendor is online"),
                    _ => format!("{problem}; the bot starts once the vendor is online"),
                };
                let report = ErrorReport::new(ErrorCode::VendorNotOnline, message);
                let change = act.lifecycle.refuse_start(report.clone(), Instant::now());
                act.log_transition(change);
                act.hook_bot_error(&report);
                return Err(report);
            }
            let change = act.lifecycle.start(Instant::now());
            act.log_transition(change);
            act.arm_health_checks(ctx);
            act.open_session(ctx);
            Ok(())
        }))
    }
}

impl Handler<StopBot> for BotActor {
    type Result = ();

    fn handle(&mut self, _msg: StopBot, ctx: &mut Context<Self>) {
        let closed = self.stop(ctx);
        ctx.spawn(closed.into_actor(self));
    }
}

impl Handler<RetireBot> for BotActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: RetireBot, ctx: &mut Context<Self>) -> Self::Result {
        let closed = self.stop(ctx);
        Box::pin(closed.into_actor(self).map(|(), act, ctx| {
            tracing::info!(bot_id = %act.settings.bot_id, "bot retired");
            ctx.stop();
        }))
    }
}

impl Handler<SetCapacity> for BotActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: SetCapacity, _ctx: &mut Context<Self>) -> Self::Result {
        tracing::info!(bot_id = %self.settings.bot_id, capacity = ?msg.0, "capacity changed");
        let load = self.load.send(SetLoadCapacity(msg.0));
        Box::pin(load.into_actor(self).map(|availability, act, ctx| {
            if let Ok(Some(availability)) = availability {
                act.publish_availability(ctx, availability);
            }
        }))
    }
}

impl Handler<GetBotStatus> for BotActor {
    type Result = ResponseActFuture<Self, BotStatus>;

    fn handle(&mut self, _msg: GetBotStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let load = self.load.send(GetLoad);
        Box::pin(load.into_actor(self).map(|load, act, _ctx| BotStatus {
            bot_id: act.settings.bot_id.clone(),
            state: act.lifecycle.state(),
            since: act.lifecycle.since(),
            last_error: act.lifecycle.last_error().cloned(),
            open_conversations: act.conversations.len(),
            passive_conversations: act.conversations.values().filter(|slot| matches!(slot.run, SlotRun::Passive(_))).count(),
            overloaded: act.overload.is_some(),
            load: load.unwrap_or_default(),
            stats: act.stats.clone(),
            conversation_errors: act.conversation_errors.iter().cloned().collect(),
            vendor: act.factory.vendor_stats().borrow().clone(),
        }))
    }
}

impl Handler<GetConversations> for BotActor {
    type Result = MessageResult<GetConversations>;

    fn handle(&mut self, _msg: GetConversations, _ctx: &mut Context<Self>) -> Self::Result {
        let mut list: Vec<(ConversationId, ConversationView)> = self
            .conversations
            .iter()
            .map(|(id, slot)| {
                let view = match &slot.run {
                    SlotRun::Running(addr) | SlotRun::Passivating { addr, .. } => ConversationView::Running(addr.clone()),
                    SlotRun::Passive(passive) => ConversationView::Passive(passive.snapshot(id.clone())),
                    SlotRun::Admitting | SlotRun::AwaitingRebuild(_) => ConversationView::Starting,
                };
                (id.clone(), view)
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        MessageResult(list)
    }
}

impl Handler<PassivateSettled> for BotActor {
    type Result = ();

    fn handle(&mut self, msg: PassivateSettled, ctx: &mut Context<Self>) {
        self.passivate_settled(ctx, msg.idle_for);
    }
}

impl Handler<GetConversation> for BotActor {
    type Result = Option<Addr<ConversationActor>>;

    fn handle(&mut self, msg: GetConversation, ctx: &mut Context<Self>) -> Self::Result {
        match &self.conversations.get(&msg.conversation_id)?.run {
            // Being passivated: the actor answers a command it gets meanwhile as ended, which
            // the API reports; asked again, the rebuilt actor takes it.
            SlotRun::Passivating { addr, .. } => Some(addr.clone()),
            _ => self.reactivate(ctx, &msg.conversation_id),
        }
    }
}

impl Handler<PlatformEvent> for BotActor {
    type Result = ();

    fn handle(&mut self, event: PlatformEvent, ctx: &mut Context<Self>) {
        match event {
            PlatformEvent::SessionConnected { agent_id } => self.on_session_connected(ctx, agent_id),
            PlatformEvent::SessionLost { error } => self.on_session_lost(ctx, error),
            PlatformEvent::SessionEnded { error } => {
                tracing::error!(bot_id = %self.settings.bot_id, code = error.code.as_str(), message = %error.message, "platform session ended");
                let change = self.lifecycle.session_ended(error, Instant::now());
                self.log_transition(change);
                self.cancel_timers(ctx);
                self.let_go_of_conversations(ctx);
            }
            PlatformEvent::SessionKicked => {
                let change = self.lifecycle.kicked(Instant::now());
                self.log_transition(change);
                self.cancel_timers(ctx);
                // Offline processes nothing: the conversations stay open on the platform.
                self.let_go_of_conversations(ctx);
            }
            PlatformEvent::RingOffered { ring, conversation_id, .. } => self.on_ring(ctx, ring, conversation_id),
            PlatformEvent::RingWithdrawn { ring } => {
                if let Some(handle) = self.rings.remove(&ring) {
                    ctx.cancel_future(handle);
                }
                self.deciding_rings.remove(&ring);
            }
            PlatformEvent::ConversationAssigned(info) | PlatformEvent::ConversationUpdated(info) => self.on_conversation_info(ctx, info),
            PlatformEvent::ConversationRemoved { conversation_id } => self.remove_conversation(ctx, &conversation_id, true),
            PlatformEvent::OpenConversations { conversation_ids } => {
                let open: HashSet<ConversationId> = conversation_ids.into_iter().collect();
                let gone: Vec<ConversationId> = self.conversations.keys().filter(|id| !open.contains(*id)).cloned().collect();
                for conversation_id in gone {
                    tracing::info!(bot_id = %self.settings.bot_id, %conversation_id, "conversation no longer open on the platform");
                    self.remove_conversation(ctx, &conversation_id, true);
                }
            }
            PlatformEvent::Message { conversation_id, message } => {
                if message.originator == Originator::Consumer {
                    self.observe_lag(ctx, message.server_timestamp);
                }
                self.deliver(ctx, &conversation_id, Held::Message(message))
            }
            PlatformEvent::ConsumerTyping { conversation_id, typing } => self.deliver(ctx, &conversation_id, Held::Typing(typing)),
        }
    }
}

impl Handler<ConversationExited> for BotActor {
    type Result = ();

    fn handle(&mut self, msg: ConversationExited, ctx: &mut Context<Self>) {
        let ConversationExited { conversation_id, generation, reason } = msg;
        let (removing, reassigned) = match self.conversations.get_mut(&conversation_id) {
            Some(slot) if slot.generation == generation => (slot.removing, slot.reassigned.take()),
            _ => return,
        };
        tracing::info!(bot_id = %self.settings.bot_id, %conversation_id, reason = reason.as_str(), "conversation ended");
        if let ExitReason::Escalated { report, .. } | ExitReason::Failed(report) = &reason {
            self.record_conversation_error(&conversation_id, report.clone());
        }
        match &reason {
            ExitReason::Closed { .. } => self.stats.closed += 1,
            ExitReason::Transferred { .. } => self.stats.transferred += 1,
            ExitReason::Escalated { report, .. } => {
                self.stats.escalated += 1;
                *self.stats.escalated_by_reason.entry(report.code.as_str()).or_default() += 1;
            }
            ExitReason::Removed => self.stats.removed += 1,
            ExitReason::Failed(_) => self.stats.failed += 1,
            ExitReason::Panicked => self.stats.panicked += 1,
        }
        if let Some(info) = reassigned {
            // Removed and assigned again meanwhile: a fresh actor resumes from history.
            let generation = self.next_generation();
            if let Some(slot) = self.conversations.get_mut(&conversation_id) {
                **slot = Slot { info: *info, generation, run: SlotRun::Admitting, removing: false, reassigned: None, touched_at: 0 };
            }
            self.start_conversation(ctx, &conversation_id, StartMode::Resume);
            return;
        }
        match reason {
            ExitReason::Closed { .. } | ExitReason::Transferred { .. } | ExitReason::Escalated { .. } => {
                self.remember_ended(&conversation_id);
                self.forget(ctx, &conversation_id)
            }
            ExitReason::Removed => self.forget(ctx, &conversation_id),
            // The bot let go of it meanwhile: nothing to rebuild.
            ExitReason::Failed(_) | ExitReason::Panicked if removing => self.forget(ctx, &conversation_id),
            ExitReason::Failed(_) | ExitReason::Panicked => self.schedule_rebuild(ctx, conversation_id),
        }
    }
}

impl BotActor {
    fn log_transition(&mut self, change: Option<(BotState, BotState)>) {
        if let Some((from, to)) = change {
            let error = self.lifecycle.last_error().cloned();
            let new_error = error.as_ref().is_some_and(|e| self.last_hooked_error.as_deref() != Some(e.error_id.as_str()));
            if let (Some(hook), Some(report), true, BotState::Offline | BotState::VendorInterruption | BotState::ServiceInterruption) =
                (&self.error_hook, &error, new_error, to)
            {
                self.last_hooked_error = Some(report.error_id.clone());
                hook.report(BotErrorEvent::new(self.settings.bot_id.clone(), self.vendor.name(), report.clone()));
            }
            tracing::info!(
                bot_id = %self.settings.bot_id,
                from = from.as_str(),
                to = to.as_str(),
                code = error.as_ref().map(|e| e.code.as_str()),
                "bot state changed"
            );
        }
    }

    /// Reports a bot-level error to the hook (once: a transition with it is not reported again).
    fn hook_bot_error(&mut self, report: &ErrorReport) {
        if let Some(hook) = &self.error_hook {
            self.last_hooked_error = Some(report.error_id.clone());
            hook.report(BotErrorEvent::new(self.settings.bot_id.clone(), self.vendor.name(), report.clone()));
        }
    }

    fn record_conversation_error(&mut self, conversation_id: &ConversationId, report: ErrorReport) {
        if self.conversation_errors.len() == MAX_CONVERSATION_ERRORS {
            self.conversation_errors.pop_front();
        }
        self.conversation_errors.push_back(ConversationError { conversation_id: conversation_id.clone(), report });
    }

    fn cancel_timers(&mut self, ctx: &mut Context<Self>) {
        for handle in [self.service_retry.take(), self.health_timer.take()].into_iter().flatten() {
            ctx.cancel_future(handle);
        }
        for (_, handle) in self.rings.drain() {
            ctx.cancel_future(handle);
        }
        self.deciding_rings.clear();
    }

    /// Stopped or kicked: every conversation actor stops (the conversations stay open on the
    /// platform and are taken again when the bot starts).
    fn let_go_of_conversations(&mut self, ctx: &mut Context<Self>) {
        let ids: Vec<ConversationId> = self.conversations.keys().cloned().collect();
        for conversation_id in ids {
            self.remove_conversation(ctx, &conversation_id, false);
        }
    }

    fn remember_ended(&mut self, conversation_id: &ConversationId) {
        let now = Instant::now();
        if self.ended.len() >= MAX_TOMBSTONES {
            self.ended.retain(|_, at| now.duration_since(*at) < TOMBSTONE_TTL);
        }
        if self.ended.len() < MAX_TOMBSTONES {
            self.ended.insert(conversation_id.clone(), now);
        }
    }

    fn open_session(&mut self, ctx: &mut Context<Self>) {
        let platform = self.platform.clone();
        ctx.spawn(async move { platform.start_session().await }.into_actor(self).map(|result, act, ctx| {
            if let Err(error) = result {
                if act.lifecycle.is_running() && act.lifecycle.session() != SessionStatus::Connected {
                    let report = ErrorReport::new(ErrorCode::SessionLost, format!("opening the platform session failed: {error}"));
                    act.on_session_lost(ctx, report);
                }
            }
        }));
    }

    fn arm_health_checks(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.health_timer.take() {
            ctx.cancel_future(handle);
        }
        let every = self.settings.lifecycle.vendor_health_interval;
        self.health_timer = Some(ctx.run_interval(every, |act, ctx| act.check_vendor_health(ctx)));
    }

    fn check_vendor_health(&mut self, ctx: &mut Context<Self>) {
        if self.health_check_in_flight || !self.lifecycle.is_running() {
            return;
        }
        self.health_check_in_flight = true;
        let vendor = self.vendor.clone();
        let timeout = self.settings.conversation.vendor_call.timeout;
        let check = async move { tokio::time::timeout(timeout, vendor.health()).await };
        ctx.spawn(check.into_actor(self).map(|health, act, _ctx| {
            act.health_check_in_flight = false;
            if !act.lifecycle.is_running() {
                return;
            }
            let now = Instant::now();
            let change = match health_problem(health) {
                None => act.lifecycle.vendor_healthy(now),
                Some(problem) => {
                    let report = ErrorReport::new(
                        ErrorCode::VendorNotOnline,
                        format!("{problem}; new conversations are escalated until it recovers"),
                    );
                    act.lifecycle.vendor_unhealthy(report, act.settings.lifecycle.vendor_health_failures, now)
                }
            };
            act.log_transition(change);
        }));
    }

    fn on_session_connected(&mut self, ctx: &mut Context<Self>, agent_id: String) {
        if !self.lifecycle.is_running() {
            return;
        }
        self.agent_id = Some(agent_id);
        let change = self.lifecycle.session_connected(Instant::now());
        self.log_transition(change);
        if let Some(handle) = self.service_retry.take() {
            ctx.cancel_future(handle);
        }
        // Publish the availability the load asks for (a new session starts without one).
        self.availability_sent = None;
        let availability = self.load.send(GetLoadAvailability);
        ctx.spawn(availability.into_actor(self).map(|availability, act, ctx| {
            act.availability_wanted = availability.unwrap_or(Availability::Online);
            act.sync_availability(ctx);
        }));
        // Resume: every conversation re-reads its history and answers what is unanswered.
        // A passive one is rebuilt to do so: messages said while the session was down must be
        // answered without waiting for the consumer's next one.
        let mut rebuild = Vec::new();
        let mut resync = Vec::new();
        for (conversation_id, slot) in &self.conversations {
            match &slot.run {
                SlotRun::Running(_) | SlotRun::Passivating { .. } | SlotRun::Passive(_) => resync.push(conversation_id.clone()),
                SlotRun::AwaitingRebuild(mode) => rebuild.push((conversation_id.clone(), mode.clone())),
                SlotRun::Admitting => {}
            }
        }
        for (conversation_id, mode) in rebuild {
            self.start_conversation(ctx, &conversation_id, mode);
        }
        for conversation_id in resync {
            self.deliver(ctx, &conversation_id, Held::Resync);
        }
    }

    fn on_session_lost(&mut self, ctx: &mut Context<Self>, error: ErrorReport) {
        if !self.lifecycle.is_running() {
            return;
        }
        tracing::warn!(bot_id = %self.settings.bot_id, code = error.code.as_str(), message = %error.message, "platform session lost");
        let change = self.lifecycle.session_lost(error, Instant::now());
        self.log_transition(change);
        self.factory.session_lost();
        self.availability_sent = None;
        for (_, handle) in self.rings.drain() {
            ctx.cancel_future(handle);
        }
        self.deciding_rings.clear();
        if self.service_retry.is_none() {
            let every = self.settings.lifecycle.service_retry_interval;
            self.service_retry = Some(ctx.run_interval(every, |act, ctx| {
                tracing::info!(bot_id = %act.settings.bot_id, "retrying the platform session");
                act.open_session(ctx);
            }));
        }
    }

    fn on_ring(&mut self, ctx: &mut Context<Self>, ring: RingId, conversation_id: ConversationId) {
        if !self.lifecycle.state().takes_conversations() || self.rings.contains_key(&ring) {
            return;
        }
        if self.rings.len() >= MAX_PENDING_RINGS {
            tracing::warn!(bot_id = %self.settings.bot_id, %conversation_id, "too many pending rings, rejecting");
            self.answer_ring(ctx, ring, RingDecision::Reject);
            return;
        }
        let wait = self.settings.lifecycle.ring_accept_wait;
        let ring_id = ring.clone();
        let handle = ctx.run_later(wait, move |act, ctx| {
            act.rings.remove(&ring_id);
            if !act.lifecycle.state().takes_conversations() {
                return;
            }
            act.deciding_rings.insert(ring_id.clone());
            let decision = act.load.send(DecideRing);
            ctx.spawn(decision.into_actor(act).map(move |decision, act, ctx| {
                // Withdrawn (or the session lost) while the LoadActor was deciding: leave it.
                if act.deciding_rings.remove(&ring_id) {
                    act.answer_ring(ctx, ring_id, decision.unwrap_or(RingDecision::Reject));
                }
            }));
        });
        self.rings.insert(ring, handle);
    }

    fn answer_ring(&mut self, ctx: &mut Context<Self>, ring: RingId, decision: RingDecision) {
        let platform = self.platform.clone();
        ctx.spawn(
            async move {
                let result = match decision {
                    RingDecision::Accept => platform.accept_ring(&ring).await,
                    RingDecision::Reject => platform.reject_ring(&ring).await,
                };
                if let Err(error) = result {
                    tracing::warn!(%ring, ?decision, %error, "answering a ring failed");
                }
            }
            .into_actor(self),
        );
    }

    fn on_conversation_info(&mut self, ctx: &mut Context<Self>, info: ConversationInfo) {
        let Some(agent_id) = self.agent_id.as_deref() else { return };
        match info.assignment_of(agent_id) {
            Some(ParticipantState::Active) => self.admit(ctx, info),
            // A SUGGESTED participant (transfer to agent) is not assigned yet.
            Some(ParticipantState::Suggested) => {}
            None => {
                let conversation_id = info.conversation_id.clone();
                self.remove_conversation(ctx, &conversation_id, true)
            }
        }
    }

    /// A conversation is assigned to the bot: admit it (once) through the LoadActor.
    fn admit(&mut self, ctx: &mut Context<Self>, info: ConversationInfo) {
        if !self.lifecycle.is_running() {
            return;
        }
        if let Some(slot) = self.conversations.get_mut(&info.conversation_id) {
            if slot.removing {
                slot.reassigned = Some(Box::new(info));
            }
            return;
        }
        if let Some(at) = self.ended.get(&info.conversation_id) {
            if Instant::now().duration_since(*at) < TOMBSTONE_TTL {
                tracing::debug!(conversation_id = %info.conversation_id, "ignoring an update about a conversation the bot just ended");
                return;
            }
            self.ended.remove(&info.conversation_id);
        }
        let conversation_id = info.conversation_id.clone();
        let generation = self.next_generation();
        self.conversations.insert(
            conversation_id.clone(),
            Box::new(Slot { info, generation, run: SlotRun::Admitting, removing: false, reassigned: None, touched_at: 0 }),
        );
        let admission = self.load.send(AdmitConversation { conversation_id: conversation_id.clone() });
        ctx.spawn(admission.into_actor(self).map(move |reply, act, ctx| {
            let still_admitting = matches!(
                act.conversations.get(&conversation_id).map(|slot| &**slot),
                Some(Slot { generation: g, run: SlotRun::Admitting, .. }) if *g == generation
            );
            if !still_admitting {
                return;
            }
            let Ok(reply) = reply else {
                act.conversations.remove(&conversation_id);
                return;
            };
            if !act.lifecycle.is_running() {
                act.forget(ctx, &conversation_id); // stopped while the LoadActor decided
                return;
            }
            if let Some(availability) = reply.availability {
                act.publish_availability(ctx, availability);
            }
            let mode = match (reply.admission, act.lifecycle.state()) {
                (Admission::Escalate { skill, report }, _) => StartMode::Escalate { report: Box::new(report), skill },
                (Admission::Start, BotState::VendorInterruption) => StartMode::Escalate {
                    report: Box::new(ErrorReport::new(
                        ErrorCode::VendorInterruption,
                        "the bot is in Vendor Interruption: new conversations go to the escalation skill without a vendor call",
                    )),
                    skill: act.settings.escalation.skill.clone(),
                },
                (Admission::Start, _) => StartMode::New,
            };
            act.stats.conversations_started += 1;
            act.start_conversation(ctx, &conversation_id, mode);
        }));
    }

    fn start_conversation(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId, mode: StartMode) {
        let parent = ctx.address().recipient();
        let now = self.clock();
        let Some(slot) = self.conversations.get_mut(conversation_id) else { return };
        slot.touched_at = now;
        let spec = ConversationSpec { info: slot.info.clone(), generation: slot.generation, mode };
        slot.run = SlotRun::Running(self.factory.build(spec, parent));
    }

    fn publish_availability(&mut self, ctx: &mut Context<Self>, availability: Availability) {
        tracing::info!(bot_id = %self.settings.bot_id, ?availability, "load changes the bot's availability");
        self.availability_wanted = availability;
        self.sync_availability(ctx);
    }

    /// Publishes the wanted availability, one request at a time, so they land in order.
    /// What routing should see: the load's wish, or AWAY while the bot is behind its messages.
    fn effective_availability(&self) -> Availability {
        if self.overload.is_some() {
            Availability::Away
        } else {
            self.availability_wanted
        }
    }

    fn sync_availability(&mut self, ctx: &mut Context<Self>) {
        let availability = self.effective_availability();
        if self.availability_in_flight
            || self.lifecycle.session() != SessionStatus::Connected
            || self.availability_sent == Some(availability)
        {
            return;
        }
        self.availability_in_flight = true;
        let platform = self.platform.clone();
        let work = async move { platform.set_availability(availability).await };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.availability_in_flight = false;
            match result {
                Ok(()) => {
                    act.availability_sent = Some(availability);
                    act.sync_availability(ctx);
                }
                Err(error) => tracing::warn!(%error, "setting the agent's availability failed"),
            }
        }));
    }

    /// `ended`: the bot left the conversation on the platform (not merely stopping).
    fn remove_conversation(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId, ended: bool) {
        let Some(slot) = self.conversations.get_mut(conversation_id) else { return };
        match &mut slot.run {
            // The actor says goodbye with `Removed`; the slot goes then.
            SlotRun::Running(addr) => {
                if !slot.removing {
                    slot.removing = true;
                    slot.reassigned = None;
                    addr.do_send(ConversationRemoved { ended });
                }
            }
            SlotRun::Passivating { held, .. } => {
                if !slot.removing {
                    slot.removing = true;
                    slot.reassigned = None;
                    held.push(Held::Removed { ended });
                }
            }
            // Its record in the store goes with the conversation: an actor does that.
            SlotRun::Passive(passive) if ended && passive.record_kept => {
                if let Some(addr) = self.reactivate(ctx, conversation_id) {
                    if let Some(slot) = self.conversations.get_mut(conversation_id) {
                        slot.removing = true;
                        slot.reassigned = None;
                    }
                    addr.do_send(ConversationRemoved { ended });
                }
            }
            SlotRun::Passive(_) | SlotRun::Admitting | SlotRun::AwaitingRebuild(_) => self.forget(ctx, conversation_id),
        }
    }

    /// The conversation left the bot for good.
    fn forget(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId) {
        self.conversations.remove(conversation_id);
        self.restarts.forget(conversation_id);
        let release = self.load.send(ReleaseConversation { conversation_id: conversation_id.clone() });
        ctx.spawn(release.into_actor(self).map(|availability, act, ctx| {
            if let Ok(Some(availability)) = availability {
                act.publish_availability(ctx, availability);
            }
        }));
    }

    /// A conversation failed or panicked: rebuild it after a jittered backoff (it re-reads its
    /// history), or escalate it once it has failed too often in the restart window.
    fn schedule_rebuild(&mut self, ctx: &mut Context<Self>, conversation_id: ConversationId) {
        let Restart { delay, verdict } = self.restarts.on_failure(&conversation_id, Instant::now());
        let mode = match verdict.report() {
            None => StartMode::Resume,
            Some(report) => StartMode::Escalate { report: Box::new(report), skill: self.settings.escalation.skill.clone() },
        };
        let generation = self.next_generation();
        let Some(slot) = self.conversations.get_mut(&conversation_id) else { return };
        slot.generation = generation;
        slot.run = SlotRun::AwaitingRebuild(mode);
        self.stats.rebuilt += 1;
        tracing::info!(bot_id = %self.settings.bot_id, %conversation_id, delay_ms = delay.as_millis() as u64, "rebuilding conversation");
        ctx.run_later(delay, move |act, ctx| {
            if act.lifecycle.session() != SessionStatus::Connected {
                return; // rebuilt when the session is back
            }
            let mode = match act.conversations.get(&conversation_id).map(|slot| &**slot) {
                Some(Slot { generation: g, run: SlotRun::AwaitingRebuild(mode), .. }) if *g == generation => mode.clone(),
                _ => return,
            };
            act.start_conversation(ctx, &conversation_id, mode);
        });
    }

    /// Stops the bot: the state goes offline, timers end, conversations are let go of (they stay
    /// open on the platform). The future closes the platform session.
    fn stop(&mut self, ctx: &mut Context<Self>) -> impl std::future::Future<Output = ()> + 'static {
        if let Some(cancel) = self.starting.take() {
            let _ = cancel.send(());
        }
        let change = self.lifecycle.stop(Instant::now());
        self.log_transition(change);
        self.cancel_timers(ctx);
        self.let_go_of_conversations(ctx);
        let platform = self.platform.clone();
        async move {
            if let Err(error) = platform.stop_session().await {
                tracing::warn!(%error, "closing the platform session failed");
            }
        }
    }

    fn resync_later(&mut self, ctx: &mut Context<Self>, conversation_id: ConversationId) {
        ctx.run_later(SHED_RESYNC_DELAY, move |act, ctx| act.deliver(ctx, &conversation_id, Held::Resync));
    }

    // ---- overload -------------------------------------------------------------------------

    /// A consumer message stamped by the platform at `server_timestamp` reached the bot now.
    /// One `overload_lag` or more late: the bot is behind (the work waits in its queues, the
    /// socket's buffers or the platform's), and it goes AWAY so routing gives new conversations
    /// to others while it catches up. It comes back once its messages have been on time (under
    /// half the lag) for `OVERLOAD_CALM`. Clocks differ between the platform and the node by far
    /// less than the lag that counts (seconds).
    fn observe_lag(&mut self, ctx: &mut Context<Self>, server_timestamp: i64) {
        let threshold = self.settings.load.overload_lag;
        if threshold.is_zero() || server_timestamp <= 0 {
            return;
        }
        let lag = Duration::from_millis(u64::try_from(self.platform.now_ms().saturating_sub(server_timestamp)).unwrap_or(0));
        self.stats.event_lag_ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        let now = Instant::now();
        match &mut self.overload {
            Some(overload) if lag >= threshold / 2 => overload.last_late = now,
            Some(_) => {}
            None if lag >= threshold => {
                tracing::warn!(
                    bot_id = %self.settings.bot_id,
                    lag_ms = self.stats.event_lag_ms,
                    "the bot is behind its messages: AWAY until it catches up"
                );
                self.stats.overloads += 1;
                let check = ctx.run_interval(Duration::from_secs(1), |act, ctx| act.check_overload(ctx));
                self.overload = Some(Overload { last_late: now, check });
                self.sync_availability(ctx);
            }
            None => {}
        }
    }

    fn check_overload(&mut self, ctx: &mut Context<Self>) {
        let Some(overload) = &self.overload else { return };
        if overload.last_late.elapsed() < OVERLOAD_CALM {
            return;
        }
        ctx.cancel_future(overload.check);
        self.overload = None;
        tracing::info!(bot_id = %self.settings.bot_id, "the bot caught up with its messages");
        self.sync_availability(ctx);
    }

    // ---- passivation ----------------------------------------------------------------------

    /// Sends `what` to the conversation's actor, rebuilding it first if it is passive; held
    /// while it is asked to passivate. Nothing for a conversation being admitted or rebuilt
    /// (it reads its history when it starts).
    fn deliver(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId, what: Held) {
        let now = self.clock();
        let Some(slot) = self.conversations.get_mut(conversation_id) else { return };
        slot.touched_at = now;
        let refused = match &mut slot.run {
            // The common case, every consumer message: one lookup, no address cloned.
            SlotRun::Running(addr) => try_send(addr, what),
            SlotRun::Passivating { held, .. } => {
                self.stats.held += 1;
                match what {
                    what @ Held::Removed { .. } => held.push(what),
                    what if held.len() < MAX_HELD => held.push(what),
                    // Beyond: the messages stay in the platform's history and are read back.
                    _ if !matches!(held.last(), Some(Held::Resync)) => held.push(Held::Resync),
                    _ => {}
                }
                return;
            }
            SlotRun::Passive(_) => match self.reactivate(ctx, conversation_id) {
                Some(addr) => try_send(&addr, what),
                None => return,
            },
            SlotRun::Admitting | SlotRun::AwaitingRebuild(_) => return,
        };
        if let Err(refused) = refused {
            self.refused(ctx, conversation_id, *refused);
        }
    }

    fn send_to(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId, addr: &Addr<ConversationActor>, what: Held) {
        if let Err(refused) = try_send(addr, what) {
            self.refused(ctx, conversation_id, *refused);
        }
    }

    /// A full mailbox refused `what`.
    fn refused(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId, what: Held) {
        match what {
            Held::Message(_) => {
                self.stats.mailbox_overloads += 1;
                // Shed: the message stays in the platform's history and is read back.
                self.resync_later(ctx, conversation_id.clone());
            }
            // Typing is advisory; a full mailbox may drop it.
            Held::Typing(_) => self.stats.mailbox_overloads += 1,
            Held::Resync => self.resync_later(ctx, conversation_id.clone()),
            Held::Removed { .. } => {}
        }
    }

    /// The conversation's running actor; a passive one is built again from its record.
    fn reactivate(&mut self, ctx: &mut Context<Self>, conversation_id: &ConversationId) -> Option<Addr<ConversationActor>> {
        match &self.conversations.get(conversation_id)?.run {
            SlotRun::Running(addr) => return Some(addr.clone()),
            SlotRun::Passive(_) => {}
            _ => return None,
        }
        let generation = self.next_generation();
        let slot = self.conversations.get_mut(conversation_id)?;
        let SlotRun::Passive(passive) = std::mem::replace(&mut slot.run, SlotRun::Admitting) else { return None };
        slot.generation = generation;
        self.stats.reactivated += 1;
        self.start_conversation(ctx, conversation_id, StartMode::Reactivate(passive));
        match &self.conversations.get(conversation_id)?.run {
            SlotRun::Running(addr) => Some(addr.clone()),
            _ => None,
        }
    }

    /// Rebuilds the passive conversation at `at` (its inactivity timer), unless it was rebuilt
    /// before.
    fn wake_at(&mut self, ctx: &mut Context<Self>, at: Instant, conversation_id: ConversationId, generation: u64) {
        self.wakeups.entry(at).or_default().push((conversation_id, generation));
        self.arm_wakeups(ctx);
    }

    fn arm_wakeups(&mut self, ctx: &mut Context<Self>) {
        let Some(&first) = self.wakeups.keys().next() else { return };
        if let Some((armed, handle)) = self.wakeup_timer.take() {
            if armed <= first {
                self.wakeup_timer = Some((armed, handle));
                return;
            }
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(first.saturating_duration_since(Instant::now()), |act, ctx| {
            act.wakeup_timer = None;
            let now = Instant::now();
            while let Some(entry) = act.wakeups.first_entry() {
                if *entry.key() > now {
                    break;
                }
                for (conversation_id, generation) in entry.remove() {
                    let passive = matches!(
                        act.conversations.get(&conversation_id).map(|slot| &**slot),
                        Some(Slot { generation: g, run: SlotRun::Passive(_), .. }) if *g == generation
                    );
                    if passive {
                        act.reactivate(ctx, &conversation_id);
                    }
                }
            }
            act.arm_wakeups(ctx);
        });
        self.wakeup_timer = Some((first, handle));
    }

    /// Asks every running conversation actor to passivate if it has been settled for
    /// `idle_for`; what arrives for one meanwhile is held (see `passivation_answered`).
    fn passivate_settled(&mut self, ctx: &mut Context<Self>, idle_for: Duration) {
        let mut asked = Vec::new();
        // Whole seconds round down on both sides: a conversation skipped here was touched less
        // than `idle_for` ago for certain, and its actor would say no.
        let now = self.clock();
        let idle_secs = u32::try_from(idle_for.as_secs()).unwrap_or(u32::MAX);
        for (conversation_id, slot) in &mut self.conversations {
            let SlotRun::Running(addr) = &slot.run else { continue };
            if slot.removing || now.saturating_sub(slot.touched_at) < idle_secs {
                continue;
            }
            let addr = addr.clone();
            asked.push((conversation_id.clone(), slot.generation, addr.send(Passivate { idle_for })));
            slot.run = SlotRun::Passivating { addr, held: Vec::new() };
        }
        for (conversation_id, generation, answer) in asked {
            ctx.spawn(
                answer.into_actor(self).map(move |answer, act, ctx| act.passivation_answered(ctx, conversation_id, generation, answer)),
            );
        }
    }

    /// Whole seconds since the bot was built (the clock of `Slot::touched_at`).
    fn clock(&self) -> u32 {
        u32::try_from(self.epoch.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn passivation_answered(
        &mut self,
        ctx: &mut Context<Self>,
        conversation_id: ConversationId,
        generation: u64,
        answer: Result<Option<Box<PassiveConversation>>, MailboxError>,
    ) {
        let next_generation = self.next_generation();
        let Some(slot) = self.conversations.get_mut(&conversation_id) else { return };
        if slot.generation != generation || !matches!(slot.run, SlotRun::Passivating { .. }) {
            return; // it ended (or is being rebuilt) meanwhile: its exit notice decided
        }
        let SlotRun::Passivating { addr, held } = std::mem::replace(&mut slot.run, SlotRun::Admitting) else { return };
        match answer {
            Ok(Some(passive)) => {
                // A stray notice from the stopped actor is stale from now on.
                slot.generation = next_generation;
                let wake_at = passive.idle_at;
                slot.run = SlotRun::Passive(passive);
                self.stats.passivated += 1;
                if let Some(at) = wake_at {
                    self.wake_at(ctx, at, conversation_id.clone(), next_generation);
                }
                for what in held {
                    self.deliver(ctx, &conversation_id, what);
                }
            }
            // Busy, or gone (its exit notice follows and decides).
            Ok(None) | Err(_) => {
                slot.run = SlotRun::Running(addr.clone());
                for what in held {
                    self.send_to(ctx, &conversation_id, &addr, what);
                }
            }
        }
    }

    fn next_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }
}

/// Why a vendor health check did not pass.
#[derive(Debug)]
enum HealthProblem {
    NotOnline { state: String },
    Failed(VendorError),
    TimedOut,
}

impl std::fmt::Display for HealthProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthProblem::NotOnline { state } => write!(f, "the vendor reports state {state:?}"),
            HealthProblem::Failed(error) => write!(f, "the vendor's health check failed: {error}"),
            HealthProblem::TimedOut => f.write_str("the vendor's health check timed out"),
        }
    }
}

/// The problem a health check (bounded by a timeout) found, if any.
fn health_problem(health: Result<Result<VendorHealth, VendorError>, tokio::time::error::Elapsed>) -> Option<HealthProblem> {
    match health {
        Ok(Ok(VendorHealth::Online)) => None,
        Ok(Ok(VendorHealth::NotOnline { state })) => Some(HealthProblem::NotOnline { state }),
        Ok(Err(error)) => Some(HealthProblem::Failed(error)),
        Err(_) => Some(HealthProblem::TimedOut),
    }
}
