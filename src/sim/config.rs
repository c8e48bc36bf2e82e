//! The simulator's configuration: account, listeners, skills, users, login policy, limits,
//! traffic. Read from the `[simulator]` part of a config file or built in code; every problem is
//! reported with its path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// The account (site) id the simulator serves.
    pub account: String,
    /// The HTTPS (or plain HTTP) origin: CSDS, login, websocket. Port 0 picks a free one.
    pub platform_addr: SocketAddr,
    /// The control API (plain HTTP). Port 0 picks a free one.
    pub control_addr: SocketAddr,
    /// Serve the platform over plain HTTP/WS instead of TLS (botvisor's own tests).
    pub plain_http: bool,
    /// Where the self-signed certificate (PEM) is written for clients to trust.
    pub ca_out: Option<PathBuf>,
    pub skills: Vec<SkillConfig>,
    pub users: Vec<UserConfig>,
    /// Failed logins in a row after which a user is disabled.
    pub max_failed_logins: u32,
    /// How long a ring waits for an answer before the next agent is rung.
    #[serde(with = "humantime_serde")]
    pub ring_expiration: Duration,
    /// A websocket with no traffic for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Larger request frames are answered with an error (400).
    pub max_frame_bytes: usize,
    /// Notifications queued per connection; a connection that falls further behind is closed.
    pub connection_queue: usize,
    /// Each dialog keeps at most about this many of its newest events (history reads and
    /// transcripts show those); none is forgotten when unset. The load bench sets it so an
    /// hour's soak does not keep every message ever sent.
    #[serde(default)]
    pub max_dialog_events: Option<usize>,
    /// Simulated consumers started with the simulator.
    pub traffic: Option<TrafficConfig>,
    /// Fakes of Google's Dialogflow APIs on the platform origin (`sim::google`).
    pub google: Option<crate::sim::google::GoogleFakeConfig>,
    /// Fakes of Amazon Lex V2, IBM Watson Assistant V2 and Direct Line 3.0 (`sim::vendors`).
    pub vendors: Option<crate::sim::vendors::VendorFakesConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            account: "1234567".into(),
            platform_addr: "127.0.0.1:0".parse().expect("valid address"),
            control_addr: "127.0.0.1:0".parse().expect("valid address"),
            plain_http: false,
            ca_out: None,
            skills: Vec::new(),
            users: Vec::new(),
            max_failed_logins: 5,
            ring_expiration: Duration::from_millis(72_000),
            idle_timeout: Duration::from_secs(120),
            max_frame_bytes: 256 * 1024,
            connection_queue: 4096,
            max_dialog_events: None,
            traffic: None,
            google: None,
            vendors: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillConfig {
    pub name: String,
    /// A human queue: conversations there stay unassigned (tests see where they landed).
    #[serde(default)]
    pub human: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawUser")]
pub struct UserConfig {
    pub login: String,
    #[serde(flatten)]
    pub credentials: Credentials,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default = "default_max_slots")]
    pub max_slots: usize,
    #[serde(default)]
    pub kind: UserKind,
}

fn default_max_slots() -> usize {
    1000
}

/// A user as written: every field flat, unknown ones refused (serde's `flatten` cannot).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    login: String,
    password: Option<String>,
    #[serde(rename = "appKey")]
    app_key: Option<String>,
    secret: Option<String>,
    #[serde(rename = "accessToken")]
    access_token: Option<String>,
    #[serde(rename = "accessTokenSecret")]
    access_token_secret: Option<String>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default = "default_max_slots")]
    max_slots: usize,
    #[serde(default)]
    kind: UserKind,
}

impl TryFrom<RawUser> for UserConfig {
    type Error = String;

    fn try_from(raw: RawUser) -> Result<Self, String> {
        let credentials = match (raw.password, raw.app_key, raw.secret, raw.access_token, raw.access_token_secret) {
            (Some(password), None, None, None, None) => Credentials::Password { password },
            (None, Some(app_key), Some(secret), Some(access_token), Some(access_token_secret)) => {
                Credentials::ApiKey { app_key, secret, access_token, access_token_secret }
            }
            _ => {
                return Err(format!("user {:?}: give either password, or all of appKey, secret, accessToken, accessTokenSecret", raw.login))
            }
        };
        Ok(UserConfig { login: raw.login, credentials, skills: raw.skills, max_slots: raw.max_slots, kind: raw.kind })
    }
}

/// How a user logs in: a password, or API-key (application login) fields.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Credentials {
    Password {
        password: String,
    },
    ApiKey {
        #[serde(rename = "appKey")]
        app_key: String,
        secret: String,
        #[serde(rename = "accessToken")]
        access_token: String,
        #[serde(rename = "accessTokenSecret")]
        access_token_secret: String,
    },
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { .. } => f.write_str("Password(***)"),
            Credentials::ApiKey { .. } => f.write_str("ApiKey(***)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    #[default]
    Bot,
    /// A simulated human agent that never answers.
    Human,
}

