//! Fakes of Google's Dialogflow APIs for the simulator (`botvisor simulate` and the embedded
//! simulator serve them on the platform origin), so the demo, the tests and the load bench can
//! run a Dialogflow bot with no Google account: ES v2 and CX v3 `detectIntent` with agents and
//! intents from a file (`agents`), the OAuth token endpoint and the bearer checks (`auth`), the
//! requests as strictly as Google parses them (`requests`), Google's error bodies (`status`).
//! Google's own Python clients are the judge (tests/dialogflow/google_clients.rs).
//!
//! At start the fake makes a service-account key whose `token_uri` is its own token endpoint and
//! writes it beside the simulator's certificate (`simulator-google-key.json`); bots configured
//! with `endpoint = "embedded"` use it.

pub mod agents;
pub mod auth;
pub mod detect;
pub mod requests;
pub mod status;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

use agents::AgentsFile;
use auth::{Keys, MadeKey};

/// Requests kept for the control API (the newest).
const MAX_LOGGED_REQUESTS: usize = 200;
/// Access tokens remembered at most (expired ones are dropped first).
const MAX_TOKENS: usize = 100_000;

/// The `google` part of the simulator's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleFakeConfig {
    /// The agents and their intents (JSON, see `agents`).
    pub agents_file: PathBuf,
    /// How long an access token from the token endpoint lives.
    #[serde(default = "hour", with = "humantime_serde")]
    pub token_lifetime: Duration,
    /// Where the service-account key is written (default: beside the certificate).
    #[serde(default)]
    pub key_out: Option<PathBuf>,
    /// The project named in the key's account.
    #[serde(default = "sim_project")]
    pub project: String,
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

fn sim_project() -> String {
    "botvisor-sim".into()
}

impl GoogleFakeConfig {
    pub fn new(agents_file: impl Into<PathBuf>) -> Self {
        Self { agents_file: agents_file.into(), token_lifetime: hour(), key_out: None, project: sim_project() }
    }

    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(file_problems) = AgentsFile::read(&self.agents_file) {
            problems.extend(file_problems.into_iter().map(|p| format!("{path}.agents_file: {p}")));
        }
        if self.token_lifetime < Duration::from_secs(1) || self.token_lifetime > Duration::from_secs(86_400) {
            problems.push(format!("{path}.token_lifetime: must be between 1s and 24h"));
        }
        if !crate::vendors::dialogflow::is_path_segment(&self.project) {
            problems.push(format!("{path}.project: letters, digits, '-', '_' and '.'"));
        }
        problems
    }
}

/// What the control API shows.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub token_requests: u64,
    pub token_refusals: u64,
    pub detect_intent_requests: u64,
    /// Requests refused 401 (no bearer, an unknown or expired token, a bad self-signed JWT).
    pub unauthenticated: u64,
    /// Requests refused 400 (a body Google would refuse).
    pub invalid_requests: u64,
    /// The newest requests: `{api, path, body}`.
    pub requests: VecDeque<Value>,
}

/// The fakes' state, shared by the platform origin's and the control API's handlers.
pub struct GoogleFake {
    pub config: GoogleFakeConfig,
    pub agents: AgentsFile,
    pub made: MadeKey,
    /// Where the key was written.
    pub key_path: Option<PathBuf>,
    keys: Mutex<Keys>,
    tokens: Mutex<HashMap<String, Instant>>,
    stats: Mutex<Stats>,
    /// Failures answered so far per (session, intent), for faults with `times`.
    failures: Mutex<HashMap<(String, String), u32>>,
}

