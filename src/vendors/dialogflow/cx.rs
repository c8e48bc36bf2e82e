//! The Dialogflow CX vendor (v3 `detectIntent`, REST): project, location (the regional endpoint
//! `{location}-dialogflow.googleapis.com` unless `global`), agent, optional environment (the
//! draft flow without one), language; a session per conversation; the consumer's text (or the
//! WELCOME or DIALOGFLOW_CHAR_LIMIT event) with `queryParams.payload = {lpEvent, lpSdes}`.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{VendorHealth, VendorPort, VendorRequest, VendorResult};
use serde_json::{json, Value};

use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::shared_client;
use crate::vendors::dialogflow::cx_response::parse_response;
use crate::vendors::dialogflow::{lp_payload, query_input, session_id, DialogflowHttp, QueryInput};
use crate::vendors::google_auth::{GoogleAuthMode, GoogleTokenSource, ServiceAccountKey};
use crate::vendors::VendorBuildError;

#[derive(Debug, Clone)]
pub struct DialogflowCxSettings {
    pub project_id: String,
    /// `global`, or a region (`us-central1`, `europe-west1`, …).
    pub location: String,
    pub agent_id: String,
    /// An environment; the draft flow when unset.
    pub environment_id: Option<String>,
    pub language_code: String,
    /// The API's origin; `None` for Google's (regional for a location other than `global`).
    pub endpoint: Option<String>,
    pub key: ServiceAccountKey,
    pub auth: GoogleAuthMode,
    pub ca: Option<PathBuf>,
    /// One HTTP exchange's deadline, body included.
    pub request_timeout: Duration,
}

impl DialogflowCxSettings {
    pub fn new(project_id: &str, location: &str, agent_id: &str, language_code: &str, key: ServiceAccountKey) -> Self {
        Self {
            project_id: project_id.to_owned(),
            location: location.to_owned(),
            agent_id: agent_id.to_owned(),
            environment_id: None,
            language_code: language_code.to_owned(),
            endpoint: None,
            key,
            auth: GoogleAuthMode::default(),
            ca: None,
            request_timeout: Duration::from_secs(60),
        }
    }

    /// Google's endpoint for the location: regional unless `global`.
    pub fn endpoint(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None if self.location == "global" => "https://dialogflow.googleapis.com".into(),
            None => format!("https://{}-dialogflow.googleapis.com", self.location),
        }
    }

    /// The detectIntent URL of a session.
    pub fn url(&self, session: &str) -> String {
        let agent = format!("{}/v3/projects/{}/locations/{}/agents/{}", self.endpoint(), self.project_id, self.location, self.agent_id);
        match &self.environment_id {
            None => format!("{agent}/sessions/{session}:detectIntent"),
            Some(environment) => format!("{agent}/environments/{environment}/sessions/{session}:detectIntent"),
        }
    }
}

/// The request body (`DetectIntentRequest` as JSON).
pub fn request_body(settings: &DialogflowCxSettings, request: &VendorRequest) -> Value {
    let mut query_input = match query_input(&request.input) {
        QueryInput::Text(text) => json!({"text": {"text": text}}),
        QueryInput::Event(name) => json!({"event": {"event": name}}),
    };
    query_input["languageCode"] = json!(settings.language_code);
    json!({"queryInput": query_input, "queryParams": {"payload": lp_payload(request)}})
}

/// The Dialogflow CX client. Cheap to clone (shared state).
#[derive(Clone)]
pub struct DialogflowCxVendor {
    settings: Rc<DialogflowCxSettings>,
    http: Rc<DialogflowHttp>,
    hooks: VendorHooks,
}

impl DialogflowCxVendor {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(settings: DialogflowCxSettings) -> Result<Self, VendorBuildError> {
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

    pub fn tokens(&self) -> Rc<GoogleTokenSource> {
        self.http.tokens.clone()
    }

    async fn send(
        settings: Rc<DialogflowCxSettings>,
        http: Rc<DialogflowHttp>,
        hooks: VendorHooks,
        request: VendorRequest,
    ) -> Result<BotResponse, VendorError> {
        let conversation_id = request.conversation.conversation_id.as_str();
        let url = settings.url(&session_id(conversation_id));
        let body = hooks.before(conversation_id, "dialogflowcx", request_body(&settings, &request)).await?;
        let answer = hooks.after(conversation_id, "dialogflowcx", Some(http.post(&url, &body).await?)).await?;
        parse_response(answer.as_ref().unwrap_or(&Value::Null))
    }
}

impl VendorPort for DialogflowCxVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        Box::pin(Self::send(self.settings.clone(), self.http.clone(), self.hooks.clone(), request))
    }

    /// Dialogflow has no health endpoint: the vendor is online when a token can be had.
    fn health(&self) -> VendorResult<VendorHealth> {
        let http = self.http.clone();
        Box::pin(async move { http.tokens.bearer(false).await.map(|_| VendorHealth::Online) })
    }

    fn name(&self) -> &'static str {
        "dialogflow-cx"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_endpoints_unless_global_or_configured() {
        let key: ServiceAccountKey = serde_json::from_value(json!({
            "type": "service_account", "private_key_id": "k", "private_key": "-", "client_email": "e", "token_uri": "https://t"
        }))
        .unwrap();
        let mut s = DialogflowCxSettings::new("p", "europe-west1", "a", "en", key);
        assert_eq!(
            s.url("c"),
            "https://europe-west1-dialogflow.googleapis.com/v3/projects/p/locations/europe-west1/agents/a/sessions/c:detectIntent"
        );
        s.location = "global".into();
        s.environment_id = Some("prod".into());
        assert_eq!(
            s.url("c"),
            "https://dialogflow.googleapis.com/v3/projects/p/locations/global/agents/a/environments/prod/sessions/c:detectIntent"
        );
        s.endpoint = Some("http://127.0.0.1:9/".into());
        assert_eq!(s.url("c"), "http://127.0.0.1:9/v3/projects/p/locations/global/agents/a/environments/prod/sessions/c:detectIntent");
    }
}
