//! The Dialogflow ES vendor (v2 `detectIntent`, REST): a session per conversation, under an
//! environment and a user when configured; the consumer's text (or the WELCOME or
//! DIALOGFLOW_CHAR_LIMIT event) with `queryParams.payload = {lpEvent, lpSdes}`. One instance per
//! bot, on the bot's thread; the core applies the call timeout, the retries and escalation.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{VendorHealth, VendorPort, VendorRequest, VendorResult};
use serde_json::{json, Value};

use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::shared_client;
use crate::vendors::dialogflow::es_response::parse_response;
use crate::vendors::dialogflow::{lp_payload, query_input, session_id, DialogflowHttp, QueryInput};
use crate::vendors::google_auth::{GoogleAuthMode, GoogleTokenSource, ServiceAccountKey};
use crate::vendors::VendorBuildError;

/// Google's global endpoint for Dialogflow.
pub const DEFAULT_ENDPOINT: &str = "https://dialogflow.googleapis.com";

#[derive(Debug, Clone)]
pub struct DialogflowEsSettings {
    pub project_id: String,
    /// The agent's language (`en`, `en-US`, …).
    pub language_code: String,
    /// An environment (`draft` when unset); with it, sessions live under `users/{user}`.
    pub environment: Option<String>,
    /// The environment's user (`-`, any user, when unset).
    pub user: Option<String>,
    /// The API's origin, without a trailing `/`.
    pub endpoint: String,
    pub key: ServiceAccountKey,
    pub auth: GoogleAuthMode,
    /// A CA (PEM) to trust for an endpoint with a private certificate (the simulator's).
    pub ca: Option<PathBuf>,
    /// One HTTP exchange's deadline, body included.
    pub request_timeout: Duration,
}

impl DialogflowEsSettings {
    pub fn new(project_id: &str, language_code: &str, key: ServiceAccountKey) -> Self {
        Self {
            project_id: project_id.to_owned(),
            language_code: language_code.to_owned(),
            environment: None,
            user: None,
            endpoint: DEFAULT_ENDPOINT.into(),
            key,
            auth: GoogleAuthMode::default(),
            ca: None,
            request_timeout: Duration::from_secs(60),
        }
    }

    /// The detectIntent URL of a session.
    pub fn url(&self, session: &str) -> String {
        let endpoint = self.endpoint.trim_end_matches('/');
        match &self.environment {
            None => format!("{endpoint}/v2/projects/{}/agent/sessions/{session}:detectIntent", self.project_id),
            Some(environment) => format!(
                "{endpoint}/v2/projects/{}/agent/environments/{environment}/users/{}/sessions/{session}:detectIntent",
                self.project_id,
                self.user.as_deref().unwrap_or("-")
            ),
        }
    }
}

/// The request body (`DetectIntentRequest` as JSON).
pub fn request_body(settings: &DialogflowEsSettings, request: &VendorRequest) -> Value {
    let query_input = match query_input(&request.input) {
        QueryInput::Text(text) => json!({"text": {"text": text, "languageCode": settings.language_code}}),
        QueryInput::Event(name) => json!({"event": {"name": name, "languageCode": settings.language_code}}),
    };
    json!({"queryInput": query_input, "queryParams": {"payload": lp_payload(request)}})
}

/// The Dialogflow ES client. Cheap to clone (shared state).
#[derive(Clone)]
pub struct DialogflowEsVendor {
    settings: Rc<DialogflowEsSettings>,
    http: Rc<DialogflowHttp>,
    hooks: VendorHooks,
}

impl DialogflowEsVendor {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(settings: DialogflowEsSettings) -> Result<Self, VendorBuildError> {
        let client = shared_client(settings.ca.as_deref())?;
        let tokens = GoogleTokenSource::new(settings.key.clone(), settings.auth, client.clone(), settings.request_timeout)?;
        let http = DialogflowHttp { client, tokens: Rc::new(tokens), timeout: settings.request_timeout };
        Ok(Self { settings: Rc::new(settings), http: Rc::new(http), hooks: VendorHooks::default() })
    }

    /// Runs the bot's pre and post hooks around each detectIntent.
    pub fn with_hooks(mut self, hooks: VendorHooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// The bearer tokens' source (tests count its exchanges).
    pub fn tokens(&self) -> Rc<GoogleTokenSource> {
        self.http.tokens.clone()
    }

    async fn send(
        settings: Rc<DialogflowEsSettings>,
        http: Rc<DialogflowHttp>,
        hooks: VendorHooks,
        request: VendorRequest,
    ) -> Result<BotResponse, VendorError> {
        let conversation_id = request.conversation.conversation_id.as_str();
        let url = settings.url(&session_id(conversation_id));
        let body = hooks.before(conversation_id, "dialogflowv2", request_body(&settings, &request)).await?;
        let answer = hooks.after(conversation_id, "dialogflowv2", Some(http.post(&url, &body).await?)).await?;
        parse_response(answer.as_ref().unwrap_or(&Value::Null))
    }
}

impl VendorPort for DialogflowEsVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        Box::pin(Self::send(self.settings.clone(), self.http.clone(), self.hooks.clone(), request))
    }

    /// Dialogflow has no health endpoint: the vendor is online when a token can be had.
    fn health(&self) -> VendorResult<VendorHealth> {
        let http = self.http.clone();
        Box::pin(async move { http.tokens.bearer(false).await.map(|_| VendorHealth::Online) })
    }

    fn name(&self) -> &'static str {
        "dialogflow-es"
    }
}
