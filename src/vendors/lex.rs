//! The Amazon Lex V2 vendor (`RecognizeText`, spec/third-party-bots.md §1.3, the wire in
//! spec/vendor-apis.md): a Lex session per conversation, LivePerson's context as the request
//! attribute `BC-LP-CONTEXT` (a JSON string of `{lpEvent, lpSdes}`) and the session attribute
//! `convId`; the welcome is the text `WELCOME-INTENT` (an intent with that utterance greets).
//! Every request is signed with AWS Signature Version 4 by AWS's own `aws-sigv4` crate. One
//! instance per bot, on the bot's thread; the core applies the call timeout, retries and
//! escalation.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult};
use serde_json::{json, Value};

use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::{shared_client, TlsError};
use crate::vendors::dialogflow::lp_payload;
use crate::vendors::exchange::{send, Exchange};
use crate::vendors::lex_response::{codes, parse_response};

/// The text sent for the welcome event: a Lex intent with this utterance greets first.
pub const WELCOME_TEXT: &str = "WELCOME-INTENT";
/// Lex V2 refuses texts longer than this (characters).
pub const MAX_TEXT_CHARS: usize = 1024;
/// The request attribute carrying LivePerson's context.
pub const CONTEXT_ATTRIBUTE: &str = "BC-LP-CONTEXT";
/// The signing name of the Lex runtime.
pub const SIGNING_SERVICE: &str = "lex";

/// AWS credentials (secrets: never shown).
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsCredentials({}, ***)", self.access_key_id)
    }
}

#[derive(Debug, Clone)]
pub struct LexSettings {
    pub bot_id: String,
    pub bot_alias_id: String,
    /// The bot locale (`en_US`, …).
    pub locale_id: String,
    pub region: String,
    pub credentials: AwsCredentials,
    /// The runtime's origin; default `https://runtime-v2-lex.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
    /// A CA (PEM) to trust for an endpoint with a private certificate.
    pub ca: Option<PathBuf>,
    pub request_timeout: Duration,
}

impl LexSettings {
    pub fn new(bot_id: &str, bot_alias_id: &str, locale_id: &str, region: &str, credentials: AwsCredentials) -> Self {
        Self {
            bot_id: bot_id.to_owned(),
            bot_alias_id: bot_alias_id.to_owned(),
            locale_id: locale_id.to_owned(),
            region: region.to_owned(),
            credentials,
            endpoint: None,
            ca: None,
            request_timeout: Duration::from_secs(30),
        }
    }

    pub fn origin(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://runtime-v2-lex.{}.amazonaws.com", self.region),
        }
    }

    /// The RecognizeText URL of a session (the session id percent-encoded, as botocore does).
    pub fn url(&self, session: &str) -> String {
        format!(
            "{}/bots/{}/botAliases/{}/botLocales/{}/sessions/{}/text",
            self.origin(),
            self.bot_id,
            self.bot_alias_id,
            self.locale_id,
            session.replace(':', "%3A")
        )
    }
}

/// The Lex session of a conversation: its id when Lex takes it (2–100 of letters, digits, `.`,
/// `_`, `:` and `-`), a stable hash otherwise.
pub fn session_id(conversation_id: &str) -> String {
    let fits =
        (2..=100).contains(&conversation_id.len()) && conversation_id.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if fits {
        conversation_id.to_owned()
    } else {
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(conversation_id.as_bytes()))
    }
}

/// The RecognizeText body.
pub fn request_body(request: &VendorRequest) -> Value {
    let text = match &request.input {
        VendorInput::Welcome { .. } => WELCOME_TEXT.to_owned(),
        VendorInput::Message { text, .. } => text.clone(),
    };
    let conversation_id = request.conversation.conversation_id.as_str();
    json!({
        "text": text,
        "sessionState": {"sessionAttributes": {"convId": conversation_id}},
        "requestAttributes": {CONTEXT_ATTRIBUTE: lp_payload(request).to_string()},
    })
}

/// Whether a path segment from the configuration may go into a URL as it is.
pub fn is_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 100 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The headers that sign `POST url` with `body` at `time`: `X-Amz-Date`, `Authorization` (and
/// `X-Amz-Security-Token` with a session token), as AWS's signer makes them. Signed headers:
/// `content-type`, `host`, `x-amz-date` — what botocore signs.
pub fn sign_request(
    credentials: &AwsCredentials,
    region: &str,
    url: &str,
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    sign_request_with(credentials, region, url, body, time, Some("application/json"), &[])
}

/// As [`sign_request`], with the content type (if signed) and other headers to sign (the
/// simulator's fake signs a request again with exactly the headers it names).
pub fn sign_request_with(
    credentials: &AwsCredentials,
    region: &str,
    url: &str,
    body: &[u8],
    time: SystemTime,
    content_type: Option<&str>,
    extra: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let identity = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "botvisor",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SIGNING_SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let host = host_of(url).ok_or_else(|| format!("{url}: no host"))?;
    let mut headers: Vec<(&str, &str)> = vec![("host", host)];
    if let Some(content_type) = content_type {
        headers.push(("content-type", content_type));
    }
    headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signable = SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body)).map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
}

