//! One bot's session: CSDS → login → websocket, requests correlated by id with a timeout,
//! GetClock keepalive and ws pings, notifications turned into the core's events, refresh, and
//! reconnect with backoff — better than the SDK where it is known to be wrong: no reconnect
//! loop on its own close, no silent frame drops, no fighting a kick.

use std::cell::RefCell;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use actix_codec::Framed;
use awc::error::WsProtocolError;
use awc::ws::{CloseCode, CloseReason, Codec, Frame, Message as WsMessage};
use awc::BoxedSocket;
use botvisor_actors::errors::{ErrorCode, ErrorReport, PlatformError};
use botvisor_actors::ports::PlatformEvent;
use futures_util::stream::{SplitSink, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::platform::liveperson::backpressure::EventOutbox;
use crate::platform::liveperson::bad_frame_log::BadFrameLog;
use crate::platform::liveperson::csds::{self, CsdsCache, Domains};
use crate::platform::liveperson::frames::{self, Extras, Identity};
use crate::platform::liveperson::http_client;
use crate::platform::liveperson::login::{self, LoginCredentials, LoginError, LoginSession};

/// Close code the simulator (and botvisor) use for "another session of this agent took over".
pub const CLOSE_KICKED: u16 = 4409;
/// A token revoked this soon after connecting, twice in a row, means another session of this
/// agent is logging in (the real platform revokes with 4401 or drops with 1006): a kick.
const QUICK_REVOCATION: Duration = Duration::from_secs(10);
/// After a login answered 429, wait at least this long (the login service's retry policy).
const LOGIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);
/// Logout on stop waits at most this long.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// A fragmented frame reassembles to at most this size.
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// Events held while the subscriptions of a new connection are confirmed, at most (a snapshot of
/// a bot at its hard limit is about a thousand); more drops the connection.
const MAX_HELD_EVENTS: usize = 20_000;

/// How one bot's session behaves.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub account: String,
    /// The CSDS domain (`host:port`).
    pub csds: String,
    /// `http`/`ws` instead of `https`/`wss` (the simulator's plain mode).
    pub plain_http: bool,
    /// A CA (PEM) to trust, e.g. the simulator's certificate.
    pub ca: Option<PathBuf>,
    pub credentials: LoginCredentials,
    pub request_timeout: Duration,
    pub keepalive: Duration,
    pub refresh_interval: Duration,
    pub reconnect_first_delay: Duration,
    pub reconnect_factor: f64,
    pub reconnect_max_attempts: u32,
    /// Failed reconnects with the same token before logging in again.
    pub relogin_after: u32,
    /// Refused logins (401/403) before the session gives up.
    pub login_refusals_to_stop: u32,
    /// Logins allowed per minute for this bot user (burst 2).
    pub logins_per_minute: u32,
    /// Requests awaiting a response, at most; more wait in order in a queue.
    pub max_pending_requests: usize,
    /// Requests waiting for a free slot, at most (beyond it a request fails at once with 503).
    pub max_queued_requests: usize,
    /// The seconds each named TTR type is sent with.
    pub ttr_seconds: frames::TtrSeconds,
    /// Skill name → id, configured: used when the bot user may not read the account's skills.
    pub skills: HashMap<String, String>,
}

impl SessionSettings {
    pub fn new(account: &str, csds: &str, credentials: LoginCredentials) -> Self {
        Self {
            account: account.into(),
            csds: csds.into(),
            plain_http: false,
            ca: None,
            credentials,
            request_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(600),
            reconnect_first_delay: Duration::from_secs(5),
            reconnect_factor: 1.25,
            reconnect_max_attempts: 35,
            relogin_after: 3,
            login_refusals_to_stop: 2,
            logins_per_minute: 6,
            max_pending_requests: 1024,
            max_queued_requests: 16 * 1024,
            ttr_seconds: frames::TtrSeconds::default(),
            skills: HashMap::new(),
        }
    }

    fn scheme(&self) -> (&'static str, &'static str) {
        if self.plain_http {
            ("http", "ws")
        } else {
            ("https", "wss")
        }
    }
}

/// What the session shares with its `PlatformPort` (same thread).
#[derive(Default)]
pub struct SessionShared {
    pub identity: RefCell<Option<Identity>>,
    /// Skill name → id, read at login (and the configured ones).
    pub skills: RefCell<HashMap<String, String>>,
    /// The account-config API refused to list the skills (401/403): names not configured in
    /// `platform.skills` cannot be resolved.
    pub skills_forbidden: std::cell::Cell<bool>,
    /// Reconnects, login failures, bad frames (logged with their type, counted).
    pub counters: std::sync::Arc<crate::platform::liveperson::counters::SessionCounters>,
    /// Conversation → consumer PID, from conversation notifications (events may name the
    /// consumer only by PID).
    pub consumers: RefCell<HashMap<String, String>>,
}

type WsSink = SplitSink<Framed<BoxedSocket, Codec>, WsMessage>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Connected,
    /// Waiting for the next attempt.
    Reconnecting,
    Stopped,
    /// Gave up (kicked, login refused, attempts exhausted) until started again.
    Ended,
}

struct Pending {
    reply: oneshot::Sender<Result<Value, PlatformError>>,
    deadline: Instant,
}

