//! Builds a bot from its configuration — platform client, vendor, error hook, BotActor — on the
//! node's main arbiter, wherever the request comes from (the admin API runs on its own thread).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr};
use actix_rt::ArbiterHandle;
use botvisor_actors::bot::BotActor;
use botvisor_actors::ports::VendorPort;

use crate::cluster::{Fence, SharedOwnership, Store, StoreConversationRecords};
use crate::config::google::EMBEDDED;
use crate::config::http_call::{HttpCall, HttpCallConfig};
use crate::config::vendors::WatsonAuthConfig;
use crate::config::SecretError;
use crate::config::{read_script, BotConfig, CustomEndpointAuthConfig, PlatformAuth, Secret, ServiceConfig, VendorConfig};
use crate::hooks::error_hook::{HookCounters, HookError, HttpErrorHook};
use crate::hooks::function_invoker::HttpFunctions;
use crate::hooks::vendor_hooks::{VendorHooks, DEFAULT_HOOK_TIMEOUT};
use crate::http::TlsError;
use crate::platform::liveperson::frames::TtrSeconds;
use crate::platform::liveperson::login::LoginCredentials;
use crate::platform::liveperson::{LivePersonPlatform, SessionCounters, SessionSettings};
use crate::sim::provision::{provide_bot_user, BotUser};
use crate::sim::state::Shared;
use crate::sim::SimHandle;
use crate::vendors::custom_endpoint::{CustomEndpointAuth, CustomEndpointSettings, CustomEndpointVendor};
use crate::vendors::dialogflow::cx::{DialogflowCxSettings, DialogflowCxVendor};
use crate::vendors::dialogflow::es::{DialogflowEsSettings, DialogflowEsVendor};
use crate::vendors::directline::{DirectLineAuth, DirectLineSettings, DirectLineVendor};
use crate::vendors::function::{FunctionVendor, FUNCTION_TIMEOUT};
use crate::vendors::google_auth::ServiceAccountKey;
use crate::vendors::lex::{AwsCredentials, LexSettings, LexVendor};
use crate::vendors::scripted::ScriptedVendor;
use crate::vendors::watson::{WatsonAuth, WatsonSettings, WatsonVendor};
use crate::vendors::VendorBuildError;

/// Slots of a bot user the launcher creates on the embedded simulator.
const EMBEDDED_BOT_SLOTS: usize = 1000;

/// The embedded simulator, as bots with `csds = "embedded"` reach it.
#[derive(Clone)]
pub struct EmbeddedPlatform {
    pub account: String,
    pub platform_addr: SocketAddr,
    pub ca_path: Option<PathBuf>,
    pub tls: bool,
    /// The Google fakes' service-account key (JSON), when the simulator serves them.
    pub google_key: Option<String>,
    /// The Lex, Watson and Direct Line fakes' credentials, when the simulator serves them.
    pub vendors: Option<crate::sim::vendors::VendorFakesConfig>,
    state: Shared,
}

impl EmbeddedPlatform {
    pub fn of(simulator: &SimHandle) -> Self {
        Self {
            account: simulator.account.clone(),
            platform_addr: simulator.platform_addr,
            ca_path: simulator.ca_path.clone(),
            tls: simulator.tls,
            google_key: simulator.google_key_json(),
            vendors: simulator.vendors.as_ref().map(|v| v.config.clone()),
            state: simulator.state.clone(),
        }
    }

    /// The bot's agent user on the simulator, with its skill: created, or given the configured
    /// password.
    fn provide_user(&self, bot: &BotConfig, skill: &str, password: String) -> Result<(), String> {
        let user = BotUser { login: bot.platform.login.clone(), password, skill: skill.to_owned(), max_slots: EMBEDDED_BOT_SLOTS };
        provide_bot_user(&self.state, &user).map(|_| ()).map_err(|e| format!("bot {}: {e}", bot.id))
    }
}

/// A bot built and not started.
pub struct LaunchedBot {
    pub addr: Addr<BotActor>,
    /// Its platform session's reconnects, login failures and bad frames.
    pub counters: Arc<SessionCounters>,
    /// Its error hook's deliveries (when it has a hook).
    pub hook: Option<Arc<HookCounters>>,
}

