//! The session actor: owns one bot user's connection to the platform and carries out what the
//! pure parts decide — connecting (`connect`), correlating requests (`requests`), reading frames
//! (`inbound`), backing off (`reconnect`), acting on closes (`close_codes`) — plus the keepalive,
//! the refresh and the hand-off of events to the bot (`backpressure`).

use std::num::NonZeroU32;
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
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::http::{shared_client, TlsError};
use crate::platform::liveperson::backpressure::EventOutbox;
use crate::platform::liveperson::csds::{self, CsdsCache};
use crate::platform::liveperson::frames::{self, Extras, Identity, RawJson};
use crate::platform::liveperson::login::{self, LoginError, LoginSession, RefreshError};
use crate::platform::liveperson::session::close_codes::{self, CloseKind};
use crate::platform::liveperson::session::connect::{establish, ConnectError, Established, SkillsError};
use crate::platform::liveperson::session::inbound::{self, BadFrame, FragmentError, Fragments, Inbound, ResponseBody};
use crate::platform::liveperson::session::messages::{AttachBot, EndSession, SendRequest, StartSession, StopSession};
use crate::platform::liveperson::session::reconnect::{ReconnectPolicy, ReconnectStep};
use crate::platform::liveperson::session::requests::{Outgoing, RequestTable};
use crate::platform::liveperson::session::settings::{SessionSettings, SessionShared};

/// A token revoked this soon after connecting, twice in a row, means another session of this
/// agent is logging in (the real platform revokes with 4401 or drops with 1006): a kick.
const QUICK_REVOCATION: Duration = Duration::from_secs(10);
/// After a login answered 429, wait at least this long (the login service's retry policy).
const LOGIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);
/// Logout on stop waits at most this long.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Events held while the subscriptions of a new connection are confirmed, at most (a snapshot of
/// a bot at its hard limit is about a thousand); more drops the connection.
const MAX_HELD_EVENTS: usize = 20_000;
/// How often requests past their deadline are failed.
const EXPIRY_SWEEP: Duration = Duration::from_millis(500);
/// How often a session checks the node's ownership deadline while connected (and, fenced,
/// whether it may connect again).
const FENCE_RECHECK: Duration = Duration::from_millis(100);

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

/// A new connection's subscriptions: the bot is told it is connected (and goes online) once both
/// are confirmed; until then the connection's events are held, in order.
enum Subscriptions {
    Confirming { left: u8, held: Vec<PlatformEvent> },
    Confirmed,
}

/// The state of one open websocket; gone with it.
struct Connection {
    sink: SinkWrite<WsMessage, WsSink>,
    stream: SpawnHandle,
    keepalive: SpawnHandle,
    refresh: SpawnHandle,
    opened_at: Instant,
    /// The close code the platform sent, if any.
    close_code: Option<u16>,
    subscriptions: Subscriptions,
    /// The next conversation notification is the subscription's snapshot.
    awaiting_snapshot: bool,
    keepalive_unanswered: bool,
    fragments: Fragments,
    /// Why this connection must end after the frame being handled, if it must.
    ending: Option<Ending>,
}

enum Ending {
    /// A response said 401: log in again on a new socket.
    Relogin,
    /// More than `MAX_HELD_EVENTS` arrived before the subscriptions were confirmed.
    TooManyHeld,
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
    connection: Option<Connection>,
    requests: RequestTable,
    reconnect: ReconnectPolicy,
    login_refusals: u32,
    /// Incremented for every connection attempt: completions and timers of an older one are
    /// ignored.
    generation: u64,
    connecting: Option<SpawnHandle>,
    retry: Option<SpawnHandle>,
    quick_revocations: u32,
    rate_limited: bool,
    lost_reported: bool,
    logins: DefaultDirectRateLimiter,
}

