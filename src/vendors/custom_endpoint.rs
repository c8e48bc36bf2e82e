//! The Custom Endpoint vendor (spec/third-party-bots.md §2): any HTTP service implementing
//! LivePerson's four-endpoint contract is a bot. One instance per bot, on the bot's thread.
//!
//! The core applies timeouts, retries and escalation; this adapter maps one call: token,
//! conversation creation (once, again after a 404), the event, and the answer's status and body.

use std::cell::RefCell;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{InputKind, VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::{shared_client, TlsError};
use crate::vendors::custom_endpoint_response::parse_response;

/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The longest token lifetime believed (a day), whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);
/// Answers larger than this are refused.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Conversations remembered as created, at most (beyond, the set starts over: a new PUT is
/// harmless, the service answers 2xx or 409).
const MAX_CREATED: usize = 50_000;

/// How the bot authenticates to the service.
#[derive(Clone, PartialEq, Eq)]
pub enum CustomEndpointAuth {
    /// A fixed bearer token.
    StaticToken(String),
    /// A client-credentials grant against `token_url`, cached until shortly before it expires.
    ClientCredentials { token_url: String, client_id: String, client_secret: String },
}

impl std::fmt::Debug for CustomEndpointAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CustomEndpointAuth::StaticToken(_) => f.write_str("StaticToken(***)"),
            CustomEndpointAuth::ClientCredentials { token_url, client_id, .. } => {
                write!(f, "ClientCredentials({token_url}, {client_id}, ***)")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct CustomEndpointSettings {
    /// The service root, without a trailing `/`.
    pub base_url: String,
    pub bot_id: String,
    pub environment: String,
    pub auth: CustomEndpointAuth,
    /// A CA (PEM) to trust for an HTTPS service with a private certificate.
    pub ca: Option<PathBuf>,
    /// One HTTP request's timeout (the core's call timeout wraps the whole call).
    pub request_timeout: Duration,
    /// Calls per second to this vendor, at most (bursts of as many).
    pub requests_per_second: u32,
}

impl CustomEndpointSettings {
    pub fn new(base_url: &str, bot_id: &str, auth: CustomEndpointAuth) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            bot_id: bot_id.to_owned(),
            environment: "draft".into(),
            auth,
            ca: None,
            request_timeout: Duration::from_secs(60),
            requests_per_second: 50,
        }
    }
}

/// The Custom Endpoint client. Cheap to clone (shared state).
#[derive(Clone)]
pub struct CustomEndpointVendor {
    inner: Rc<Inner>,
}

struct Inner {
    settings: CustomEndpointSettings,
    hooks: VendorHooks,
    client: awc::Client,
    token: RefCell<Option<(String, Instant)>>,
    /// Conversations created on the service.
    created: RefCell<HashSet<String>>,
    limiter: DefaultDirectRateLimiter,
}

impl CustomEndpointVendor {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(settings: CustomEndpointSettings) -> Result<Self, TlsError> {
        let client = shared_client(settings.ca.as_deref())?;
        let rate = NonZeroU32::new(settings.requests_per_second.max(1)).expect("at least 1");
        let limiter = RateLimiter::direct(Quota::per_second(rate));
        let inner = Inner {
            settings,
            hooks: VendorHooks::default(),
            client,
            token: RefCell::new(None),
            created: RefCell::new(HashSet::new()),
            limiter,
        };
        Ok(Self { inner: Rc::new(inner) })
    }

    /// Runs the bot's pre and post hooks around each event (call it before the vendor is shared).
    pub fn with_hooks(mut self, hooks: VendorHooks) -> Self {
        if let Some(inner) = Rc::get_mut(&mut self.inner) {
            inner.hooks = hooks;
        }
        self
    }
}

impl CustomEndpointVendor {
    /// The bot's environments (`GET …/environments`), for checking a configuration.
    pub async fn environments(&self) -> Result<Vec<String>, VendorError> {
        let url = format!("{}/environments", self.inner.bot_url());
        match self.inner.send_json("GET", &url, None).await? {
            (200..=299, Value::Array(items)) => Ok(items.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
            (status, _) => Err(VendorError::Request { message: format!("the environments were answered {status}") }),
        }
    }
}

impl Inner {
    fn bot_url(&self) -> String {
        format!("{}/v1/bots/{}", self.settings.base_url, self.settings.bot_id)
    }

