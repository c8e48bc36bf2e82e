//! The configuration of the Amazon Lex V2 (`kind = "lex"`), IBM Watson Assistant V2
//! (`kind = "watson_v2"`) and Microsoft Direct Line 3.0 (`kind = "direct_line"`) vendors. Every
//! credential is a secret. `endpoint = "embedded"` (Watson: `url = "embedded"`) uses the embedded
//! simulator's fake of the vendor, with the credentials it accepts when none are given.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::google::EMBEDDED;
use crate::config::{Problem, Secret};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LexConfig {
    pub bot_id: String,
    pub bot_alias_id: String,
    #[serde(default = "en_us")]
    pub locale_id: String,
    pub region: String,
    /// Required unless `endpoint = "embedded"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// Temporary credentials' session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
    /// The runtime's origin (default AWS's for the region), or `embedded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatsonConfig {
    /// The service URL (`https://api.{region}.assistant.watson.cloud.ibm.com/instances/{id}`), or
    /// `embedded`.
    pub url: String,
    pub assistant_id: String,
    /// `draft`, `live` or an environment id (the environment-scoped paths); unset: the older paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    #[serde(default = "watson_version")]
    pub version: String,
    /// Required unless `url = "embedded"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WatsonAuthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// `auth = { iam = { api_key = { env = "…" } } }` or `auth = { basic = { username, password } }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WatsonAuthConfig {
    Iam {
        api_key: Secret,
        /// IBM's IAM token endpoint by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
    },
    Basic {
        username: String,
        password: Secret,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectLineConfig {
    /// `…/v3/directline` (default Microsoft's global endpoint; regional ones exist), or `embedded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The Direct Line secret (one of secret and token; neither with `embedded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// A Direct Line token, refreshed before it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Keep reading replies while new ones arrive within this wait (e.g. "1s").
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub multiple_activities: Option<Duration>,
    /// How often the bot's activities are polled (default 250ms).
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<Duration>,
    /// Power Virtual Agents: the welcome is the `startConversation` event.
    #[serde(default)]
    pub pva: bool,
    /// Read the bot's activities from the conversation's websocket stream instead of polling.
    #[serde(default)]
    pub websocket: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

fn en_us() -> String {
    "en_US".into()
}

fn watson_version() -> String {
    crate::vendors::watson::DEFAULT_VERSION.into()
}

fn check_endpoint(endpoint: Option<&str>, simulator: bool, path: String, problems: &mut Vec<Problem>) {
    match endpoint {
        Some(EMBEDDED) if !simulator => {
            problems.push(Problem { path, message: "\"embedded\" needs a [simulator] section with [simulator.vendors]".into() })
        }
        Some(EMBEDDED) | None => {}
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            problems.push(Problem { path, message: "must start with http:// or https://, or be \"embedded\"".into() })
        }
        Some(_) => {}
    }
}

fn check_secret(secret: Option<&Secret>, required: bool, path: String, problems: &mut Vec<Problem>) {
    match secret {
        None if required => problems.push(Problem { path, message: "required".into() }),
        None => {}
        Some(secret) => {
            if let Err(error) = secret.resolve() {
                problems.push(Problem { path, message: error.to_string() });
            }
        }
    }
}

fn id_ok(value: &str) -> bool {
    crate::vendors::lex::is_id(value)
}

impl LexConfig {
    pub fn embedded(&self) -> bool {
        self.endpoint.as_deref() == Some(EMBEDDED)
    }

    pub fn validate(&self, at: &dyn Fn(&str) -> String, simulator: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        check_endpoint(self.endpoint.as_deref(), simulator, at("vendor.endpoint"), &mut problems);
        for (field, value) in [("bot_id", &self.bot_id), ("bot_alias_id", &self.bot_alias_id), ("locale_id", &self.locale_id)] {
            if !id_ok(value) {
                problems.push(Problem { path: at(&format!("vendor.{field}")), message: "letters, digits, '-', '_' and '.'".into() });
            }
        }
        if self.region.is_empty() || !self.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            problems.push(Problem { path: at("vendor.region"), message: "an AWS region such as us-east-1".into() });
        }
        let required = !self.embedded();
        check_secret(self.access_key_id.as_ref(), required, at("vendor.access_key_id"), &mut problems);
        check_secret(self.secret_access_key.as_ref(), required, at("vendor.secret_access_key"), &mut problems);
        check_secret(self.session_token.as_ref(), false, at("vendor.session_token"), &mut problems);
        problems
    }
}

impl WatsonConfig {
    pub fn embedded(&self) -> bool {
        self.url == EMBEDDED
    }

    pub fn validate(&self, at: &dyn Fn(&str) -> String, simulator: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        check_endpoint(Some(&self.url), simulator, at("vendor.url"), &mut problems);
        for (field, value) in
            [("assistant_id", Some(&self.assistant_id)), ("environment_id", self.environment_id.as_ref()), ("version", Some(&self.version))]
        {
            if value.is_some_and(|v| !id_ok(v)) {
                problems.push(Problem { path: at(&format!("vendor.{field}")), message: "letters, digits, '-', '_' and '.'".into() });
            }
        }
        match &self.auth {
            None if !self.embedded() => problems.push(Problem {
                path: at("vendor.auth"),
                message: "required: auth = { iam = { api_key = … } } or auth = { basic = { username = …, password = … } }".into(),
            }),
            None => {}
            Some(WatsonAuthConfig::Iam { api_key, token_url }) => {
                check_secret(Some(api_key), true, at("vendor.auth.iam.api_key"), &mut problems);
                if let Some(url) = token_url {
                    check_endpoint(Some(url), simulator, at("vendor.auth.iam.token_url"), &mut problems);
                }
            }
            Some(WatsonAuthConfig::Basic { username, password }) => {
                if username.is_empty() {
                    problems.push(Problem { path: at("vendor.auth.basic.username"), message: "must not be empty".into() });
                }
                check_secret(Some(password), true, at("vendor.auth.basic.password"), &mut problems);
            }
        }
        problems
    }
}

impl DirectLineConfig {
    pub fn embedded(&self) -> bool {
        self.endpoint.as_deref() == Some(EMBEDDED)
    }

    pub fn validate(&self, at: &dyn Fn(&str) -> String, simulator: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        check_endpoint(self.endpoint.as_deref(), simulator, at("vendor.endpoint"), &mut problems);
        match (&self.secret, &self.token) {
            (Some(_), Some(_)) => {
                problems.push(Problem { path: at("vendor.token"), message: "give the secret or a token, not both".into() })
            }
            (None, None) if !self.embedded() => {
                problems.push(Problem { path: at("vendor.secret"), message: "required: the Direct Line secret (or a token)".into() })
            }
            _ => {}
        }
        check_secret(self.secret.as_ref(), false, at("vendor.secret"), &mut problems);
        check_secret(self.token.as_ref(), false, at("vendor.token"), &mut problems);
        if self.multiple_activities.is_some_and(|d| d > Duration::from_secs(30)) {
            problems.push(Problem { path: at("vendor.multiple_activities"), message: "at most 30s".into() });
        }
        if self.poll_interval.is_some_and(|d| d < Duration::from_millis(10) || d > Duration::from_secs(10)) {
            problems.push(Problem { path: at("vendor.poll_interval"), message: "between 10ms and 10s".into() });
        }
        problems
    }
}
