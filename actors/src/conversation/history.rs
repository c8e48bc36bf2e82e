//! Reading a dialog's history: what was already answered, and what still waits for an answer.
//!
//! The platform is the source of truth. After a start, a rebuild or a reconnect, a conversation
//! reads its dialog and answers exactly the consumer messages that have no answer yet.

#[cfg(test)]
use crate::model::AnswerKey;
use crate::model::{DialogMessage, MessageContent, Originator, Sequence};

/// What a dialog's history says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryAnalysis {
    /// Every consumer message below this sequence has an answer (the bot's or another agent's).
    pub answered_below: Sequence,
    /// Every consumer message below this sequence has the bot's READ receipt.
    pub read_below: Sequence,
    /// Consumer messages at or after `answered_below`, ascending.
    pub unanswered: Vec<DialogMessage>,
    /// Another agent wrote in this dialog after the bot last answered: it came by transfer.
    pub transferred_in: bool,
    /// The consumer's last non-empty text, for the welcome event's `lastConsumerMessage`.
    pub last_consumer_text: Option<DialogMessage>,
    /// The last message of the dialog when it is another agent's text.
    pub last_agent_text: Option<DialogMessage>,
    /// The bot has written in this dialog (it answered before: a restart, not a new conversation).
    pub bot_spoke: bool,
    /// The bot wrote after the last other agent's message (so no second welcome).
    pub bot_spoke_since_transfer: bool,
}

/// Analyses `history` (any order) on top of what is already known to be answered.
///
/// A bot message answers the consumer sequence in its answer key. The bot's READ receipts go
/// out when it takes a message, before the answer, so a receipt alone does not mean answered (an
/// answer that publishes nothing — a delay, a TTR change — is asked again after a restart; the
/// consumer sees nothing twice). A bot message without botvisor's key (an answer whose vendor
/// set its own ExternalId, or another tool writing as this agent) answers what the bot had
/// read before it. Another agent's message answers everything before it: that part was the
/// other agent's.
pub fn analyse(history: &[DialogMessage], known_answered_below: Sequence) -> HistoryAnalysis {
    let mut events: Vec<&DialogMessage> = history.iter().collect();
    events.sort_by_key(|m| m.sequence);

    let mut answered_below = known_answered_below;
    let mut read_below: Sequence = 0;
    let mut own_last: Option<Sequence> = None;
    let mut other_agent_last: Option<Sequence> = None;
    for m in &events {
        match &m.originator {
            Originator::Me => {
                let below = match (&m.answer, &m.content) {
                    (Some(key), _) => key.answers.map_or(0, |answered| answered + 1),
                    (None, MessageContent::AcceptStatus { status, sequences }) => {
                        if status == "READ" {
                            read_below = read_below.max(sequences.iter().max().map_or(0, |s| s + 1));
                        }
                        0
                    }
                    (None, _) => read_below.min(m.sequence),
                };
                answered_below = answered_below.max(below);
                if !matches!(m.content, MessageContent::AcceptStatus { .. }) {
                    own_last = Some(m.sequence);
                }
            }
            Originator::OtherAgent(_) => {
                answered_below = answered_below.max(m.sequence);
                other_agent_last = Some(m.sequence);
            }
            Originator::Consumer | Originator::System => {}
        }
    }
    let unanswered =
        events.iter().filter(|m| m.originator == Originator::Consumer && m.sequence >= answered_below).map(|m| (*m).clone()).collect();
    let last_consumer_text =
        events.iter().rev().find(|m| m.originator == Originator::Consumer && is_text(&m.content)).map(|m| (*m).clone());
    let last_agent_text =
        events.last().filter(|m| matches!(m.originator, Originator::OtherAgent(_)) && is_text(&m.content)).map(|m| (*m).clone());
    HistoryAnalysis {
        answered_below,
        read_below,
        unanswered,
        transferred_in: match (other_agent_last, own_last) {
            (Some(other), Some(own)) => other > own,
            (Some(_), None) => true,
            (None, _) => false,
        },
        bot_spoke: own_last.is_some(),
        bot_spoke_since_transfer: match (own_last, other_agent_last) {
            (Some(own), Some(other)) => own > other,
            (Some(_), None) => true,
            (None, _) => false,
        },
        last_consumer_text,
        last_agent_text,
    }
}

