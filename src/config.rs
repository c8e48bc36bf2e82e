//! The service configuration (TOML): the node, an optional embedded simulator, and the bots —
//! each with its platform login, its vendor and the engine core's settings. Secrets may come from
//! the environment or a file instead of sitting in the config. `validate` reports every problem
//! with its path (`bots[1].vendor.base_url: …`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use botvisor_actors::settings::BotSettings;
use serde::{Deserialize, Serialize};

use crate::sim::SimConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default)]
    pub node: NodeConfig,
    /// A platform simulator embedded in the process (the demo).
    #[serde(default)]
    pub simulator: Option<SimConfig>,
    #[serde(default)]
    pub bots: Vec<BotConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where the admin API listens (next issue).
    pub admin_addr: SocketAddr,
    /// Where files are written (the simulator's certificate, persisted bots).
    pub data_dir: PathBuf,
    /// The admin API's bearer token; without one the API only listens on loopback.
    pub admin_token: Option<Secret>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self { admin_addr: "127.0.0.1:8080".parse().expect("valid address"), data_dir: PathBuf::from("data"), admin_token: None }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub platform: PlatformConfig,
    pub vendor: VendorConfig,
    /// An error hook URL (every bot error is POSTed there).
    #[serde(default)]
    pub error_hook: Option<String>,
    /// The engine core's settings (skill, escalation, conversation, load, lifecycle), as in
    /// `botvisor_actors::settings::BotSettings` without `bot_id`.
    pub settings: toml::Table,
}

/// A secret: inline, from an environment variable, or from a file.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.env, &self.file) {
            (Some(env), _) => write!(f, "Secret(env {env})"),
            (_, Some(file)) => write!(f, "Secret(file {})", file.display()),
            _ => f.write_str("Secret(***)"),
        }
    }
}

impl Secret {
    /// The secret's value, or what to fix.
    pub fn resolve(&self) -> Result<String, String> {
        match (&self.value, &self.env, &self.file) {
            (Some(value), None, None) => Ok(value.clone()),
            (None, Some(env), None) => std::env::var(env).map_err(|_| format!("the environment variable {env} is not set")),
            (None, None, Some(file)) => std::fs::read_to_string(file).map(|s| s.trim().to_owned()).map_err(|e| format!("cannot read {}: {e}", file.display())),
            _ => Err("give exactly one of value, env, file".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformConfig {
    /// The CSDS domain (`host:port`), or `embedded` for the embedded simulator.
    pub csds: String,
    /// The account; defaults to the embedded simulator's.
    #[serde(default)]
    pub account: Option<String>,
    pub login: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub api_key: Option<ApiKeyConfig>,
    /// A CA (PEM) to trust; the embedded simulator's is used automatically.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub plain_http: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub app_key: Secret,
    pub secret: Secret,
    pub access_token: Secret,
    pub access_token_secret: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // a handful per process
pub enum VendorConfig {
    Scripted {
        script: PathBuf,
        /// Answer this long after each call (a slow vendor, for load tests); default at once.
        #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
        latency: Option<std::time::Duration>,
    },
    CustomEndpoint {
        base_url: String,
        bot_id: String,
        #[serde(default = "draft")]
        environment: String,
        #[serde(default)]
        token: Option<Secret>,
        #[serde(default)]
        token_url: Option<String>,
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        client_secret: Option<Secret>,
        #[serde(default = "fifty")]
        requests_per_second: u32,
        #[serde(default)]
        ca: Option<PathBuf>,
    },
}

fn draft() -> String {
    "draft".into()
}
fn fifty() -> u32 {
    50
}

/// A configuration problem: where, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl ServiceConfig {
    /// Reads a file; a TOML error names the line.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(line) => format!("{}: line {line}: {}", path.display(), e.message()),
                None => format!("{}: {}", path.display(), e.message()),
            }
        })
    }

    /// Each bot's engine settings, with its id.
    pub fn bot_settings(bot: &BotConfig) -> Result<BotSettings, String> {
        let mut table = bot.settings.clone();
        table.insert("bot_id".into(), toml::Value::String(bot.id.clone()));
        toml::Value::Table(table).try_into::<BotSettings>().map_err(|e| e.message().to_owned())
    }

    /// Every problem, with its path. Secrets are resolved (so a missing variable is reported)
    /// but never printed.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        if let Some(sim) = &self.simulator {
            for p in sim.validate("simulator") {
                problem(p.path, p.message);
            }
        }
        if self.bots.is_empty() {
            problem("bots".into(), "configure at least one bot".into());
        }
        let mut ids = std::collections::HashSet::new();
        for (i, bot) in self.bots.iter().enumerate() {
            if !bot.id.trim().is_empty() && !ids.insert(bot.id.as_str()) {
                problem(format!("bots[{i}].id"), format!("{:?} is used twice", bot.id));
            }
            for p in bot.validate(&format!("bots[{i}]"), self.simulator.is_some()) {
                problem(p.path, p.message);
            }
        }
        problems
    }
}

