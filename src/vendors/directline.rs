//! The Microsoft Bot Framework vendor through Direct Line 3.0 (spec/third-party-bots.md §1.3, the
//! wire in spec/vendor-apis.md): one Direct Line conversation per platform conversation, started
//! on the first call; its id and watermark are kept in the store (`BotResponse::vendor_session`),
//! so the bot's next owner after a failover continues it. Per input: post the consumer's activity
//! (`channelData.context = {convId, msConversationId, lpEvent, lpSdes}`; the welcome is an empty
//! text with `channelData.action.name = "WELCOME"`, or the `startConversation` event for Power
//! Virtual Agents), then poll the conversation's activities from the watermark, keeping only the
//! bot's replies whose `replyToId` is the posted activity; with `multiple_activities`, polling goes
//! on while new replies keep arriving within that wait. Direct Line answers 502 when the bot took
//! longer than 15 s: the core retries it (and timeouts) as a server error. A conversation Direct
//! Line no longer knows (404, expired) is started again once.
//!
//! Authentication by the Direct Line secret, or a token refreshed (`/tokens/refresh`) before it
//! expires.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::BotResponse;
use botvisor_actors::ports::{VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::hooks::vendor_hooks::VendorHooks;
use crate::http::{shared_client, TlsError};
use crate::vendors::dialogflow::lp_payload;
use crate::vendors::directline_response::{codes, parse_activities};
use crate::vendors::exchange::{send, Answer, Exchange, SessionCache};

/// Microsoft's global Direct Line endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://directline.botframework.com/v3/directline";
/// Conversations whose Direct Line conversation this adapter remembers (the store has them all).
const MAX_SESSIONS: usize = 50_000;
/// A token is refreshed when this much of its life is left.
const TOKEN_REFRESH_AT: f64 = 0.5;

/// How botvisor authenticates to Direct Line (secrets: never shown).
#[derive(Clone)]
pub enum DirectLineAuth {
    Secret(String),
    /// A token, refreshed before it expires.
    Token(String),
}

impl std::fmt::Debug for DirectLineAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DirectLineAuth::Secret(_) => "Secret(***)",
            DirectLineAuth::Token(_) => "Token(***)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct DirectLineSettings {
    /// `…/v3/directline`, without a trailing `/`.
    pub endpoint: String,
    pub auth: DirectLineAuth,
    /// Keep polling this long after the last new reply (LivePerson's "Multiple Activities");
    /// none: stop at the first replies.
    pub multiple_activities: Option<Duration>,
    /// How often the activities are polled.
    pub poll_interval: Duration,
    /// Power Virtual Agents: the welcome is the `startConversation` event.
    pub pva: bool,
    /// Read the bot's activities from the conversation's websocket stream (`streamUrl`) instead
    /// of polling.
    pub stream: bool,
    pub ca: Option<PathBuf>,
    /// One HTTP exchange's deadline; also how long replies are waited for.
    pub request_timeout: Duration,
}

impl DirectLineSettings {
    pub fn new(auth: DirectLineAuth) -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.into(),
            auth,
            multiple_activities: None,
            poll_interval: Duration::from_millis(250),
            pva: false,
            stream: false,
            ca: None,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The Direct Line conversation of a platform conversation, as kept in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectLineSession {
    pub conversation_id: String,
    pub watermark: Option<String>,
}

impl DirectLineSession {
    pub fn to_value(&self) -> Value {
        json!({"conversationId": self.conversation_id, "watermark": self.watermark})
    }