impl GoogleFake {
    /// Reads the agents, makes the key (token endpoint at `origin/token`) and writes it.
    pub fn start(config: GoogleFakeConfig, origin: &str, default_key_dir: Option<&std::path::Path>) -> Result<Self, String> {
        let agents = AgentsFile::read(&config.agents_file).map_err(|problems| problems.join("; "))?;
        let (made, known) = auth::make_key(&config.project, &format!("{origin}/token"))?;
        let key_path = config.key_out.clone().or_else(|| default_key_dir.map(|dir| dir.join("simulator-google-key.json")));
        if let Some(path) = &key_path {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            std::fs::write(path, &made.key_json).map_err(|e| format!("cannot write the Google key to {}: {e}", path.display()))?;
        }
        let mut keys = Keys::default();
        keys.add(made.key_id.clone(), known);
        Ok(Self {
            config,
            agents,
            made,
            key_path,
            keys: Mutex::new(keys),
            tokens: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            failures: Mutex::new(HashMap::new()),
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().expect("stats lock").clone()
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().expect("stats lock"));
    }

    fn log_request(&self, api: &str, path: &str, body: Value) {
        let mut stats = self.stats.lock().expect("stats lock");
        stats.detect_intent_requests += 1;
        if stats.requests.len() >= MAX_LOGGED_REQUESTS {
            stats.requests.pop_front();
        }
        stats.requests.push_back(json!({"api": api, "path": path, "body": body}));
    }

    /// Forgets every access token issued: the next call with one is refused 401, as after a
    /// revocation or an expiry.
    pub fn revoke_tokens(&self) {
        self.tokens.lock().expect("tokens lock").clear();
    }

    /// Trusts another service-account key (its public half).
    pub fn add_key(&self, key_json: &str) -> Result<(), String> {
        let (key_id, known) = auth::known_key_of(key_json)?;
        self.keys.lock().expect("keys lock").add(key_id, known);
        Ok(())
    }

    fn issue_token(&self) -> String {
        let token = auth::new_access_token();
        let now = Instant::now();
        let mut tokens = self.tokens.lock().expect("tokens lock");
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, until| *until > now);
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(token.clone(), now.checked_add(self.config.token_lifetime).unwrap_or(now));
        token
    }

    /// Whether a request's `Authorization` header is a valid bearer.
    fn authenticated(&self, authorization: Option<&str>) -> bool {
        let Some(bearer) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else { return false };
        if let Some(until) = self.tokens.lock().expect("tokens lock").get(bearer) {
            return Instant::now() < *until;
        }
        bearer.split('.').count() == 3 && self.keys.lock().expect("keys lock").check_self_signed(bearer).is_ok()
    }

    /// Counts a failure of `intent` in `session`; whether this request fails (`times` not used up).
    fn should_fail(&self, session: &str, intent: &str, times: Option<u32>) -> bool {
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
}

/// The token endpoint's form.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    assertion: String,
}

/// `POST /token`: the jwt-bearer grant.
pub async fn token(fake: web::Data<GoogleFake>, form: web::Form<TokenForm>) -> HttpResponse {
    fake.count(|s| s.token_requests += 1);
    if form.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        fake.count(|s| s.token_refusals += 1);
        return status::oauth_error(400, "unsupported_grant_type", &format!("Invalid grant_type: {}", form.grant_type));
    }
    let checked = fake.keys.lock().expect("keys lock").check_assertion(&form.assertion);
    match checked {
        Ok(_) => HttpResponse::Ok().json(json!({
            "access_token": fake.issue_token(),
            "expires_in": auth::expires_in(fake.config.token_lifetime),
            "token_type": "Bearer",
        })),
        Err(refusal) => {
            fake.count(|s| s.token_refusals += 1);
            status::oauth_error(refusal.status, refusal.error, refusal.description)
        }
    }
}

/// The fake's routes on the platform origin.
pub fn routes(cfg: &mut web::ServiceConfig, fake: web::Data<GoogleFake>) {
    cfg.app_data(fake)
        .app_data(web::FormConfig::default().limit(64 * 1024))
        .route("/token", web::post().to(token))
        .route("/v2/{tail:.*}", web::post().to(detect::es))
        .route("/v3/{tail:.*}", web::post().to(detect::cx));
}

/// The fake's control endpoints: `GET /sim/v1/google` (counters and the newest requests),
/// `POST /sim/v1/google/revoke` (forget every access token), `POST /sim/v1/google/keys` (trust
/// another service-account key, given as its JSON).
pub fn control_routes(cfg: &mut web::ServiceConfig, fake: web::Data<GoogleFake>) {
    cfg.app_data(fake)
        .route("/sim/v1/google", web::get().to(|fake: web::Data<GoogleFake>| async move { HttpResponse::Ok().json(fake.stats()) }))
        .route(
            "/sim/v1/google/revoke",
            web::post().to(|fake: web::Data<GoogleFake>| async move {
                fake.revoke_tokens();
                HttpResponse::NoContent().finish()
            }),
        )
        .route(
            "/sim/v1/google/keys",
            web::post().to(|fake: web::Data<GoogleFake>, body: web::Bytes| async move {
                match fake.add_key(&String::from_utf8_lossy(&body)) {
                    Ok(()) => HttpResponse::NoContent().finish(),
                    Err(message) => HttpResponse::BadRequest().json(json!({"error": {"code": "invalid_key", "message": message}})),
                }
            }),
        );
}
