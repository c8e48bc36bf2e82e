//! The IBM Watson Assistant V2 vendor (spec/third-party-bots.md §1.3, the wire in
//! spec/vendor-apis.md): a Watson session per conversation, made on the first call and kept in
//! the store (`BotResponse::vendor_session`), so the bot's next owner after a failover continues
//! it; a session Watson forgot (expired: 404 "Invalid Session") is silently made again and the
//! input sent once more. Authentication by IAM API key (tokens cached, renewed at 80 % of their
//! life or after a 401) or basic auth. The environment-scoped paths
//! (`/v2/assistants/{id}/environments/{env}/sessions`) or, without an environment, the older ones.
//!
//! The request: `{"input": {"message_type": "text", "text", "options": {"return_context": true}},
//! "context": {"skills": {"main skill": {"user_defined": {"convId", "lpEvent", "lpSdes"}}}},
//! "user_id"}`; the text with newlines, tabs and carriage returns as spaces; the welcome is an
//! empty text (Watson's `welcome` condition).

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine;
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::{shared_client, TlsError};
use crate::vendors::dialogflow::lp_payload;
use crate::vendors::exchange::{send, Answer, Exchange, SessionCache};
use crate::vendors::watson_response::{codes, parse_response_with};

/// IBM's IAM token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://iam.cloud.ibm.com/identity/token";
/// The API version date sent with every call.
pub const DEFAULT_VERSION: &str = "2021-11-27";
/// Conversations whose session this adapter remembers (the store has them all).
const MAX_SESSIONS: usize = 50_000;

/// How botvisor authenticates to Watson (secrets: never shown).
#[derive(Clone)]
pub enum WatsonAuth {
    /// An IAM API key exchanged for bearer tokens at `token_url`.
    Iam { api_key: String, token_url: String },
    /// Basic auth (`apikey` and the key, or a username and password).
    Basic { username: String, password: String },
}

impl std::fmt::Debug for WatsonAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatsonAuth::Iam { token_url, .. } => write!(f, "Iam({token_url}, ***)"),
            WatsonAuth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WatsonSettings {
    /// The service URL (`https://api.{region}.assistant.watson.cloud.ibm.com/instances/{id}`).
    pub url: String,
    pub assistant_id: String,
    /// `draft`, `live` or an environment id: the environment-scoped paths; none: the older paths.
    pub environment_id: Option<String>,
    pub version: String,
    pub auth: WatsonAuth,
    pub ca: Option<PathBuf>,
    pub request_timeout: Duration,
}

impl WatsonSettings {
    pub fn new(url: &str, assistant_id: &str, auth: WatsonAuth) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            assistant_id: assistant_id.to_owned(),
            environment_id: None,
            version: DEFAULT_VERSION.into(),
            auth,
            ca: None,
            request_timeout: Duration::from_secs(30),
        }
    }

    fn sessions_url(&self) -> String {
        match &self.environment_id {
            Some(env) => format!("{}/v2/assistants/{}/environments/{env}/sessions", self.url, self.assistant_id),
            None => format!("{}/v2/assistants/{}/sessions", self.url, self.assistant_id),
        }
    }

    pub fn create_session_url(&self) -> String {
        format!("{}?version={}", self.sessions_url(), self.version)
    }

    pub fn message_url(&self, session: &str) -> String {
        format!("{}/{session}/message?version={}", self.sessions_url(), self.version)
    }
}

/// The message body of one input.
pub fn request_body(request: &VendorRequest) -> Value {
    let text = match &request.input {
        VendorInput::Welcome { .. } => String::new(),
        VendorInput::Message { text, .. } => text.replace(['\n', '\t', '\r'], " "),
    };
    let mut user_defined = lp_payload(request);
    user_defined["convId"] = json!(request.conversation.conversation_id.as_str());
    json!({
        "input": {"message_type": "text", "text": text, "options": {"return_context": true}},
        "context": {"skills": {"main skill": {"user_defined": user_defined}}},
        "user_id": request.conversation.conversation_id.as_str(),
    })
}

/// The Watson client. Cheap to clone.
#[derive(Clone)]
pub struct WatsonVendor {
    inner: Rc<Inner>,
}

