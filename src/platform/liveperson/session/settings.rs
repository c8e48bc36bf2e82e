//! How one bot's session behaves, and what it shares with its `PlatformPort` on the same thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::Fence;
use crate::platform::liveperson::bad_frame_log::BadFrameLog;
use crate::platform::liveperson::counters::SessionCounters;
use crate::platform::liveperson::frames::{Identity, TtrSeconds};
use crate::platform::liveperson::login::LoginCredentials;
use crate::platform::liveperson::session::reconnect::ReconnectSettings;

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
    /// Every request's deadline, and every step of connecting (answer body included).
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
    pub ttr_seconds: TtrSeconds,
    /// Skill name → id, configured: used when the bot user may not read the account's skills.
    pub skills: HashMap<String, String>,
    /// The node's ownership deadline: past it the session sends nothing and does not connect.
    pub fence: Fence,
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
            ttr_seconds: TtrSeconds::default(),
            skills: HashMap::new(),
            fence: Fence::open(),
        }
    }

    /// The URL schemes for HTTP and the websocket.
    pub fn scheme(&self) -> (&'static str, &'static str) {
        if self.plain_http {
            ("http", "ws")
        } else {
            ("https", "wss")
        }
    }

    pub fn reconnect(&self) -> ReconnectSettings {
        ReconnectSettings {
            first_delay: self.reconnect_first_delay,
            factor: self.reconnect_factor,
            max_attempts: self.reconnect_max_attempts,
            relogin_after: self.relogin_after,
        }
    }

    /// The bot user's login name.
    pub fn username(&self) -> &str {
        match &self.credentials {
            LoginCredentials::Password { username, .. } | LoginCredentials::ApiKey { username, .. } => username,
        }
    }
}

/// What the session shares with its `PlatformPort` (same thread).
#[derive(Default)]
pub struct SessionShared {
    pub identity: RefCell<Option<Rc<Identity>>>,
    /// Skill name → id, read at login (and the configured ones).
    pub skills: RefCell<HashMap<String, String>>,
    /// The account-config API refused to list the skills (401/403): names not configured in
    /// `platform.skills` cannot be resolved.
    pub skills_forbidden: Cell<bool>,
    /// Reconnects, login failures, bad frames (logged with their type, counted).
    pub counters: Arc<SessionCounters>,
    /// The rate limit of bad-frame log lines, for live frames and history events alike.
    pub bad_frames: RefCell<BadFrameLog>,
    /// The consumers of open conversations and the ids that recur, shared by what frames read.
    pub known: crate::platform::liveperson::frames::KnownIds,
}

impl SessionShared {
    /// Counts a frame (or history event) that could not be used; logs it unless this window's
    /// share of bad-frame lines is used up (then a summary with the count follows).
    pub fn bad_frame(&self, account: &str, kind: &str, why: &str) {
        self.counters.count_bad_frame();
        let decision = self.bad_frames.borrow_mut().note(Instant::now());
        if let Some(suppressed) = decision.summary {
            tracing::warn!(account, suppressed, "platform frames not used and not logged in the last interval");
        }
        if decision.log {
            tracing::warn!(account, frame_type = kind, why, "platform frame not used");
        }
    }

    /// Logs the count of bad frames not logged in a window that is over.
    pub fn flush_bad_frames(&self, account: &str) {
        if let Some(suppressed) = self.bad_frames.borrow_mut().flush(Instant::now()) {
            tracing::warn!(account, suppressed, "platform frames not used and not logged in the last interval");
        }
    }
}
