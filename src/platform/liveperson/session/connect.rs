//! One connection attempt: CSDS (cached) → login (unless the token is still good) → the
//! account's skills → the websocket upgrade, each step with a deadline that covers its answer's
//! body, so a peer that dribbles a byte a second cannot leave the bot connecting forever.

use std::collections::HashMap;
use std::time::Duration;

use actix_codec::Framed;
use awc::ws::Codec;
use awc::BoxedSocket;
use serde_json::Value;

use crate::platform::liveperson::csds::{self, CsdsError, Domains};
use crate::platform::liveperson::login::{self, LoginError, LoginSession};
use crate::platform::liveperson::session::inbound::MAX_FRAME_BYTES;
use crate::platform::liveperson::session::settings::SessionSettings;

/// What a connection attempt brings back.
pub struct Established {
    pub domains: Domains,
    pub login: LoginSession,
    pub skills: Result<HashMap<String, String>, SkillsError>,
    pub framed: Framed<BoxedSocket, Codec>,
}

/// Why the account's skills could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SkillsError {
    /// The bot user lacks the permission (401/403).
    #[error("the account-config API refused to list the skills ({0})")]
    Forbidden(u16),
    #[error("the account's skills could not be read: {0}")]
    Failed(String),
}

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Csds(#[from] CsdsError),
    #[error(transparent)]
    Login(#[from] LoginError),
    /// The websocket upgrade was refused with 401: the token is no good.
    #[error("the websocket refused the token (401)")]
    TokenRejected,
    #[error("the websocket did not open: {0}")]
    Websocket(String),
    /// A step did not answer (body included) within the request timeout.
    #[error("{step} did not answer within {deadline:?}")]
    Deadline { step: &'static str, deadline: Duration },
}

/// CSDS (cached) → login (unless the token is still good) → skills → websocket.
pub async fn establish(
    client: awc::Client,
    settings: SessionSettings,
    cached: Option<Domains>,
    login: Option<LoginSession>,
) -> Result<Established, ConnectError> {
    let (http, ws) = settings.scheme();
    let deadline = settings.request_timeout;
    let late = |step: &'static str| ConnectError::Deadline { step, deadline };
    let domains = match cached {
        Some(domains) => domains,
        None => tokio::time::timeout(deadline, csds::fetch(&client, http, &settings.csds, &settings.account, deadline))
            .await
            .map_err(|_| late("CSDS"))??,
    };
    let login_base = format!("{http}://{}", domains[csds::LOGIN_SERVICE]);
    let session = match login {
        Some(session) => session,
        None => tokio::time::timeout(deadline, login::login(&client, &login_base, &settings.account, &settings.credentials, deadline))
            .await
            .map_err(|_| late("the login service"))??,
    };
    let skills = match domains.get(csds::ACCOUNT_CONFIG_SERVICE) {
        Some(host) => {
            tokio::time::timeout(deadline, fetch_skills(&client, &format!("{http}://{host}"), &settings.account, &session.bearer, deadline))
                .await
                .unwrap_or_else(|_| Err(SkillsError::Failed(late("the account-config skills lookup").to_string())))
        }
        None => Ok(HashMap::new()),
    };
    // SDK ≥ 1.4.5 connects to facadeMsg; older ones (and the documented UMS domain) asyncMessagingEnt.
    let host = domains.get("facadeMsg").unwrap_or(&domains[csds::MESSAGING_SERVICE]);
    let url = format!("{ws}://{host}/ws_api/account/{}/messaging/brand/{}?v=2.1", settings.account, session.bearer);
    match tokio::time::timeout(deadline, client.ws(url).max_frame_size(MAX_FRAME_BYTES).connect()).await {
        Ok(Ok((_, framed))) => Ok(Established { domains, login: session, skills, framed }),
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) if status.as_u16() == 401 => Err(ConnectError::TokenRejected),
        Ok(Err(error)) => Err(ConnectError::Websocket(error.to_string())),
        Err(_) => Err(late("the websocket upgrade")),
    }
}

/// The account's skills (name → id), so vendors can transfer by skill name.
async fn fetch_skills(
    client: &awc::Client,
    base: &str,
    account: &str,
    bearer: &str,
    timeout: Duration,
) -> Result<HashMap<String, String>, SkillsError> {
    let url = format!("{base}/api/account/{account}/configuration/le-users/skills?v=2.0");
    let mut response = client
        .get(&url)
        .timeout(timeout)
        .insert_header(("Authorization", format!("Bearer {bearer}")))
        .send()
        .await
        .map_err(|e| SkillsError::Failed(e.to_string()))?;
    match response.status().as_u16() {
        status @ (401 | 403) => return Err(SkillsError::Forbidden(status)),
        200..=299 => {}
        other => return Err(SkillsError::Failed(format!("the account-config API answered {other}"))),
    }
    let body: Value = response.json().limit(4 * 1024 * 1024).await.map_err(|e| SkillsError::Failed(e.to_string()))?;
    Ok(body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let id = match &s["id"] {
                Value::String(id) => id.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((s["name"].as_str()?.to_owned(), id))
        })
        .collect())
}