struct Inner {
    settings: WatsonSettings,
    client: awc::Client,
    hooks: VendorHooks,
    token: std::cell::RefCell<Option<(String, Instant)>>,
    sessions: SessionCache,
    /// Tokens fetched (tests count them).
    token_requests: std::cell::Cell<u64>,
}

impl WatsonVendor {
    pub fn new(settings: WatsonSettings, hooks: VendorHooks) -> Result<Self, TlsError> {
        let client = shared_client(settings.ca.as_deref())?;
        Ok(Self {
            inner: Rc::new(Inner {
                settings,
                client,
                hooks,
                token: Default::default(),
                sessions: SessionCache::new(MAX_SESSIONS),
                token_requests: Default::default(),
            }),
        })
    }

    /// IAM tokens fetched so far.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.get()
    }
}

/// The session handle kept in the store: `{"session_id", "encodedMetadata"?}`.
fn session_of(value: Option<&Value>) -> (Option<String>, Option<String>) {
    let id = value.and_then(|v| v.get("session_id")).and_then(Value::as_str).map(str::to_owned);
    let encoded = value.and_then(|v| v.get("encodedMetadata")).and_then(Value::as_str).map(str::to_owned);
    (id, encoded)
}

impl Inner {
    async fn authorization(&self, renew: bool) -> Result<String, VendorError> {
        let (api_key, token_url) = match &self.settings.auth {
            WatsonAuth::Basic { username, password } => {
                return Ok(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))))
            }
            WatsonAuth::Iam { api_key, token_url } => (api_key, token_url),
        };
        if !renew {
            if let Some((token, until)) = self.token.borrow().clone() {
                if Instant::now() < until {
                    return Ok(format!("Bearer {token}"));
                }
            }
        }
        self.token_requests.set(self.token_requests.get() + 1);
        let form = format!(
            "grant_type={}&apikey={}&response_type=cloud_iam",
            "urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey",
            url_encode(api_key)
        );
        let answer = send(
            &self.client,
            Exchange {
                method: "POST",
                url: token_url,
                headers: vec![("Accept".into(), "application/json".into())],
                body: Some((form.into_bytes(), "application/x-www-form-urlencoded")),
                timeout: self.settings.request_timeout,
            },
        )
        .await?;
        match answer.status {
            200..=299 => {}
            500..=599 => return Err(VendorError::Server { status: answer.status }),
            status => {
                let said = answer.json().and_then(|b| b.get("errorMessage").and_then(Value::as_str).map(str::to_owned)).unwrap_or_default();
                return Err(VendorError::Request {
                    message: format!("IBM IAM refused the API key ({status}: {said}); check vendor.auth.api_key and the token URL"),
                });
            }
        }
        let body = answer.json().unwrap_or(Value::Null);
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or(VendorError::Request { message: "IBM IAM's answer has no access_token".into() })?
            .to_owned();
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).clamp(10, 86_400);
        // Renewed at 80 % of its life, as IBM's SDKs do.
        let now = Instant::now();
        let until = now.checked_add(Duration::from_secs(lifetime * 8 / 10)).unwrap_or(now);
        *self.token.borrow_mut() = Some((token.clone(), until));
        Ok(format!("Bearer {token}"))
    }

    /// POSTs JSON with the credentials; a 401 renews an IAM token once.
    async fn post(&self, url: &str, body: &Value) -> Result<Answer, VendorError> {
        let bytes = serde_json::to_vec(body).map_err(|e| VendorError::Request { message: e.to_string() })?;
        let mut renewed = false;
        loop {
            let authorization = self.authorization(renewed).await?;
            let answer = send(
                &self.client,
                Exchange {
                    method: "POST",
                    url,
                    headers: vec![("Authorization".into(), authorization), ("Accept".into(), "application/json".into())],
                    body: Some((bytes.clone(), "application/json")),
                    timeout: self.settings.request_timeout,
                },
            )
            .await?;
            if answer.status == 401 && !renewed && matches!(self.settings.auth, WatsonAuth::Iam { .. }) {
                renewed = true;
                continue;
            }
            return Ok(answer);
        }
    }

    async fn create_session(&self) -> Result<String, VendorError> {
        let answer = self.post(&self.settings.create_session_url(), &json!({})).await?;
        match answer.status {
            200..=299 => answer.json().and_then(|b| b.get("session_id").and_then(Value::as_str).map(str::to_owned)).ok_or_else(|| {
                VendorError::InvalidResponse { code: codes::NOT_JSON.into(), message: "the new session has no session_id".into() }
            }),
            status => Err(watson_error(status, &answer, "creating a session")),
        }
    }

    async fn send(&self, request: VendorRequest) -> Result<BotResponse, VendorError> {
        let conversation_id = request.conversation.conversation_id.to_string();
        let known = self.sessions.get(&conversation_id, request.conversation.vendor_session.as_ref());
        let (mut session, sticky) = session_of(known.as_ref());
        let body = self.hooks.before(&conversation_id, "watsonv2", request_body(&request)).await?;
        let mut recreated = false;
        let answer = loop {
            let id = match &session {
                Some(id) => id.clone(),
                None => {
                    let id = self.create_session().await?;
                    // Remembered at once: a retry of this input after a timeout keeps it.
                    self.sessions.put(&conversation_id, json!({"session_id": id, "encodedMetadata": sticky}));
                    session = Some(id.clone());
                    id
                }
            };
            let answer = self.post(&self.settings.message_url(&id), &body).await?;
            if answer.status == 404 && !recreated && invalid_session(&answer) {
                tracing::info!(code = codes::INVALID_SESSION, "Watson forgot the session (expired); making a new one");
                recreated = true;
                session = None;
                continue;
            }
            break answer;
        };
        let value = match answer.status {
            200..=299 => answer.json().ok_or_else(|| VendorError::InvalidResponse {
                code: codes::NOT_JSON.into(),
                message: format!("Watson answered {} with a body that is not JSON", answer.status),
            })?,
            status => return Err(watson_error(status, &answer, "sending the message")),
        };
        let value = self.hooks.after(&conversation_id, "watsonv2", Some(value)).await?;
        let (mut response, encoded) = parse_response_with(value.as_ref().unwrap_or(&Value::Null), sticky.as_deref())?;
        let handle = json!({"session_id": session, "encodedMetadata": encoded});
        self.sessions.put(&conversation_id, handle.clone());
        response.vendor_session = Some(handle);
        Ok(response)
    }
}

