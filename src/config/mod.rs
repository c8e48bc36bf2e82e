//! The service configuration (TOML): the node, an optional embedded simulator, and the bots —
//! each with its platform login, its vendor and the engine core's settings. Secrets may come from
//! the environment or a file instead of sitting in the config. `validate` reports every problem
//! with its path (`bots[1].vendor.base_url: …`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use botvisor_actors::settings::BotSettings;
use serde::{Deserialize, Serialize};

use crate::sim::SimConfig;

pub mod cluster;
pub mod google;
pub mod http_call;
pub mod secret;
pub mod small_file;
pub mod vendors;

pub use secret::{Secret, SecretError, REDACTED};
use small_file::{read_small_file, MAX_SCRIPT_FILE_BYTES};

/// The largest service configuration read.
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default)]
    pub node: NodeConfig,
    /// The store and this node's place in the cluster (default: one node, the embedded store).
    #[serde(default)]
    pub cluster: cluster::ClusterConfig,
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
    /// Where the functions the vendor invokes run (`INVOCATION`, `INVOKE_FUNCTION`): the URL
    /// holds `{lambdaUuid}`, replaced by each invocation's function id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<http_call::HttpCallConfig>,
    /// Pre and post hooks around every vendor call.
    #[serde(default, skip_serializing_if = "http_call::HooksConfig::is_empty")]
    pub hooks: http_call::HooksConfig,
    /// The engine core's settings (skill, escalation, conversation, load, lifecycle), as in
    /// `botvisor_actors::settings::BotSettings` without `bot_id`.
    pub settings: toml::Table,
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
    /// `auth = { password = { … } }` or `[bots.platform.auth.api_key]`.
    #[serde(deserialize_with = "secret::table_only")]
    pub auth: PlatformAuth,
    /// A CA (PEM) to trust; the embedded simulator's is used automatically.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The time to response sent with each named TTR type (LivePerson requires a value).
    #[serde(default)]
    pub ttr: TtrConfig,
    /// Skill name → id, for transfers by name when the bot user may not read the account's
    /// skills (the account-config API answers 401/403); also used for names it does not list.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub skills: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub plain_http: bool,
}

/// The seconds sent with each named TTR type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtrConfig {
    #[serde(with = "humantime_serde")]
    pub urgent: std::time::Duration,
    #[serde(with = "humantime_serde")]
    pub prioritized: std::time::Duration,
    #[serde(with = "humantime_serde")]
    pub normal: std::time::Duration,
}

impl Default for TtrConfig {
    fn default() -> Self {
        let seconds = crate::platform::liveperson::frames::TtrSeconds::default();
        Self {
            urgent: std::time::Duration::from_secs(seconds.urgent),
            prioritized: std::time::Duration::from_secs(seconds.prioritized),
            normal: std::time::Duration::from_secs(seconds.normal),
        }
    }
}

/// The longest TTR accepted (30 days).
pub const MAX_TTR: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// How a bot user logs in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PlatformAuth {
    Password(Secret),
    ApiKey(ApiKeyConfig),
}

/// How botvisor authenticates to a Custom Endpoint service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CustomEndpointAuthConfig {
    /// A static bearer token.
    Token(Secret),
    /// OAuth 2.0 client credentials exchanged at `token_url`.
    ClientCredentials { token_url: String, client_id: String, client_secret: Secret },
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
        #[serde(deserialize_with = "secret::table_only")]
        auth: CustomEndpointAuthConfig,
        #[serde(default = "fifty")]
        requests_per_second: u32,
        #[serde(default)]
        ca: Option<PathBuf>,
    },
    /// The bot's logic in an HTTP function (any FaaS URL), with LivePerson Functions' request
    /// and response bodies.
    Function {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth_header: Option<http_call::AuthHeaderConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca: Option<PathBuf>,
    },
    /// Google Dialogflow ES (v2 detectIntent).
    DialogflowEs(google::DialogflowEsConfig),
    /// Google Dialogflow CX (v3 detectIntent).
    DialogflowCx(google::DialogflowCxConfig),
    /// Amazon Lex V2 (RecognizeText, SigV4).
    Lex(vendors::LexConfig),
    /// IBM Watson Assistant V2.
    WatsonV2(vendors::WatsonConfig),
    /// Microsoft Bot Framework through Direct Line 3.0.
    DirectLine(vendors::DirectLineConfig),
}

