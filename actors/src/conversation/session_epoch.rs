//! How many times the bot's platform session has been lost. A conversation notes the count when
//! it reads its history; while the count it noted is older than the bot's, it answers nothing
//! live and reads history first. Events that arrive on a new connection before the bot has
//! resumed (the platform pushes them as soon as the socket is up) would otherwise be answered
//! first and move the conversation past the messages sent while it was disconnected, which the
//! history read after the reconnect would then never ask for.

use std::cell::Cell;
use std::rc::Rc;

/// Shared by a BotActor and its conversations (one thread).
#[derive(Clone, Default, Debug)]
pub struct SessionEpoch(Rc<Cell<u64>>);

impl SessionEpoch {
    /// The session was lost.
    pub fn advance(&self) {
        self.0.set(self.0.get().wrapping_add(1));
    }

    pub fn current(&self) -> u64 {
        self.0.get()
    }
}