/// Why a bot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("bot {bot}: {path}: {source}")]
    Secret { bot: String, path: &'static str, source: SecretError },
    #[error("bot {bot}: vendor.script: {message}")]
    Script { bot: String, message: String },
    #[error("bot {bot}: settings: {message}")]
    Settings { bot: String, message: String },
    #[error("bot {bot}: \"embedded\" needs the embedded simulator")]
    NoEmbeddedPlatform { bot: String },
    #[error("bot {bot}: the embedded simulator's bot users log in with a password")]
    EmbeddedNeedsPassword { bot: String },
    #[error("bot {bot}: {message}")]
    Provision { bot: String, message: String },
    #[error("bot {bot}: {source}")]
    Tls { bot: String, source: TlsError },
    #[error("bot {bot}: vendor: {source}")]
    Vendor { bot: String, source: VendorBuildError },
    #[error("bot {bot}: vendor.endpoint: \"embedded\" needs the embedded simulator's Google fakes ([simulator.google])")]
    NoEmbeddedGoogle { bot: String },
    #[error("bot {bot}: \"embedded\" needs the embedded simulator's vendor fakes ([simulator.vendors])")]
    NoEmbeddedVendors { bot: String },
    #[error("bot {bot}: error_hook: {source}")]
    Hook { bot: String, source: HookError },
    #[error("the node is stopping")]
    Stopping,
}

/// Builds bots on the arbiter it was created on.
#[derive(Clone)]
pub struct BotLauncher {
    arbiter: ArbiterHandle,
    embedded: Option<EmbeddedPlatform>,
    /// The node's ownership deadline, as every session it builds sees it.
    fence: Fence,
}

impl BotLauncher {
    /// A launcher for the current arbiter (call it on the node's main arbiter).
    pub fn on_current_arbiter(embedded: Option<EmbeddedPlatform>) -> Self {
        Self { arbiter: actix_rt::Arbiter::current(), embedded, fence: Fence::open() }
    }

    /// Every session this launcher builds stops talking to the platform past `fence`'s deadline.
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// Whether bots may use `csds = "embedded"`.
    pub fn has_embedded_platform(&self) -> bool {
        self.embedded.is_some()
    }

    /// Builds the bot (not started). The configuration is expected to be valid. Its secrets and
    /// script are read on a blocking thread first: a slow disk never stalls the arbiter's bots.
    /// With `records`, its conversations keep their records in that store, written with the
    /// bot's ownership as the registry sets it.
    pub async fn launch(&self, bot: BotConfig, records: Option<(Arc<dyn Store>, SharedOwnership)>) -> Result<LaunchedBot, LaunchError> {
        let prepared = tokio::task::spawn_blocking(move || prepare(bot)).await.map_err(|_| LaunchError::Stopping)??;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let embedded = self.embedded.clone();
        let fence = self.fence.clone();
        let sent = self.arbiter.spawn_fn(move || {
            let _ = tx.send(build(prepared, embedded.as_ref(), fence, records));
        });
        if !sent {
            return Err(LaunchError::Stopping);
        }
        rx.await.map_err(|_| LaunchError::Stopping)?
    }
}

/// A bot's configuration with what it needs from files and the environment read.
struct Prepared {
    bot: BotConfig,
    credentials: LoginCredentials,
    vendor: PreparedVendor,
    /// `[bots.functions]`, its secret read.
    functions: Option<HttpCall>,
    /// `[bots.hooks]`: pre, post.
    hooks: (Option<HttpCall>, Option<HttpCall>),
}

enum PreparedVendor {
    Scripted(ScriptedVendor),
    CustomEndpoint(CustomEndpointSettings),
    Function(HttpCall),
    /// A Dialogflow vendor; its key is `None` for the embedded simulator's (known at build).
    DialogflowEs(crate::config::google::DialogflowEsConfig, Option<ServiceAccountKey>, std::time::Duration),
    DialogflowCx(crate::config::google::DialogflowCxConfig, Option<ServiceAccountKey>, std::time::Duration),
    /// Lex: its settings and whether it is the embedded fake (its credentials then filled at build).
    Lex(LexSettings, bool),
    Watson(WatsonSettings, bool),
    DirectLine(DirectLineSettings, bool),
}

