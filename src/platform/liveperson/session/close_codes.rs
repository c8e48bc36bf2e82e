//! The websocket close codes the session acts on, by name, and what each means for it.

/// Another session of this agent took over (the simulator's code; the real platform's kick is
/// recognised by revocations right after each login).
pub const KICKED: u16 = 4409;
/// The token was revoked or expired.
pub const TOKEN_REVOKED: u16 = 4401;
/// The token is not valid for this connection.
pub const TOKEN_INVALID: u16 = 4407;
/// The server hit an internal error and asks for a new session (RFC 6455 1011).
pub const SERVER_ERROR: u16 = 1011;

/// What a close (or its absence) tells the session to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// Report the kick, do not fight it.
    Kicked,
    /// Log in again before reconnecting.
    NeedsLogin,
    /// Reconnect, with the same token first.
    Reconnect,
}

pub fn classify(code: Option<u16>) -> CloseKind {
    match code {
        Some(KICKED) => CloseKind::Kicked,
        Some(TOKEN_REVOKED | TOKEN_INVALID | SERVER_ERROR) => CloseKind::NeedsLogin,
        _ => CloseKind::Reconnect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_classified_by_code() {
        assert_eq!(classify(Some(4409)), CloseKind::Kicked);
        for code in [4401, 4407, 1011] {
            assert_eq!(classify(Some(code)), CloseKind::NeedsLogin, "{code}");
        }
        assert_eq!(classify(Some(1000)), CloseKind::Reconnect);
        assert_eq!(classify(None), CloseKind::Reconnect);
    }
}
