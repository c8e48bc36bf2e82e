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

use crate::platform::liveperson::csds::{self, CsdsCache, Domains};
use crate::platform::liveperson::frames::{self, Identity};
use crate::platform::liveperson::http_client;
use crate::platform::liveperson::login::{self, LoginCredentials, LoginError, LoginSession};

/// Close code the simulator (and botvisor) use for "another session of this agent took over".
pub const CLOSE_KICKED: u16 = 4409;

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
    /// Requests awaiting a response, at most.
    pub max_pending_requests: usize,
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
    /// Skill name → id, read at login.
    pub skills: RefCell<HashMap<String, String>>,
    /// Frames that could not be read or were not expected (logged with their type, counted).
    pub bad_frames: RefCell<u64>,
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

/// What a connection attempt brings back.
struct Established {
    domains: Domains,
    login: LoginSession,
    skills: HashMap<String, String>,
    framed: Framed<BoxedSocket, Codec>,
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
    bot: Option<Recipient<PlatformEvent>>,
    client: awc::Client,
    csds: CsdsCache,
    login: Option<LoginSession>,
    phase: Phase,
    sink: Option<SinkWrite<WsMessage, WsSink>>,
    stream: Option<SpawnHandle>,
    close_code: Option<u16>,
    pending: HashMap<String, Pending>,
    next_id: u64,
    attempt: u32,
    failures_with_token: u32,
    login_refusals: u32,
    lost_reported: bool,
    awaiting_snapshot: bool,
    keepalive_unanswered: bool,
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
            jitter: settings.account.bytes().fold(0x2545_F491_4F6C_DD1D, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)) | 1,
            settings,
            shared,
            bot: None,
            client,
            csds: CsdsCache::default(),
            login: None,
            phase: Phase::Idle,
            sink: None,
            stream: None,
            close_code: None,
            pending: HashMap::new(),
            next_id: 0,
            attempt: 0,
            failures_with_token: 0,
            login_refusals: 0,
            lost_reported: false,
            awaiting_snapshot: false,
            keepalive_unanswered: false,
            last_error: None,
            logins,
            keepalive: None,
            refresh: None,
            retry: None,
        })
    }

    fn tell_bot(&self, event: PlatformEvent) {
        if let Some(bot) = &self.bot {
            if bot.try_send(event).is_err() {
                // Overloaded: messages are all in the dialogs' history; the next resync reads them.
                tracing::warn!(account = %self.settings.account, "the bot's mailbox is full; an event waits in the platform's history");
            }
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
        self.bot = Some(msg.0);
    }
}

/// Open the session (no-op when it is open or opening).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartSession;

impl Handler<StartSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, _msg: StartSession, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Idle | Phase::Stopped | Phase::Ended) {
            self.attempt = 0;
            self.login_refusals = 0;
            self.lost_reported = false;
            self.connect(ctx);
        }
    }
}

/// Close the session: log out, close the socket, no reconnect.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSession;

impl Handler<StopSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, _msg: StopSession, ctx: &mut Context<Self>) {
        self.phase = Phase::Stopped;
        self.drop_connection(ctx, Some(CloseReason { code: CloseCode::Normal, description: Some("logout".into()) }));
        if let (Some(session), Some(domains)) = (self.login.take(), self.csds.last()) {
            let client = self.client.clone();
            let base = format!("{}://{}", self.settings.scheme().0, domains[csds::LOGIN_SERVICE]);
            let account = self.settings.account.clone();
            actix_rt::spawn(async move {
                let _ = login::refresh_or_logout(&client, &base, &account, &session, true).await;
            });
        }
    }
}

/// One request frame; the reply is the response frame's body, or the error it maps to.
#[derive(Message)]
#[rtype(result = "Result<Value, PlatformError>")]
pub struct SendRequest {
    pub kind: &'static str,
    pub body: Value,
    pub metadata: Option<Value>,
}

impl Handler<SendRequest> for SessionActor {
    type Result = ResponseFuture<Result<Value, PlatformError>>;

    fn handle(&mut self, msg: SendRequest, _ctx: &mut Context<Self>) -> Self::Result {
        let reply = self.request(msg.kind, msg.body, msg.metadata);
        Box::pin(async move { reply.await.unwrap_or(Err(PlatformError::NotConnected)) })
    }
}

