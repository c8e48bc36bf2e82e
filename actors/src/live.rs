//! How many of the core's actors are running on this thread (an Arbiter's thread, or a test's),
//! so a test can fail when a stopped bot leaves an actor running (Quickwit's universe check).
//!
//! Each actor holds a [`LiveToken`] from `started` until `stopped`; an actor whose task panicked
//! is never told `stopped`, and its token goes when the actor is dropped. Per thread, because
//! actors never move between threads and tests run side by side on threads of their own.

use std::cell::Cell;

thread_local! {
    static LIVE: Cell<LiveActors> = const { Cell::new(LiveActors { bots: 0, loads: 0, conversations: 0 }) };
}

/// The core's actors running on this thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveActors {
    pub bots: usize,
    pub loads: usize,
    pub conversations: usize,
}

impl LiveActors {
    /// The count on the current thread.
    pub fn on_this_thread() -> Self {
        LIVE.with(Cell::get)
    }

    pub fn total(&self) -> usize {
        self.bots + self.loads + self.conversations
    }

    fn slot(&mut self, kind: ActorKind) -> &mut usize {
        match kind {
            ActorKind::Bot => &mut self.bots,
            ActorKind::Load => &mut self.loads,
            ActorKind::Conversation => &mut self.conversations,
        }
    }
}

impl std::fmt::Display for LiveActors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} BotActor, {} LoadActor, {} ConversationActor", self.bots, self.loads, self.conversations)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActorKind {
    Bot,
    Load,
    Conversation,
}

/// Counts one actor as running for as long as it is held.
#[derive(Debug)]
pub(crate) struct LiveToken {
    kind: ActorKind,
}

impl LiveToken {
    pub(crate) fn new(kind: ActorKind) -> Self {
        change(kind, |count| *count += 1);
        Self { kind }
    }
}

impl Drop for LiveToken {
    fn drop(&mut self) {
        change(self.kind, |count| *count = count.saturating_sub(1));
    }
}

fn change(kind: ActorKind, f: impl FnOnce(&mut usize)) {
    LIVE.with(|live| {
        let mut counts = live.get();
        f(counts.slot(kind));
        live.set(counts);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_counts_its_actor_until_dropped() {
        let before = LiveActors::on_this_thread();
        let bot = LiveToken::new(ActorKind::Bot);
        let conversation = LiveToken::new(ActorKind::Conversation);
        assert_eq!(LiveActors::on_this_thread(), LiveActors { bots: before.bots + 1, conversations: before.conversations + 1, ..before });
        drop(bot);
        drop(conversation);
        assert_eq!(LiveActors::on_this_thread(), before);
        let other_thread = std::thread::spawn(|| {
            let _load = LiveToken::new(ActorKind::Load);
            LiveActors::on_this_thread()
        });
        assert_eq!(other_thread.join().unwrap(), LiveActors { loads: 1, ..LiveActors::default() });
        assert_eq!(LiveActors::on_this_thread(), before, "another thread's actors are not counted here");
    }
}
