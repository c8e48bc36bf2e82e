//! Google service-account authentication (spec/vendor-apis.md, "Service account"): a key file
//! (a secret) signs an RS256 JWT with `jsonwebtoken`, which is either exchanged for an access
//! token at the key's `token_uri` (OAuth 2.0 jwt-bearer grant) or sent itself as the bearer
//! (a self-signed JWT, as Google's own Dialogflow clients do by default). Either is cached until
//! shortly before it expires; the caller asks for a fresh one after a 401, once.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use botvisor_actors::errors::VendorError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

/// Every assertion's audience at the token endpoint: Google's URL, whatever `token_uri` says.
pub const TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// The scope asked for (Dialogflow accepts either of these; cloud-platform covers both APIs).
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// A self-signed JWT's audience: the API's service name (regional endpoints included).
pub const DIALOGFLOW_AUDIENCE: &str = "https://dialogflow.googleapis.com/";
/// The longest a JWT may live (Google refuses longer ones).
const JWT_LIFETIME: Duration = Duration::from_secs(3600);
/// A token is renewed this long before it expires (google-auth uses 3 min 45 s).
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// The longest token lifetime believed, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);
/// The token endpoint's answer is refused beyond this size.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Stable codes of authentication failures (in the error's message; the error itself is
/// `botvisor.vendor.request-failed`, or a timeout or server error for the core to retry).
pub mod codes {
    /// The key (the secret) is not a service-account key JSON with a usable RSA private key.
    pub const INVALID_KEY: &str = "botvisor.google-auth.invalid-key";
    /// The token endpoint refused the assertion (unknown account, bad signature, clock skew).
    pub const TOKEN_REFUSED: &str = "botvisor.google-auth.token-refused";
    /// The token endpoint answered something that is not a token.
    pub const TOKEN_INVALID: &str = "botvisor.google-auth.token-invalid";
    /// The API refused a fresh token too (401 twice): the account lacks access or the key was
    /// revoked.
    pub const UNAUTHENTICATED: &str = "botvisor.google-auth.unauthenticated";
}

/// How the bearer is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GoogleAuthMode {
    /// Exchange a signed assertion at the key's `token_uri` for an access token.
    #[default]
    TokenExchange,
    /// Send a signed JWT (audience: the Dialogflow service) as the bearer, with no exchange.
    SelfSignedJwt,
}

/// The fields of a service-account key file that matter (the file has more).
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub project_id: Option<String>,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccountKey({}, key id {}, ***)", self.client_email, self.private_key_id)
    }
}

/// Why a key cannot be used (the message never quotes the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {0}", code = codes::INVALID_KEY)]
pub struct KeyError(String);

impl ServiceAccountKey {
    /// Parses a key file's JSON and checks the private key. The error names what is wrong,
    /// never a value.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        let key: ServiceAccountKey = serde_json::from_str(json).map_err(|e| {
            // serde_json's message quotes no value for a missing field or a wrong type, but
            // its position would point into the key: keep the category only.
            KeyError(format!("not a service-account key JSON ({:?} at line {})", e.classify(), e.line()))
        })?;
        if key.kind != "service_account" {
            return Err(KeyError(format!("\"type\" is {:?}, not \"service_account\"", key.kind)));
        }
        if !(key.token_uri.starts_with("https://") || key.token_uri.starts_with("http://")) {
            return Err(KeyError("token_uri must be an http(s) URL".into()));
        }
        if key.client_email.is_empty() || key.private_key_id.is_empty() {
            return Err(KeyError("client_email and private_key_id must not be empty".into()));
        }
        key.encoding_key()?;
        Ok(key)
    }

    fn encoding_key(&self) -> Result<EncodingKey, KeyError> {
        EncodingKey::from_rsa_pem(self.private_key.as_bytes()).map_err(|_| KeyError("private_key is not an RSA private key in PEM".into()))
    }
}

/// The claims of an assertion or a self-signed JWT.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: u64,
    pub exp: u64,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs `claims` with the key (RS256, `kid` = the key's id, as Google's clients do).
pub fn sign(key: &ServiceAccountKey, encoding_key: &EncodingKey, claims: &Claims) -> Result<String, KeyError> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.private_key_id.clone());
    jsonwebtoken::encode(&header, claims, encoding_key).map_err(|e| KeyError(format!("signing failed: {e}")))
}

/// One bot's source of bearer tokens; lives on the bot's thread.
pub struct GoogleTokenSource {
    key: ServiceAccountKey,
    encoding_key: EncodingKey,
    mode: GoogleAuthMode,
    client: awc::Client,
    timeout: Duration,
    cached: RefCell<Option<(String, Instant)>>,
    /// Assertions exchanged at the token endpoint (for tests and metrics).
    exchanges: std::cell::Cell<u64>,
}