fn is_text(content: &MessageContent) -> bool {
    matches!(content, MessageContent::Text(text) if !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(sequence: Sequence, originator: Originator, text: &str, answers: Option<Sequence>) -> DialogMessage {
        DialogMessage {
            dialog_id: "d".into(),
            sequence,
            originator,
            content: MessageContent::Text(text.into()),
            server_timestamp: 0,
            answer: answers.map(|a| AnswerKey { conversation_id: "d".into(), answers: Some(a), item: 0 }),
            raw: crate::model::JsonText::default(),
        }
    }

    #[test]
    fn consumer_messages_after_the_last_answer_are_unanswered() {
        let history = [
            m(0, Originator::Consumer, "hi", None),
            m(1, Originator::Me, "hello", Some(0)),
            m(2, Originator::Consumer, "a", None),
            m(4, Originator::Me, "answer to a", Some(2)),
            // 3 arrived while the bot was answering 2: still unanswered although 4 > 3.
            m(3, Originator::Consumer, "b", None),
            m(5, Originator::Consumer, "c", None),
        ];
        let a = analyse(&history, 0);
        assert_eq!(a.answered_below, 3);
        assert_eq!(a.unanswered.iter().map(|m| m.sequence).collect::<Vec<_>>(), [3, 5]);
        assert!(!a.transferred_in);
        assert_eq!(a.last_consumer_text.unwrap().sequence, 5);
    }

    #[test]
    fn a_transfer_in_is_recognised_and_the_previous_part_counts_as_answered() {
        let history = [
            m(0, Originator::Consumer, "I need help", None),
            m(1, Originator::OtherAgent("acc.human".into()), "passing you to our bot", None),
        ];
        let a = analyse(&history, 0);
        assert!(a.transferred_in);
        assert!(a.unanswered.is_empty());
        assert_eq!(a.answered_below, 1);
        assert_eq!(a.last_consumer_text.unwrap().content.text(), Some("I need help"));
        assert_eq!(a.last_agent_text.unwrap().content.text(), Some("passing you to our bot"));
    }

    fn read(sequence: Sequence, sequences: &[Sequence]) -> DialogMessage {
        let mut receipt = m(sequence, Originator::Me, "", None);
        receipt.content = MessageContent::AcceptStatus { status: "READ".into(), sequences: sequences.to_vec() };
        receipt
    }

    #[test]
    fn own_messages_without_a_key_answer_what_the_bot_read_before_them() {
        // 0 was read and answered by a card whose vendor set its own ExternalId (no botvisor key);
        // 2 arrived during the vendor call: not read, so still unanswered although 3 > 2.
        let history = [
            m(0, Originator::Consumer, "x", None),
            read(1, &[0]),
            m(2, Originator::Consumer, "y", None),
            m(3, Originator::Me, "card", None),
        ];
        let a = analyse(&history, 0);
        assert_eq!(a.answered_below, 1);
        assert_eq!(a.read_below, 1);
        assert_eq!(a.unanswered.iter().map(|m| m.sequence).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_read_receipt_alone_does_not_mean_answered() {
        // The receipt goes out before the answer: a restart between them must answer again.
        let history = [
            m(0, Originator::Consumer, "a", None),
            m(1, Originator::Consumer, "b", None),
            read(2, &[0, 1]),
            m(3, Originator::Consumer, "c", None),
        ];
        let a = analyse(&history, 0);
        assert_eq!(a.answered_below, 0);
        assert_eq!(a.read_below, 2);
        assert_eq!(a.unanswered.iter().map(|m| m.sequence).collect::<Vec<_>>(), [0, 1, 3]);
        assert!(!a.bot_spoke, "a receipt is not the bot speaking");
    }

    #[test]
    fn known_answers_are_kept() {
        let history = [m(3, Originator::Consumer, "x", None), m(5, Originator::Consumer, "y", None)];
        let a = analyse(&history, 4);
        assert_eq!(a.unanswered.iter().map(|m| m.sequence).collect::<Vec<_>>(), [5]);
    }
}
