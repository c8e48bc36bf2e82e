//! Fakes of Amazon Lex V2, IBM Watson Assistant V2 and Microsoft Direct Line 3.0 for the
//! simulator (`botvisor simulate --vendor-bots FILE` and the embedded simulator serve them on the
//! platform origin), so the demo, the tests and the load bench run these bots with no account:
//!
//! * `lex`: the RecognizeText runtime; every request's AWS Signature Version 4 is verified with
//!   AWS's own signer; Lex's error bodies and `x-amzn-ErrorType`.
//! * `watson`: the IAM token endpoint (JWTs with `exp` and `iat`, as IBM's SDK needs), sessions
//!   that expire, messages on the environment-scoped and the older paths.
//! * `directline`: conversations, activities, watermarks and tokens; each consumer activity is
//!   forwarded to a bot's `/api/messages` as the Bot Framework channel does, and the bot's replies
//!   are taken on `serviceUrl`. `bot` is a built-in Bot Framework bot for when no real one is
//!   configured.
//!
//! What each bot answers comes from one JSON file (`bots`). The vendors' own clients are the judge
//! (tests/vendors: boto3, ibm-watson, botframework-directlinejs and a botbuilder bot).

pub mod bot;
pub mod bots;
pub mod directline;
pub mod lex;
pub mod watson;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use bots::BotsFile;

/// Requests kept per fake for the control API (the newest).
const MAX_LOGGED_REQUESTS: usize = 200;

/// The `vendors` part of the simulator's configuration. The credentials are the simulator's own
/// (not secrets): bots configured with `embedded` use them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorFakesConfig {
    /// What the fake bots answer (JSON, see `bots`).
    pub bots_file: PathBuf,
    #[serde(default = "aws_access_key_id")]
    pub aws_access_key_id: String,
    #[serde(default = "aws_secret_access_key")]
    pub aws_secret_access_key: String,
    #[serde(default = "watson_api_key")]
    pub watson_api_key: String,
    /// How long a Watson IAM token lives.
    #[serde(default = "hour", with = "humantime_serde")]
    pub watson_token_lifetime: Duration,
    /// A Watson session unused this long expires (Lite and Standard plans: 5 minutes).
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub watson_session_lifetime: Duration,
    #[serde(default = "directline_secret")]
    pub directline_secret: String,
    /// The Bot Framework bot's messaging endpoint (`http://…/api/messages`); default: the
    /// simulator's built-in bot.
    #[serde(default)]
    pub directline_bot: Option<String>,
    /// Direct Line answers 502 when the bot takes longer than this (15 s at Microsoft).
    #[serde(default = "fifteen_seconds", with = "humantime_serde")]
    pub directline_bot_timeout: Duration,
}

fn aws_access_key_id() -> String {
    "AKIDBOTVISORSIM".into()
}
fn aws_secret_access_key() -> String {
    "botvisor-simulator-aws-secret-key".into()
}
fn watson_api_key() -> String {
    "botvisor-simulator-watson-api-key".into()
}
fn directline_secret() -> String {
    "botvisor-simulator-directline-secret".into()
}
fn hour() -> Duration {
    Duration::from_secs(3600)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn fifteen_seconds() -> Duration {
    Duration::from_secs(15)
}

impl VendorFakesConfig {
    pub fn new(bots_file: impl Into<PathBuf>) -> Self {
        Self {
            bots_file: bots_file.into(),
            aws_access_key_id: aws_access_key_id(),
            aws_secret_access_key: aws_secret_access_key(),
            watson_api_key: watson_api_key(),
            watson_token_lifetime: hour(),
            watson_session_lifetime: five_minutes(),
            directline_secret: directline_secret(),
            directline_bot: None,
            directline_bot_timeout: fifteen_seconds(),
        }
    }

    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(file_problems) = BotsFile::read(&self.bots_file) {
            problems.extend(file_problems.into_iter().map(|p| format!("{path}.bots_file: {p}")));
        }
        for (field, value) in [
            ("aws_access_key_id", &self.aws_access_key_id),
            ("aws_secret_access_key", &self.aws_secret_access_key),
            ("watson_api_key", &self.watson_api_key),
            ("directline_secret", &self.directline_secret),
        ] {
            if value.is_empty() {
                problems.push(format!("{path}.{field}: must not be empty"));
            }
        }
        if self.watson_token_lifetime < Duration::from_secs(10) || self.watson_token_lifetime > Duration::from_secs(86_400) {
            problems.push(format!("{path}.watson_token_lifetime: between 10s and 24h"));
        }
        if let Some(url) = &self.directline_bot {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!("{path}.directline_bot: must start with http:// or https://"));
            }
        }
        problems
    }
}

/// One fake's counters and newest requests.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    /// Requests refused for their credentials (a bad signature, an unknown token).
    pub unauthenticated: u64,
    /// Requests refused 400.
    pub invalid_requests: u64,
    pub tokens_issued: u64,
    pub sessions_created: u64,
    pub conversations_started: u64,
    /// Direct Line: activity reads by polling, and websocket streams opened.
    pub activity_polls: u64,
    pub streams_opened: u64,
    /// `{path, body}` of the newest requests.
    pub log: VecDeque<Value>,
}

impl Stats {
    pub fn log(&mut self, path: &str, body: Value) {
        self.requests += 1;
        if self.log.len() >= MAX_LOGGED_REQUESTS {
            self.log.pop_front();
        }
        self.log.push_back(json!({"path": path, "body": body}));
    }
}