    /// Waits for the vendor quota: a burst of conversations cannot trip the vendor's 429s.
    async fn within_quota(&self) {
        while let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// The bearer token; `refused`: the token the service just answered 401 to (it is renewed,
    /// unless another call renewed it meanwhile: concurrent refusals share one renewal).
    async fn bearer(&self, refused: Option<&str>) -> Result<String, VendorError> {
        let (token_url, client_id, client_secret) = match &self.settings.auth {
            CustomEndpointAuth::StaticToken(token) => return Ok(token.clone()),
            CustomEndpointAuth::ClientCredentials { token_url, client_id, client_secret } => (token_url, client_id, client_secret),
        };
        if let Some((token, until)) = self.token.borrow().clone() {
            if Instant::now() < until && refused != Some(token.as_str()) {
                return Ok(token);
            }
        }
        let form = [("grant_type", "client_credentials"), ("client_id", client_id.as_str()), ("client_secret", client_secret.as_str())];
        let mut response = self
            .client
            .post(token_url)
            .timeout(self.settings.request_timeout)
            .send_form(&form)
            .await
            .map_err(|e| VendorError::Request { message: format!("the token request failed: {e}") })?;
        if !response.status().is_success() {
            return Err(VendorError::Request { message: format!("the token request was answered {}", response.status()) });
        }
        let body: Value = response
            .json()
            .limit(MAX_BODY)
            .await
            .map_err(|e| VendorError::Request { message: format!("the token answer is not JSON: {e}") })?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or(VendorError::Request { message: "the token answer has no access_token".into() })?
            .to_owned();
        // A lifetime from the peer is capped: `expires_in: 18446744073709551615` must not overflow.
        let lifetime =
            Duration::from_secs(body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).min(MAX_TOKEN_LIFETIME.as_secs()));
        let margin = TOKEN_MARGIN.min(lifetime / 2);
        let now = Instant::now();
        let until = now.checked_add(lifetime.saturating_sub(margin)).unwrap_or(now);
        *self.token.borrow_mut() = Some((token.clone(), until));
        Ok(token)
    }

    /// Sends with the bearer; a 401 renews the token once and tries again.
    async fn send_json(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value), VendorError> {
        let mut renewed = false;
        let mut refused: Option<String> = None;
        loop {
            // Every HTTP request counts against the vendor's quota.
            self.within_quota().await;
            let token = self.bearer(refused.as_deref()).await?;
            let request = match method {
                "PUT" => self.client.put(url),
                "POST" => self.client.post(url),
                _ => self.client.get(url),
            }
            .timeout(self.settings.request_timeout)
            .insert_header(("Authorization", format!("Bearer {token}")));
            let sent = match body {
                Some(body) => request.send_json(body).await,
                None => request.send().await,
            };
            let mut response = sent.map_err(|e| match e {
                awc::error::SendRequestError::Timeout => VendorError::Timeout,
                awc::error::SendRequestError::Url(e) => VendorError::Request { message: format!("{method} {url}: {e}") },
                other => VendorError::Connection { message: format!("{method} {url}: {other}") },
            })?;
            let status = response.status().as_u16();
            if status == 401 && !renewed && matches!(self.settings.auth, CustomEndpointAuth::ClientCredentials { .. }) {
                renewed = true;
                refused = Some(token);
                continue;
            }
            let retry_after_ms = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(1000, |s| s.saturating_mul(1000));
            let body = response.body().limit(MAX_BODY).await.map_err(|e| match e {
                awc::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => VendorError::Timeout,
                other => VendorError::Request { message: format!("reading the answer failed: {other}") },
            })?;
            let value: Value = if body.is_empty() {
                Value::Null
            } else {
                match serde_json::from_slice(&body) {
                    Ok(value) => value,
                    Err(_) if (200..300).contains(&status) => {
                        return Err(VendorError::InvalidResponse {
                            code: crate::vendors::custom_endpoint_response::codes::NOT_JSON.into(),
                            message: format!("{method} {url} answered {status} with a body that is not JSON"),
                        })
                    }
                    Err(_) => Value::Null,
                }
            };
            return match status {
                200..=299 => Ok((status, value)),
                404 => Ok((status, value)),
                409 => Ok((status, value)),
                429 => Err(VendorError::RateLimited { retry_after_ms }),
                500..=599 => Err(VendorError::Server { status }),
                _ => Err(VendorError::Request { message: format!("{method} {url} was answered {status}") }),
            };
        }
    }