/// What `[bots.functions]`'s URL holds, replaced by each invocation's function id.
pub const FUNCTION_ID_PLACEHOLDER: &str = "{lambdaUuid}";

/// The slowest scripted vendor (a load test's thinking time).
pub const MAX_SCRIPTED_LATENCY: std::time::Duration = std::time::Duration::from_secs(300);

/// A scripted vendor's script: read (a regular file, bounded) and parsed.
pub fn read_script(path: &Path) -> Result<crate::vendors::scripted::ScriptedVendor, ConfigError> {
    let text = read_small_file(path, MAX_SCRIPT_FILE_BYTES)?;
    crate::vendors::scripted::ScriptedVendor::from_toml(&text)
        .map_err(|source| ConfigError::Script { path: path.display().to_string(), source })
}

/// Why a configuration (or a file it names) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] small_file::FileError),
    /// The TOML does not parse or does not fit the schema (the message only: the source line
    /// may hold a secret).
    #[error("{path}: {}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Parse { path: String, line: Option<usize>, message: String },
    #[error("{path}: {source}")]
    Script { path: String, source: crate::vendors::scripted::ScriptError },
    #[error("{0}")]
    Settings(String),
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
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl ServiceConfig {
    /// Reads a file (a regular file, at most 16 MiB); a TOML error names the line.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = read_small_file(path, MAX_CONFIG_FILE_BYTES)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// A configuration from its text; `path` names it in an error (with the line).
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            line: e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().to_owned(),
        })
    }

    /// Each bot's engine settings, with its id.
    pub fn bot_settings(bot: &BotConfig) -> Result<BotSettings, ConfigError> {
        let mut table = bot.settings.clone();
        table.insert("bot_id".into(), toml::Value::String(bot.id.clone()));
        toml::Value::Table(table).try_into::<BotSettings>().map_err(|e| ConfigError::Settings(e.message().to_owned()))
    }

    /// Every problem, with its path. Secrets are resolved (so a missing variable is reported)
    /// but never printed.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = self.cluster.validate();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        // `run` needs what `check-config` accepts: an admin token that resolves, not empty.
        if let Some(token) = &self.node.admin_token {
            if let Err(error) = token.resolve() {
                problem("node.admin_token".into(), format!("{error} (the admin API would refuse every request)"));
            }
        }
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
            let embedded_google = match &bot.vendor {
                VendorConfig::DialogflowEs(es) => es.endpoint.as_deref() == Some(google::EMBEDDED),
                VendorConfig::DialogflowCx(cx) => cx.endpoint.as_deref() == Some(google::EMBEDDED),
                _ => false,
            };
            if embedded_google && self.simulator.as_ref().is_some_and(|sim| sim.google.is_none()) {
                problem(format!("bots[{i}].vendor.endpoint"), "\"embedded\" needs [simulator.google] (the fake Dialogflow agents)".into());
            }
            let embedded_vendor = match &bot.vendor {
                VendorConfig::Lex(lex) => lex.embedded().then_some("endpoint"),
                VendorConfig::WatsonV2(watson) => watson.embedded().then_some("url"),
                VendorConfig::DirectLine(directline) => directline.embedded().then_some("endpoint"),
                _ => None,
            };
            if let Some(field) = embedded_vendor {
                if self.simulator.as_ref().is_some_and(|sim| sim.vendors.is_none()) {
                    problem(
                        format!("bots[{i}].vendor.{field}"),
                        "\"embedded\" needs [simulator.vendors] (the fake Lex, Watson and Direct Line)".into(),
                    );
                }
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
        } else if bot.id.chars().all(|c| c == '.') {
            // `.` and `..` name directories, and `/v1/bots/..` is not a bot's URL.
            problem(at("id"), "must not be made of dots only (`.` and `..` are refused)".into());
        }
        match ServiceConfig::bot_settings(bot) {
            Ok(settings) => {
                for p in settings.validate(&at("settings")) {
                    problem(p.path, p.message);
                }
            }
            Err(error) => problem(at("settings"), error.to_string()),
        }
        let platform = &bot.platform;
        if platform.csds == "embedded" && !simulator {
            problem(at("platform.csds"), "\"embedded\" needs a [simulator] section".into());
        }
        if platform.csds != "embedded" && platform.account.is_none() {
            problem(at("platform.account"), "required for a platform that is not the embedded simulator".into());
        }
        match &platform.auth {
            PlatformAuth::Password(password) => {
                if let Err(error) = password.resolve() {
                    problem(at("platform.auth.password"), error.to_string());
                }
            }
            PlatformAuth::ApiKey(keys) => {
                for (field, secret) in [
                    ("app_key", &keys.app_key),
                    ("secret", &keys.secret),
                    ("access_token", &keys.access_token),
                    ("access_token_secret", &keys.access_token_secret),
                ] {
                    if let Err(error) = secret.resolve() {
                        problem(at(&format!("platform.auth.api_key.{field}")), error.to_string());
                    }
                }
            }
        }
        for (field, value) in [("urgent", platform.ttr.urgent), ("prioritized", platform.ttr.prioritized), ("normal", platform.ttr.normal)]
        {
            if value < std::time::Duration::from_secs(1) || value > MAX_TTR {
                problem(at(&format!("platform.ttr.{field}")), "must be between 1s and 30d".into());
            }
        }
        for (name, id) in &platform.skills {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
                problem(at(&format!("platform.skills.{name}")), "a skill id is digits (the id the platform shows for the skill)".into());
            }
        }
        if platform.csds == "embedded" && !matches!(platform.auth, PlatformAuth::Password(_)) {
            problem(at("platform.auth"), "the embedded simulator's bot users log in with a password".into());
        }
        match &bot.vendor {
            VendorConfig::Scripted { script, latency } => {
                if let Err(error) = read_script(script) {
                    problem(at("vendor.script"), error.to_string());
                }
                if latency.is_some_and(|l| l > MAX_SCRIPTED_LATENCY) {
                    problem(at("vendor.latency"), format!("must be at most {}s", MAX_SCRIPTED_LATENCY.as_secs()));
                }
            }
            VendorConfig::CustomEndpoint { base_url, bot_id, auth, requests_per_second, .. } => {
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    problem(at("vendor.base_url"), "must start with http:// or https://".into());
                }
                if bot_id.is_empty() || bot_id.len() > 36 || !bot_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    problem(at("vendor.bot_id"), "letters, digits and '-', at most 36".into());
                }
                match auth {
                    CustomEndpointAuthConfig::Token(token) => {
                        if let Err(error) = token.resolve() {
                            problem(at("vendor.auth.token"), error.to_string());
                        }
                    }
                    CustomEndpointAuthConfig::ClientCredentials { token_url, client_id, client_secret } => {
                        if !(token_url.starts_with("http://") || token_url.starts_with("https://")) {
                            problem(at("vendor.auth.client_credentials.token_url"), "must start with http:// or https://".into());
                        }
                        if client_id.trim().is_empty() {
                            problem(at("vendor.auth.client_credentials.client_id"), "must not be empty".into());
                        }
                        if let Err(error) = client_secret.resolve() {
                            problem(at("vendor.auth.client_credentials.client_secret"), error.to_string());
                        }
                    }
                }
                if *requests_per_second == 0 {
                    problem(at("vendor.requests_per_second"), "must be at least 1".into());
                }
            }
            // Checked with the other HTTP calls below.
            VendorConfig::Function { .. } => {}
            VendorConfig::DialogflowEs(es) => {
                for p in es.validate(&at, simulator) {
                    problem(p.path, p.message);
                }
            }
            VendorConfig::DialogflowCx(cx) => {
                for p in cx.validate(&at, simulator) {
                    problem(p.path, p.message);
                }
            }
            VendorConfig::Lex(lex) => {
                for p in lex.validate(&at, simulator) {
                    problem(p.path, p.message);
                }
            }
            VendorConfig::WatsonV2(watson) => {
                for p in watson.validate(&at, simulator) {
                    problem(p.path, p.message);
                }
            }
            VendorConfig::DirectLine(directline) => {
                for p in directline.validate(&at, simulator) {
                    problem(p.path, p.message);
                }
            }
        }
        if let Some(url) = &bot.error_hook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problem(at("error_hook"), "must start with http:// or https://".into());
            }
        }
        let mut calls: Vec<(String, http_call::HttpCallConfig, Option<&str>)> = Vec::new();
        if let VendorConfig::Function { url, auth_header, ca } = &bot.vendor {
            calls.push((
                at("vendor"),
                http_call::HttpCallConfig { url: url.clone(), auth_header: auth_header.clone(), ca: ca.clone(), timeout: None },
                None,
            ));
        }
        if let Some(functions) = &bot.functions {
            calls.push((at("functions"), functions.clone(), Some(FUNCTION_ID_PLACEHOLDER)));
        }
        for (name, hook) in [("pre", &bot.hooks.pre), ("post", &bot.hooks.post)] {
            if let Some(hook) = hook {
                calls.push((at(&format!("hooks.{name}")), hook.clone(), None));
            }
        }
        for (path, call, placeholder) in &calls {
            for p in call.validate(path, *placeholder) {
                problem(p.path, p.message);
            }
        }
        problems
    }
}

