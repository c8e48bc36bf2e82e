//! Observers follow the platform without the platform knowing them: the state tells its observer
//! (the benchmark's load tracker, say) where a conversation moved and what an assigned agent said,
//! and the observer keeps its own figures. The platform never calls into an observer's module,
//! and an observer reads the platform only through what it is told.

use std::any::Any;

/// Where a conversation is now, as the platform sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whereabouts<'a> {
    pub skill_id: &'a str,
    pub open: bool,
    /// An agent holds it.
    pub assigned: bool,
    /// An agent is being rung for it.
    pub ringing: bool,
}

/// Follows the platform's conversations. Called with the state locked: keep it short.
pub trait Observer: Any + Send {
    /// A conversation was opened, rung, assigned, transferred or closed.
    fn conversation_moved(&mut self, conversation: &str, at: Whereabouts<'_>);
    /// The assigned agent of `conversation` published a text.
    fn agent_text(&mut self, conversation: &str, text: &str);
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}