/// The fakes' state, shared by the platform origin's and the control API's handlers.
pub struct VendorFakes {
    pub config: VendorFakesConfig,
    pub bots: BotsFile,
    /// `http(s)://host:port` of the platform origin.
    pub origin: String,
    pub lex: Mutex<Stats>,
    pub watson: watson::WatsonState,
    pub directline: directline::DirectLineState,
    /// Failures answered so far per (session, intent), for faults with `times`.
    failures: Mutex<std::collections::HashMap<(String, String), u32>>,
}

impl VendorFakes {
    pub fn start(config: VendorFakesConfig, origin: &str) -> Result<Self, String> {
        let bots = BotsFile::read(&config.bots_file).map_err(|problems| problems.join("; "))?;
        Ok(Self {
            bots,
            origin: origin.to_owned(),
            lex: Mutex::default(),
            watson: watson::WatsonState::new(),
            directline: directline::DirectLineState::default(),
            failures: Mutex::default(),
            config,
        })
    }

    /// Counts a failure of `intent` in `session`; whether this request fails (`times` not used up).
    pub fn should_fail(&self, session: &str, intent: &str, times: Option<u32>) -> bool {
        let Some(times) = times else { return true };
        let mut failures = self.failures.lock().expect("failures lock");
        let count = failures.entry((session.to_owned(), intent.to_owned())).or_insert(0);
        if *count < times {
            *count += 1;
            true
        } else {
            false
        }
    }

    /// What the control API shows.
    pub fn stats(&self) -> Value {
        json!({
            "lex": *self.lex.lock().expect("lex lock"),
            "watson": *self.watson.stats.lock().expect("watson lock"),
            "directline": *self.directline.stats.lock().expect("directline lock"),
        })
    }
}

/// The fakes' routes on the platform origin (before the Google fake's `/v3/…`).
pub fn routes(cfg: &mut web::ServiceConfig, fakes: web::Data<VendorFakes>) {
    cfg.app_data(fakes)
        .route("/bots/{bot}/botAliases/{alias}/botLocales/{locale}/sessions/{session}/text", web::post().to(lex::recognize_text))
        .route("/identity/token", web::post().to(watson::token))
        .route("/instances/{instance}/v2/assistants/{assistant}/sessions", web::post().to(watson::create_session))
        .route("/instances/{instance}/v2/assistants/{assistant}/environments/{env}/sessions", web::post().to(watson::create_session_in))
        .route("/instances/{instance}/v2/assistants/{assistant}/sessions/{session}/message", web::post().to(watson::message))
        .route(
            "/instances/{instance}/v2/assistants/{assistant}/environments/{env}/sessions/{session}/message",
            web::post().to(watson::message_in),
        )
        .route("/instances/{instance}/v2/assistants/{assistant}/sessions/{session}", web::delete().to(watson::delete_session))
        .route(
            "/instances/{instance}/v2/assistants/{assistant}/environments/{env}/sessions/{session}",
            web::delete().to(watson::delete_session_in),
        )
        .route("/v3/directline/conversations", web::post().to(directline::start_conversation))
        .route("/v3/directline/conversations/{id}", web::get().to(directline::reconnect))
        .route("/v3/directline/conversations/{id}/activities", web::post().to(directline::post_activity))
        .route("/v3/directline/conversations/{id}/activities", web::get().to(directline::get_activities))
        .route("/v3/directline/conversations/{id}/stream", web::get().to(directline::stream))
        .route("/v3/directline/tokens/generate", web::post().to(directline::generate_token))
        .route("/v3/directline/tokens/refresh", web::post().to(directline::refresh_token))
        .route("/v3/conversations/{id}/activities/{reply_to}", web::post().to(directline::bot_reply))
        .route("/v3/conversations/{id}/activities", web::post().to(directline::bot_send));
}

/// The control endpoints: `GET /sim/v1/vendors` (each fake's counters and newest requests),
/// `POST /sim/v1/vendors/watson/expire-sessions` (every Watson session expires),
/// `POST /sim/v1/vendors/watson/revoke-tokens` (every IAM token is refused from now on),
/// `POST /sim/v1/vendors/directline/expire-conversations` (Direct Line forgets its conversations).
pub fn control_routes(cfg: &mut web::ServiceConfig, fakes: web::Data<VendorFakes>) {
    cfg.app_data(fakes)
        .route("/sim/v1/vendors", web::get().to(|fakes: web::Data<VendorFakes>| async move { HttpResponse::Ok().json(fakes.stats()) }))
        .route(
            "/sim/v1/vendors/watson/expire-sessions",
            web::post().to(|fakes: web::Data<VendorFakes>| async move {
                fakes.watson.expire_sessions();
                HttpResponse::NoContent().finish()
            }),
        )
        .route(
            "/sim/v1/vendors/watson/revoke-tokens",
            web::post().to(|fakes: web::Data<VendorFakes>| async move {
                fakes.watson.revoke_tokens();
                HttpResponse::NoContent().finish()
            }),
        )
        .route(
            "/sim/v1/vendors/directline/expire-conversations",
            web::post().to(|fakes: web::Data<VendorFakes>| async move {
                fakes.directline.expire_conversations();
                HttpResponse::NoContent().finish()
            }),
        );
}
