//! The configuration of the Google Dialogflow vendors (`kind = "dialogflow_es"` and
//! `kind = "dialogflow_cx"`): the agent, the language, the service-account key (a secret holding
//! the key file's JSON), how the bearer is obtained, and where the API is (Google's, or the
//! embedded simulator's fake with `endpoint = "embedded"`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Problem, Secret};
use crate::vendors::dialogflow::is_path_segment;
use crate::vendors::google_auth::{GoogleAuthMode, ServiceAccountKey};

/// `endpoint = "embedded"`: the embedded simulator's fake, with the key it made.
pub const EMBEDDED: &str = "embedded";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DialogflowEsConfig {
    pub project_id: String,
    #[serde(default = "english")]
    pub language_code: String,
    /// An environment; the draft agent when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The environment's user (default `-`, any user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The service-account key file's JSON; not needed with `endpoint = "embedded"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(default)]
    pub auth: GoogleAuthMode,
    /// The API's origin (default Google's), or `embedded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A CA (PEM) to trust for the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DialogflowCxConfig {
    pub project_id: String,
    /// `global`, or the agent's region (`us-central1`, …): the regional endpoint is used.
    #[serde(default = "global")]
    pub location: String,
    pub agent_id: String,
    /// An environment; the draft flow when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    #[serde(default = "english")]
    pub language_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(default)]
    pub auth: GoogleAuthMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

fn english() -> String {
    "en".into()
}

fn global() -> String {
    "global".into()
}

/// The checks both vendors share: the key (resolved and parsed, never shown), the endpoint.
fn common(
    credentials: &Option<Secret>,
    endpoint: &Option<String>,
    language_code: &str,
    simulator: bool,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let mut problem = |path: String, message: String| problems.push(Problem { path, message });
    let embedded = endpoint.as_deref() == Some(EMBEDDED);
    match endpoint.as_deref() {
        Some(EMBEDDED) if !simulator => {
            problem(at("vendor.endpoint"), "\"embedded\" needs a [simulator] section with [simulator.google]".into())
        }
        Some(EMBEDDED) | None => {}
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            problem(at("vendor.endpoint"), "must start with http:// or https://, or be \"embedded\"".into())
        }
        Some(_) => {}
    }
    match credentials {
        None if !embedded => {
            problem(at("vendor.credentials"), "required: the service-account key file's JSON, e.g. { file = \"key.json\" }".into())
        }
        None => {}
        Some(secret) => match secret.resolve() {
            Err(error) => problem(at("vendor.credentials"), error.to_string()),
            Ok(json) => {
                if let Err(error) = ServiceAccountKey::parse(&json) {
                    problem(at("vendor.credentials"), error.to_string());
                }
            }
        },
    }
    if language_code.is_empty() || language_code.len() > 35 || !language_code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        problem(at("vendor.language_code"), "a language tag such as en or en-US".into());
    }
}

impl DialogflowEsConfig {
    pub fn validate(&self, at: &dyn Fn(&str) -> String, simulator: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        common(&self.credentials, &self.endpoint, &self.language_code, simulator, at, &mut problems);
        for (field, value) in
            [("project_id", Some(&self.project_id)), ("environment", self.environment.as_ref()), ("user", self.user.as_ref())]
        {
            if value.is_some_and(|v| !(is_path_segment(v) || (field == "user" && v == "-"))) {
                problems.push(Problem { path: at(&format!("vendor.{field}")), message: "letters, digits, '-', '_' and '.'".into() });
            }
        }
        problems
    }
}

impl DialogflowCxConfig {
    pub fn validate(&self, at: &dyn Fn(&str) -> String, simulator: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        common(&self.credentials, &self.endpoint, &self.language_code, simulator, at, &mut problems);
        for (field, value) in [
            ("project_id", Some(&self.project_id)),
            ("location", Some(&self.location)),
            ("agent_id", Some(&self.agent_id)),
            ("environment_id", self.environment_id.as_ref()),
        ] {
            if value.is_some_and(|v| !is_path_segment(v)) {
                problems.push(Problem { path: at(&format!("vendor.{field}")), message: "letters, digits, '-', '_' and '.'".into() });
            }
        }
        problems
    }
}