/// Resolves the secrets and reads the script (blocking: regular files, bounded).
fn prepare(bot: BotConfig) -> Result<Prepared, LaunchError> {
    let settings = ServiceConfig::bot_settings(&bot).map_err(|e| LaunchError::Settings { bot: bot.id.clone(), message: e.to_string() })?;
    let secret =
        |secret: &Secret, path: &'static str| secret.resolve().map_err(|source| LaunchError::Secret { bot: bot.id.clone(), path, source });
    let call_secret = |call: &HttpCallConfig, path: &'static str, timeout: std::time::Duration| {
        call.resolve(timeout).map_err(|source| LaunchError::Secret { bot: bot.id.clone(), path, source })
    };
    let username = bot.platform.login.clone();
    let credentials = match &bot.platform.auth {
        PlatformAuth::Password(password) => LoginCredentials::Password { username, password: secret(password, "platform.auth.password")? },
        PlatformAuth::ApiKey(keys) => LoginCredentials::ApiKey {
            username,
            app_key: secret(&keys.app_key, "platform.auth.api_key.app_key")?,
            secret: secret(&keys.secret, "platform.auth.api_key.secret")?,
            access_token: secret(&keys.access_token, "platform.auth.api_key.access_token")?,
            access_token_secret: secret(&keys.access_token_secret, "platform.auth.api_key.access_token_secret")?,
        },
    };
    let vendor = match &bot.vendor {
        VendorConfig::Scripted { script, latency } => PreparedVendor::Scripted(
            read_script(script).map_err(|e| LaunchError::Script { bot: bot.id.clone(), message: e.to_string() })?.with_latency(*latency),
        ),
        VendorConfig::CustomEndpoint { base_url, bot_id, environment, auth, requests_per_second, ca } => {
            let auth = match auth {
                CustomEndpointAuthConfig::Token(token) => CustomEndpointAuth::StaticToken(secret(token, "vendor.auth.token")?),
                CustomEndpointAuthConfig::ClientCredentials { token_url, client_id, client_secret } => {
                    CustomEndpointAuth::ClientCredentials {
                        token_url: token_url.clone(),
                        client_id: client_id.clone(),
                        client_secret: secret(client_secret, "vendor.auth.client_credentials.client_secret")?,
                    }
                }
            };
            let mut vendor_settings = CustomEndpointSettings::new(base_url, bot_id, auth);
            vendor_settings.environment = environment.clone();
            vendor_settings.requests_per_second = *requests_per_second;
            vendor_settings.ca = ca.clone();
            vendor_settings.request_timeout = settings.conversation.vendor_call.timeout;
            PreparedVendor::CustomEndpoint(vendor_settings)
        }
        VendorConfig::Function { url, auth_header, ca } => {
            let call = HttpCallConfig { url: url.clone(), auth_header: auth_header.clone(), ca: ca.clone(), timeout: None };
            PreparedVendor::Function(call_secret(
                &call,
                "vendor.auth_header.value",
                settings.conversation.vendor_call.timeout.min(FUNCTION_TIMEOUT),
            )?)
        }
        VendorConfig::DialogflowEs(es) => {
            let key = google_key(&bot.id, es.credentials.as_ref())?;
            PreparedVendor::DialogflowEs(es.clone(), key, settings.conversation.vendor_call.timeout)
        }
        VendorConfig::DialogflowCx(cx) => {
            let key = google_key(&bot.id, cx.credentials.as_ref())?;
            PreparedVendor::DialogflowCx(cx.clone(), key, settings.conversation.vendor_call.timeout)
        }
        VendorConfig::Lex(lex) => {
            let optional = |s: &Option<Secret>, path| s.as_ref().map(|s| secret(s, path)).transpose();
            let credentials = AwsCredentials {
                access_key_id: optional(&lex.access_key_id, "vendor.access_key_id")?.unwrap_or_default(),
                secret_access_key: optional(&lex.secret_access_key, "vendor.secret_access_key")?.unwrap_or_default(),
                session_token: optional(&lex.session_token, "vendor.session_token")?,
            };
            let mut lex_settings = LexSettings::new(&lex.bot_id, &lex.bot_alias_id, &lex.locale_id, &lex.region, credentials);
            lex_settings.endpoint = lex.endpoint.clone();
            lex_settings.ca = lex.ca.clone();
            lex_settings.request_timeout = settings.conversation.vendor_call.timeout;
            PreparedVendor::Lex(lex_settings, lex.embedded())
        }
        VendorConfig::WatsonV2(watson) => {
            let auth = match &watson.auth {
                Some(WatsonAuthConfig::Iam { api_key, token_url }) => WatsonAuth::Iam {
                    api_key: secret(api_key, "vendor.auth.iam.api_key")?,
                    token_url: token_url.clone().unwrap_or_else(|| crate::vendors::watson::DEFAULT_TOKEN_URL.into()),
                },
                Some(WatsonAuthConfig::Basic { username, password }) => {
                    WatsonAuth::Basic { username: username.clone(), password: secret(password, "vendor.auth.basic.password")? }
                }
                None => WatsonAuth::Iam { api_key: String::new(), token_url: String::new() },
            };
            let mut watson_settings = WatsonSettings::new(&watson.url, &watson.assistant_id, auth);
            watson_settings.environment_id = watson.environment_id.clone();
            watson_settings.version = watson.version.clone();
            watson_settings.ca = watson.ca.clone();
            watson_settings.request_timeout = settings.conversation.vendor_call.timeout;
            PreparedVendor::Watson(watson_settings, watson.embedded())
        }
        VendorConfig::DirectLine(directline) => {
            let auth = match (&directline.secret, &directline.token) {
                (_, Some(token)) => DirectLineAuth::Token(secret(token, "vendor.token")?),
                (Some(s), None) => DirectLineAuth::Secret(secret(s, "vendor.secret")?),
                (None, None) => DirectLineAuth::Secret(String::new()),
            };
            let mut directline_settings = DirectLineSettings::new(auth);
            if let Some(endpoint) = &directline.endpoint {
                directline_settings.endpoint = endpoint.clone();
            }
            directline_settings.multiple_activities = directline.multiple_activities;
            if let Some(interval) = directline.poll_interval {
                directline_settings.poll_interval = interval;
            }
            directline_settings.pva = directline.pva;
            directline_settings.stream = directline.websocket;
            directline_settings.ca = directline.ca.clone();
            directline_settings.request_timeout = settings.conversation.vendor_call.timeout;
            PreparedVendor::DirectLine(directline_settings, directline.embedded())
        }
    };
    let functions = bot.functions.as_ref().map(|f| call_secret(f, "functions.auth_header.value", FUNCTION_TIMEOUT)).transpose()?;
    let pre = bot.hooks.pre.as_ref().map(|h| call_secret(h, "hooks.pre.auth_header.value", DEFAULT_HOOK_TIMEOUT)).transpose()?;
    let post = bot.hooks.post.as_ref().map(|h| call_secret(h, "hooks.post.auth_header.value", DEFAULT_HOOK_TIMEOUT)).transpose()?;
    Ok(Prepared { bot, credentials, vendor, functions, hooks: (pre, post) })
}