/// Watson's 404 for a session it does not know: `{"error": "Invalid Session", "code": 404}`.
fn invalid_session(answer: &Answer) -> bool {
    answer.json().and_then(|b| b.get("error").and_then(Value::as_str).map(|e| e.to_ascii_lowercase().contains("session"))).unwrap_or(false)
}

/// Watson's errors: `{"error": "…", "code": N}`.
fn watson_error(status: u16, answer: &Answer, doing: &str) -> VendorError {
    let said = answer.json().and_then(|b| b.get("error").and_then(Value::as_str).map(str::to_owned)).unwrap_or_default();
    match status {
        429 => VendorError::RateLimited { retry_after_ms: answer.retry_after_ms() },
        500..=599 => VendorError::Server { status },
        401 | 403 => {
            VendorError::Request { message: format!("Watson refused the credentials {doing} ({status}: {said}); check vendor.auth") }
        }
        404 => VendorError::Request {
            message: format!(
                "Watson does not know the assistant or environment {doing} (404: {said}); check assistant_id, environment_id and url"
            ),
        },
        _ => VendorError::Request { message: format!("Watson refused {doing} ({status}: {said})") },
    }
}

/// Percent-encodes a form value.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl VendorPort for WatsonVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }

    /// Online when the credentials are accepted (an IAM token can be had).
    fn health(&self) -> VendorResult<VendorHealth> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.authorization(false).await.map(|_| VendorHealth::Online) })
    }

    fn name(&self) -> &'static str {
        "watsonv2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_old_and_environment_scoped() {
        let auth = WatsonAuth::Basic { username: "apikey".into(), password: "hush-hush".into() };
        let mut settings = WatsonSettings::new("http://h/instances/i/", "a1", auth.clone());
        assert_eq!(settings.create_session_url(), "http://h/instances/i/v2/assistants/a1/sessions?version=2021-11-27");
        settings.environment_id = Some("draft".into());
        assert_eq!(
            settings.message_url("s"),
            "http://h/instances/i/v2/assistants/a1/environments/draft/sessions/s/message?version=2021-11-27"
        );
        assert!(!format!("{auth:?}").contains("hush"));
        assert_eq!(url_encode("a b/+"), "a%20b%2F%2B");
    }
}