    async fn create_conversation(&self, request: &VendorRequest) -> Result<(), VendorError> {
        let conversation = &request.conversation;
        let url = format!("{}/environments/{}/conversations/{}", self.bot_url(), self.settings.environment, conversation.conversation_id);
        let mut context = conversation.context.to_value();
        let mut take = |key: &str, default: Value| context.get_mut(key).map(Value::take).unwrap_or(default);
        let mut body = json!({"context": {
            "type": "MESSAGING",
            "skillId": conversation.skill_id,
            "engagementId": take("engagementId", json!(0)),
            "campaignId": take("campaignId", json!(0)),
            "visitor": take("visitor", json!({})),
        }});
        if let Some(sdes) = &conversation.sdes {
            body["sdes"] = (**sdes).clone();
        }
        match self.send_json("PUT", &url, Some(&body)).await? {
            (200..=299 | 409, _) => {
                let mut created = self.created.borrow_mut();
                if created.len() >= MAX_CREATED {
                    created.clear();
                }
                created.insert(conversation.conversation_id.to_string());
                Ok(())
            }
            (status, _) => Err(VendorError::Request {
                message: format!("creating the conversation was answered {status} (unknown bot or environment?)"),
            }),
        }
    }

    fn event(request: &VendorRequest) -> Value {
        match &request.input {
            VendorInput::Message { text, kind, lp_event, .. } => {
                let (kind, data) = match kind {
                    InputKind::RichContent => (
                        "RICH_CONTENT",
                        json!({"content": lp_event.to_value().pointer("/event/content").cloned().unwrap_or(Value::Null), "message": text}),
                    ),
                    InputKind::Text | InputKind::File => ("TEXT", json!({"message": text})),
                };
                json!({"type": kind, "source": "CONSUMER", "data": data, "context": {"lpEvent": lp_event.to_value()}})
            }
            VendorInput::Welcome { last_consumer_message, lp_event } => {
                let mut lp_event = lp_event.to_value();
                if let Some(last) = last_consumer_message {
                    lp_event["lastConsumerMessage"] = json!(last);
                }
                json!({"type": "START", "source": "CONVERSATION", "data": {}, "context": {"lpEvent": lp_event}})
            }
        }
    }

    async fn send(&self, request: VendorRequest) -> Result<BotResponse, VendorError> {
        let id = request.conversation.conversation_id.to_string();
        // Created once: a retry of the same input after a 5xx or a timeout does not create it
        // again (only a 404 below does, once).
        if !self.created.borrow().contains(&id) {
            self.create_conversation(&request).await?;
        }
        let url = format!("{}/environments/{}/conversations/{id}/events", self.bot_url(), self.settings.environment);
        let event = self.hooks.before(&id, "customEndpoint", Self::event(&request)).await?;
        let mut recreated = false;
        loop {
            match self.send_json("POST", &url, Some(&event)).await? {
                (404, _) if !recreated => {
                    // The service forgot the conversation: create it again, once.
                    recreated = true;
                    self.created.borrow_mut().remove(&id);
                    self.create_conversation(&request).await?;
                }
                (404, _) => {
                    return Err(VendorError::Request {
                        message: "the service does not know the conversation, even after creating it again".into(),
                    })
                }
                (409, _) => return Err(VendorError::Request { message: "the event was answered 409".into() }),
                (_, body) => {
                    let body = self.hooks.after(&id, "customEndpoint", Some(body)).await?;
                    return parse_response(body.as_ref().unwrap_or(&Value::Null));
                }
            }
        }
    }

    async fn health(&self) -> Result<VendorHealth, VendorError> {
        let url = format!("{}/environments/{}/state", self.bot_url(), self.settings.environment);
        match self.send_json("GET", &url, None).await? {
            (200..=299, body) => match body.get("state").and_then(Value::as_str) {
                Some("online") => Ok(VendorHealth::Online),
                Some(other) => Ok(VendorHealth::NotOnline { state: other.to_owned() }),
                None => Ok(VendorHealth::NotOnline { state: "no state in the answer".into() }),
            },
            (status, _) => Ok(VendorHealth::NotOnline { state: format!("answered {status}") }),
        }
    }
}

impl VendorPort for CustomEndpointVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }

    fn health(&self) -> VendorResult<VendorHealth> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.health().await })
    }

    fn name(&self) -> &'static str {
        "custom-endpoint"
    }
}