/// A configuration problem: where, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl SimConfig {
    pub fn validate(&self, path: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |field: String, message: &str| problems.push(ConfigProblem { path: format!("{path}.{field}"), message: message.into() });
        if self.account.is_empty() || !self.account.chars().all(|c| c.is_ascii_alphanumeric()) {
            problem("account".into(), "must be letters and digits");
        }
        if self.max_failed_logins == 0 {
            problem("max_failed_logins".into(), "must be at least 1");
        }
        if self.ring_expiration.is_zero() || self.ring_expiration > Duration::from_secs(3600) {
            problem("ring_expiration".into(), "must be between 1ms and 1h");
        }
        if self.idle_timeout.is_zero() || self.idle_timeout > Duration::from_secs(86_400) {
            problem("idle_timeout".into(), "must be between 1ms and 24h");
        }
        if self.max_frame_bytes < 1024 {
            problem("max_frame_bytes".into(), "must be at least 1024");
        }
        if self.connection_queue == 0 {
            problem("connection_queue".into(), "must be at least 1");
        }
        if self.max_dialog_events.is_some_and(|max| max < 10) {
            problem("max_dialog_events".into(), "must be at least 10 (or left out: keep every event)");
        }
        let mut names = std::collections::HashSet::new();
        for (i, skill) in self.skills.iter().enumerate() {
            if skill.name.trim().is_empty() {
                problem(format!("skills[{i}].name"), "must not be empty");
            } else if !names.insert(skill.name.as_str()) {
                problem(format!("skills[{i}].name"), "is used twice");
            }
        }
        let mut logins = std::collections::HashSet::new();
        for (i, user) in self.users.iter().enumerate() {
            if user.login.trim().is_empty() {
                problem(format!("users[{i}].login"), "must not be empty");
            } else if !logins.insert(user.login.as_str()) {
                problem(format!("users[{i}].login"), "is used twice");
            }
            for (j, skill) in user.skills.iter().enumerate() {
                if !names.contains(skill.as_str()) {
                    problem(format!("users[{i}].skills[{j}]"), "names no skill in skills");
                }
            }
            if user.max_slots == 0 {
                problem(format!("users[{i}].max_slots"), "must be at least 1");
            }
        }
        if let Some(traffic) = &self.traffic {
            if !names.contains(traffic.skill.as_str()) {
                problem("traffic.skill".into(), "names no skill in skills");
            }
            for message in traffic.validate("traffic") {
                let (field, text) = message.split_once(": ").unwrap_or(("traffic", &message));
                problems.push(ConfigProblem { path: format!("{path}.{field}"), message: text.into() });
            }
        }
        if let Some(google) = &self.google {
            for message in google.validate("google") {
                let (field, text) = message.split_once(": ").unwrap_or(("google", &message));
                problems.push(ConfigProblem { path: format!("{path}.{field}"), message: text.into() });
            }
        }
        if let Some(vendors) = &self.vendors {
            for message in vendors.validate("vendors") {
                let (field, text) = message.split_once(": ").unwrap_or(("vendors", &message));
                problems.push(ConfigProblem { path: format!("{path}.{field}"), message: text.into() });
            }
        }
        problems
    }
}

/// Simulated consumers: N conversations per minute on a skill, each consumer sending M messages
/// with think time (run by `traffic`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    pub skill: String,
    pub conversations_per_minute: u32,
    #[serde(default = "default_messages")]
    pub messages_per_conversation: u32,
    #[serde(default = "default_think_time", with = "humantime_serde")]
    pub think_time: Duration,
    /// A COMPOSING event before each text.
    #[serde(default)]
    pub typing: bool,
    /// Every third message is a file.
    #[serde(default)]
    pub files: bool,
    /// Every fourth message is rich content.
    #[serde(default)]
    pub rich: bool,
    /// Stop after this long; unset: until stopped.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// What consumers say: conversation k follows script k (round robin), one text per message;
    /// empty: `message n of m`.
    #[serde(default)]
    pub scripts: Vec<Vec<String>>,
    /// The consumer closes the conversation this long after its last message (so bots do not
    /// fill up); unset: the conversation stays open for the bot to close.
    #[serde(default = "default_close_after", with = "humantime_serde")]
    pub close_after: Option<Duration>,
}

fn default_close_after() -> Option<Duration> {
    Some(Duration::from_secs(30))
}

fn default_messages() -> u32 {
    3
}
fn default_think_time() -> Duration {
    Duration::from_secs(2)
}

impl TrafficConfig {
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.conversations_per_minute == 0 || self.conversations_per_minute > 60_000 {
            problems.push(format!("{path}.conversations_per_minute: must be between 1 and 60000"));
        }
        if self.messages_per_conversation > 1000 {
            problems.push(format!("{path}.messages_per_conversation: must be at most 1000"));
        }
        for (i, script) in self.scripts.iter().enumerate() {
            if script.is_empty() || script.len() > 1000 {
                problems.push(format!("{path}.scripts[{i}]: must hold 1 to 1000 texts"));
            }
        }
        problems
    }
}
