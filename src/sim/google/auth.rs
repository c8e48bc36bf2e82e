//! The fake's side of Google authentication: service-account keys it knows (the one it makes at
//! start, and any given to it), the OAuth token endpoint (jwt-bearer grant), and the check of a
//! request's bearer (an access token it issued, or a self-signed JWT). As strict as Google: the
//! signature is verified against the key's public half, and the issuer, audience, scope and
//! times are checked.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;

use crate::vendors::google_auth::{Claims, TOKEN_AUDIENCE};

/// Google also takes assertions for its older token URL.
const LEGACY_TOKEN_AUDIENCE: &str = "https://www.googleapis.com/oauth2/v4/token";
/// Clock skew allowed on `iat`.
const SKEW: u64 = 60;
/// The longest a JWT may live.
const MAX_JWT_LIFETIME: u64 = 3600;

/// A key the fake verifies signatures with.
#[derive(Clone)]
pub struct KnownKey {
    pub client_email: String,
    decoding: DecodingKey,
}

/// A key the fake made: the service-account key file's JSON, and its id.
#[derive(Clone)]
pub struct MadeKey {
    pub key_json: String,
    pub key_id: String,
    pub client_email: String,
}

/// Makes a 2048-bit service-account key whose `token_uri` is `token_uri`.
pub fn make_key(project: &str, token_uri: &str) -> Result<(MadeKey, KnownKey), String> {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| format!("making an RSA key failed: {e}"))?;
    let pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("encoding the key failed: {e}"))?;
    let key_id = format!("{:032x}", random::<u128>());
    let client_email = format!("botvisor-sim@{project}.iam.gserviceaccount.com");
    let key_json = json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem.as_str(),
        "client_email": client_email,
        "client_id": format!("{}", random::<u64>()),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
        "_comment": "made by botvisor's simulator for its fake Google APIs; worthless anywhere else",
    });
    let known = known_key(&private, &client_email)?;
    Ok((MadeKey { key_json: serde_json::to_string_pretty(&key_json).unwrap_or_default(), key_id, client_email }, known))
}

fn known_key(private: &RsaPrivateKey, client_email: &str) -> Result<KnownKey, String> {
    let public = RsaPublicKey::from(private).to_pkcs1_der().map_err(|e| format!("encoding the public key failed: {e}"))?;
    Ok(KnownKey { client_email: client_email.to_owned(), decoding: DecodingKey::from_rsa_der(public.as_bytes()) })
}

/// The public half of a service-account key file (for keys made elsewhere, such as a test's).
pub fn known_key_of(key_json: &str) -> Result<(String, KnownKey), String> {
    let value: serde_json::Value = serde_json::from_str(key_json).map_err(|_| "not a service-account key JSON".to_owned())?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned).ok_or(format!("{name} is missing"));
    let private = RsaPrivateKey::from_pkcs8_pem(&field("private_key")?).map_err(|_| "private_key is not a PKCS#8 RSA key".to_owned())?;
    Ok((field("private_key_id")?, known_key(&private, &field("client_email")?)?))
}

fn random<T>() -> T
where
    rand::distr::StandardUniform: rand::distr::Distribution<T>,
{
    use rand::{Rng, SeedableRng};
    rand::rngs::StdRng::from_os_rng().random()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Why a JWT is refused: the HTTP status, the OAuth error and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: &'static str,
    pub description: &'static str,
}

const BAD_SIGNATURE: Refusal = Refusal { status: 400, error: "invalid_grant", description: "Invalid JWT Signature." };
const BAD_TIMES: Refusal = Refusal {
    status: 400,
    error: "invalid_grant",
    description: "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
};
const UNKNOWN_CLIENT: Refusal = Refusal { status: 401, error: "invalid_client", description: "The OAuth client was not found." };
const BAD_AUDIENCE: Refusal = Refusal { status: 400, error: "invalid_grant", description: "Invalid JWT: Failed audience check." };
const NO_SCOPE: Refusal =
    Refusal { status: 400, error: "invalid_scope", description: "Invalid OAuth scope or ID token audience provided." };

/// The keys known, by key id.
#[derive(Clone, Default)]
pub struct Keys(HashMap<String, KnownKey>);