/// A request waiting for one of the `max_pending_requests` slots (a burst of rings).
struct Queued {
    kind: String,
    body: Value,
    extras: Extras,
    reply: oneshot::Sender<Result<Value, PlatformError>>,
    /// The request times out from when it was asked, queueing included.
    deadline: Instant,
}

/// What a connection attempt brings back.
struct Established {
    domains: Domains,
    login: LoginSession,
    skills: Result<HashMap<String, String>, SkillsError>,
    framed: Framed<BoxedSocket, Codec>,
}

/// Why the account's skills could not be read.
#[derive(Debug, thiserror::Error)]
enum SkillsError {
    /// The bot user lacks the permission (401/403).
    #[error("the account-config API refused to list the skills ({0})")]
    Forbidden(u16),
    #[error("{0}")]
    Failed(String),
}

enum ConnectError {
    Login(LoginError),
    /// The websocket upgrade was refused with 401: the token is no good.
    TokenRejected,
    Other(String),
}

pub struct SessionActor {
    settings: SessionSettings,
    shared: Rc<SessionShared>,
    /// The bot's events, with backpressure on the socket when its mailbox is full.
    outbox: EventOutbox,
    client: awc::Client,
    csds: CsdsCache,
    login: Option<LoginSession>,
    phase: Phase,
    sink: Option<SinkWrite<WsMessage, WsSink>>,
    stream: Option<SpawnHandle>,
    close_code: Option<u16>,
    pending: HashMap<String, Pending>,
    /// Requests beyond the in-flight limit, sent in order as responses free slots.
    queued: std::collections::VecDeque<Queued>,
    next_id: u64,
    attempt: u32,
    failures_with_token: u32,
    login_refusals: u32,
    /// Incremented for every connection attempt: completions and timers of an older one are
    /// ignored.
    generation: u64,
    connecting: Option<SpawnHandle>,
    connected_at: Option<Instant>,
    quick_revocations: u32,
    rate_limited: bool,
    /// A fragmented text frame being put together.
    partial: Option<Vec<u8>>,
    /// A response said 401: reconnect with a new login.
    needs_relogin: bool,
    lost_reported: bool,
    awaiting_snapshot: bool,
    keepalive_unanswered: bool,
    /// Events of a new connection held back until both subscriptions are confirmed: the bot is
    /// told it is connected (and goes online) only then. Bounded by `MAX_HELD_EVENTS`.
    held: Option<Vec<PlatformEvent>>,
    /// Subscription confirmations still awaited on this connection.
    subscriptions_pending: u8,
    /// More than `MAX_HELD_EVENTS` arrived before the subscriptions were confirmed.
    held_overflow: bool,
    bad_frames: BadFrameLog,
    last_error: Option<String>,
    logins: DefaultDirectRateLimiter,
    keepalive: Option<SpawnHandle>,
    refresh: Option<SpawnHandle>,
    retry: Option<SpawnHandle>,
    jitter: u64,
}

impl SessionActor {
    pub fn new(settings: SessionSettings, shared: Rc<SessionShared>) -> Result<Self, String> {
        let tls = http_client::tls_config(settings.ca.as_deref())?;
        let client = http_client::client(tls, settings.request_timeout);
        let per_minute = NonZeroU32::new(settings.logins_per_minute.max(1)).expect("at least 1");
        let logins = RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(NonZeroU32::new(2).expect("2")));
        Ok(Self {
            // Seeded per bot user and start time, so bots of an account do not reconnect in lockstep.
            jitter: {
                let user = match &settings.credentials {
                    LoginCredentials::Password { username, .. } | LoginCredentials::ApiKey { username, .. } => username.clone(),
                };
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
                user.bytes().fold(0x2545_F491_4F6C_DD1D ^ nanos, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)) | 1
            },
            outbox: EventOutbox::new(shared.counters.clone()),
            settings,
            shared,
            client,
            csds: CsdsCache::default(),
            login: None,
            phase: Phase::Idle,
            sink: None,
            stream: None,
            close_code: None,
            pending: HashMap::new(),
            queued: std::collections::VecDeque::new(),
            next_id: 0,
            attempt: 0,
            failures_with_token: 0,
            login_refusals: 0,
            generation: 0,
            connecting: None,
            connected_at: None,
            quick_revocations: 0,
            rate_limited: false,
            partial: None,
            needs_relogin: false,
            lost_reported: false,
            awaiting_snapshot: false,
            keepalive_unanswered: false,
            held: None,
            subscriptions_pending: 0,
            held_overflow: false,
            bad_frames: BadFrameLog::default(),
            last_error: None,
            logins,
            keepalive: None,
            refresh: None,
            retry: None,
        })
    }

    /// Every event reaches the bot, in order; while its mailbox is full the socket is not read
    /// (see `backpressure`). Only typing, which is advisory, is shed then.
    fn tell_bot(&mut self, event: PlatformEvent) {
        if let PlatformEvent::ConversationUpdated(info) = &event {
            if !info.consumer_id.is_empty() {
                self.shared.consumers.borrow_mut().insert(info.conversation_id.to_string(), info.consumer_id.clone());
            }
        }
        if let PlatformEvent::ConversationRemoved { conversation_id } = &event {
            self.shared.consumers.borrow_mut().remove(conversation_id.as_str());
        }
        if let PlatformEvent::OpenConversations { conversation_ids } = &event {
            // Reconciled on every subscription's snapshot: conversations closed while the
            // socket was down leave the map too (it stays bounded by what is open).
            let open: std::collections::HashSet<&str> = conversation_ids.iter().map(|c| c.as_str()).collect();
            self.shared.consumers.borrow_mut().retain(|conversation, _| open.contains(conversation.as_str()));
        }
        match &mut self.held {
            Some(held) if is_connection_event(&event) => {
                if held.len() < MAX_HELD_EVENTS {
                    held.push(event);
                } else {
                    self.held_overflow = true; // the connection is dropped after this frame
                }
            }
            _ => self.outbox.deliver(event),
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        // Requests that outlive their timeout fail.
        ctx.run_interval(Duration::from_millis(500), |act, _| {
            let now = Instant::now();
            let expired: Vec<String> = act.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| id.clone()).collect();
            for id in expired {
                if let Some(p) = act.pending.remove(&id) {
                    let _ = p.reply.send(Err(PlatformError::Timeout));
                }
            }
            while act.queued.front().is_some_and(|q| q.deadline <= now) {
                if let Some(q) = act.queued.pop_front() {
                    let _ = q.reply.send(Err(PlatformError::Timeout));
                }
            }
            act.send_queued();
        });
    }
}

