//! The simulated platform's state: skills, users, login sessions, websocket connections,
//! conversations with their dialogs, routing rings, faults.
//!
//! One `SimState` behind one mutex (`Shared`); never held across an await. Operations push the
//! frames they cause straight into the connections' bounded queues and return the timers the
//! caller must arm (ring expiry).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::sim::config::{Credentials, SimConfig, UserKind};
use crate::sim::observe::{Observer, Whereabouts};
use crate::sim::session_log::{SessionEvent, SessionEventKind};

pub type Shared = Arc<Mutex<SimState>>;
pub type ConnId = u64;

/// What goes out on a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Text(String),
    /// A close frame with this code and reason.
    Close(u16, String),
    /// Drop the TCP connection without a close frame (a network failure).
    Drop,
}

/// The close code sent to a connection replaced by a newer session of the same agent.
pub const CLOSE_KICKED: u16 = 4409;
/// The close code sent when the session's token is revoked or expired.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4401;

/// A timer the caller arms.
#[derive(Debug, Clone, PartialEq)]
pub enum Timer {
    RingExpiry {
        ring_id: String,
        after: Duration,
    },
    /// Offer a conversation that every available agent declined again.
    Reoffer {
        conversation_id: String,
        after: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Skill {
    pub id: String,
    pub name: String,
    pub human: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub pid: String,
    pub login: String,
    pub credentials: Credentials,
    /// Skill ids.
    pub skills: Vec<String>,
    pub max_slots: usize,
    pub kind: UserKind,
    pub disabled: bool,
    pub failed_logins: u32,
    pub availability: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub bearer: String,
    pub user_id: String,
    pub csrf: String,
    pub cookie: String,
}

/// One websocket connection.
pub struct Conn {
    pub user_id: String,
    pub bearer: String,
    pub tx: mpsc::Sender<Outgoing>,
    pub ex_subs: Vec<ExSubscription>,
    pub routing_sub: Option<String>,
    pub agent_state_sub: Option<String>,
}

/// A SubscribeExConversations filter and the conversations it has shown.
pub struct ExSubscription {
    pub id: String,
    /// Old agent ids (`acc.userId`); `None`: every conversation of the account.
    pub agent_ids: Option<Vec<String>>,
    pub states: Vec<String>,
    pub shown: HashSet<String>,
}

/// One messaging event of a dialog.
#[derive(Debug, Clone)]
pub struct DialogEvent {
    /// `None` for chat-state events.
    pub sequence: Option<u64>,
    /// Old id for agents, PID for consumers.
    pub originator_id: String,
    pub originator_pid: String,
    pub role: String,
    pub server_timestamp: i64,
    pub event: Value,
    /// The request's frame-level `metadata` array, as sent.
    pub metadata: Option<Value>,
    /// The request's frame-level `encodedMetadata` (base64), as sent.
    pub encoded_metadata: Option<String>,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub consumer_id: String,
    pub skill_id: String,
    pub state: String,
    /// User id of the assigned agent.
    pub assigned: Option<String>,
    /// User id of a SUGGESTED agent (transfer to agent).
    pub suggested: Option<String>,
    pub managers: Vec<String>,
    pub ttr_type: String,
    pub ttr_value: u64,
    pub close_reason: Option<String>,
    pub start_ts: i64,
    pub end_ts: Option<i64>,
    pub updated_ts: i64,
    pub events: Vec<DialogEvent>,
    pub next_sequence: u64,
    /// Engagement attributes (`lp_sdes` entries) for GetUserProfile.
    pub sdes: Value,
    /// Moved to another skill at least once (OCCUPIED agents may take it).
    pub transferred: bool,
}

#[derive(Debug, Clone)]
pub struct Ring {
    pub id: String,
    pub conversation_id: String,
    pub user_id: String,
    pub created_ts: i64,
    pub expires_ts: i64,
    pub state: String,
}

/// Faults injected through the control API.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Logins answer 503 until this time (ms).
    pub login_unavailable_until: Option<i64>,
    /// Websocket upgrades are refused until this time (ms).
    pub ums_unavailable_until: Option<i64>,
    /// Every request waits this long before it is handled.
    pub latency: Option<Duration>,
    /// At most this many requests per second per connection; more get 429.
    pub rate_limit: Option<u32>,
    /// The account-config skills API refuses every bot user (403).
    pub skills_forbidden: bool,
    /// The demo function (`/functions/demo`) answers 503 until this time (ms).
    pub functions_unavailable_until: Option<i64>,
}

pub struct SimState {
    pub config: SimConfig,
    pub skills: Vec<Skill>,
    pub users: HashMap<String, User>,
    pub sessions: HashMap<String, Session>,
    pub conns: HashMap<ConnId, Conn>,
    pub conversations: HashMap<String, Conversation>,
    /// Conversation ids in creation order (for listing).
    pub conversation_order: Vec<String>,
    /// Conversations waiting for an agent, per skill id. An entry stands only while its id is
    /// in `queued` (assigning or closing a conversation leaves a stale entry behind, skipped
    /// when the queue is next drained).
    pub queues: HashMap<String, VecDeque<String>>,
    pub(crate) queued: HashSet<String>,
    /// Waiting rings (an ended ring is removed).
    pub rings: HashMap<String, Ring>,
    /// The waiting ring of each conversation that has one.
    pub(crate) ring_of: HashMap<String, String>,
    /// Waiting rings per agent (user id).
    pub(crate) rings_per_agent: HashMap<String, usize>,
    /// Open conversations assigned to each agent (user id).
    pub(crate) open_per_agent: HashMap<String, usize>,
    /// Conversation id of each consumer.
    pub(crate) by_consumer: HashMap<String, String>,
    /// Closed conversations still kept.
    pub(crate) closed_count: usize,
    /// Agents a conversation's ring expired on or was rejected by.
    pub declined_by: HashMap<String, HashSet<String>>,
    pub faults: Faults,
    /// Request frames refused by the field rules (`validate`).
    pub refusals: crate::sim::refusals::RefusalLog,
    /// Every login, connection, kick, revocation and disconnection, with its time.
    pub session_log: crate::sim::session_log::SessionLog,
    /// Who follows the conversations (the benchmark's load tracker), if anyone.
    observer: Option<Box<dyn Observer>>,
    /// Notifications caused by the request being handled; they follow its response.
    pub(crate) pending_after_response: Vec<(ConnId, Outgoing)>,
    /// Timers asked for by operations; drained by `take_timers` and armed by the caller.
    pub(crate) pending_timers: Vec<Timer>,
    counter: u64,
    /// Ids and tokens: unguessable (a token is a credential), from the OS's entropy.
    rng: StdRng,
}

/// Why a skill cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkillError {
    #[error("name: must not be empty")]
    EmptyName,
    #[error("name: a skill named {0:?} exists")]
    Exists(String),
}