    pub fn from_value(value: &Value) -> Option<Self> {
        Some(Self {
            conversation_id: value.get("conversationId").and_then(Value::as_str)?.to_owned(),
            watermark: value.get("watermark").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// The consumer's activity for one input.
pub fn activity(request: &VendorRequest, ms_conversation_id: &str, pva: bool) -> Value {
    let conversation_id = request.conversation.conversation_id.as_str();
    let mut context = lp_payload(request);
    context["convId"] = json!(conversation_id);
    context["msConversationId"] = json!(ms_conversation_id);
    let from = json!({"id": format!("lp-{}", request.conversation.consumer_id), "role": "user"});
    match &request.input {
        VendorInput::Welcome { .. } if pva => {
            json!({"type": "event", "name": "startConversation", "from": from, "channelData": {"context": context}})
        }
        VendorInput::Welcome { .. } => {
            json!({"type": "message", "text": "", "from": from, "channelData": {"context": context, "action": {"name": "WELCOME"}}})
        }
        VendorInput::Message { text, .. } => json!({"type": "message", "text": text, "from": from, "channelData": {"context": context}}),
    }
}

/// The Direct Line client. Cheap to clone.
#[derive(Clone)]
pub struct DirectLineVendor {
    inner: Rc<Inner>,
}

struct Inner {
    settings: DirectLineSettings,
    client: awc::Client,
    hooks: VendorHooks,
    /// A configured token as refreshed, and when it is to be refreshed again.
    token: RefCell<Option<(String, Instant)>>,
    sessions: SessionCache,
}

impl DirectLineVendor {
    pub fn new(settings: DirectLineSettings, hooks: VendorHooks) -> Result<Self, TlsError> {
        let client = shared_client(settings.ca.as_deref())?;
        Ok(Self { inner: Rc::new(Inner { settings, client, hooks, token: RefCell::new(None), sessions: SessionCache::new(MAX_SESSIONS) }) })
    }
}

impl Inner {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.endpoint.trim_end_matches('/'))
    }

    async fn bearer(&self) -> Result<String, VendorError> {
        let configured = match &self.settings.auth {
            DirectLineAuth::Secret(secret) => return Ok(secret.clone()),
            DirectLineAuth::Token(token) => token,
        };
        if let Some((token, refresh_at)) = self.token.borrow().clone() {
            if Instant::now() < refresh_at {
                return Ok(token);
            }
        }
        let current = self.token.borrow().as_ref().map_or_else(|| configured.clone(), |(t, _)| t.clone());
        let answer = self.call("POST", &self.url("/tokens/refresh"), &current, None).await?;
        match answer.status {
            200..=299 => {}
            500..=599 => return Err(VendorError::Server { status: answer.status }),
            status => {
                return Err(VendorError::Request {
                    message: format!("Direct Line refused to refresh the token ({status}); configure a new token or the secret"),
                })
            }
        }
        let body = answer.json().unwrap_or(Value::Null);
        let token =
            body.get("token").and_then(Value::as_str).ok_or(VendorError::Request { message: "the refreshed token is missing".into() })?;
        let life = body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600).clamp(60, 86_400) as f64;
        let now = Instant::now();
        let refresh_at = now.checked_add(Duration::from_secs_f64(life * TOKEN_REFRESH_AT)).unwrap_or(now);
        *self.token.borrow_mut() = Some((token.to_owned(), refresh_at));
        Ok(token.to_owned())
    }

    async fn call(&self, method: &str, url: &str, bearer: &str, body: Option<&Value>) -> Result<Answer, VendorError> {
        let body = body.map(|b| (serde_json::to_vec(b).unwrap_or_default(), "application/json"));
        send(
            &self.client,
            Exchange {
                method,
                url,
                headers: vec![("Authorization".into(), format!("Bearer {bearer}"))],
                body,
                timeout: self.settings.request_timeout,
            },
        )
        .await
    }

    async fn start_conversation(&self) -> Result<DirectLineSession, VendorError> {
        let bearer = self.bearer().await?;
        let answer = self.call("POST", &self.url("/conversations"), &bearer, None).await?;
        match answer.status {
            200..=299 => {
                let id =
                    answer.json().and_then(|b| b.get("conversationId").and_then(Value::as_str).map(str::to_owned)).ok_or_else(|| {
                        VendorError::InvalidResponse {
                            code: codes::NOT_JSON.into(),
                            message: "the new conversation has no conversationId".into(),
                        }
                    })?;
                Ok(DirectLineSession { conversation_id: id, watermark: None })
            }
            status => Err(directline_error(status, &answer, "starting a conversation")),
        }
    }

    async fn send(&self, request: VendorRequest) -> Result<BotResponse, VendorError> {
        let conversation_id = request.conversation.conversation_id.to_string();
        let known = self.sessions.get(&conversation_id, request.conversation.vendor_session.as_ref());
        let mut session = known.as_ref().and_then(DirectLineSession::from_value);
        let mut restarted = false;
        let (mut session, posted, stream) = loop {
            let current = match session.take() {
                Some(current) => current,
                None => {
                    let started = self.start_conversation().await?;
                    self.sessions.put(&conversation_id, started.to_value());
                    started
                }
            };
            let body = activity(&request, &current.conversation_id, self.settings.pva);
            let body = self.hooks.before(&conversation_id, "microsoft", body).await?;
            // The stream is open before the activity goes: no reply can pass it by.
            let stream = if self.settings.stream {
                match self.open_stream(&current).await {
                    Ok(stream) => Some(stream),
                    Err(StreamOpen::Unknown) if !restarted => {
                        tracing::info!("Direct Line no longer knows the conversation (expired); starting a new one");
                        self.sessions.remove(&conversation_id);
                        restarted = true;
                        continue;
                    }
                    Err(StreamOpen::Unknown) => {
                        return Err(VendorError::Request { message: "Direct Line does not know the conversation it just started".into() })
                    }
                    Err(StreamOpen::Failed(error)) => return Err(error),
                }
            } else {
                None
            };
            let bearer = self.bearer().await?;
            let url = self.url(&format!("/conversations/{}/activities", current.conversation_id));
            let answer = self.call("POST", &url, &bearer, Some(&body)).await?;
            match answer.status {
                200..=299 => {
                    let id = answer.json().and_then(|b| b.get("id").and_then(Value::as_str).map(str::to_owned)).ok_or_else(|| {
                        VendorError::InvalidResponse { code: codes::NOT_JSON.into(), message: "the posted activity has no id".into() }
                    })?;
                    break (current, id, stream);
                }
                404 | 403 if !restarted => {
                    tracing::info!("Direct Line no longer knows the conversation (expired); starting a new one");
                    self.sessions.remove(&conversation_id);
                    restarted = true;
                }
                status => return Err(directline_error(status, &answer, "posting the consumer's activity")),
            }
        };
        let replies = match stream {
            Some(stream) => self.stream_replies(stream, &mut session, &posted).await,
            None => self.replies(&mut session, &posted).await,
        };
        // The watermark moved even when no reply came: kept for the next input.
        self.sessions.put(&conversation_id, session.to_value());
        let replies = replies?;
        let answer = self.hooks.after(&conversation_id, "microsoft", Some(json!({"activities": replies}))).await?;
        let activities = answer.as_ref().and_then(|a| a.get("activities")).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut response = parse_activities(&activities)?;
        response.vendor_session = Some(session.to_value());
        Ok(response)
    }

    /// Opens the conversation's websocket stream from its watermark: `GET /conversations/{id}`
    /// names a fresh `streamUrl`.
    async fn open_stream(&self, session: &DirectLineSession) -> Result<ActivityStream, StreamOpen> {
        let bearer = self.bearer().await.map_err(StreamOpen::Failed)?;
        let mut url = self.url(&format!("/conversations/{}", session.conversation_id));
        if let Some(watermark) = &session.watermark {
            url.push_str(&format!("?watermark={watermark}"));
        }
        let answer = self.call("GET", &url, &bearer, None).await.map_err(StreamOpen::Failed)?;
        match answer.status {
            200..=299 => {}
            403 | 404 => return Err(StreamOpen::Unknown),
            status => return Err(StreamOpen::Failed(directline_error(status, &answer, "reconnecting to the conversation"))),
        }
        let stream_url = answer.json().and_then(|b| b.get("streamUrl").and_then(Value::as_str).map(str::to_owned)).ok_or_else(|| {
            StreamOpen::Failed(VendorError::InvalidResponse {
                code: codes::NOT_JSON.into(),
                message: "the reconnection named no streamUrl".into(),
            })
        })?;
        let connect = self.client.ws(stream_url).max_frame_size(MAX_STREAM_FRAME).connect();
        match tokio::time::timeout(self.settings.request_timeout, connect).await {
            Ok(Ok((_, framed))) => Ok(framed),
            Ok(Err(error)) => {
                Err(StreamOpen::Failed(VendorError::Request { message: format!("the activity stream could not be opened: {error}") }))
            }
            Err(_) => Err(StreamOpen::Failed(VendorError::Timeout)),
        }
    }

    /// Reads the replies to `posted` from the stream until some came (and, with
    /// `multiple_activities`, no new ones for that long), or the deadline; then closes it.
    async fn stream_replies(
        &self,
        mut stream: ActivityStream,
        session: &mut DirectLineSession,
        posted: &str,
    ) -> Result<Vec<Value>, VendorError> {
        use futures_util::{SinkExt, StreamExt};
        let deadline = Instant::now() + self.settings.request_timeout;
        let mut replies: Vec<Value> = Vec::new();
        let mut last_new: Option<Instant> = None;
        let outcome = loop {
            let now = Instant::now();
            let until = match (last_new, self.settings.multiple_activities) {
                (Some(_), None) => break Ok(()),
                (Some(last), Some(wait)) if now >= last + wait => break Ok(()),
                (Some(last), Some(wait)) => (last + wait).min(deadline),
                (None, _) => deadline,
            };
            if now >= deadline {
                break Ok(());
            }
            let frame = match tokio::time::timeout(until - now, stream.next()).await {
                Err(_) => continue, // the quiet period or the deadline: looked at above
                Ok(None) => break Err(VendorError::Request { message: "Direct Line closed the activity stream".into() }),
                Ok(Some(Err(error))) => break Err(VendorError::Request { message: format!("the activity stream failed: {error}") }),
                Ok(Some(Ok(frame))) => frame,
            };
            let text = match frame {
                awc::ws::Frame::Text(bytes) => bytes,
                awc::ws::Frame::Ping(bytes) => {
                    let _ = stream.send(awc::ws::Message::Pong(bytes)).await;
                    continue;
                }
                awc::ws::Frame::Close(_) => break Err(VendorError::Request { message: "Direct Line closed the activity stream".into() }),
                _ => continue,
            };
            // An empty frame is Direct Line's keep-alive.
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(set) = serde_json::from_slice::<Value>(&text) else {
                break Err(VendorError::InvalidResponse {
                    code: codes::NOT_JSON.into(),
                    message: "an activity set on the stream is not JSON".into(),
                });
            };
            if let Some(watermark) = set.get("watermark").and_then(Value::as_str) {
                session.watermark = Some(watermark.to_owned());
            }
            let found: Vec<Value> = set
                .get("activities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|a| a.get("replyToId").and_then(Value::as_str) == Some(posted))
                .filter(|a| a.pointer("/from/role").and_then(Value::as_str) != Some("user"))
                .cloned()
                .collect();
            if !found.is_empty() {
                replies.extend(found);
                last_new = Some(Instant::now());
            }
        };
        let _ = stream.close().await;
        outcome?;
        if replies.is_empty() {
            Err(VendorError::NoAnswer)
        } else {
            Ok(replies)
        }
    }

    /// Polls for the replies to `posted` until some came (and, with `multiple_activities`, no
    /// new ones for that long), or the deadline.
    async fn replies(&self, session: &mut DirectLineSession, posted: &str) -> Result<Vec<Value>, VendorError> {
        let deadline = Instant::now() + self.settings.request_timeout;
        let mut replies: Vec<Value> = Vec::new();
        let mut last_new: Option<Instant> = None;
        loop {
            let bearer = self.bearer().await?;
            let mut url = self.url(&format!("/conversations/{}/activities", session.conversation_id));
            if let Some(watermark) = &session.watermark {
                url.push_str(&format!("?watermark={watermark}"));
            }
            let answer = self.call("GET", &url, &bearer, None).await?;
            if !(200..300).contains(&answer.status) {
                return Err(directline_error(answer.status, &answer, "reading the bot's activities"));
            }
            let body = answer.json().ok_or_else(|| VendorError::InvalidResponse {
                code: codes::NOT_JSON.into(),
                message: "the activities are not JSON".into(),
            })?;
            if let Some(watermark) = body.get("watermark").and_then(Value::as_str) {
                session.watermark = Some(watermark.to_owned());
            }
            let found: Vec<Value> = body
                .get("activities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|a| a.get("replyToId").and_then(Value::as_str) == Some(posted))
                .filter(|a| a.pointer("/from/role").and_then(Value::as_str) != Some("user"))
                .cloned()
                .collect();
            let now = Instant::now();
            if !found.is_empty() {
                replies.extend(found);
                last_new = Some(now);
            }
            match (last_new, self.settings.multiple_activities) {
                (Some(_), None) => return Ok(replies),
                (Some(last), Some(wait)) if now >= last + wait => return Ok(replies),
                _ => {}
            }
            if now >= deadline {
                return if replies.is_empty() { Err(VendorError::NoAnswer) } else { Ok(replies) };
            }
            tokio::time::sleep(self.settings.poll_interval.min(deadline - now)).await;
        }
    }
}

/// A conversation's websocket stream of activity sets.
type ActivityStream = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

/// The largest activity set read from the stream.
const MAX_STREAM_FRAME: usize = 4 * 1024 * 1024;

/// Why the stream could not be opened.
enum StreamOpen {
    /// Direct Line no longer knows the conversation.
    Unknown,
    Failed(VendorError),
}

/// Direct Line's errors: `{"error": {"code", "message"}}`.
fn directline_error(status: u16, answer: &Answer, doing: &str) -> VendorError {
    let error = answer.json().and_then(|b| b.get("error").cloned()).unwrap_or(Value::Null);
    let said = format!(
        "{} {}",
        error.get("code").and_then(Value::as_str).unwrap_or(""),
        error.get("message").and_then(Value::as_str).unwrap_or("")
    );
    match status {
        429 => VendorError::RateLimited { retry_after_ms: answer.retry_after_ms() },
        500..=599 => VendorError::Server { status },
        401 | 403 => VendorError::Request {
            message: format!("Direct Line refused the credentials {doing} ({status}:{said}); check vendor.auth (the Direct Line secret)"),
        },
        _ => VendorError::Request { message: format!("Direct Line refused {doing} ({status}:{said})") },
    }
}

impl VendorPort for DirectLineVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }

    /// Online when the credentials are usable (a configured token refreshes).
    fn health(&self) -> VendorResult<VendorHealth> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.bearer().await.map(|_| VendorHealth::Online) })
    }

    fn name(&self) -> &'static str {
        "microsoft"
    }
}