/// Where platform events go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachBot(pub Recipient<PlatformEvent>);

impl Handler<AttachBot> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: AttachBot, _ctx: &mut Context<Self>) {
        self.outbox.attach(msg.0);
    }
}

/// Open the session (no-op when it is open or opening).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartSession;

impl Handler<StartSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, _msg: StartSession, ctx: &mut Context<Self>) {
        match self.phase {
            Phase::Idle | Phase::Stopped | Phase::Ended => {
                self.attempt = 0;
                self.login_refusals = 0;
                self.quick_revocations = 0;
                self.lost_reported = false;
                self.connect(ctx);
            }
            // Asked again while up or retrying: say where the session stands.
            Phase::Connected if self.held.is_none() => {
                let identity = self.shared.identity.borrow().clone();
                if let Some(identity) = identity {
                    self.tell_bot(PlatformEvent::SessionConnected { agent_id: identity.agent_id() });
                }
            }
            Phase::Connected | Phase::Connecting | Phase::Reconnecting => {}
        }
    }
}

/// Close the session: log out (waited for, bounded), close the socket, no reconnect.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSession;

impl Handler<StopSession> for SessionActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _msg: StopSession, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(self.stop(ctx).into_actor(self))
    }
}

/// Close the session as `StopSession` does and end the actor (its bot is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndSession;

impl Handler<EndSession> for SessionActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _msg: EndSession, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(self.stop(ctx).into_actor(self).map(|(), _act, ctx| ctx.stop()))
    }
}

impl SessionActor {
    /// Logs out (the future, bounded), closes the socket, arms no reconnect.
    fn stop(&mut self, ctx: &mut Context<Self>) -> impl std::future::Future<Output = ()> + 'static {
        self.phase = Phase::Stopped;
        self.generation += 1;
        if let Some(handle) = self.connecting.take() {
            ctx.cancel_future(handle);
        }
        self.drop_connection(ctx, Some(CloseReason { code: CloseCode::Normal, description: Some("logout".into()) }));
        let logout = match (self.login.take(), self.csds.last()) {
            (Some(session), Some(domains)) => {
                let client = self.client.clone();
                let base = format!("{}://{}", self.settings.scheme().0, domains[csds::LOGIN_SERVICE]);
                let account = self.settings.account.clone();
                Some(async move {
                    let _ = login::refresh_or_logout(&client, &base, &account, &session, true, LOGOUT_TIMEOUT).await;
                })
            }
            _ => None,
        };
        async move {
            if let Some(logout) = logout {
                logout.await;
            }
        }
    }
}

/// One request frame; the reply is the response frame's body, or the error it maps to.
#[derive(Message)]
#[rtype(result = "Result<Value, PlatformError>")]
pub struct SendRequest {
    pub kind: &'static str,
    pub body: Value,
    pub extras: Extras,
}

impl Handler<SendRequest> for SessionActor {
    type Result = ResponseFuture<Result<Value, PlatformError>>;

    fn handle(&mut self, msg: SendRequest, _ctx: &mut Context<Self>) -> Self::Result {
        let reply = self.request(msg.kind, msg.body, msg.extras);
        Box::pin(async move { reply.await.unwrap_or(Err(PlatformError::NotConnected)) })
    }
}

