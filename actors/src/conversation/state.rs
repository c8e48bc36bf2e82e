//! Message combining: which consumer messages go to the vendor together, and when.
//!
//! Pure: every decision takes `now`. The actor arms one timer at [`Combiner::deadline`].

use std::sync::Arc;

use tokio::time::Instant;

use crate::model::{DialogMessage, Sequence};
use crate::settings::CombineSettings;

/// The consumer messages waiting for the next vendor call, and when that call is due.
#[derive(Debug)]
pub struct Combiner {
    settings: Arc<CombineSettings>,
    /// Waiting messages, ascending by sequence.
    buffer: Vec<DialogMessage>,
    deadline: Option<Instant>,
    consumer_typing: bool,
}

impl Combiner {
    pub fn new(settings: Arc<CombineSettings>) -> Self {
        Self { settings, buffer: Vec::new(), deadline: None, consumer_typing: false }
    }

    /// Adds a consumer message (kept in sequence order) and moves the deadline:
    /// - combining on: `time_frame` after this message (sliding), at once at `max_messages`;
    /// - combining off: `message_delay` after the first waiting message (fixed), at once at
    ///   `max_messages`.
    pub fn push(&mut self, message: DialogMessage, now: Instant) {
        let at = self.buffer.partition_point(|m| m.sequence < message.sequence);
        self.buffer.insert(at, message);
        // A message was sent, so the consumer is not typing it any more.
        self.consumer_typing = false;
        self.deadline = Some(if self.buffer.len() >= self.settings.max_messages {
            now
        } else if self.settings.enabled {
            now + self.settings.time_frame
        } else {
            match self.deadline {
                Some(deadline) if self.buffer.len() > 1 => deadline,
                _ => now + self.settings.message_delay,
            }
        });
    }

    /// The consumer started or stopped typing. While combining, typing replaces the time frame
    /// with the typing time frame; when typing stops, the normal time frame applies again.
    pub fn set_consumer_typing(&mut self, typing: bool, now: Instant) {
        self.consumer_typing = typing;
        if !self.settings.enabled || self.buffer.is_empty() || self.is_due(now) {
            return;
        }
        let frame = if typing { self.settings.typing_time_frame } else { self.settings.time_frame };
        self.deadline = Some(now + frame);
    }

    pub fn consumer_typing(&self) -> bool {
        self.consumer_typing
    }

    /// When the waiting messages are due, if any wait.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// Makes the waiting messages due at once (backlog from history, after a vendor call).
    pub fn make_due(&mut self, now: Instant) {
        if !self.buffer.is_empty() {
            self.deadline = Some(now);
        }
    }

    /// Takes the waiting messages for a vendor call.
    pub fn take(&mut self) -> Vec<DialogMessage> {
        self.deadline = None;
        std::mem::take(&mut self.buffer)
    }

    /// Puts messages back (a call that could not be made) or adds backlog read from history,
    /// keeping order and skipping ones already waiting. What was added is due at once.
    pub fn restore(&mut self, messages: Vec<DialogMessage>, now: Instant) {
        let mut added = false;
        for message in messages {
            if !self.contains(message.sequence) {
                let at = self.buffer.partition_point(|m| m.sequence < message.sequence);
                self.buffer.insert(at, message);
                added = true;
            }
        }
        if added {
            self.make_due(now);
        }
    }

    /// Drops waiting messages below `sequence` (history shows them answered).
    pub fn discard_below(&mut self, sequence: Sequence) {
        self.buffer.retain(|m| m.sequence >= sequence);
        if self.buffer.is_empty() {
            self.deadline = None;
        }
    }

    pub fn contains(&self, sequence: Sequence) -> bool {
        self.buffer.binary_search_by_key(&sequence, |m| m.sequence).is_ok()
    }

    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{MessageContent, Originator};

    /// A consumer text message with `sequence` (shared with the step order's tests).
    pub(crate) fn msg(sequence: Sequence) -> DialogMessage {
        DialogMessage {
            dialog_id: "d".into(),
            sequence,
            originator: Originator::Consumer,
            content: MessageContent::Text(format!("m{sequence}")),
            server_timestamp: 0,
            answer: None,
            raw: crate::model::JsonText::default(),
        }
    }

    fn combining() -> CombineSettings {
        CombineSettings { enabled: true, ..CombineSettings::default() }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn combining_window_slides_with_each_message() {
        let t0 = Instant::now();
        let mut c = Combiner::new(combining().into());
        c.push(msg(1), t0);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(2)));
        c.push(msg(2), t0 + Duration::from_secs(1));
        assert!(!c.is_due(t0 + Duration::from_secs(3) - MS));
        assert!(c.is_due(t0 + Duration::from_secs(3) + MS));
    }

    #[test]
    fn max_messages_makes_the_batch_due_at_once() {
        let t0 = Instant::now();
        let mut c = Combiner::new(combining().into());
        for s in 1..=4 {
            c.push(msg(s), t0);
        }
        assert!(!c.is_due(t0));
        c.push(msg(5), t0);
        assert!(c.is_due(t0));
    }

    #[test]
    fn typing_extends_to_the_typing_time_frame_and_stopping_restores_the_frame() {
        let t0 = Instant::now();
        let mut c = Combiner::new(combining().into());
        c.push(msg(1), t0);
        c.set_consumer_typing(true, t0 + Duration::from_secs(1));
        assert!(!c.is_due(t0 + Duration::from_secs(6) - MS));
        assert!(c.is_due(t0 + Duration::from_secs(6) + MS));
        c.set_consumer_typing(false, t0 + Duration::from_secs(2));
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn without_combining_message_delay_is_fixed_from_the_first_message() {
        let t0 = Instant::now();
        let mut c = Combiner::new(Arc::default());
        c.push(msg(1), t0);
        c.push(msg(2), t0 + Duration::from_millis(200));
        assert_eq!(c.deadline(), Some(t0 + Duration::from_millis(300)));
        c.set_consumer_typing(true, t0 + Duration::from_millis(250));
        assert_eq!(c.deadline(), Some(t0 + Duration::from_millis(300)), "typing is ignored when not combining");
    }

    #[test]
    fn messages_are_kept_in_sequence_order_and_restored_without_duplicates() {
        let t0 = Instant::now();
        let mut c = Combiner::new(combining().into());
        c.push(msg(3), t0);
        c.push(msg(1), t0);
        let taken = c.take();
        assert_eq!(taken.iter().map(|m| m.sequence).collect::<Vec<_>>(), [1, 3]);
        assert!(c.deadline().is_none());
        c.push(msg(2), t0);
        c.restore(taken, t0);
        assert_eq!(c.take().iter().map(|m| m.sequence).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