/// `host[:port]` of a URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?']).next().unwrap_or(rest)).filter(|h| !h.is_empty())
}

/// The Lex V2 client. Cheap to clone.
#[derive(Clone)]
pub struct LexVendor {
    inner: Rc<Inner>,
}

struct Inner {
    settings: LexSettings,
    client: awc::Client,
    hooks: VendorHooks,
}

impl LexVendor {
    /// Create it on the bot's arbiter: it uses that thread's shared HTTP client.
    pub fn new(settings: LexSettings, hooks: VendorHooks) -> Result<Self, TlsError> {
        let client = shared_client(settings.ca.as_deref())?;
        Ok(Self { inner: Rc::new(Inner { settings, client, hooks }) })
    }
}

impl Inner {
    async fn send(&self, request: VendorRequest) -> Result<BotResponse, VendorError> {
        let conversation_id = request.conversation.conversation_id.as_str();
        let url = self.settings.url(&session_id(conversation_id));
        let body = self.hooks.before(conversation_id, "lex", request_body(&request)).await?;
        let bytes = serde_json::to_vec(&body).map_err(|e| VendorError::Request { message: format!("the request: {e}") })?;
        let mut headers = sign_request(&self.settings.credentials, &self.settings.region, &url, &bytes, SystemTime::now())
            .map_err(|message| VendorError::Request { message: format!("signing the request failed: {message}") })?;
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        let answer = send(
            &self.client,
            Exchange {
                method: "POST",
                url: &url,
                headers,
                body: Some((bytes, "application/json")),
                timeout: self.settings.request_timeout,
            },
        )
        .await?;
        let value = match answer.status {
            200..=299 => answer.json().ok_or_else(|| VendorError::InvalidResponse {
                code: codes::NOT_JSON.into(),
                message: format!("Lex answered {} with a body that is not JSON", answer.status),
            })?,
            status => return Err(lex_error(status, answer.header("x-amzn-errortype"), answer.json(), answer.retry_after_ms())),
        };
        let value = self.hooks.after(conversation_id, "lex", Some(value)).await?;
        parse_response(value.as_ref().unwrap_or(&Value::Null))
    }
}

/// Lex's errors: `x-amzn-ErrorType` names the exception, the body `{"message"}` says why.
fn lex_error(status: u16, error_type: Option<&str>, body: Option<Value>, retry_after_ms: u64) -> VendorError {
    let kind = error_type.map(|t| t.split(':').next().unwrap_or(t)).unwrap_or("");
    let message = body.as_ref().and_then(|b| b.get("message").or_else(|| b.get("Message"))).and_then(Value::as_str).unwrap_or("");
    match status {
        429 => VendorError::RateLimited { retry_after_ms },
        500..=599 => VendorError::Server { status },
        403 | 401 => VendorError::Request {
            message: format!("Lex refused the credentials ({status} {kind}: {message}); check the access key, its secret and the region"),
        },
        404 => VendorError::Request {
            message: format!(
                "Lex does not know the bot, alias or locale ({status} {kind}: {message}); check bot_id, bot_alias_id and locale_id"
            ),
        },
        _ => VendorError::Request { message: format!("Lex refused the request ({status} {kind}: {message})") },
    }
}

impl VendorPort for LexVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }

    /// Lex has no health endpoint: the vendor is online when it is configured.
    fn health(&self) -> VendorResult<VendorHealth> {
        Box::pin(async { Ok(VendorHealth::Online) })
    }

    fn name(&self) -> &'static str {
        "lex"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_sessions_and_hosts() {
        let creds = AwsCredentials { access_key_id: "AK".into(), secret_access_key: "SK".into(), session_token: None };
        let mut settings = LexSettings::new("BOT1", "TSTALIASID", "en_US", "eu-west-1", creds.clone());
        assert_eq!(
            settings.url("a:b"),
            "https://runtime-v2-lex.eu-west-1.amazonaws.com/bots/BOT1/botAliases/TSTALIASID/botLocales/en_US/sessions/a%3Ab/text"
        );
        settings.endpoint = Some("http://127.0.0.1:9/".into());
        assert!(settings.url("s1").starts_with("http://127.0.0.1:9/bots/"));
        assert_eq!(session_id("4f1b6a4e-9d0e-4a51-8d52-2b8f7c0e9a11"), "4f1b6a4e-9d0e-4a51-8d52-2b8f7c0e9a11");
        assert_eq!(session_id("x").len(), 32, "too short for Lex");
        assert_eq!(host_of("http://127.0.0.1:9/bots/x"), Some("127.0.0.1:9"));
        let headers = sign_request(&creds, "eu-west-1", &settings.url("s1"), b"{}", SystemTime::now()).unwrap();
        let authorization = &headers.iter().find(|(n, _)| n == "authorization").unwrap().1;
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{authorization}");
        assert!(authorization.contains("/eu-west-1/lex/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="));
        assert!(!format!("{creds:?}").contains("SK"));
    }
}