impl SessionActor {
    fn request(&mut self, kind: &str, body: Value, extras: Extras) -> oneshot::Receiver<Result<Value, PlatformError>> {
        let (tx, rx) = oneshot::channel();
        if self.phase != Phase::Connected {
            let _ = tx.send(Err(PlatformError::NotConnected));
            return rx;
        }
        let now = Instant::now();
        let deadline = now.checked_add(self.settings.request_timeout).unwrap_or(now);
        if self.pending.len() >= self.settings.max_pending_requests || !self.queued.is_empty() {
            // A burst (rings by the thousand): wait in order for a slot rather than fail.
            if self.queued.len() >= self.settings.max_queued_requests {
                let _ = tx.send(Err(PlatformError::Rejected {
                    status: 503,
                    message: format!("over {} requests wait for the platform", self.settings.max_queued_requests),
                }));
            } else {
                self.queued.push_back(Queued { kind: kind.to_owned(), body, extras, reply: tx, deadline });
            }
            return rx;
        }
        self.send_request(kind, body, &extras, tx, deadline);
        rx
    }

    fn send_request(
        &mut self,
        kind: &str,
        body: Value,
        extras: &Extras,
        reply: oneshot::Sender<Result<Value, PlatformError>>,
        deadline: Instant,
    ) {
        let Some(sink) = self.sink.as_mut() else {
            let _ = reply.send(Err(PlatformError::NotConnected));
            return;
        };
        self.next_id += 1;
        let id = format!("bv-{}", self.next_id);
        if sink.write(WsMessage::Text(frames::request(&id, kind, body, extras).into())).is_err() {
            let _ = reply.send(Err(PlatformError::NotConnected));
            return;
        }
        self.pending.insert(id, Pending { reply, deadline });
    }