impl SessionActor {
    fn request(&mut self, kind: &str, body: Value, metadata: Option<Value>) -> oneshot::Receiver<Result<Value, PlatformError>> {
        let (tx, rx) = oneshot::channel();
        if self.phase != Phase::Connected {
            let _ = tx.send(Err(PlatformError::NotConnected));
            return rx;
        }
        if self.pending.len() >= self.settings.max_pending_requests {
            let _ = tx.send(Err(PlatformError::Rejected { status: 503, message: "too many requests in flight".into() }));
            return rx;
        }
        let Some(sink) = self.sink.as_mut() else {
            let _ = tx.send(Err(PlatformError::NotConnected));
            return rx;
        };
        self.next_id += 1;
        let id = format!("bv-{}", self.next_id);
        if sink.write(WsMessage::Text(frames::request(&id, kind, body, metadata).into())).is_err() {
            let _ = tx.send(Err(PlatformError::NotConnected));
            return rx;
        }
        self.pending.insert(id, Pending { reply: tx, deadline: Instant::now() + self.settings.request_timeout });
        rx
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
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
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            if act.phase != Phase::Connecting {
                tracing::debug!(phase = ?act.phase, "a connection attempt finished after the session moved on");
                return; // stopped meanwhile
            }
            match result {
                Ok(established) => act.on_connected(ctx, established),
                Err(error) => act.on_connect_failed(ctx, error),
            }
        }));
    }

    fn on_connected(&mut self, ctx: &mut Context<Self>, established: Established) {
        let Established { domains, login, skills, framed } = established;
        self.csds.store(domains);
        let identity = Identity { account: self.settings.account.clone(), user_id: login.user_id.clone(), pid: login.user_pid.clone() };
        *self.shared.identity.borrow_mut() = Some(identity.clone());
        if !skills.is_empty() {
            *self.shared.skills.borrow_mut() = skills;
        }
        self.login = Some(login);
        let (sink, stream) = framed.split();
        self.sink = Some(SinkWrite::new(sink, ctx));
        self.stream = Some(ctx.add_stream(stream));
        self.close_code = None;
        self.awaiting_snapshot = true;
        self.keepalive_unanswered = false;
        self.phase = Phase::Connected;
        self.attempt = 0;
        self.failures_with_token = 0;
        self.login_refusals = 0;
        self.lost_reported = false;
        tracing::info!(account = %self.settings.account, agent = %identity.agent_id(), "platform session connected");
        self.tell_bot(PlatformEvent::SessionConnected { agent_id: identity.agent_id() });
        // Subscriptions are per connection: redo them each time.
        for (kind, body) in [frames::subscribe_ex_conversations(&identity), frames::subscribe_routing_tasks(&identity)] {
            let reply = self.request(kind, body, None);
            ctx.spawn(
                async move {
                    match reply.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => tracing::warn!(kind, %error, "subscription failed"),
                        Err(_) => {}
                    }
                }
                .into_actor(self),
            );
        }
        let keepalive = self.settings.keepalive;
        self.keepalive = Some(ctx.run_interval(keepalive, |act, ctx| {
            // An unanswered keepalive means a dead (half-open) socket: reconnect.
            if act.keepalive_unanswered {
                tracing::warn!(account = %act.settings.account, "the platform did not answer the keepalive; reconnecting");
                act.on_disconnected(ctx);
                return;
            }
            act.keepalive_unanswered = true;
            let reply = act.request(".GetClock", json!({}), None);
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
        let Some(domains) = self.csds.last() else { return };
        let client = self.client.clone();
        let base = format!("{}://{}", self.settings.scheme().0, domains[csds::LOGIN_SERVICE]);
        let account = self.settings.account.clone();
        ctx.spawn(async move { login::refresh_or_logout(&client, &base, &account, &session, false).await }.into_actor(self).map(|result, act, ctx| {
            if let Err(true) = result {
                // The session is gone: log in again on a new socket.
                tracing::info!(account = %act.settings.account, "session refresh refused; logging in again");
                act.login = None;
                act.drop_connection(ctx, None);
                act.schedule_reconnect(ctx, "the session refresh was refused (401)".into());
            }
        }));
    }

    fn on_connect_failed(&mut self, ctx: &mut Context<Self>, error: ConnectError) {
        let message = match error {
            ConnectError::Login(LoginError::Refused { status, message }) => {
                self.login_refusals += 1;
                let text = format!("login refused ({status}): {message}");
                if self.login_refusals >= self.settings.login_refusals_to_stop {
                    // Stop before the account's login policy disables the user.
                    self.end(ErrorCode::LoginRefused, format!("{text}; stopped after {} refused logins, check the bot user's credentials and that it is enabled", self.login_refusals));
                    return;
                }
                text
            }
            ConnectError::Login(LoginError::RateLimited) => "login rate limited (429)".into(),
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
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let factor = 0.8 + (self.jitter % 400) as f64 / 1000.0;
        let delay = Duration::from_secs_f64((base * factor).min(24.0 * 3600.0));
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
                self.login = None;
                self.schedule_reconnect(ctx, format!("the platform closed the socket ({}): the token must be renewed", code.unwrap_or(0)));
            }
            other => self.schedule_reconnect(ctx, format!("the socket closed ({})", other.map_or("no close frame".to_owned(), |c| c.to_string()))),
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
                let code = frame.get("code").and_then(Value::as_u64).unwrap_or(0) as u16;
                let body = frame.get("body").cloned().unwrap_or(Value::Null);
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
                match frames::notification_events(&identity, &frame) {
                    Ok(events) if events.is_empty() && !is_known_quiet(&frame) => {
                        self.bad_frame(frame["type"].as_str().unwrap_or("?"), "not a notification botvisor uses")
                    }
                    Ok(events) => {
                        // The first conversation notification after a connect is the subscription's
                        // snapshot: every open conversation of this agent.
                        let snapshot = frame["type"] == ".ams.aam.ExConversationChangeNotification" && std::mem::take(&mut self.awaiting_snapshot);
                        let mut open = Vec::new();
                        for event in events {
                            if let PlatformEvent::ConversationUpdated(info) = &event {
                                open.push(info.conversation_id.clone());
                            }
                            self.tell_bot(event);
                        }
                        if snapshot {
                            self.tell_bot(PlatformEvent::OpenConversations { conversation_ids: open });
                        }
                    }
                    Err(error) => self.bad_frame(frame["type"].as_str().unwrap_or("?"), &error),
                }
            }
            other => self.bad_frame(other.unwrap_or("?"), "unknown frame kind"),
        }
    }

    fn bad_frame(&self, kind: &str, why: &str) {
        *self.shared.bad_frames.borrow_mut() += 1;
        tracing::warn!(account = %self.settings.account, frame_type = kind, why, "platform frame not used");
    }
}

