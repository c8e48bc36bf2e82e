//! The service configuration (TOML): the node, an optional embedded simulator, and the bots —
//! each with its platform login, its vendor and the engine core's settings. Secrets may come from
//! the environment or a file instead of sitting in the config. `validate` reports every problem
//! with its path (`bots[1].vendor.base_url: …`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use botvisor_actors::settings::BotSettings;
use serde::Deserialize;

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

#[derive(Debug, Clone, Deserialize)]
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
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub app_key: Secret,
    pub secret: Secret,
    pub access_token: Secret,
    pub access_token_secret: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // a handful per process
pub enum VendorConfig {
    Scripted {
        script: PathBuf,
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
            let at = |field: &str| format!("bots[{i}].{field}");
            if bot.id.trim().is_empty() {
                problem(at("id"), "must not be empty".into());
            } else if !ids.insert(bot.id.as_str()) {
                problem(at("id"), format!("{:?} is used twice", bot.id));
            }
            match Self::bot_settings(bot) {
                Ok(settings) => {
                    for p in settings.validate(&format!("bots[{i}].settings")) {
                        problem(p.path, p.message);
                    }
                }
                Err(message) => problem(at("settings"), message),
            }
            let platform = &bot.platform;
            if platform.csds == "embedded" && self.simulator.is_none() {
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
                VendorConfig::Scripted { script } => {
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
        }
        problems
    }
}