    /// Sends queued requests while slots are free.
    fn send_queued(&mut self) {
        while self.pending.len() < self.settings.max_pending_requests && self.phase == Phase::Connected {
            let Some(next) = self.queued.pop_front() else { break };
            if next.reply.is_closed() {
                continue; // the asker gave up
            }
            self.send_request(&next.kind, next.body, &next.extras, next.reply, next.deadline);
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        if let Some(handle) = self.connecting.take() {
            ctx.cancel_future(handle);
        }
        self.generation += 1;
        let generation = self.generation;
        let need_login = self.login.is_none();
        if need_login {
            if let Err(not_until) = self.logins.check() {
                // Rate limited per bot user: try when a login is allowed again.
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
                self.phase = Phase::Reconnecting;
                self.retry = Some(ctx.run_later(wait, |act, ctx| act.connect(ctx)));
                return;
            }
        }
        self.phase = Phase::Connecting;
        tracing::debug!(account = %self.settings.account, attempt = self.attempt, need_login, "connecting to the platform");
        let client = self.client.clone();
        let settings = self.settings.clone();
        let cached = self.csds.fresh();
        let login = self.login.clone();
        let work = async move { establish(client, settings, cached, login).await };
        self.connecting = Some(ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.connecting = None;
            if act.phase != Phase::Connecting || act.generation != generation {
                tracing::debug!(phase = ?act.phase, "a connection attempt finished after the session moved on");
                return; // stopped or superseded meanwhile
            }
            match result {
                Ok(established) => act.on_connected(ctx, established),
                Err(error) => act.on_connect_failed(ctx, error),
            }
        })));
    }

    fn on_connected(&mut self, ctx: &mut Context<Self>, established: Established) {
        let Established { domains, login, skills, framed } = established;
        self.csds.store(domains);
        let identity = Identity { account: self.settings.account.clone(), user_id: login.user_id.clone(), pid: login.user_pid.clone() };
        *self.shared.identity.borrow_mut() = Some(identity.clone());
        match skills {
            Ok(mut skills) => {
                self.shared.skills_forbidden.set(false);
                for (name, id) in &self.settings.skills {
                    skills.entry(name.clone()).or_insert_with(|| id.clone());
                }
                *self.shared.skills.borrow_mut() = skills;
            }
            Err(SkillsError::Forbidden(status)) => {
                // Documented fallback: the configured name → id map (and numeric ids as given).
                tracing::warn!(account = %self.settings.account, status, configured = self.settings.skills.len(), "the bot user may not read the account's skills; transfers use platform.skills and skill ids");
                self.shared.skills_forbidden.set(true);
                *self.shared.skills.borrow_mut() = self.settings.skills.clone();
            }
            Err(SkillsError::Failed(why)) => {
                tracing::warn!(account = %self.settings.account, why, "the account's skills could not be read; keeping the last list (transfers by name may escalate)")
            }
        }
        self.login = Some(login);
        let (sink, stream) = framed.split();
        self.sink = Some(SinkWrite::new(sink, ctx));
        self.stream = Some(ctx.add_stream(self.outbox.gate(stream)));
        self.close_code = None;
        self.awaiting_snapshot = true;
        self.keepalive_unanswered = false;
        self.connected_at = Some(Instant::now());
        self.rate_limited = false;
        self.partial = None;
        self.phase = Phase::Connected;
        let generation = self.generation;
        self.attempt = 0;
        self.failures_with_token = 0;
        self.login_refusals = 0;
        self.lost_reported = false;
        tracing::info!(account = %self.settings.account, agent = %identity.agent_id(), "platform socket open; subscribing");
        // Subscriptions are per connection: redo them each time. Without them the bot would be
        // deaf: it is told it is connected (and goes online) once both are confirmed, and a
        // failed or unanswered one drops the connection and reconnects.
        self.held = Some(Vec::new());
        self.subscriptions_pending = 2;
        for (kind, body) in [frames::subscribe_ex_conversations(&identity), frames::subscribe_routing_tasks(&identity)] {
            let reply = self.request(kind, body, Extras::default());
            let agent_id = identity.agent_id();
            ctx.spawn(reply.into_actor(self).map(move |result, act, ctx| {
                if act.generation != generation || act.phase != Phase::Connected {
                    return;
                }
                match result {
                    Ok(Ok(_)) => {
                        act.subscriptions_pending = act.subscriptions_pending.saturating_sub(1);
                        if act.subscriptions_pending == 0 {
                            tracing::info!(account = %act.settings.account, agent = %agent_id, "platform session connected");
                            let held = act.held.take().unwrap_or_default();
                            act.tell_bot(PlatformEvent::SessionConnected { agent_id: agent_id.clone() });
                            for event in held {
                                act.tell_bot(event);
                            }
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(kind, %error, "subscription failed; reconnecting");
                        act.on_disconnected(ctx);
                    }
                    Err(_) => act.on_disconnected(ctx),
                }
            }));
        }
        let keepalive = self.settings.keepalive;
        self.keepalive = Some(ctx.run_interval(keepalive, |act, ctx| {
            // An unanswered keepalive means a dead (half-open) socket: reconnect.
            if act.keepalive_unanswered {
                tracing::warn!(account = %act.settings.account, "the platform did not answer the keepalive; reconnecting");
                act.on_disconnected(ctx);
                return;
            }
            if let Some(suppressed) = act.bad_frames.flush(Instant::now()) {
                tracing::warn!(account = %act.settings.account, suppressed, "platform frames not used and not logged in the last interval");
            }
            act.keepalive_unanswered = true;
            let reply = act.request(".GetClock", json!({}), Extras::default());
            ctx.spawn(reply.into_actor(act).map(|result, act, _| {
                if matches!(result, Ok(Ok(_))) {
                    act.keepalive_unanswered = false;
                }
            }));
            if let Some(sink) = act.sink.as_mut() {
                let _ = sink.write(WsMessage::Ping(Default::default()));
            }
        }));
        let refresh = self.settings.refresh_interval;
        self.refresh = Some(ctx.run_interval(refresh, |act, ctx| act.refresh_session(ctx)));
    }

    fn refresh_session(&mut self, ctx: &mut Context<Self>) {
        let Some(session) = self.login.clone() else { return };
        if session.csrf.is_empty() {
            return; // a login without csrf has no refresh (token auth)
        }
        let Some(domains) = self.csds.last() else { return };
        let client = self.client.clone();
        let base = format!("{}://{}", self.settings.scheme().0, domains[csds::LOGIN_SERVICE]);
        let account = self.settings.account.clone();
        let generation = self.generation;
        let deadline = self.settings.request_timeout;
        ctx.spawn(async move { login::refresh_or_logout(&client, &base, &account, &session, false, deadline).await }.into_actor(self).map(move |result, act, ctx| {
            if act.generation != generation || act.phase != Phase::Connected {
                return; // about another connection
            }
            match result {
                Ok(()) => {}
                Err(login::RefreshError::Failed(why)) => {
                    tracing::warn!(account = %act.settings.account, why, "the session refresh failed; trying again at the next interval");
                }
                Err(login::RefreshError::SessionGone) => {
                    // The session is gone: log in again on a new socket.
                    tracing::info!(account = %act.settings.account, "session refresh refused; logging in again");
                    act.login = None;
                    act.drop_connection(ctx, None);
                    act.schedule_reconnect(ctx, "the session refresh was refused (401)".into());
                }
            }
        }));
    }

    fn on_connect_failed(&mut self, ctx: &mut Context<Self>, error: ConnectError) {
        if matches!(error, ConnectError::Login(_)) {
            self.shared.counters.count_login_failure();
        }
        let message = match error {
            ConnectError::Login(LoginError::Refused { status, message }) => {
                self.login_refusals += 1;
                let text = format!("login refused ({status}): {message}");
                if self.login_refusals >= self.settings.login_refusals_to_stop {
                    // Stop before the account's login policy disables the user.
                    self.end(
                        ErrorCode::LoginRefused,
                        format!(
                            "{text}; stopped after {} refused logins, check the bot user's credentials and that it is enabled",
                            self.login_refusals
                        ),
                    );
                    return;
                }
                text
            }
            ConnectError::Login(LoginError::RateLimited) => {
                self.rate_limited = true;
                "login rate limited (429)".into()
            }
            ConnectError::Login(other) => other.to_string(),
            ConnectError::TokenRejected => {
                self.login = None;
                "the websocket refused the token (401)".into()
            }
            ConnectError::Other(message) => message,
        };
        self.schedule_reconnect(ctx, message);
    }

    /// Counts a failure, reports the session lost once, and arms the next attempt with backoff.
    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>, reason: String) {
        if matches!(self.phase, Phase::Stopped | Phase::Ended) {
            return;
        }
        tracing::warn!(account = %self.settings.account, attempt = self.attempt, reason = %reason, "platform session down");
        self.last_error = Some(reason.clone());
        if !self.lost_reported {
            self.lost_reported = true;
            self.tell_bot(PlatformEvent::SessionLost { error: ErrorReport::new(ErrorCode::SessionLost, reason.clone()) });
        }
        if self.attempt >= self.settings.reconnect_max_attempts {
            self.end(ErrorCode::ReconnectExhausted, format!("{} reconnect attempts failed; last error: {reason}", self.attempt));
            return;
        }
        self.failures_with_token += 1;
        if self.failures_with_token > self.settings.relogin_after {
            self.login = None; // a revoked token can look like any close (1006): log in again
        }
        let base = self.settings.reconnect_first_delay.as_secs_f64() * self.settings.reconnect_factor.powi(self.attempt as i32);
        self.attempt += 1;
        self.shared.counters.count_reconnect();
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let factor = 0.8 + (self.jitter % 400) as f64 / 1000.0;
        let mut delay = Duration::from_secs_f64((base * factor).min(24.0 * 3600.0));
        if std::mem::take(&mut self.rate_limited) {
            delay = delay.max(LOGIN_RATE_LIMIT_WAIT);
        }
        self.phase = Phase::Reconnecting;
        self.retry = Some(ctx.run_later(delay, |act, ctx| act.connect(ctx)));
    }

    fn end(&mut self, code: ErrorCode, message: String) {
        tracing::error!(account = %self.settings.account, code = code.as_str(), %message, "platform session gave up");
        self.phase = Phase::Ended;
        self.tell_bot(PlatformEvent::SessionEnded { error: ErrorReport::new(code, message) });
    }

    fn drop_connection(&mut self, ctx: &mut Context<Self>, close: Option<CloseReason>) {
        for handle in [self.keepalive.take(), self.refresh.take(), self.stream.take(), self.retry.take()].into_iter().flatten() {
            ctx.cancel_future(handle);
        }
        if let Some(mut sink) = self.sink.take() {
            if let Some(reason) = close {
                let _ = sink.write(WsMessage::Close(Some(reason)));
            }
            sink.close();
        }
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(PlatformError::NotConnected));
        }
        for queued in self.queued.drain(..) {
            let _ = queued.reply.send(Err(PlatformError::NotConnected));
        }
        // Held events of a connection that never became usable: the next snapshot brings them.
        self.held = None;
        self.subscriptions_pending = 0;
        self.held_overflow = false;
    }

    fn on_disconnected(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Connected {
            return; // already handled (a close frame, then the stream's end)
        }
        let code = self.close_code.take();
        self.drop_connection(ctx, None);
        if matches!(self.phase, Phase::Stopped | Phase::Ended) {
            return;
        }
        match code {
            Some(CLOSE_KICKED) => {
                // Another session of this agent took over: report it, do not fight it.
                tracing::warn!(account = %self.settings.account, "kicked by another session of this agent");
                self.phase = Phase::Ended;
                self.tell_bot(PlatformEvent::SessionKicked);
            }
            Some(4401 | 4407 | 1011) => {
                // Revoked right after connecting, again and again: another session of this agent
                // keeps logging in. Report the kick instead of fighting it.
                let quick = self.connected_at.is_some_and(|at| at.elapsed() < QUICK_REVOCATION);
                self.quick_revocations = if quick { self.quick_revocations + 1 } else { 0 };
                if self.quick_revocations >= 2 {
                    tracing::warn!(account = %self.settings.account, "the token is revoked right after each login: another session of this agent; not fighting it");
                    self.phase = Phase::Ended;
                    self.tell_bot(PlatformEvent::SessionKicked);
                    return;
                }
                self.login = None;
                self.schedule_reconnect(ctx, format!("the platform closed the socket ({}): the token must be renewed", code.unwrap_or(0)));
            }
            other => self
                .schedule_reconnect(ctx, format!("the socket closed ({})", other.map_or("no close frame".to_owned(), |c| c.to_string()))),
        }
    }

    fn on_text(&mut self, text: &str) {
        let frame: Value = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(e) => return self.bad_frame("unparsable", &e.to_string()),
        };
        match frame.get("kind").and_then(Value::as_str) {
            Some("resp") => {
                let id = match frame.get("reqId") {
                    Some(Value::String(id)) => id.clone(),
                    Some(other) => other.to_string(),
                    None => return self.bad_frame("resp", "no reqId"),
                };
                let Some(pending) = self.pending.remove(&id) else {
                    return self.bad_frame("resp", &format!("no request {id} waits (late or unknown)"));
                };
                self.send_queued();
                let code = frame.get("code").and_then(Value::as_u64).unwrap_or(0) as u16;
                let body = frame.get("body").cloned().unwrap_or(Value::Null);
                if code == 401 {
                    // The token is no good any more: log in again on a new socket.
                    self.login = None;
                    self.needs_relogin = true;
                }
                let result = if (200..300).contains(&code) {
                    Ok(body)
                } else {
                    let message = body.as_str().map(str::to_owned).unwrap_or_else(|| body.to_string());
                    Err(PlatformError::Rejected { status: code, message })
                };
                let _ = pending.reply.send(result);
            }
            Some("notification") => {
                let Some(identity) = self.shared.identity.borrow().clone() else { return };
                // The first conversation notification after a connect is the subscription's
                // snapshot: every open conversation of this agent.
                let snapshot = frame["type"] == ".ams.aam.ExConversationChangeNotification" && std::mem::take(&mut self.awaiting_snapshot);
                let shared = self.shared.clone();
                let consumer_of = move |conversation: &str| shared.consumers.borrow().get(conversation).cloned();
                match frames::notification_events(&identity, &frame, &consumer_of) {
                    Ok((events, problems)) => {
                        for problem in &problems {
                            self.bad_frame(frame["type"].as_str().unwrap_or("?"), problem);
                        }
                        if events.is_empty() && problems.is_empty() && !is_known_quiet(&frame) {
                            self.bad_frame(frame["type"].as_str().unwrap_or("?"), "not a notification botvisor uses");
                        }
                        let mut open = Vec::new();
                        for event in events {
                            if let PlatformEvent::ConversationUpdated(info) = &event {
                                open.push(info.conversation_id.clone());
                            }
                            self.tell_bot(event);
                        }
                        // Reconcile only on a snapshot read in full: an unreadable change must not
                        // make the bot let go of its conversation.
                        if snapshot && problems.is_empty() {
                            self.tell_bot(PlatformEvent::OpenConversations { conversation_ids: open });
                        }
                    }
                    Err(error) => self.bad_frame(frame["type"].as_str().unwrap_or("?"), &error),
                }
            }
            other => self.bad_frame(other.unwrap_or("?"), "unknown frame kind"),
        }
    }

    /// Puts a fragmented text frame together (bounded); the whole text when complete.
    fn on_fragment(&mut self, item: actix_http::ws::Item) -> Option<String> {
        use actix_http::ws::Item;
        let last = matches!(item, Item::Last(_));
        match item {
            Item::FirstText(bytes) => self.partial = Some(bytes.to_vec()),
            Item::FirstBinary(_) => {
                self.partial = None;
                self.bad_frame("binary", "binary frames are not part of the protocol");
            }
            Item::Continue(bytes) | Item::Last(bytes) => {
                let buffer = self.partial.as_mut()?;
                if buffer.len() + bytes.len() > MAX_FRAME_BYTES {
                    self.partial = None;
                    self.bad_frame("text", "fragmented frame over 16 MiB");
                    return None;
                }
                buffer.extend_from_slice(&bytes);
                if last {
                    let whole = self.partial.take()?;
                    return match String::from_utf8(whole) {
                        Ok(text) => Some(text),
                        Err(_) => {
                            self.bad_frame("text", "not UTF-8");
                            None
                        }
                    };
                }
            }
        }
        None
    }

    /// Counts a frame that could not be used; logs it unless this window's share of bad-frame
    /// lines is used up (then a summary with the count follows).
    fn bad_frame(&mut self, kind: &str, why: &str) {
        self.shared.counters.count_bad_frame();
        let decision = self.bad_frames.note(Instant::now());
        if let Some(suppressed) = decision.summary {
            tracing::warn!(account = %self.settings.account, suppressed, "platform frames not used and not logged in the last interval");
        }
        if decision.log {
            tracing::warn!(account = %self.settings.account, frame_type = kind, why, "platform frame not used");
        }
    }

    /// Ends a connection that cannot go on (a framing error leaves the codec's state unknown):
    /// close it as `code` says and take the normal reconnect path.
    fn abandon_connection(&mut self, ctx: &mut Context<Self>, code: CloseCode, why: String) {
        if self.phase != Phase::Connected {
            return;
        }
        self.drop_connection(ctx, Some(CloseReason { code, description: None }));
        self.schedule_reconnect(ctx, why);
    }
}

