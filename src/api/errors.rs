//! The admin API's errors: one enum, each with its HTTP status and its stable code in the
//! `botvisor.api.*` namespace, answered as `{"code", "message"}` (plus `problems` for an
//! invalid configuration).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

use crate::config::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("send Authorization: Bearer <admin token> (node.admin_token)")]
    Unauthorized,
    #[error("no such route; see /v1/bots")]
    NotFound,
    #[error("this route does not take this method; see the admin API in the README")]
    MethodNotAllowed,
    #[error("no bot with id {0:?}; GET /v1/bots lists them")]
    UnknownBot(String),
    #[error("a bot with id {0:?} exists; PUT /v1/bots/{0} changes it")]
    BotExists(String),
    #[error("bot {0:?} is running or starting; stop it first (POST /v1/bots/{0}/stop)")]
    BotRunning(String),
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidConfig { problems: Vec<Problem> },
    #[error("the body's id {body:?} is not the path's {path:?}; a bot's id cannot change")]
    IdMismatch { body: String, path: String },
    #[error("{0}")]
    BadBody(String),
    #[error("a request body is at most {0} bytes")]
    BodyTooLarge(usize),
    #[error("{0}")]
    BadQuery(String),
    #[error("the bot's actor does not answer")]
    BotUnavailable,
    #[error("{0}")]
    BotNotBuilt(String),
    #[error("the change was not made: {0}")]
    StoreFailed(String),
    #[error("the configuration is loaded but the bots are still starting")]
    NotReady,
    #[error("the metrics could not be encoded; see the log")]
    MetricsFailed,
    #[error("bot {bot:?} runs on node {node}; ask that node, or drain it")]
    OwnedElsewhere { bot: String, node: String },
    #[error("no member with id {0:?}; GET /v1/cluster lists them")]
    UnknownNode(String),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("bot {bot:?} has no open conversation {conversation:?} here; GET /v1/bots/{bot}/conversations lists them")]
    UnknownConversation { bot: String, conversation: String },
    #[error("bot {0:?} is not running; start it first (POST /v1/bots/{0}/start)")]
    BotNotRunning(String),
    #[error("{0}")]
    ConversationBusy(String),
    #[error("{0}")]
    ConversationEnded(String),
    #[error("{0}")]
    SessionDown(String),
    #[error("the conversation did not carry the command out within {0} s; it may still do it")]
    CommandTimeout(u64),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "botvisor.api.unauthorized",
            Self::NotFound => "botvisor.api.not-found",
            Self::MethodNotAllowed => "botvisor.api.method-not-allowed",
            Self::UnknownBot(_) => "botvisor.api.unknown-bot",
            Self::BotExists(_) => "botvisor.api.bot-exists",
            Self::BotRunning(_) => "botvisor.api.bot-running",
            Self::InvalidConfig { .. } => "botvisor.api.invalid-config",
            Self::IdMismatch { .. } => "botvisor.api.id-mismatch",
            Self::BadBody(_) => "botvisor.api.bad-body",
            Self::BodyTooLarge(_) => "botvisor.api.body-too-large",
            Self::BadQuery(_) => "botvisor.api.bad-query",
            Self::BotUnavailable => "botvisor.api.bot-unavailable",
            Self::BotNotBuilt(_) => "botvisor.api.bot-not-built",
            Self::StoreFailed(_) => "botvisor.api.store-failed",
            Self::NotReady => "botvisor.api.not-ready",
            Self::MetricsFailed => "botvisor.api.metrics-failed",
            Self::OwnedElsewhere { .. } => "botvisor.api.owned-elsewhere",
            Self::UnknownNode(_) => "botvisor.api.unknown-node",
            Self::Unsupported(_) => "botvisor.api.unsupported",
            Self::UnknownConversation { .. } => "botvisor.api.unknown-conversation",
            Self::BotNotRunning(_) => "botvisor.api.bot-not-running",
            Self::ConversationBusy(_) => "botvisor.api.conversation-busy",
            Self::ConversationEnded(_) => "botvisor.api.conversation-ended",
            Self::SessionDown(_) => "botvisor.api.session-down",
            Self::CommandTimeout(_) => "botvisor.api.command-timeout",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::UnknownBot(_) | Self::UnknownNode(_) | Self::UnknownConversation { .. } => StatusCode::NOT_FOUND,
            Self::BotNotRunning(_) | Self::ConversationEnded(_) => StatusCode::CONFLICT,
            Self::ConversationBusy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::SessionDown(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::CommandTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BotExists(_) | Self::BotRunning(_) | Self::OwnedElsewhere { .. } | Self::Unsupported(_) => StatusCode::CONFLICT,
            Self::InvalidConfig { .. } | Self::IdMismatch { .. } | Self::BadBody(_) | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BotUnavailable | Self::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Self::BotNotBuilt(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StoreFailed(_) | Self::MetricsFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn response(&self) -> HttpResponse {
        let mut body = json!({"code": self.code(), "message": self.to_string()});
        if let Self::InvalidConfig { problems } = self {
            body["problems"] = problems.iter().map(|p| json!({"path": p.path, "message": p.message})).collect();
        }
        HttpResponse::build(self.status()).json(body)
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

/// Any error with a code of the core's (a refused start) answered as the API answers.
pub fn report_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"code": code, "message": message}))
}