/// Why an agent user cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("login: must not be empty")]
    EmptyLogin,
    #[error("login: a user {0:?} exists")]
    Exists(String),
    #[error("skills[{index}]: no skill named {name:?}")]
    UnknownSkill { index: usize, name: String },
    #[error("max_slots: must be at least 1")]
    NoSlots,
}

/// Takes one from a count, removing it at zero.
pub(crate) fn decrement(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl SimState {
    pub fn new(config: SimConfig) -> Self {
        let mut state = Self {
            config: config.clone(),
            skills: Vec::new(),
            users: HashMap::new(),
            sessions: HashMap::new(),
            conns: HashMap::new(),
            conversations: HashMap::new(),
            conversation_order: Vec::new(),
            queues: HashMap::new(),
            queued: HashSet::new(),
            rings: HashMap::new(),
            ring_of: HashMap::new(),
            rings_per_agent: HashMap::new(),
            open_per_agent: HashMap::new(),
            by_consumer: HashMap::new(),
            closed_count: 0,
            declined_by: HashMap::new(),
            faults: Faults::default(),
            refusals: Default::default(),
            session_log: Default::default(),
            observer: None,
            pending_after_response: Vec::new(),
            pending_timers: Vec::new(),
            counter: 0,
            rng: StdRng::from_os_rng(),
        };
        for skill in &config.skills {
            // Validated beforehand: names are unique and not empty.
            let _ = state.add_skill(&skill.name, skill.human);
        }
        for user in &config.users {
            let skills = user.skills.clone();
            // Validated beforehand: every skill exists.
            let _ = state.add_user(&user.login, user.credentials.clone(), &skills, user.max_slots, user.kind);
        }
        state
    }

    pub fn shared(self) -> Shared {
        Arc::new(Mutex::new(self))
    }

    pub fn account(&self) -> &str {
        &self.config.account
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A number unique in this simulator (ring ids).
    pub fn serial(&mut self) -> u64 {
        self.next()
    }

    /// A fresh opaque id: a random (version 4) UUID.
    pub fn uuid(&mut self) -> String {
        let bits: u128 = self.rng.random();
        let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
        let hex = format!("{bits:032x}");
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }

    /// A fresh secret token: 256 random bits, hex.
    pub fn token(&mut self) -> String {
        let bits: [u128; 2] = [self.rng.random(), self.rng.random()];
        format!("{:032x}{:032x}", bits[0], bits[1])
    }

    pub fn old_id(&self, user_id: &str) -> String {
        format!("{}.{}", self.config.account, user_id)
    }

    // ---- skills and users ---------------------------------------------------------------

    pub fn add_skill(&mut self, name: &str, human: bool) -> Result<String, SkillError> {
        if name.trim().is_empty() {
            return Err(SkillError::EmptyName);
        }
        if self.skills.iter().any(|s| s.name == name) {
            return Err(SkillError::Exists(name.to_owned()));
        }
        let id = (1000 + self.skills.len() as u64 + 1).to_string();
        self.skills.push(Skill { id: id.clone(), name: name.into(), human });
        Ok(id)
    }

    pub fn skill_by_name(&self, name: &str) -> Option<&Skill> {
        self.skills.iter().find(|s| s.name == name)
    }

    pub fn skill_by_id(&self, id: &str) -> Option<&Skill> {
        self.skills.iter().find(|s| s.id == id)
    }

    pub fn add_user(
        &mut self,
        login: &str,
        credentials: Credentials,
        skills: &[String],
        max_slots: usize,
        kind: UserKind,
    ) -> Result<(String, String), UserError> {
        if login.trim().is_empty() {
            return Err(UserError::EmptyLogin);
        }
        if self.users.values().any(|u| u.login == login) {
            return Err(UserError::Exists(login.to_owned()));
        }
        let mut skill_ids = Vec::new();
        for (i, name) in skills.iter().enumerate() {
            match self.skill_by_name(name) {
                Some(skill) => skill_ids.push(skill.id.clone()),
                None => return Err(UserError::UnknownSkill { index: i, name: name.clone() }),
            }
        }
        if max_slots == 0 {
            return Err(UserError::NoSlots);
        }
        let user_id = (3_700_000_000u64 + self.users.len() as u64 + 1).to_string();
        let pid = self.uuid();
        self.users.insert(
            user_id.clone(),
            User {
                user_id: user_id.clone(),
                pid: pid.clone(),
                login: login.into(),
                credentials,
                skills: skill_ids,
                max_slots,
                kind,
                disabled: false,
                failed_logins: 0,
                availability: "OFFLINE".into(),
            },
        );
        Ok((user_id, pid))
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users.values().find(|u| u.login == login)
    }

    /// The user id for an old id (`acc.userId`) or a bare user id.
    pub fn user_id_from(&self, id: &str) -> Option<String> {
        let bare = id.strip_prefix(&format!("{}.", self.config.account)).unwrap_or(id);
        self.users.contains_key(bare).then(|| bare.to_owned())
    }

    /// Open conversations assigned to a user.
    pub fn open_load(&self, user_id: &str) -> usize {
        self.open_per_agent.get(user_id).copied().unwrap_or(0)
    }

    /// Where conversation `id` is now.
    pub fn whereabouts(&self, id: &str) -> Option<Whereabouts<'_>> {
        let c = self.conversations.get(id)?;
        Some(Whereabouts {
            skill_id: &c.skill_id,
            open: c.state == "OPEN",
            assigned: c.assigned.is_some(),
            ringing: self.ring_of.contains_key(id),
        })
    }

    /// Tells the observer, if any, where conversation `id` is now.
    pub(crate) fn placement_changed(&mut self, id: &str) {
        let Some(mut observer) = self.observer.take() else {
            return;
        };
        if let Some(at) = self.whereabouts(id) {
            observer.conversation_moved(id, at);
        }
        self.observer = Some(observer);
    }

    /// Tells the observer, if any, that the assigned agent of `conversation` said `text`.
    pub(crate) fn agent_said(&mut self, conversation: &str, text: &str) {
        if let Some(observer) = self.observer.as_mut() {
            observer.agent_text(conversation, text);
        }
    }

    /// Sets (or with `None` removes) the observer; returns the one it replaces.
    pub fn set_observer(&mut self, observer: Option<Box<dyn Observer>>) -> Option<Box<dyn Observer>> {
        std::mem::replace(&mut self.observer, observer)
    }

    /// The observer, if it is a `T`.
    pub fn observer<T: Observer>(&self) -> Option<&T> {
        self.observer.as_ref().and_then(|o| o.as_any().downcast_ref())
    }

    /// The observer, if it is a `T`.
    pub fn observer_mut<T: Observer>(&mut self) -> Option<&mut T> {
        self.observer.as_mut().and_then(|o| o.as_any_mut().downcast_mut())
    }

    /// Waiting rings of a user.
    pub fn waiting_rings(&self, user_id: &str) -> usize {
        self.rings_per_agent.get(user_id).copied().unwrap_or(0)
    }

    /// Sets an open conversation's assigned agent, keeping the per-agent load.
    pub(crate) fn set_assigned(&mut self, id: &str, agent: Option<String>) {
        let Some(c) = self.conversations.get_mut(id) else {
            return;
        };
        let open = c.state == "OPEN";
        let old = std::mem::replace(&mut c.assigned, agent.clone());
        if open {
            if let Some(old) = old {
                decrement(&mut self.open_per_agent, &old);
            }
            if let Some(new) = agent {
                *self.open_per_agent.entry(new).or_default() += 1;
            }
        }
    }

    // ---- connections --------------------------------------------------------------------

    /// Sends to one connection; a connection whose queue is full is closed (bounded).
    pub fn send(&mut self, conn: ConnId, out: Outgoing) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = c.tx.try_send(out) {
            tracing::warn!(conn, user_id = %c.user_id, "connection too slow, closing it");
            let _ = c.tx.try_send(Outgoing::Drop);
            self.conns.remove(&conn);
        }
    }

    pub fn conns_of(&self, user_id: &str) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self.conns.iter().filter(|(_, c)| c.user_id == user_id).map(|(id, _)| *id).collect();
        conns.sort_unstable();
        conns
    }

    /// Whether a websocket for this bearer would be admitted now (no side effects).
    pub fn may_connect(&self, bearer: &str) -> Result<(), (u16, String)> {
        if self.faults.ums_unavailable_until.is_some_and(|until| now_ms() < until) {
            return Err((503, "messaging service unavailable (simulated fault)".into()));
        }
        if !self.sessions.contains_key(bearer) {
            return Err((401, "unknown or expired token".into()));
        }
        Ok(())
    }

    /// Registers a websocket for a session's bearer. One connection per agent: an earlier
    /// connection of the same agent is closed (the kick).
    pub fn connect(&mut self, conn: ConnId, bearer: &str, tx: mpsc::Sender<Outgoing>) -> Result<(), (u16, String)> {
        let now = now_ms();
        if self.faults.ums_unavailable_until.is_some_and(|until| now < until) {
            return Err((503, "messaging service unavailable (simulated fault)".into()));
        }
        let Some(session) = self.sessions.get(bearer) else {
            return Err((401, "unknown or expired token".into()));
        };
        let user_id = session.user_id.clone();
        for old in self.conns_of(&user_id) {
            self.send(old, Outgoing::Close(CLOSE_KICKED, "another connection for this agent replaced this one".into()));
            self.conns.remove(&old);
            self.log_session(&user_id, SessionEventKind::Kick, Some(old));
        }
        self.log_session(&user_id, SessionEventKind::Connect, Some(conn));
        self.conns.insert(conn, Conn { user_id, bearer: bearer.into(), tx, ex_subs: Vec::new(), routing_sub: None, agent_state_sub: None });
        Ok(())
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        if let Some(old) = self.conns.remove(&conn) {
            self.log_session(&old.user_id, SessionEventKind::Disconnect, Some(conn));
        }
    }

    /// Notes a session event of the user, by its login name.
    fn log_session(&mut self, user_id: &str, kind: SessionEventKind, conn: Option<ConnId>) {
        let login = self.users.get(user_id).map_or_else(|| user_id.to_owned(), |u| u.login.clone());
        self.session_log.push(SessionEvent { at_ms: now_ms(), login, kind, conn });
    }

    // ---- login ----------------------------------------------------------------------------

    /// Checks a login body; returns the session or (HTTP status, error message, internal code).
    pub fn login(&mut self, body: &Value) -> Result<Session, (u16, String, u32)> {
        let now = now_ms();
        if self.faults.login_unavailable_until.is_some_and(|until| now < until) {
            return Err((503, "login service unavailable (simulated fault)".into(), 0));
        }
        let Some(login) = body.get("username").and_then(Value::as_str) else {
            return Err((400, "username: required".into(), 0));
        };
        let Some(user) = self.users.values().find(|u| u.login == login).cloned() else {
            return Err((401, "Invalid username or password".into(), 1));
        };
        if user.disabled {
            return Err((401, "User is disabled after too many failed logins; an administrator must enable it".into(), 34));
        }
        let str_field = |name: &str| body.get(name).and_then(Value::as_str);
        let matches = match &user.credentials {
            Credentials::Password { password } => str_field("password") == Some(password.as_str()),
            Credentials::ApiKey { app_key, secret, access_token, access_token_secret } => {
                str_field("appKey") == Some(app_key.as_str())
                    && str_field("secret") == Some(secret.as_str())
                    && str_field("accessToken") == Some(access_token.as_str())
                    && str_field("accessTokenSecret") == Some(access_token_secret.as_str())
            }
        };
        let max_failed = self.config.max_failed_logins;
        let user = self.users.get_mut(&user.user_id).expect("user exists");
        if !matches {
            user.failed_logins += 1;
            if user.failed_logins >= max_failed {
                user.disabled = true;
                tracing::warn!(login, "user disabled after {max_failed} failed logins");
            }
            return Err((401, "Invalid username or password".into(), 1));
        }
        user.failed_logins = 0;
        let user_id = user.user_id.clone();
        // One session per agent: a new login revokes the others and closes their sockets.
        let old: Vec<String> = self.sessions.values().filter(|s| s.user_id == user_id).map(|s| s.bearer.clone()).collect();
        for bearer in old {
            self.revoke(&bearer, CLOSE_KICKED, "a new login for this agent replaced this session");
        }
        self.log_session(&user_id, SessionEventKind::Login, None);
        let session = Session { bearer: self.token(), user_id, csrf: self.token(), cookie: self.token() };
        self.sessions.insert(session.bearer.clone(), session.clone());
        Ok(session)
    }

    /// Ends a session and closes its sockets with `code`.
    pub fn revoke(&mut self, bearer: &str, code: u16, reason: &str) {
        if let Some(session) = self.sessions.remove(bearer) {
            self.log_session(&session.user_id, SessionEventKind::Revoke, None);
        }
        let conns: Vec<ConnId> = self.conns.iter().filter(|(_, c)| c.bearer == bearer).map(|(id, _)| *id).collect();
        for conn in conns {
            self.send(conn, Outgoing::Close(code, reason.into()));
            self.conns.remove(&conn);
        }
    }

    pub fn session_by_cookie(&self, cookie: &str, csrf: &str) -> Option<&Session> {
        self.sessions.values().find(|s| s.cookie == cookie && s.csrf == csrf)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_random_version_4_uuids_and_tokens_256_random_bits() {
        let mut state = SimState::new(SimConfig::default());
        let ids: HashSet<String> = (0..1000).map(|_| state.uuid()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(20) {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
            assert!(parts[2].starts_with('4') && matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "version 4, RFC 4122 variant: {id}");
        }
        let (a, b) = (state.token(), state.token());
        assert!(a.len() == 64 && a.chars().all(|c| c.is_ascii_hexdigit()) && a != b);
        let other = SimState::new(SimConfig::default()).uuid();
        assert!(!ids.contains(&other), "another simulator does not repeat these ids");
    }
}