impl BotConfig {
    /// The same configuration with every inline secret as `"***"` (environment variable names and
    /// file paths are shown: they are not secrets).
    pub fn redacted(&self) -> BotConfig {
        let mut bot = self.clone();
        bot.for_each_secret(|secret, _| *secret = secret.redacted(), None);
        bot
    }

    /// An edit sent back with `"***"` where the API showed a secret keeps that secret.
    pub fn keep_redacted_secrets(&mut self, old: &BotConfig) {
        self.for_each_secret(
            |secret, old| {
                if let (true, Some(old)) = (secret.is_redacted(), old) {
                    *secret = old.clone();
                }
            },
            Some(old),
        );
    }

    fn for_each_secret(&mut self, mut f: impl FnMut(&mut Secret, Option<&Secret>), old: Option<&BotConfig>) {
        match (&mut self.platform.auth, old.map(|o| &o.platform.auth)) {
            (PlatformAuth::Password(password), old) => {
                let old = match old {
                    Some(PlatformAuth::Password(old)) => Some(old),
                    _ => None,
                };
                f(password, old);
            }
            (PlatformAuth::ApiKey(keys), old) => {
                let old_keys = match old {
                    Some(PlatformAuth::ApiKey(old)) => Some(old),
                    _ => None,
                };
                f(&mut keys.app_key, old_keys.map(|k| &k.app_key));
                f(&mut keys.secret, old_keys.map(|k| &k.secret));
                f(&mut keys.access_token, old_keys.map(|k| &k.access_token));
                f(&mut keys.access_token_secret, old_keys.map(|k| &k.access_token_secret));
            }
        }
        let old_header = match old.map(|o| &o.vendor) {
            Some(VendorConfig::Function { auth_header: Some(header), .. }) => Some(&header.value),
            _ => None,
        };
        if let VendorConfig::Function { auth_header: Some(header), .. } = &mut self.vendor {
            f(&mut header.value, old_header);
        }
        if let Some(secret) = self.functions.as_mut().and_then(http_call::HttpCallConfig::secret_mut) {
            f(secret, old.and_then(|o| o.functions.as_ref()).and_then(http_call::HttpCallConfig::secret));
        }
        if let Some(secret) = self.hooks.pre.as_mut().and_then(http_call::HttpCallConfig::secret_mut) {
            f(secret, old.and_then(|o| o.hooks.pre.as_ref()).and_then(http_call::HttpCallConfig::secret));
        }
        if let Some(secret) = self.hooks.post.as_mut().and_then(http_call::HttpCallConfig::secret_mut) {
            f(secret, old.and_then(|o| o.hooks.post.as_ref()).and_then(http_call::HttpCallConfig::secret));
        }
        let old_google = match old.map(|o| &o.vendor) {
            Some(VendorConfig::DialogflowEs(es)) => es.credentials.as_ref(),
            Some(VendorConfig::DialogflowCx(cx)) => cx.credentials.as_ref(),
            _ => None,
        };
        match &mut self.vendor {
            VendorConfig::DialogflowEs(google::DialogflowEsConfig { credentials: Some(key), .. })
            | VendorConfig::DialogflowCx(google::DialogflowCxConfig { credentials: Some(key), .. }) => f(key, old_google),
            _ => {}
        }
        let old_vendor = old.map(|o| &o.vendor);
        match &mut self.vendor {
            VendorConfig::Lex(lex) => {
                let old = match old_vendor {
                    Some(VendorConfig::Lex(old)) => Some(old),
                    _ => None,
                };
                if let Some(secret) = &mut lex.access_key_id {
                    f(secret, old.and_then(|o| o.access_key_id.as_ref()));
                }
                if let Some(secret) = &mut lex.secret_access_key {
                    f(secret, old.and_then(|o| o.secret_access_key.as_ref()));
                }
                if let Some(secret) = &mut lex.session_token {
                    f(secret, old.and_then(|o| o.session_token.as_ref()));
                }
            }
            VendorConfig::WatsonV2(watson) => {
                let old = match old_vendor {
                    Some(VendorConfig::WatsonV2(old)) => old.auth.as_ref(),
                    _ => None,
                };
                match &mut watson.auth {
                    Some(vendors::WatsonAuthConfig::Iam { api_key, .. }) => {
                        let old = match old {
                            Some(vendors::WatsonAuthConfig::Iam { api_key, .. }) => Some(api_key),
                            _ => None,
                        };
                        f(api_key, old);
                    }
                    Some(vendors::WatsonAuthConfig::Basic { password, .. }) => {
                        let old = match old {
                            Some(vendors::WatsonAuthConfig::Basic { password, .. }) => Some(password),
                            _ => None,
                        };
                        f(password, old);
                    }
                    None => {}
                }
            }
            VendorConfig::DirectLine(directline) => {
                let old = match old_vendor {
                    Some(VendorConfig::DirectLine(old)) => Some(old),
                    _ => None,
                };
                if let Some(secret) = &mut directline.secret {
                    f(secret, old.and_then(|o| o.secret.as_ref()));
                }
                if let Some(secret) = &mut directline.token {
                    f(secret, old.and_then(|o| o.token.as_ref()));
                }
            }
            _ => {}
        }
        let old_auth = match old.map(|o| &o.vendor) {
            Some(VendorConfig::CustomEndpoint { auth, .. }) => Some(auth),
            _ => None,
        };
        if let VendorConfig::CustomEndpoint { auth, .. } = &mut self.vendor {
            match (auth, old_auth) {
                (CustomEndpointAuthConfig::Token(token), old) => {
                    let old = match old {
                        Some(CustomEndpointAuthConfig::Token(old)) => Some(old),
                        _ => None,
                    };
                    f(token, old);
                }
                (CustomEndpointAuthConfig::ClientCredentials { client_secret, .. }, old) => {
                    let old = match old {
                        Some(CustomEndpointAuthConfig::ClientCredentials { client_secret, .. }) => Some(client_secret),
                        _ => None,
                    };
                    f(client_secret, old);
                }
            }
        }
    }
}
