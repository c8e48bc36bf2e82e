//! Errors with stable codes.
//!
//! Every error that reaches a conversation, a bot's status or a user carries one of these codes;
//! the codes are part of botvisor's interface (dashboards and alerts match on them), so a code is
//! never renamed, only added.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// A stable, documented error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The vendor did not answer within the call timeout, after every attempt.
    VendorTimeout,
    /// The vendor answered 5xx after every attempt.
    VendorServerError,
    /// The vendor refused the request (4xx other than 429) or could not be reached.
    VendorRequestFailed,
    /// The vendor accepted the input but never produced an answer, after every resend.
    VendorNoAnswer,
    /// The vendor's answer could not be parsed or broke the contract.
    VendorInvalidResponse,
    /// The vendor's answer had neither messages nor an action.
    ResponseMissingActionAndMessages,
    /// The vendor asked for a transfer to a skill the platform does not know.
    TransferSkillNotExisting,
    /// A transfer, close or TTR change asked for by the vendor failed on the platform.
    ActionFailed,
    /// A function invocation (INVOCATION / INVOKE_FUNCTION) failed, or the bot has no functions.
    FunctionInvocationFailed,
    /// The bot is in Vendor Interruption: new conversations are escalated without a vendor call.
    VendorInterruption,
    /// The consumer's text is longer than the configured limit.
    InputTextTooLong,
    /// More consumer messages are waiting than a conversation buffers (logged; the rest are
    /// read back from history, nothing is lost).
    InputBacklogFull,
    /// The bot holds its hard maximum of open conversations (LivePerson's code).
    ConversationLimitReached,
    /// The bot is at its recommended load and escalates new conversations to its overflow skill.
    OverflowEscalated,
    /// The escalation skill is the bot's own skill: the bot stays instead of looping.
    EscalationLoopPrevented,
    /// Every escalation attempt failed; the conversation stays with the bot.
    EscalationFailed,
    /// A conversation failed too often in a short time and was escalated.
    ConversationRestartLimit,
    /// A platform command failed.
    PlatformCommandFailed,
    /// The platform session was lost.
    SessionLost,
    /// Another session logged in as the same agent.
    SessionKicked,
    /// The vendor's health check reports it not online.
    VendorNotOnline,
    /// The bot was stopped while it was starting.
    StartCancelled,
    /// The platform refused the bot's login (bad credentials, disabled user).
    LoginRefused,
    /// Every reconnect attempt failed.
    ReconnectExhausted,
    /// The bot's actor stopped unexpectedly (a panic); starting the bot rebuilds it.
    BotActorStopped,
    /// A transfer named a skill the bot cannot resolve because it may not read the account's
    /// skills (configure `platform.skills`).
    SkillLookupForbidden,
    /// A pre or post hook failed (timeout, refusal, an answer of the wrong shape).
    HookFailed,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::VendorTimeout,
        ErrorCode::VendorServerError,
        ErrorCode::VendorRequestFailed,
        ErrorCode::VendorNoAnswer,
        ErrorCode::VendorInvalidResponse,
        ErrorCode::ResponseMissingActionAndMessages,
        ErrorCode::TransferSkillNotExisting,
        ErrorCode::ActionFailed,
        ErrorCode::FunctionInvocationFailed,
        ErrorCode::VendorInterruption,
        ErrorCode::InputTextTooLong,
        ErrorCode::InputBacklogFull,
        ErrorCode::ConversationLimitReached,
        ErrorCode::OverflowEscalated,
        ErrorCode::EscalationLoopPrevented,
        ErrorCode::EscalationFailed,
        ErrorCode::ConversationRestartLimit,
        ErrorCode::PlatformCommandFailed,
        ErrorCode::SessionLost,
        ErrorCode::SessionKicked,
        ErrorCode::VendorNotOnline,
        ErrorCode::StartCancelled,
        ErrorCode::LoginRefused,
        ErrorCode::ReconnectExhausted,
        ErrorCode::BotActorStopped,
        ErrorCode::SkillLookupForbidden,
        ErrorCode::HookFailed,
    ];

    /// The code whose `as_str` is `text` (a code read back from the store).
    pub fn parse(text: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|code| code.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::VendorTimeout => "botvisor.vendor.timeout",
            ErrorCode::VendorServerError => "botvisor.vendor.server-error",
            ErrorCode::VendorRequestFailed => "botvisor.vendor.request-failed",
            ErrorCode::VendorNoAnswer => "botvisor.vendor.no-answer",
            ErrorCode::VendorInvalidResponse => "botvisor.vendor.invalid-response",
            ErrorCode::ResponseMissingActionAndMessages => "botvisor.response.missing-action-and-messages",
            ErrorCode::TransferSkillNotExisting => "botvisor.action.transfer-skill-not-existing",
            ErrorCode::ActionFailed => "botvisor.action.failed",
            ErrorCode::FunctionInvocationFailed => "botvisor.action.invoke-function-failed",
            ErrorCode::VendorInterruption => "botvisor.bot.vendor-interruption",
            ErrorCode::InputTextTooLong => "botvisor.input.text-too-long",
            ErrorCode::InputBacklogFull => "botvisor.input.backlog-full",
            ErrorCode::ConversationLimitReached => {
                "com.liveperson.bot-connectors-worker.error.pipes.conversation-limit-checker.max-conv-limit-reached"
            }
            ErrorCode::OverflowEscalated => "botvisor.load.overflow-escalated",
            ErrorCode::EscalationLoopPrevented => "botvisor.escalation.loop-prevented",
            ErrorCode::EscalationFailed => "botvisor.escalation.failed",
            ErrorCode::ConversationRestartLimit => "botvisor.conversation.restart-limit",
            ErrorCode::PlatformCommandFailed => "botvisor.platform.command-failed",
            ErrorCode::SessionLost => "botvisor.session.lost",
            ErrorCode::SessionKicked => "botvisor.session.kicked",
            ErrorCode::VendorNotOnline => "botvisor.vendor.not-online",
            ErrorCode::StartCancelled => "botvisor.bot.start-cancelled",
            ErrorCode::LoginRefused => "botvisor.session.login-refused",
            ErrorCode::ReconnectExhausted => "botvisor.session.reconnect-exhausted",
            ErrorCode::BotActorStopped => "botvisor.bot.actor-stopped",
            ErrorCode::SkillLookupForbidden => "botvisor.action.skill-lookup-forbidden",
            ErrorCode::HookFailed => "botvisor.hook.failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as reported on a bot's status and in its error log: code, message, unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    pub code: ErrorCode,
    /// What happened and what to do; never contains a secret.
    pub message: String,
    /// Unique per occurrence, so an operator can find this one in logs.
    pub error_id: String,
    /// When it happened (wall clock, for people).
    pub at: SystemTime,
}