impl SessionActor {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(settings: SessionSettings, shared: Rc<SessionShared>) -> Result<Self, TlsError> {
        let client = shared_client(settings.ca.as_deref())?;
        let per_minute = NonZeroU32::new(settings.logins_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN);
        // Jitter seeded by the OS: the bots of an account do not reconnect in lockstep.
        let reconnect = ReconnectPolicy::new(settings.reconnect(), StdRng::from_os_rng());
        Ok(Self {
            outbox: EventOutbox::new(shared.counters.clone()),
            requests: RequestTable::new(settings.max_pending_requests, settings.max_queued_requests, settings.request_timeout),
            reconnect,
            logins: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            settings,
            shared,
            client,
            csds: CsdsCache::default(),
            login: None,
            phase: Phase::Idle,
            connection: None,
            login_refusals: 0,
            generation: 0,
            connecting: None,
            retry: None,
            quick_revocations: 0,
            rate_limited: false,
            lost_reported: false,
        })
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        // Requests that outlive their deadline fail; their slots go to waiting ones.
        ctx.run_interval(EXPIRY_SWEEP, |act, _| {
            act.requests.expire(Instant::now());
            act.write_ready();
        });
        // Past the node's ownership deadline the connection ends at once: another node may own
        // the bot now.
        ctx.run_interval(FENCE_RECHECK, |act, ctx| act.fence_check(ctx));
    }
}

impl Handler<AttachBot> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: AttachBot, _ctx: &mut Context<Self>) {
        self.outbox.attach(msg.0);
    }
}

impl Handler<StartSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, _msg: StartSession, ctx: &mut Context<Self>) {
        match self.phase {
            Phase::Idle | Phase::Stopped | Phase::Ended => {
                self.reconnect.reset();
                self.login_refusals = 0;
                self.quick_revocations = 0;
                self.lost_reported = false;
                self.connect(ctx);
            }
            // Asked again while up: say where the session stands (once subscribed).
            Phase::Connected if self.connection.as_ref().is_some_and(|c| matches!(c.subscriptions, Subscriptions::Confirmed)) => {
                let identity = self.shared.identity.borrow().clone();
                if let Some(identity) = identity {
                    self.tell_bot(PlatformEvent::SessionConnected { agent_id: identity.agent_id() });
                }
            }
            Phase::Connected | Phase::Connecting | Phase::Reconnecting => {}
        }
    }
}

impl Handler<StopSession> for SessionActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _msg: StopSession, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(self.stop(ctx).into_actor(self))
    }
}

impl Handler<EndSession> for SessionActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _msg: EndSession, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(self.stop(ctx).into_actor(self).map(|(), _act, ctx| ctx.stop()))
    }
}

impl Handler<SendRequest> for SessionActor {
    type Result = ResponseFuture<Result<ResponseBody, PlatformError>>;
    fn handle(&mut self, msg: SendRequest, _ctx: &mut Context<Self>) -> Self::Result {
        let reply = self.request(msg.kind, msg.body, msg.extras);
        Box::pin(async move { reply.await.unwrap_or(Err(PlatformError::NotConnected)) })
    }
}

