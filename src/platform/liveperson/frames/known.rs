//! Ids the session already holds, so that the ids read from a frame share them instead of each
//! allocating a copy: the consumer of each open conversation (events may name the consumer only
//! by PID, and each conversation notification names it again), and the ids that recur across
//! conversations (skills, agents). A node holds tens of thousands of open conversations.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use botvisor_actors::model::ConversationId;
use botvisor_actors::ports::PlatformEvent;

/// At most this many recurring ids are shared; past it each read allocates its own (an account
/// has a few skills and agents, not thousands).
pub const MAX_RECURRING: usize = 4096;

#[derive(Default)]
pub struct KnownIds {
    /// Conversation → consumer PID, from conversation notifications; reconciled with every
    /// subscription snapshot.
    consumers: RefCell<HashMap<ConversationId, Arc<str>>>,
    recurring: RefCell<HashSet<Arc<str>>>,
}

impl KnownIds {
    /// The consumer's PID of an open conversation the session was told about.
    pub fn consumer_of(&self, conversation: &str) -> Option<Arc<str>> {
        self.consumers.borrow().get(conversation).cloned()
    }

    /// `pid` as the known consumer of `conversation` holds it, or a new copy.
    pub fn consumer(&self, conversation: &str, pid: &str) -> Arc<str> {
        self.consumer_of(conversation).filter(|known| **known == *pid).unwrap_or_else(|| Arc::from(pid))
    }

    /// Remembers the consumer of an open conversation.
    pub fn remember_consumer(&self, conversation: ConversationId, consumer: Arc<str>) {
        self.consumers.borrow_mut().insert(conversation, consumer);
    }

    /// A shared copy of an id that recurs across conversations (a skill, an agent).
    pub fn recurring(&self, id: &str) -> Arc<str> {
        let mut recurring = self.recurring.borrow_mut();
        if let Some(known) = recurring.get(id) {
            return known.clone();
        }
        let id: Arc<str> = Arc::from(id);
        if recurring.len() < MAX_RECURRING {
            recurring.insert(id.clone());
        }
        id
    }

    /// Follows the conversations an event opens, changes and closes. A conversation closed while
    /// the socket was down leaves with the next snapshot.
    pub fn track(&self, event: &PlatformEvent) {
        match event {
            PlatformEvent::ConversationUpdated(info) if !info.consumer_id.is_empty() => {
                self.remember_consumer(info.conversation_id.clone(), info.consumer_id.clone());
            }
            PlatformEvent::ConversationRemoved { conversation_id } => {
                self.consumers.borrow_mut().remove(conversation_id.as_str());
            }
            PlatformEvent::OpenConversations { conversation_ids } => {
                let open: HashSet<&str> = conversation_ids.iter().map(|c| c.as_str()).collect();
                self.consumers.borrow_mut().retain(|conversation, _| open.contains(conversation.as_str()));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botvisor_actors::model::{ConversationInfo, JsonText};

    fn opened(conversation: &str, consumer: &str) -> PlatformEvent {
        PlatformEvent::ConversationUpdated(ConversationInfo {
            conversation_id: conversation.into(),
            main_dialog_id: conversation.into(),
            skill_id: "1".into(),
            consumer_id: consumer.into(),
            participants: Vec::new(),
            context: JsonText::default(),
        })
    }

    #[test]
    fn consumers_follow_the_conversations() {
        let known = KnownIds::default();
        known.track(&opened("c1", "p1"));
        known.track(&opened("c2", "p2"));
        assert_eq!(known.consumer_of("c1").as_deref(), Some("p1"));
        let again = known.consumer("c1", "p1");
        assert!(Arc::ptr_eq(&again, &known.consumer_of("c1").unwrap()), "the known copy is shared");
        assert_eq!(&*known.consumer("c1", "other"), "other", "a different consumer is not replaced by the known one");
        known.track(&PlatformEvent::ConversationRemoved { conversation_id: "c1".into() });
        assert_eq!(known.consumer_of("c1"), None);
        known.track(&PlatformEvent::OpenConversations { conversation_ids: vec!["c3".into()] });
        assert_eq!(known.consumer_of("c2"), None, "a snapshot without it closes it");
    }

    #[test]
    fn recurring_ids_are_shared_up_to_the_bound() {
        let known = KnownIds::default();
        let a = known.recurring("skill-1");
        assert!(Arc::ptr_eq(&a, &known.recurring("skill-1")));
        for i in 0..MAX_RECURRING + 10 {
            known.recurring(&format!("id-{i}"));
        }
        assert_eq!(known.recurring.borrow().len(), MAX_RECURRING, "bounded");
        let past = known.recurring("past-the-bound");
        assert_eq!(&*past, "past-the-bound");
    }
}
