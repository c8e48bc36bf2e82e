//! An HTTP endpoint botvisor calls on a bot's behalf — a function vendor, the bot's functions
//! (`INVOCATION` / `INVOKE_FUNCTION`), its pre and post hooks: a URL, an optional header carrying
//! a credential (a secret), an optional CA to trust, an optional timeout.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Problem, Secret, SecretError};

/// A function's or a hook's longest timeout: LivePerson's functions give up after 30 s.
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCallConfig {
    pub url: String,
    /// A header sent with every call (`Authorization`, `X-Api-Key`, …), its value a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<AuthHeaderConfig>,
    /// A CA (PEM) to trust for an HTTPS endpoint with a private certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Each call's bound, the answer's body included.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthHeaderConfig {
    pub name: String,
    pub value: Secret,
}

/// The call with its header's value read (call `resolve` off the actor threads: a file secret).
#[derive(Clone)]
pub struct HttpCall {
    pub url: String,
    pub header: Option<(String, String)>,
    pub ca: Option<PathBuf>,
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCall")
            .field("url", &self.url)
            .field("header", &self.header.as_ref().map(|(name, _)| (name, "***")))
            .field("ca", &self.ca)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpCallConfig {
    /// Every problem, with its path under `at`. `placeholder`: the URL must hold it (the
    /// functions' `{lambdaUuid}`).
    pub fn validate(&self, at: &str, placeholder: Option<&str>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| problems.push(Problem { path: format!("{at}.{field}"), message });
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) || self.url.len() > 2048 {
            problem("url", "must start with http:// or https:// (at most 2048 characters)".into());
        }
        if let Some(placeholder) = placeholder {
            if !self.url.contains(placeholder) {
                problem("url", format!("must hold {placeholder}, replaced by each invocation's function id"));
            }
        }
        if let Some(header) = &self.auth_header {
            let valid_name =
                !header.name.is_empty() && header.name.len() <= 64 && header.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid_name {
                problem("auth_header.name", "an HTTP header name: letters, digits and '-', at most 64".into());
            }
            match header.value.resolve() {
                Ok(value) if value.bytes().any(|b| b < 0x20 || b == 0x7f) => {
                    problem("auth_header.value", "must not hold control characters or line breaks (the value is not shown)".into())
                }
                Ok(_) => {}
                Err(error) => problem("auth_header.value", error.to_string()),
            }
        }
        if self.timeout.is_some_and(|t| t.is_zero() || t > MAX_CALL_TIMEOUT) {
            problem("timeout", format!("must be more than 0s and at most {}s", MAX_CALL_TIMEOUT.as_secs()));
        }
        problems
    }

    /// The call, its secret read; `default_timeout` when none is configured.
    pub fn resolve(&self, default_timeout: Duration) -> Result<HttpCall, SecretError> {
        let header = match &self.auth_header {
            Some(header) => Some((header.name.clone(), header.value.resolve()?)),
            None => None,
        };
        Ok(HttpCall {
            url: self.url.clone(),
            header,
            ca: self.ca.clone(),
            timeout: self.timeout.unwrap_or(default_timeout).min(MAX_CALL_TIMEOUT),
        })
    }

    /// The header's secret, to redact or keep.
    pub fn secret_mut(&mut self) -> Option<&mut Secret> {
        self.auth_header.as_mut().map(|h| &mut h.value)
    }

    pub fn secret(&self) -> Option<&Secret> {
        self.auth_header.as_ref().map(|h| &h.value)
    }
}

/// `[bots.hooks]`: an HTTP call before each vendor request (it may change the request) and one
/// after each answer (it may change the answer, so what the bot does).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<HttpCallConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<HttpCallConfig>,
}

impl HooksConfig {
    pub fn is_empty(&self) -> bool {
        self.pre.is_none() && self.post.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HttpCallConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_good_call_passes_and_resolves_its_header() {
        let call = parse("url = \"https://fn.example/{lambdaUuid}\"\ntimeout = \"5s\"\nauth_header = { name = \"X-Api-Key\", value = { value = \"k\" } }");
        assert!(call.validate("bots[0].functions", Some("{lambdaUuid}")).is_empty());
        let resolved = call.resolve(Duration::from_secs(30)).unwrap();
        assert_eq!(resolved.header, Some(("X-Api-Key".into(), "k".into())));
        assert_eq!(resolved.timeout, Duration::from_secs(5));
        assert!(!format!("{resolved:?}").contains("\"k\""), "{resolved:?}");
    }

    #[test]
    fn every_problem_names_its_field_and_never_shows_the_secret() {
        let call =
            parse("url = \"ftp://x\"\ntimeout = \"0s\"\nauth_header = { name = \"Bad Header\", value = { value = \"hunter\\n2\" } }");
        let problems = call.validate("bots[0].hooks.pre", Some("{lambdaUuid}"));
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "bots[0].hooks.pre.url",
            "bots[0].hooks.pre.auth_header.name",
            "bots[0].hooks.pre.auth_header.value",
            "bots[0].hooks.pre.timeout",
        ] {
            assert!(paths.contains(&expected), "{expected} in {paths:?}");
        }
        assert!(!format!("{problems:?}").contains("hunter"));
        let long = parse("url = \"https://fn.example\"\ntimeout = \"31s\"");
        assert_eq!(long.validate("x", None).len(), 1);
    }
}