/// Events that belong to a connection's notifications (held until its subscriptions are
/// confirmed); the session's own events (lost, ended, kicked) are never held.
fn is_connection_event(event: &PlatformEvent) -> bool {
    !matches!(
        event,
        PlatformEvent::SessionConnected { .. }
            | PlatformEvent::SessionLost { .. }
            | PlatformEvent::SessionEnded { .. }
            | PlatformEvent::SessionKicked
    )
}

/// Notifications that carry nothing for the core and are fine to ignore quietly.
fn is_known_quiet(frame: &Value) -> bool {
    matches!(
        frame["type"].as_str(),
        Some(
            ".ams.routing.AgentStateNotification"
                | ".ams.routing.RoutingTaskNotification"
                | ".ams.aam.ExConversationChangeNotification"
                | ".ams.ms.OnlineEventDistribution"
        )
    )
}

impl StreamHandler<Result<Frame, WsProtocolError>> for SessionActor {
    fn handle(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        if self.phase != Phase::Connected || self.sink.is_none() {
            // Items of a connection already dropped (actix delivers a batch per poll).
            return;
        }
        self.handle_frame(item, ctx);
        if std::mem::take(&mut self.held_overflow) {
            self.abandon_connection(
                ctx,
                CloseCode::Policy,
                format!("over {MAX_HELD_EVENTS} notifications arrived before the subscriptions were confirmed"),
            );
            return;
        }
        if std::mem::take(&mut self.needs_relogin) && self.phase == Phase::Connected {
            tracing::info!(account = %self.settings.account, "a request was answered 401; logging in again");
            self.close_code = Some(4401);
            self.connected_at = None; // not a quick revocation
            self.on_disconnected(ctx);
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.stream.take().is_some() {
            self.on_disconnected(ctx);
        }
    }
}

impl SessionActor {
    fn handle_frame(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text),
                Err(_) => self.bad_frame("text", "not UTF-8"),
            },
            Ok(Frame::Continuation(item)) => {
                if let Some(text) = self.on_fragment(item) {
                    self.on_text(&text);
                }
            }
            Ok(Frame::Ping(bytes)) => {
                if let Some(sink) = self.sink.as_mut() {
                    let _ = sink.write(WsMessage::Pong(bytes));
                }
            }
            Ok(Frame::Close(reason)) => {
                // The platform closed the socket: that is the end of this connection.
                self.close_code = reason.map(|r| u16::from(r.code));
                self.on_disconnected(ctx);
            }
            Ok(Frame::Binary(_)) => self.bad_frame("binary", "binary frames are not part of the protocol"),
            Ok(_) => {}
            Err(error) => {
                // Any framing error (reserved bits, bad opcode, bad UTF-8, oversize) ends the
                // connection: the stream would return it again and again otherwise.
                self.bad_frame("protocol", &error.to_string());
                self.abandon_connection(ctx, CloseCode::Protocol, format!("the platform sent a malformed websocket frame ({error})"));
            }
        }
    }
}