impl BotConfig {
    /// Every problem of one bot, each path under `prefix` (`bots[1]`, or empty for a bot alone as
    /// the admin API takes it). `simulator`: whether an embedded simulator runs.
    pub fn validate(&self, prefix: &str, simulator: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        let bot = self;
        let at = |field: &str| if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") };
        if bot.id.trim().is_empty() {
            problem(at("id"), "must not be empty".into());
        } else if bot.id.len() > 64 || !bot.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            problem(at("id"), "letters, digits, '-', '_' and '.', at most 64".into());
        }
        match ServiceConfig::bot_settings(bot) {
            Ok(settings) => {
                for p in settings.validate(&at("settings")) {
                    problem(p.path, p.message);
                }
            }
            Err(message) => problem(at("settings"), message),
        }
        let platform = &bot.platform;
        if platform.csds == "embedded" && !simulator {
            problem(at("platform.csds"), "\"embedded\" needs a [simulator] section".into());
        }
        if platform.csds != "embedded" && platform.account.is_none() {
            problem(at("platform.account"), "required for a platform that is not the embedded simulator".into());
        }
        match (&platform.password, &platform.api_key) {
            (Some(password), None) => {
                if let Err(message) = password.resolve() {
                    problem(at("platform.password"), message);
                }
            }
            (None, Some(keys)) => {
                for (field, secret) in [("app_key", &keys.app_key), ("secret", &keys.secret), ("access_token", &keys.access_token), ("access_token_secret", &keys.access_token_secret)] {
                    if let Err(message) = secret.resolve() {
                        problem(at(&format!("platform.api_key.{field}")), message);
                    }
                }
            }
            _ => problem(at("platform"), "give either password or api_key".into()),
        }
        match &bot.vendor {
            VendorConfig::Scripted { script, .. } => {
                if let Err(message) = crate::vendors::scripted::ScriptedVendor::from_file(script) {
                    problem(at("vendor.script"), message);
                }
            }
            VendorConfig::CustomEndpoint { base_url, bot_id, token, token_url, client_id, client_secret, requests_per_second, .. } => {
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    problem(at("vendor.base_url"), "must start with http:// or https://".into());
                }
                if bot_id.is_empty() || bot_id.len() > 36 || !bot_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    problem(at("vendor.bot_id"), "letters, digits and '-', at most 36".into());
                }
                match (token, token_url, client_id, client_secret) {
                    (Some(token), None, None, None) => {
                        if let Err(message) = token.resolve() {
                            problem(at("vendor.token"), message);
                        }
                    }
                    (None, Some(_), Some(_), Some(secret)) => {
                        if let Err(message) = secret.resolve() {
                            problem(at("vendor.client_secret"), message);
                        }
                    }
                    _ => problem(at("vendor"), "give either token, or token_url with client_id and client_secret".into()),
                }
                if *requests_per_second == 0 {
                    problem(at("vendor.requests_per_second"), "must be at least 1".into());
                }
            }
        }
        if let Some(url) = &bot.error_hook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problem(at("error_hook"), "must start with http:// or https://".into());
            }
        }
        problems
    }
}

/// What the admin API shows for an inline secret.
pub const REDACTED: &str = "***";

impl Secret {
    fn redact(&mut self) {
        if self.value.is_some() {
            self.value = Some(REDACTED.into());
        }
    }

    /// `"***"` (as the API shows it) keeps the secret `old` had.
    fn keep(&mut self, old: Option<&Secret>) {
        if self.value.as_deref() == Some(REDACTED) {
            if let Some(old) = old {
                *self = old.clone();
            }
        }
    }
}

impl BotConfig {
    /// The same configuration with every inline secret as `"***"` (environment variable names and
    /// file paths are shown: they are not secrets).
    pub fn redacted(&self) -> BotConfig {
        let mut bot = self.clone();
        bot.for_each_secret(|secret, _| secret.redact(), None);
        bot
    }

    /// An edit sent back with `"***"` where the API showed a secret keeps that secret.
    pub fn keep_redacted_secrets(&mut self, old: &BotConfig) {
        self.for_each_secret(|secret, old| secret.keep(old), Some(old));
    }

    fn for_each_secret(&mut self, mut f: impl FnMut(&mut Secret, Option<&Secret>), old: Option<&BotConfig>) {
        if let Some(password) = &mut self.platform.password {
            f(password, old.and_then(|o| o.platform.password.as_ref()));
        }
        if let Some(keys) = &mut self.platform.api_key {
            let old_keys = old.and_then(|o| o.platform.api_key.as_ref());
            f(&mut keys.app_key, old_keys.map(|k| &k.app_key));
            f(&mut keys.secret, old_keys.map(|k| &k.secret));
            f(&mut keys.access_token, old_keys.map(|k| &k.access_token));
            f(&mut keys.access_token_secret, old_keys.map(|k| &k.access_token_secret));
        }
        let (old_token, old_client_secret) = match old.map(|o| &o.vendor) {
            Some(VendorConfig::CustomEndpoint { token, client_secret, .. }) => (token.as_ref(), client_secret.as_ref()),
            _ => (None, None),
        };
        if let VendorConfig::CustomEndpoint { token, client_secret, .. } = &mut self.vendor {
            if let Some(token) = token {
                f(token, old_token);
            }
            if let Some(secret) = client_secret {
                f(secret, old_client_secret);
            }
        }
    }
}