/// The service-account key of a Dialogflow vendor, read from its secret (none for `embedded`).
fn google_key(bot: &str, credentials: Option<&Secret>) -> Result<Option<ServiceAccountKey>, LaunchError> {
    let Some(credentials) = credentials else { return Ok(None) };
    let json = credentials.resolve().map_err(|source| LaunchError::Secret { bot: bot.to_owned(), path: "vendor.credentials", source })?;
    let key = ServiceAccountKey::parse(&json).map_err(|e| LaunchError::Vendor { bot: bot.to_owned(), source: e.into() })?;
    Ok(Some(key))
}

/// Where a Dialogflow vendor calls and with which key and CA: the configured ones, or the
/// embedded simulator's fake for `endpoint = "embedded"`.
fn google_target(
    bot: &str,
    endpoint: Option<&str>,
    key: Option<ServiceAccountKey>,
    ca: Option<PathBuf>,
    embedded: Option<&EmbeddedPlatform>,
) -> Result<(Option<String>, ServiceAccountKey, Option<PathBuf>), LaunchError> {
    if endpoint != Some(EMBEDDED) {
        let key = key.ok_or_else(|| LaunchError::NoEmbeddedGoogle { bot: bot.to_owned() })?;
        return Ok((endpoint.map(str::to_owned), key, ca));
    }
    let sim = embedded.ok_or_else(|| LaunchError::NoEmbeddedPlatform { bot: bot.to_owned() })?;
    let json = sim.google_key.as_deref().ok_or_else(|| LaunchError::NoEmbeddedGoogle { bot: bot.to_owned() })?;
    let key = match key {
        Some(key) => key,
        None => ServiceAccountKey::parse(json).map_err(|e| LaunchError::Vendor { bot: bot.to_owned(), source: e.into() })?,
    };
    let origin = format!("{}://{}", if sim.tls { "https" } else { "http" }, sim.platform_addr);
    Ok((Some(origin), key, sim.ca_path.clone().or(ca)))
}