impl WriteHandler<WsProtocolError> for SessionActor {
    fn error(&mut self, error: WsProtocolError, _ctx: &mut Context<Self>) -> Running {
        tracing::warn!(%error, "writing to the platform socket failed");
        Running::Continue
    }

    /// A socket's sink closed: the session goes on (the default would stop the actor).
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

/// CSDS (cached) → login (unless the token is still good) → skills → websocket.
async fn establish(
    client: awc::Client,
    settings: SessionSettings,
    cached: Option<Domains>,
    login: Option<LoginSession>,
) -> Result<Established, ConnectError> {
    let (http, ws) = settings.scheme();
    // Every step has a deadline, the answer's body included: a peer that dribbles a byte a
    // second must not leave the bot connecting forever.
    let deadline = settings.request_timeout;
    let late = |what: &str| format!("{what} did not answer within {deadline:?}");
    let domains = match cached {
        Some(domains) => domains,
        None => tokio::time::timeout(deadline, csds::fetch(&client, http, &settings.csds, &settings.account))
            .await
            .map_err(|_| ConnectError::Other(late("CSDS")))?
            .map_err(ConnectError::Other)?,
    };
    let login_base = format!("{http}://{}", domains[csds::LOGIN_SERVICE]);
    let session = match login {
        Some(session) => session,
        None => tokio::time::timeout(deadline, login::login(&client, &login_base, &settings.account, &settings.credentials))
            .await
            .map_err(|_| ConnectError::Login(LoginError::Unavailable(late("the login service"))))?
            .map_err(ConnectError::Login)?,
    };
    let skills = match domains.get(csds::ACCOUNT_CONFIG_SERVICE) {
        Some(host) => {
            tokio::time::timeout(deadline, fetch_skills(&client, &format!("{http}://{host}"), &settings.account, &session.bearer))
                .await
                .unwrap_or_else(|_| Err(SkillsError::Failed(late("the account-config skills lookup"))))
        }
        None => Ok(HashMap::new()),
    };
    // SDK ≥ 1.4.5 connects to facadeMsg; older ones (and the documented UMS domain) asyncMessagingEnt.
    let host = domains.get("facadeMsg").unwrap_or(&domains[csds::MESSAGING_SERVICE]);
    let url = format!("{ws}://{host}/ws_api/account/{}/messaging/brand/{}?v=2.1", settings.account, session.bearer);
    match tokio::time::timeout(deadline, client.ws(url).max_frame_size(MAX_FRAME_BYTES).connect()).await {
        Ok(Ok((_, framed))) => Ok(Established { domains, login: session, skills, framed }),
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) if status.as_u16() == 401 => Err(ConnectError::TokenRejected),
        Ok(Err(error)) => Err(ConnectError::Other(format!("the websocket did not open: {error}"))),
        Err(_) => Err(ConnectError::Other(late("the websocket upgrade"))),
    }
}

/// The account's skills (name → id), so vendors can transfer by skill name.
async fn fetch_skills(client: &awc::Client, base: &str, account: &str, bearer: &str) -> Result<HashMap<String, String>, SkillsError> {
    let url = format!("{base}/api/account/{account}/configuration/le-users/skills?v=2.0");
    let mut response = client
        .get(&url)
        .insert_header(("Authorization", format!("Bearer {bearer}")))
        .send()
        .await
        .map_err(|e| SkillsError::Failed(e.to_string()))?;
    match response.status().as_u16() {
        401 | 403 => return Err(SkillsError::Forbidden(response.status().as_u16())),
        200..=299 => {}
        other => return Err(SkillsError::Failed(format!("the account-config API answered {other}"))),
    }
    let body: Value = response.json().limit(4 * 1024 * 1024).await.map_err(|e| SkillsError::Failed(e.to_string()))?;
    Ok(body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let id = match &s["id"] {
                Value::String(id) => id.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((s["name"].as_str()?.to_owned(), id))
        })
        .collect())
}