impl ErrorReport {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), error_id: next_error_id(), at: SystemTime::now() }
    }

    /// `at` in milliseconds since the Unix epoch.
    pub fn at_unix_ms(&self) -> u128 {
        self.at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
    }
}

impl fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (error id {})", self.code, self.message, self.error_id)
    }
}

/// A process-unique error id: a per-process prefix from the start time and a counter.
fn next_error_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        (nanos as u32) ^ std::process::id().rotate_left(16)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:08x}-{n:08x}")
}

/// A platform command that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlatformError {
    /// The session is not connected; the command may succeed after a reconnect.
    #[error("the platform session is not connected")]
    NotConnected,
    /// A transfer named a skill the platform does not know.
    #[error("unknown skill {skill:?}")]
    UnknownSkill { skill: String },
    /// A transfer named a skill by a name the bot cannot resolve: the bot user may not read the
    /// account's skills and the name is not configured.
    #[error("skill {skill:?} cannot be resolved: the bot user may not read the account's skills; map it in platform.skills or name the skill by id")]
    SkillsNotReadable { skill: String },
    /// The platform answered the command with an error.
    #[error("the platform refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// The platform did not answer in time.
    #[error("the platform did not answer in time")]
    Timeout,
}

impl PlatformError {
    /// Whether the command may succeed once the session is back (so nothing is escalated).
    pub fn is_disconnect(&self) -> bool {
        matches!(self, PlatformError::NotConnected)
    }
}

/// A vendor call that did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VendorError {
    #[error("the vendor did not answer in time")]
    Timeout,
    #[error("the vendor answered {status}")]
    Server { status: u16 },
    /// 4xx other than 429, a refused authentication, a request that cannot be made.
    #[error("the vendor refused the request: {message}")]
    Request { message: String },
    /// No answer could be had: the connection was refused, reset or closed (retried like a timeout).
    #[error("the vendor could not be reached: {message}")]
    Connection { message: String },
    /// 429: retry after the given wait.
    #[error("the vendor is rate limiting; retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// The vendor took the input but produced no answer (asynchronous vendors).
    #[error("the vendor produced no answer")]
    NoAnswer,
    /// The answer breaks the contract; `code` says how (vendor-specific detail).
    #[error("unusable vendor answer ({code}): {message}")]
    InvalidResponse { code: String, message: String },
    /// A pre or post hook around the call failed (not retried: the hook is the bot's own code).
    #[error("the {which} hook failed: {message}")]
    Hook { which: &'static str, message: String },
}

impl VendorError {
    /// Whether the call is worth another attempt under the retry policy.
    pub fn is_retryable(&self) -> bool {
        matches!(self, VendorError::Timeout | VendorError::Server { .. } | VendorError::RateLimited { .. } | VendorError::Connection { .. })
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            VendorError::Timeout => ErrorCode::VendorTimeout,
            VendorError::Server { .. } | VendorError::RateLimited { .. } => ErrorCode::VendorServerError,
            VendorError::Request { .. } | VendorError::Connection { .. } => ErrorCode::VendorRequestFailed,
            VendorError::NoAnswer => ErrorCode::VendorNoAnswer,
            VendorError::InvalidResponse { .. } => ErrorCode::VendorInvalidResponse,
            VendorError::Hook { .. } => ErrorCode::HookFailed,
        }
    }

    pub fn report(&self) -> ErrorReport {
        ErrorReport::new(self.code(), self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_ids_are_unique() {
        let a = ErrorReport::new(ErrorCode::VendorTimeout, "x");
        let b = ErrorReport::new(ErrorCode::VendorTimeout, "x");
        assert_ne!(a.error_id, b.error_id);
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(ErrorCode::VendorTimeout.as_str(), "botvisor.vendor.timeout");
        assert_eq!(ErrorCode::ResponseMissingActionAndMessages.as_str(), "botvisor.response.missing-action-and-messages");
        assert!(ErrorCode::ConversationLimitReached.as_str().ends_with("max-conv-limit-reached"));
    }

    #[test]
    fn every_code_reads_back_from_its_text_and_no_two_share_one() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        let mut texts: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len());
        assert_eq!(ErrorCode::parse("botvisor.no-such-code"), None);
    }
}