impl GoogleTokenSource {
    pub fn new(key: ServiceAccountKey, mode: GoogleAuthMode, client: awc::Client, timeout: Duration) -> Result<Self, KeyError> {
        let encoding_key = key.encoding_key()?;
        Ok(Self { key, encoding_key, mode, client, timeout, cached: RefCell::new(None), exchanges: std::cell::Cell::new(0) })
    }

    /// How many times a token was fetched from the token endpoint.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.get()
    }

    /// A bearer token: the cached one unless `renew` or it is about to expire.
    pub async fn bearer(&self, renew: bool) -> Result<String, VendorError> {
        if !renew {
            if let Some((token, until)) = self.cached.borrow().clone() {
                if Instant::now() < until {
                    return Ok(token);
                }
            }
        }
        let (token, lifetime) = match self.mode {
            GoogleAuthMode::SelfSignedJwt => (self.self_signed()?, JWT_LIFETIME),
            GoogleAuthMode::TokenExchange => self.exchange().await?,
        };
        let margin = TOKEN_MARGIN.min(lifetime / 2);
        let now = Instant::now();
        let until = now.checked_add(lifetime.saturating_sub(margin)).unwrap_or(now);
        *self.cached.borrow_mut() = Some((token.clone(), until));
        Ok(token)
    }

    fn key_failure(error: KeyError) -> VendorError {
        VendorError::Request { message: error.to_string() }
    }

    fn self_signed(&self) -> Result<String, VendorError> {
        let iat = unix_now();
        let claims = Claims {
            iss: self.key.client_email.clone(),
            sub: Some(self.key.client_email.clone()),
            aud: DIALOGFLOW_AUDIENCE.into(),
            scope: None,
            iat,
            exp: iat + JWT_LIFETIME.as_secs(),
        };
        sign(&self.key, &self.encoding_key, &claims).map_err(Self::key_failure)
    }

    async fn exchange(&self) -> Result<(String, Duration), VendorError> {
        let iat = unix_now();
        let claims = Claims {
            iss: self.key.client_email.clone(),
            sub: None,
            aud: TOKEN_AUDIENCE.into(),
            scope: Some(SCOPE.into()),
            iat,
            exp: iat + JWT_LIFETIME.as_secs(),
        };
        let assertion = sign(&self.key, &self.encoding_key, &claims).map_err(Self::key_failure)?;
        self.exchanges.set(self.exchanges.get() + 1);
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let uri = &self.key.token_uri;
        let exchange = async {
            let mut response = self.client.post(uri).timeout(self.timeout).send_form(&form).await.map_err(|e| match e {
                awc::error::SendRequestError::Timeout => VendorError::Timeout,
                other => VendorError::Request { message: format!("{}: the token request to {uri} failed: {other}", codes::TOKEN_REFUSED) },
            })?;
            let status = response.status().as_u16();
            let body =
                response.body().limit(MAX_TOKEN_BODY).await.map_err(|e| VendorError::Request {
                    message: format!("{}: reading the token answer failed: {e}", codes::TOKEN_INVALID),
                })?;
            Ok::<_, VendorError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange).await.map_err(|_| VendorError::Timeout)??;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match status {
            200 => {}
            500..=599 => return Err(VendorError::Server { status }),
            429 => return Err(VendorError::RateLimited { retry_after_ms: 1000 }),
            _ => {
                // Google's OAuth errors: {"error": "invalid_grant", "error_description": "…"}.
                let error = body.get("error").and_then(Value::as_str).unwrap_or("no error field");
                let description = body.get("error_description").and_then(Value::as_str).unwrap_or("");
                return Err(VendorError::Request {
                    message: format!(
                        "{}: the token endpoint answered {status} {error}: {description} (check the service-account key, that the account is enabled, and this host's clock)",
                        codes::TOKEN_REFUSED
                    ),
                });
            }
        }
        let token = body.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| VendorError::Request {
            message: format!("{}: the token endpoint's answer has no access_token", codes::TOKEN_INVALID),
        })?;
        let lifetime =
            Duration::from_secs(body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).min(MAX_TOKEN_LIFETIME.as_secs()));
        Ok((token.to_owned(), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_a_service_account_key_is_refused_without_quoting_it() {
        let error = ServiceAccountKey::parse("{\"type\": \"authorized_user\", \"private_key\": \"hunter2\"}").unwrap_err().to_string();
        assert!(error.starts_with(codes::INVALID_KEY), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let not_pem = serde_json::json!({
            "type": "service_account", "private_key_id": "k1", "private_key": "hunter2",
            "client_email": "bot@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"
        });
        let error = ServiceAccountKey::parse(&not_pem.to_string()).unwrap_err().to_string();
        assert!(error.contains("not an RSA private key") && !error.contains("hunter2"), "{error}");
        let error = ServiceAccountKey::parse("hunter2").unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