/// Notifications that carry nothing for the core and are fine to ignore quietly.
fn is_known_quiet(frame: &Value) -> bool {
    matches!(
        frame["type"].as_str(),
        Some(".ams.routing.AgentStateNotification" | ".ams.routing.RoutingTaskNotification" | ".ams.aam.ExConversationChangeNotification" | ".ams.ms.OnlineEventDistribution")
    )
}

impl StreamHandler<Result<Frame, WsProtocolError>> for SessionActor {
    fn handle(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Context<Self>) {
        match item {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text),
                Err(_) => self.bad_frame("text", "not UTF-8"),
            },
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
            Err(error) => self.bad_frame("protocol", &error.to_string()),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.stream.take().is_some() {
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

/// CSDS (cached) → login (unless the token is still good) → skills → websocket.
async fn establish(client: awc::Client, settings: SessionSettings, cached: Option<Domains>, login: Option<LoginSession>) -> Result<Established, ConnectError> {
    let (http, ws) = settings.scheme();
    let domains = match cached {
        Some(domains) => domains,
        None => csds::fetch(&client, http, &settings.csds, &settings.account).await.map_err(ConnectError::Other)?,
    };
    let login_base = format!("{http}://{}", domains[csds::LOGIN_SERVICE]);
    let session = match login {
        Some(session) => session,
        None => login::login(&client, &login_base, &settings.account, &settings.credentials).await.map_err(ConnectError::Login)?,
    };
    let skills = match domains.get(csds::ACCOUNT_CONFIG_SERVICE) {
        Some(host) => fetch_skills(&client, &format!("{http}://{host}"), &settings.account, &session.bearer).await.unwrap_or_default(),
        None => HashMap::new(),
    };
    let url = format!("{ws}://{}/ws_api/account/{}/messaging/brand/{}?v=2.1", domains[csds::MESSAGING_SERVICE], settings.account, session.bearer);
    match client.ws(url).max_frame_size(16 * 1024 * 1024).connect().await {
        Ok((_, framed)) => Ok(Established { domains, login: session, skills, framed }),
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) if status.as_u16() == 401 => Err(ConnectError::TokenRejected),
        Err(error) => Err(ConnectError::Other(format!("the websocket did not open: {error}"))),
    }
}

/// The account's skills (name → id), so vendors can transfer by skill name.
async fn fetch_skills(client: &awc::Client, base: &str, account: &str, bearer: &str) -> Result<HashMap<String, String>, String> {
    let url = format!("{base}/api/account/{account}/configuration/le-users/skills?v=2.0");
    let mut response = client.get(&url).insert_header(("Authorization", format!("Bearer {bearer}"))).send().await.map_err(|e| e.to_string())?;
    let body: Value = response.json().limit(4 * 1024 * 1024).await.map_err(|e| e.to_string())?;
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
