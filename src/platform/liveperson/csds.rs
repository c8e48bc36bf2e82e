//! Domain discovery (spec §1): the service → host map of an account, cached for 60 s.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

/// How long a CSDS answer is reused (the SDK's node-cache TTL).
pub const CSDS_TTL: Duration = Duration::from_secs(60);

pub const LOGIN_SERVICE: &str = "agentVep";
pub const MESSAGING_SERVICE: &str = "asyncMessagingEnt";
pub const ACCOUNT_CONFIG_SERVICE: &str = "accountConfigReadOnly";

pub type Domains = HashMap<String, String>;

/// The last answer and when it came.
#[derive(Debug, Default)]
pub struct CsdsCache {
    entry: Option<(Instant, Domains)>,
}

impl CsdsCache {
    pub fn fresh(&self) -> Option<Domains> {
        self.entry.as_ref().filter(|(at, _)| at.elapsed() < CSDS_TTL).map(|(_, d)| d.clone())
    }

    /// The last answer, however old (refresh and logout use the login host they logged in on).
    pub fn last(&self) -> Option<Domains> {
        self.entry.as_ref().map(|(_, d)| d.clone())
    }

    pub fn store(&mut self, domains: Domains) {
        self.entry = Some((Instant::now(), domains));
    }
}

/// Why the account's domains could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsdsError {
    #[error("CSDS request to {host} failed: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("CSDS answered {status} for account {account}")]
    Status { status: u16, account: String },
    #[error("CSDS answer is not usable: {0}")]
    Invalid(String),
    #[error("CSDS lists no {service} for account {account}")]
    Missing { service: &'static str, account: String },
}

/// Asks CSDS for the account's domains.
pub async fn fetch(client: &awc::Client, scheme: &str, csds: &str, account: &str, timeout: Duration) -> Result<Domains, CsdsError> {
    let url = format!("{scheme}://{csds}/api/account/{account}/service/baseURI.json?version=1.0");
    let mut response = client
        .get(&url)
        .timeout(timeout)
        .insert_header(("accept", "application/json"))
        .send()
        .await
        .map_err(|e| CsdsError::Unreachable { host: csds.to_owned(), reason: e.to_string() })?;
    if !response.status().is_success() {
        return Err(CsdsError::Status { status: response.status().as_u16(), account: account.to_owned() });
    }
    let body: Value = response.json().limit(1024 * 1024).await.map_err(|e| CsdsError::Invalid(format!("not JSON: {e}")))?;
    let domains: Domains = body
        .get("baseURIs")
        .and_then(Value::as_array)
        .ok_or(CsdsError::Invalid("no baseURIs".into()))?
        .iter()
        .filter_map(|s| Some((s.get("service")?.as_str()?.to_owned(), s.get("baseURI")?.as_str()?.to_owned())))
        .collect();
    for needed in [LOGIN_SERVICE, MESSAGING_SERVICE] {
        if !domains.contains_key(needed) {
            return Err(CsdsError::Missing { service: needed, account: account.to_owned() });
        }
    }
    Ok(domains)
}