impl Keys {
    pub fn add(&mut self, key_id: String, key: KnownKey) {
        self.0.insert(key_id, key);
    }

    /// The claims of a JWT signed (RS256) by a known key, its issuer that key's account, its
    /// times sane; the audience and scope are the caller's to check.
    fn verify(&self, jwt: &str) -> Result<Claims, Refusal> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| BAD_SIGNATURE)?;
        if header.alg != Algorithm::RS256 {
            return Err(BAD_SIGNATURE);
        }
        let key = header.kid.as_deref().and_then(|kid| self.0.get(kid)).ok_or(BAD_SIGNATURE)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(jwt, &key.decoding, &validation).map_err(|_| BAD_SIGNATURE)?.claims;
        if claims.iss != key.client_email {
            return Err(UNKNOWN_CLIENT);
        }
        let now = unix_now();
        if claims.exp <= now || claims.iat > now + SKEW || claims.exp <= claims.iat || claims.exp - claims.iat > MAX_JWT_LIFETIME {
            return Err(BAD_TIMES);
        }
        Ok(claims)
    }

    /// The token endpoint's check of an assertion (jwt-bearer grant).
    pub fn check_assertion(&self, assertion: &str) -> Result<Claims, Refusal> {
        let claims = self.verify(assertion)?;
        if claims.aud != TOKEN_AUDIENCE && claims.aud != LEGACY_TOKEN_AUDIENCE {
            return Err(BAD_AUDIENCE);
        }
        if claims.scope.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(NO_SCOPE);
        }
        Ok(claims)
    }

    /// A self-signed JWT used as the bearer: its audience is the Dialogflow service (global or
    /// regional), or it carries a scope instead.
    pub fn check_self_signed(&self, jwt: &str) -> Result<Claims, Refusal> {
        // A JWT with a scope and no audience is accepted: google-auth sends it when scopes are set.
        let claims = self.verify_allowing_missing_audience(jwt)?;
        let audience_ok = claims.aud == "https://dialogflow.googleapis.com/"
            || (claims.aud.starts_with("https://") && claims.aud.ends_with("-dialogflow.googleapis.com/"));
        let scoped = claims
            .scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|s| s.ends_with("/auth/cloud-platform") || s.ends_with("/auth/dialogflow")));
        if !(audience_ok || (claims.aud.is_empty() && scoped)) {
            return Err(BAD_AUDIENCE);
        }
        Ok(claims)
    }

    fn verify_allowing_missing_audience(&self, jwt: &str) -> Result<Claims, Refusal> {
        #[derive(serde::Deserialize)]
        struct Loose {
            iss: String,
            #[serde(default)]
            sub: Option<String>,
            #[serde(default)]
            aud: Option<String>,
            #[serde(default)]
            scope: Option<String>,
            iat: u64,
            exp: u64,
        }
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| BAD_SIGNATURE)?;
        let key = header.kid.as_deref().and_then(|kid| self.0.get(kid)).ok_or(BAD_SIGNATURE)?;
        if header.alg != Algorithm::RS256 {
            return Err(BAD_SIGNATURE);
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let loose = jsonwebtoken::decode::<Loose>(jwt, &key.decoding, &validation).map_err(|_| BAD_SIGNATURE)?.claims;
        if loose.iss != key.client_email || loose.sub.as_deref().is_some_and(|s| s != loose.iss) {
            return Err(UNKNOWN_CLIENT);
        }
        let now = unix_now();
        if loose.exp <= now || loose.iat > now + SKEW || loose.exp <= loose.iat || loose.exp - loose.iat > MAX_JWT_LIFETIME {
            return Err(BAD_TIMES);
        }
        Ok(Claims {
            iss: loose.iss,
            sub: loose.sub,
            aud: loose.aud.unwrap_or_default(),
            scope: loose.scope,
            iat: loose.iat,
            exp: loose.exp,
        })
    }
}

/// An access token the fake issued, with the time it stops working.
pub fn new_access_token() -> String {
    format!("ya29.sim-{:032x}", random::<u128>())
}

/// A token lifetime as `expires_in` shows it.
pub fn expires_in(lifetime: Duration) -> u64 {
    lifetime.as_secs().max(1)
}
