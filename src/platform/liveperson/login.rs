//! Login, refresh and logout (spec §2). Credentials never appear in errors or logs.

use serde_json::{json, Value};

/// How a bot user logs in.
#[derive(Clone, PartialEq, Eq)]
pub enum LoginCredentials {
    Password {
        username: String,
        password: String,
    },
    /// Application login: the OAuth1 key fields, sent as plain JSON as the SDK does.
    ApiKey {
        username: String,
        app_key: String,
        secret: String,
        access_token: String,
        access_token_secret: String,
    },
}

impl std::fmt::Debug for LoginCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginCredentials::Password { username, .. } => write!(f, "Password({username}, ***)"),
            LoginCredentials::ApiKey { username, .. } => write!(f, "ApiKey({username}, ***)"),
        }
    }
}

impl LoginCredentials {
    fn body(&self) -> Value {
        match self {
            LoginCredentials::Password { username, password } => json!({"username": username, "password": password}),
            LoginCredentials::ApiKey { username, app_key, secret, access_token, access_token_secret } => json!({
                "username": username, "appKey": app_key, "secret": secret, "accessToken": access_token, "accessTokenSecret": access_token_secret,
            }),
        }
    }
}

/// A logged-in session.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginSession {
    pub bearer: String,
    pub csrf: String,
    pub user_id: String,
    pub user_pid: String,
    /// `session_id=…`, sent back on refresh and logout.
    pub cookie: Option<String>,
}

impl std::fmt::Debug for LoginSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoginSession(user {}, pid {}, ***)", self.user_id, self.user_pid)
    }
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// 401/403: bad credentials or a disabled user. Not worth retrying soon.
    #[error("login refused ({status}): {message}")]
    Refused { status: u16, message: String },
    /// 429: retry after at least 5 s.
    #[error("login rate limited (429)")]
    RateLimited,
    /// 5xx, network, deadline: retry with backoff.
    #[error("login service unavailable: {0}")]
    Unavailable(String),
    /// An answer botvisor cannot use.
    #[error("unusable login answer: {0}")]
    Invalid(String),
}

pub async fn login(
    client: &awc::Client,
    base: &str,
    account: &str,
    credentials: &LoginCredentials,
    timeout: std::time::Duration,
) -> Result<LoginSession, LoginError> {
    let url = format!("{base}/api/account/{account}/login?v=1.3");
    let mut response = client
        .post(&url)
        .timeout(timeout)
        .insert_header(("User-Agent", concat!("botvisor/", env!("CARGO_PKG_VERSION"))))
        .send_json(&credentials.body())
        .await
        .map_err(|e| LoginError::Unavailable(e.to_string()))?;
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.to_ascii_lowercase().starts_with("session_id="))
        .map(str::to_owned);
    let body: Value = response.json().limit(1024 * 1024).await.unwrap_or(Value::Null);
    let message = || body.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message").to_owned();
    match status {
        200..=299 => {}
        401 | 403 => return Err(LoginError::Refused { status, message: message() }),
        429 => return Err(LoginError::RateLimited),
        400..=499 => return Err(LoginError::Refused { status, message: message() }),
        _ => return Err(LoginError::Unavailable(format!("{status}: {}", message()))),
    }
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    Ok(LoginSession {
        bearer: text("/bearer").ok_or_else(|| LoginError::Invalid("no bearer".into()))?,
        csrf: text("/csrf").unwrap_or_default(),
        user_id: text("/config/userId").ok_or_else(|| LoginError::Invalid("invalid login state, userId is undefined".into()))?,
        user_pid: text("/config/userPid").ok_or_else(|| LoginError::Invalid("no config.userPid".into()))?,
        cookie,
    })
}

/// Why a refresh or a logout did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// 401: the session is gone; log in again.
    #[error("the login service refused the session (401)")]
    SessionGone,
    /// Anything else (another status, the network, the deadline): try again later.
    #[error("{0}")]
    Failed(String),
}

/// Refresh (`logout = false`) or logout the session, within `deadline` (answer read included).
pub async fn refresh_or_logout(
    client: &awc::Client,
    base: &str,
    account: &str,
    session: &LoginSession,
    logout: bool,
    deadline: std::time::Duration,
) -> Result<(), RefreshError> {
    let url = format!("{base}/api/account/{account}/{}?v=1.3", if logout { "logout" } else { "refresh" });
    let mut request = client.post(&url).timeout(deadline);
    if let Some(cookie) = &session.cookie {
        request = request.insert_header(("Cookie", cookie.clone()));
    }
    let exchange = async {
        let mut response = request.send_json(&json!({"csrf": session.csrf})).await.map_err(|e| RefreshError::Failed(e.to_string()))?;
        let status = response.status();
        // Read (and bound) the answer, so a dribbling peer is caught by the deadline too.
        let _ = response.body().limit(64 * 1024).await;
        match status.as_u16() {
            200..=299 => Ok(()),
            401 => Err(RefreshError::SessionGone),
            other => Err(RefreshError::Failed(format!("the login service answered {other}"))),
        }
    };
    tokio::time::timeout(deadline, exchange).await.unwrap_or_else(|_| Err(RefreshError::Failed(format!("no answer within {deadline:?}"))))
}