/// The embedded simulator's vendor fakes: their origin, credentials and CA.
fn embedded_vendors<'a>(
    bot: &str,
    embedded: Option<&'a EmbeddedPlatform>,
) -> Result<(String, &'a crate::sim::vendors::VendorFakesConfig, Option<PathBuf>), LaunchError> {
    let sim = embedded.ok_or_else(|| LaunchError::NoEmbeddedPlatform { bot: bot.to_owned() })?;
    let fakes = sim.vendors.as_ref().ok_or_else(|| LaunchError::NoEmbeddedVendors { bot: bot.to_owned() })?;
    let origin = format!("{}://{}", if sim.tls { "https" } else { "http" }, sim.platform_addr);
    Ok((origin, fakes, sim.ca_path.clone()))
}

fn build(
    prepared: Prepared,
    embedded: Option<&EmbeddedPlatform>,
    fence: Fence,
    records: Option<(Arc<dyn Store>, SharedOwnership)>,
) -> Result<LaunchedBot, LaunchError> {
    let Prepared { bot, credentials, vendor, functions, hooks } = prepared;
    let bot = &bot;
    let id = || bot.id.clone();
    let settings = ServiceConfig::bot_settings(bot).map_err(|e| LaunchError::Settings { bot: id(), message: e.to_string() })?;
    let platform = &bot.platform;
    let mut session = if platform.csds == "embedded" {
        let sim = embedded.ok_or_else(|| LaunchError::NoEmbeddedPlatform { bot: id() })?;
        let LoginCredentials::Password { password, .. } = &credentials else {
            return Err(LaunchError::EmbeddedNeedsPassword { bot: id() });
        };
        sim.provide_user(bot, &settings.skill, password.clone()).map_err(|message| LaunchError::Provision { bot: id(), message })?;
        let mut session = SessionSettings::new(&sim.account, &sim.platform_addr.to_string(), credentials);
        session.ca = sim.ca_path.clone();
        session.plain_http = !sim.tls;
        session
    } else {
        let mut session = SessionSettings::new(platform.account.as_deref().unwrap_or_default(), &platform.csds, credentials);
        session.ca = platform.ca.clone();
        session.plain_http = platform.plain_http;
        session
    };
    session.account = platform.account.clone().unwrap_or(session.account);
    session.ttr_seconds = TtrSeconds {
        urgent: platform.ttr.urgent.as_secs(),
        prioritized: platform.ttr.prioritized.as_secs(),
        normal: platform.ttr.normal.as_secs(),
    };
    session.skills = platform.skills.iter().map(|(name, id)| (name.clone(), id.clone())).collect();
    session.fence = fence;
    let client = LivePersonPlatform::new(session).map_err(|source| LaunchError::Tls { bot: id(), source })?;
    let tls = |source| LaunchError::Tls { bot: id(), source };
    let hooks = VendorHooks::new(hooks.0, hooks.1).map_err(tls)?;
    let vendor: Rc<dyn VendorPort> = match vendor {
        PreparedVendor::Scripted(scripted) => Rc::new(scripted),
        PreparedVendor::CustomEndpoint(vendor_settings) => {
            Rc::new(CustomEndpointVendor::new(vendor_settings).map_err(tls)?.with_hooks(hooks))
        }
        PreparedVendor::Function(call) => Rc::new(FunctionVendor::new(call, hooks).map_err(tls)?),
        PreparedVendor::DialogflowEs(config, key, timeout) => {
            let (endpoint, key, ca) = google_target(&bot.id, config.endpoint.as_deref(), key, config.ca.clone(), embedded)?;
            let mut vendor_settings = DialogflowEsSettings::new(&config.project_id, &config.language_code, key);
            if let Some(endpoint) = endpoint {
                vendor_settings.endpoint = endpoint;
            }
            vendor_settings.environment = config.environment.clone();
            vendor_settings.user = config.user.clone();
            vendor_settings.auth = config.auth;
            vendor_settings.ca = ca;
            vendor_settings.request_timeout = timeout;
            Rc::new(DialogflowEsVendor::new(vendor_settings).map_err(|source| LaunchError::Vendor { bot: id(), source })?.with_hooks(hooks))
        }
        PreparedVendor::DialogflowCx(config, key, timeout) => {
            let (endpoint, key, ca) = google_target(&bot.id, config.endpoint.as_deref(), key, config.ca.clone(), embedded)?;
            let mut vendor_settings =
                DialogflowCxSettings::new(&config.project_id, &config.location, &config.agent_id, &config.language_code, key);
            vendor_settings.endpoint = endpoint;
            vendor_settings.environment_id = config.environment_id.clone();
            vendor_settings.auth = config.auth;
            vendor_settings.ca = ca;
            vendor_settings.request_timeout = timeout;
            Rc::new(DialogflowCxVendor::new(vendor_settings).map_err(|source| LaunchError::Vendor { bot: id(), source })?.with_hooks(hooks))
        }
        PreparedVendor::Lex(mut lex, embedded_fake) => {
            if embedded_fake {
                let (origin, fakes, ca) = embedded_vendors(&bot.id, embedded)?;
                lex.endpoint = Some(origin);
                if lex.credentials.access_key_id.is_empty() {
                    lex.credentials.access_key_id = fakes.aws_access_key_id.clone();
                    lex.credentials.secret_access_key = fakes.aws_secret_access_key.clone();
                }
                lex.ca = ca.or(lex.ca);
            }
            Rc::new(LexVendor::new(lex, hooks).map_err(tls)?)
        }
        PreparedVendor::Watson(mut watson, embedded_fake) => {
            if embedded_fake {
                let (origin, fakes, ca) = embedded_vendors(&bot.id, embedded)?;
                watson.url = format!("{origin}/instances/embedded");
                if matches!(&watson.auth, WatsonAuth::Iam { api_key, .. } if api_key.is_empty()) {
                    watson.auth = WatsonAuth::Iam { api_key: fakes.watson_api_key.clone(), token_url: format!("{origin}/identity/token") };
                }
                watson.ca = ca.or(watson.ca);
            }
            Rc::new(WatsonVendor::new(watson, hooks).map_err(tls)?)
        }
        PreparedVendor::DirectLine(mut directline, embedded_fake) => {
            if embedded_fake {
                let (origin, fakes, ca) = embedded_vendors(&bot.id, embedded)?;
                directline.endpoint = format!("{origin}/v3/directline");
                if matches!(&directline.auth, DirectLineAuth::Secret(s) if s.is_empty()) {
                    directline.auth = DirectLineAuth::Secret(fakes.directline_secret.clone());
                }
                directline.ca = ca.or(directline.ca);
            }
            Rc::new(DirectLineVendor::new(directline, hooks).map_err(tls)?)
        }
    };
    let counters = client.counters();
    let mut actor = BotActor::new(settings, Rc::new(client.clone()), vendor);
    let mut hook_counters = None;
    if let Some(url) = &bot.error_hook {
        let hook = HttpErrorHook::new(url, None).map_err(|source| LaunchError::Hook { bot: id(), source })?;
        hook_counters = Some(hook.counters());
        actor = actor.with_error_hook(Rc::new(hook));
    }
    if let Some(call) = functions {
        actor = actor.with_functions(Rc::new(HttpFunctions::new(call).map_err(tls)?));
    }
    if let Some((store, ownership)) = records {
        actor = actor.with_conversation_state(Rc::new(StoreConversationRecords::new(&store, bot.id.clone(), ownership)));
    }
    let addr = actor.start();
    client.attach(addr.clone().recipient());
    Ok(LaunchedBot { addr, counters, hook: hook_counters })
}
