//! The platform's behaviour on top of `SimState` (spec §4–§5), one job per file: requests,
//! the order frames go out in, dialog events, conversations, routing.

mod conversations;
mod dialog;
mod outbox;
mod requests;
mod routing;

/// Default TTR of a new conversation (seconds).
const NORMAL_TTR_SECONDS: u64 = 3600;
/// ExConversation subscriptions per connection, at most.
const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 16;
/// Closed conversations kept for the control API, at most (the oldest go first).
const MAX_CLOSED_CONVERSATIONS: usize = 20_000;