impl StreamHandler<Result<Frame, WsProtocolError>> for SessionActor {
    fn handle(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        if self.phase != Phase::Connected || self.connection.is_none() {
            // Items of a connection already dropped (actix delivers a batch per poll).
            return;
        }
        self.on_frame(item, ctx);
        match self.connection.as_mut().and_then(|c| c.ending.take()) {
            Some(Ending::TooManyHeld) => self.abandon_connection(
                ctx,
                CloseCode::Policy,
                format!("over {MAX_HELD_EVENTS} notifications arrived before the subscriptions were confirmed"),
            ),
            Some(Ending::Relogin) => {
                tracing::info!(account = %self.settings.account, "a request was answered 401; logging in again");
                self.login = None;
                self.quick_revocations = 0; // not a revocation right after a login
                self.drop_connection(ctx, None);
                self.schedule_reconnect(ctx, "a request was answered 401: the token must be renewed".into());
            }
            None => {}
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Connected && self.connection.is_some() {
            self.on_disconnected(ctx);
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

// ---- requests -----------------------------------------------------------------------------

impl SessionActor {
    fn request(&mut self, kind: &'static str, body: RawJson, extras: Extras) -> oneshot::Receiver<Result<ResponseBody, PlatformError>> {
        let (tx, rx) = oneshot::channel();
        if self.phase != Phase::Connected || self.connection.is_none() {
            let _ = tx.send(Err(PlatformError::NotConnected));
            return rx;
        }
        if let Some(outgoing) = self.requests.submit(kind, body, extras, tx, Instant::now()) {
            self.write(outgoing);
        }
        rx
    }

    /// Writes a request frame; a write that fails fails its request. Past the node's ownership
    /// deadline nothing is written: the request fails and the connection is ended with the
    /// next frame or tick (`fence_check`).
    fn write(&mut self, outgoing: Outgoing) {
        let fenced = !self.settings.fence.allows(Instant::now());
        let written = !fenced && self.connection.as_mut().is_some_and(|c| c.sink.write(WsMessage::Text(outgoing.text.into())).is_ok());
        if !written {
            self.requests.resolve(&outgoing.id, Err(PlatformError::NotConnected));
        }
    }

    /// Sends the requests that waited for a slot, as slots free.
    fn write_ready(&mut self) {
        if self.phase != Phase::Connected {
            return;
        }
        for outgoing in self.requests.take_ready() {
            self.write(outgoing);
        }
    }
}

// ---- connecting ---------------------------------------------------------------------------

impl SessionActor {
    fn connect(&mut self, ctx: &mut Context<Self>) {
        for handle in [self.retry.take(), self.connecting.take()].into_iter().flatten() {
            ctx.cancel_future(handle);
        }
        if !self.settings.fence.allows(Instant::now()) {
            // Never log a bot in without owning it: wait for the node's lease to be renewed.
            tracing::debug!(account = %self.settings.account, "the node's ownership deadline has passed; not connecting");
            self.phase = Phase::Reconnecting;
            self.retry = Some(ctx.run_later(FENCE_RECHECK, |act, ctx| act.connect(ctx)));
            return;
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
        tracing::debug!(account = %self.settings.account, attempt = self.reconnect.attempt(), need_login, "connecting to the platform");
        let work = establish(self.client.clone(), self.settings.clone(), self.csds.fresh(), self.login.clone());
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
        *self.shared.identity.borrow_mut() = Some(Rc::new(identity.clone()));
        self.use_skills(skills);
        self.login = Some(login);
        let (sink, stream) = framed.split();
        let sink = SinkWrite::new(sink, ctx);
        let stream = ctx.add_stream(self.outbox.gate(stream));
        let keepalive = ctx.run_interval(self.settings.keepalive, |act, ctx| act.keepalive(ctx));
        let refresh = ctx.run_interval(self.settings.refresh_interval, |act, ctx| act.refresh_session(ctx));
        self.connection = Some(Connection {
            sink,
            stream,
            keepalive,
            refresh,
            opened_at: Instant::now(),
            close_code: None,
            subscriptions: Subscriptions::Confirming { left: 2, held: Vec::new() },
            awaiting_snapshot: true,
            keepalive_unanswered: false,
            fragments: Fragments::default(),
            ending: None,
        });
        self.phase = Phase::Connected;
        self.rate_limited = false;
        self.reconnect.connected();
        self.login_refusals = 0;
        self.lost_reported = false;
        tracing::info!(account = %self.settings.account, agent = %identity.agent_id(), "platform socket open; subscribing");
        // Subscriptions are per connection: redo them each time. Without them the bot would be
        // deaf: a failed or unanswered one drops the connection and reconnects.
        let generation = self.generation;
        for (kind, body) in [frames::subscribe_ex_conversations(&identity), frames::subscribe_routing_tasks(&identity)] {
            let reply = self.request(kind, body, Extras::default());
            let agent_id = identity.agent_id();
            ctx.spawn(reply.into_actor(self).map(move |result, act, ctx| {
                if act.generation != generation || act.phase != Phase::Connected {
                    return;
                }
                match result {
                    Ok(Ok(_)) => act.subscription_confirmed(&agent_id),
                    Ok(Err(error)) => {
                        tracing::warn!(kind, %error, "subscription failed; reconnecting");
                        act.on_disconnected(ctx);
                    }
                    Err(_) => act.on_disconnected(ctx),
                }
            }));
        }
    }

    /// The account's skills as read, or the configured ones when the bot user may not read them.
    fn use_skills(&mut self, skills: Result<std::collections::HashMap<String, String>, SkillsError>) {
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
                tracing::warn!(
                    account = %self.settings.account,
                    status,
                    configured = self.settings.skills.len(),
                    "the bot user may not read the account's skills; transfers use platform.skills and skill ids"
                );
                self.shared.skills_forbidden.set(true);
                *self.shared.skills.borrow_mut() = self.settings.skills.clone();
            }
            Err(SkillsError::Failed(why)) => {
                tracing::warn!(account = %self.settings.account, why, "the account's skills could not be read; keeping the last list (transfers by name may escalate)")
            }
        }
    }

    fn subscription_confirmed(&mut self, agent_id: &str) {
        let Some(connection) = self.connection.as_mut() else { return };
        let held = match &mut connection.subscriptions {
            Subscriptions::Confirming { left, held } => {
                *left = left.saturating_sub(1);
                if *left > 0 {
                    return;
                }
                std::mem::take(held)
            }
            Subscriptions::Confirmed => return,
        };
        connection.subscriptions = Subscriptions::Confirmed;
        tracing::info!(account = %self.settings.account, agent = %agent_id, "platform session connected");
        self.tell_bot(PlatformEvent::SessionConnected { agent_id: agent_id.to_owned() });
        for event in held {
            self.tell_bot(event);
        }
    }

    fn on_connect_failed(&mut self, ctx: &mut Context<Self>, error: ConnectError) {
        if matches!(error, ConnectError::Login(_)) {
            self.shared.counters.count_login_failure();
        }
        match &error {
            ConnectError::Login(LoginError::Refused { .. }) => {
                self.login_refusals += 1;
                if self.login_refusals >= self.settings.login_refusals_to_stop {
                    // Stop before the account's login policy disables the user.
                    let message = format!(
                        "{error}; stopped after {} refused logins, check the bot user's credentials and that it is enabled",
                        self.login_refusals
                    );
                    self.end(ErrorCode::LoginRefused, message);
                    return;
                }
            }
            ConnectError::Login(LoginError::RateLimited) => self.rate_limited = true,
            ConnectError::TokenRejected => self.login = None,
            _ => {}
        }
        self.schedule_reconnect(ctx, error.to_string());
    }

    /// Reports the session lost once, and arms the next attempt with backoff (or gives up).
    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>, reason: String) {
        if matches!(self.phase, Phase::Stopped | Phase::Ended) {
            return;
        }
        tracing::warn!(account = %self.settings.account, attempt = self.reconnect.attempt(), reason = %reason, "platform session down");
        if !self.lost_reported {
            self.lost_reported = true;
            self.tell_bot(PlatformEvent::SessionLost { error: ErrorReport::new(ErrorCode::SessionLost, reason.clone()) });
        }
        match self.reconnect.after_failure() {
            ReconnectStep::GiveUp { attempts } => {
                self.end(ErrorCode::ReconnectExhausted, format!("{attempts} reconnect attempts failed; last error: {reason}"));
            }
            ReconnectStep::Retry { delay, relogin } => {
                if relogin {
                    self.login = None; // a revoked token can look like any close (1006): log in again
                }
                self.shared.counters.count_reconnect();
                let delay = if std::mem::take(&mut self.rate_limited) { delay.max(LOGIN_RATE_LIMIT_WAIT) } else { delay };
                self.phase = Phase::Reconnecting;
                self.retry = Some(ctx.run_later(delay, |act, ctx| act.connect(ctx)));
            }
        }
    }

    fn end(&mut self, code: ErrorCode, message: String) {
        tracing::error!(account = %self.settings.account, code = code.as_str(), %message, "platform session gave up");
        self.phase = Phase::Ended;
        self.tell_bot(PlatformEvent::SessionEnded { error: ErrorReport::new(code, message) });
    }

    fn keepalive(&mut self, ctx: &mut Context<Self>) {
        let Some(connection) = self.connection.as_mut() else { return };
        // An unanswered keepalive means a dead (half-open) socket: reconnect.
        if connection.keepalive_unanswered {
            tracing::warn!(account = %self.settings.account, "the platform did not answer the keepalive; reconnecting");
            self.on_disconnected(ctx);
            return;
        }
        connection.keepalive_unanswered = true;
        let _ = connection.sink.write(WsMessage::Ping(Default::default()));
        self.shared.flush_bad_frames(&self.settings.account);
        let generation = self.generation;
        let (kind, body) = frames::get_clock();
        let reply = self.request(kind, body, Extras::default());
        ctx.spawn(reply.into_actor(self).map(move |result, act, _| {
            if let (Ok(Ok(_)), Some(connection), true) = (result, act.connection.as_mut(), act.generation == generation) {
                connection.keepalive_unanswered = false;
            }
        }));
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
        let work = async move { login::refresh_or_logout(&client, &base, &account, &session, false, deadline).await };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            if act.generation != generation || act.phase != Phase::Connected {
                return; // about another connection
            }
            match result {
                Ok(()) => {}
                Err(RefreshError::Failed(why)) => {
                    tracing::warn!(account = %act.settings.account, why, "the session refresh failed; trying again at the next interval");
                }
                Err(RefreshError::SessionGone) => {
                    // The session is gone: log in again on a new socket.
                    tracing::info!(account = %act.settings.account, "session refresh refused; logging in again");
                    act.login = None;
                    act.drop_connection(ctx, None);
                    act.schedule_reconnect(ctx, "the session refresh was refused (401)".into());
                }
            }
        }));
    }
}

// ---- stopping and losing the connection ---------------------------------------------------

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

    /// Closes the socket (with `close` when given), cancels its timers and fails its requests.
    fn drop_connection(&mut self, ctx: &mut Context<Self>, close: Option<CloseReason>) {
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        if let Some(mut connection) = self.connection.take() {
            for handle in [connection.keepalive, connection.refresh, connection.stream] {
                ctx.cancel_future(handle);
            }
            if let Some(reason) = close {
                let _ = connection.sink.write(WsMessage::Close(Some(reason)));
            }
            connection.sink.close();
            // Held events of a connection that never became usable: the next snapshot brings them.
        }
        self.requests.fail_all(PlatformError::NotConnected);
    }

    fn fence_check(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Connected && !self.settings.fence.allows(Instant::now()) {
            tracing::warn!(account = %self.settings.account, "the node's ownership deadline passed: closing the session");
            self.abandon_connection(ctx, CloseCode::Away, "the node's ownership deadline passed (its lease may be lost)".into());
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

    /// The connection ended (a close frame, the stream's end, a failed subscription, a dead
    /// keepalive): what follows depends on the close code.
    fn on_disconnected(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Connected {
            return; // already handled (a close frame, then the stream's end)
        }
        let (code, opened_at) = self.connection.as_ref().map_or((None, None), |c| (c.close_code, Some(c.opened_at)));
        self.drop_connection(ctx, None);
        match close_codes::classify(code) {
            CloseKind::Kicked => {
                // Another session of this agent took over: report it, do not fight it.
                tracing::warn!(account = %self.settings.account, "kicked by another session of this agent");
                self.phase = Phase::Ended;
                self.tell_bot(PlatformEvent::SessionKicked);
            }
            CloseKind::NeedsLogin => {
                // Revoked right after connecting, again and again: another session of this agent
                // keeps logging in. Report the kick instead of fighting it.
                let quick = opened_at.is_some_and(|at| at.elapsed() < QUICK_REVOCATION);
                self.quick_revocations = if quick { self.quick_revocations + 1 } else { 0 };
                if self.quick_revocations >= 2 {
                    tracing::warn!(account = %self.settings.account, "the token is revoked right after each login: another session of this agent; not fighting it");
                    self.phase = Phase::Ended;
                    self.tell_bot(PlatformEvent::SessionKicked);
                    return;
                }
                self.login = None;
                let reason = format!("the platform closed the socket ({}): the token must be renewed", code.unwrap_or(0));
                self.schedule_reconnect(ctx, reason);
            }
            CloseKind::Reconnect => {
                let reason = format!("the socket closed ({})", code.map_or("no close frame".to_owned(), |c| c.to_string()));
                self.schedule_reconnect(ctx, reason);
            }
        }
    }
}

// ---- inbound ------------------------------------------------------------------------------

impl SessionActor {
    fn on_frame(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text),
                Err(_) => {
                    // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection.
                    self.bad_frame(&BadFrame { kind: "text".into(), why: "not UTF-8".into() });
                    self.abandon_connection(ctx, CloseCode::Invalid, "the platform sent a text frame that is not UTF-8".into());
                }
            },
            Ok(Frame::Continuation(item)) => {
                let Some(connection) = self.connection.as_mut() else { return };
                match connection.fragments.push(item) {
                    Ok(Some(text)) => self.on_text(&text),
                    Ok(None) => {}
                    Err(FragmentError::Skipped(bad)) => self.bad_frame(&bad),
                    Err(FragmentError::Fatal(bad, code)) => {
                        self.bad_frame(&bad);
                        self.abandon_connection(ctx, code, format!("the platform sent a malformed fragmented message ({})", bad.why));
                    }
                }
            }
            Ok(Frame::Ping(bytes)) => {
                if let Some(connection) = self.connection.as_mut() {
                    let _ = connection.sink.write(WsMessage::Pong(bytes));
                }
            }
            Ok(Frame::Close(reason)) => {
                // The platform closed the socket: that is the end of this connection.
                if let Some(connection) = self.connection.as_mut() {
                    connection.close_code = reason.map(|r| u16::from(r.code));
                }
                self.on_disconnected(ctx);
            }
            Ok(Frame::Binary(_)) => {
                self.bad_frame(&BadFrame { kind: "binary".into(), why: "binary frames are not part of the protocol".into() })
            }
            Ok(Frame::Pong(_)) => {}
            Err(error) => {
                // Any framing error (reserved bits, bad opcode, bad UTF-8, oversize) ends the
                // connection: the stream would return it again and again otherwise.
                self.bad_frame(&BadFrame { kind: "protocol".into(), why: error.to_string() });
                self.abandon_connection(ctx, CloseCode::Protocol, format!("the platform sent a malformed websocket frame ({error})"));
            }
        }
    }

    fn on_text(&mut self, text: &str) {
        match inbound::parse(text) {
            Err(bad) => self.bad_frame(&bad),
            Ok(Inbound::Response { id, status, result }) => {
                if !self.requests.resolve(&id, result) {
                    return self.bad_frame(&BadFrame { kind: "resp".into(), why: format!("no request {id} waits (late or unknown)") });
                }
                self.write_ready();
                if status == 401 {
                    // The token is no good any more: log in again on a new socket.
                    if let Some(connection) = self.connection.as_mut() {
                        connection.ending = Some(Ending::Relogin);
                    }
                }
            }
            Ok(Inbound::Notification(frame)) => {
                let Some(identity) = self.shared.identity.borrow().clone() else { return };
                let snapshot = inbound::is_conversation_notification(&frame)
                    && self.connection.as_mut().is_some_and(|c| std::mem::take(&mut c.awaiting_snapshot));
                let dispatch = inbound::dispatch(&identity, &frame, snapshot, &self.shared.known);
                for problem in &dispatch.problems {
                    self.bad_frame(problem);
                }
                for event in dispatch.events {
                    self.tell_bot(event);
                }
            }
        }
    }

    /// Counts a frame that could not be used; logs it unless this window's share of bad-frame
    /// lines is used up (then a summary with the count follows).
    fn bad_frame(&mut self, bad: &BadFrame) {
        self.shared.bad_frame(&self.settings.account, &bad.kind, &bad.why);
    }

    /// Every event reaches the bot, in order; while its mailbox is full the socket is not read
    /// (see `backpressure`). Only typing, which is advisory, is shed then. A connection's events
    /// wait until its subscriptions are confirmed.
    fn tell_bot(&mut self, event: PlatformEvent) {
        self.shared.known.track(&event);
        if is_connection_event(&event) {
            if let Some(connection) = self.connection.as_mut() {
                if let Subscriptions::Confirming { held, .. } = &mut connection.subscriptions {
                    if held.len() < MAX_HELD_EVENTS {
                        held.push(event);
                    } else {
                        connection.ending = Some(Ending::TooManyHeld);
                    }
                    return;
                }
            }
        }
        self.outbox.deliver(event);
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
