//! Turning consumer messages into one vendor input (spec/third-party-bots.md §1.1, inbound).

use crate::errors::{ErrorCode, ErrorReport};
use crate::model::{DialogMessage, MessageContent, Sequence};
use crate::ports::{InputKind, VendorInput};

/// The text a vendor receives for a consumer's rich content event.
pub const RICH_CONTENT_IDENTIFIER: &str = "com.liveperson.bot-connectors.consumer.send-rich-content";
/// The text a vendor receives for a consumer's file.
pub const FILE_IDENTIFIER: &str = "com.liveperson.bot-connectors.consumer.send-file";

/// A batch of consumer messages, mapped.
#[derive(Debug, Clone, PartialEq)]
pub enum MappedInput {
    /// Send this to the vendor.
    Send(VendorInput),
    /// Nothing to send: every message was empty (or not a consumer utterance).
    Nothing,
    /// The batch cannot be sent; escalate.
    Refused(ErrorReport),
}

/// Maps `batch` (ascending by sequence) into one vendor input. Texts are joined by a space; rich
/// content and files become their identifiers; empty texts are left out (never sent as if they
/// were text); a text over `max_text_length` characters refuses the batch.
pub fn map_batch(batch: &[DialogMessage], max_text_length: usize) -> MappedInput {
    let mut parts: Vec<&str> = Vec::with_capacity(batch.len());
    let mut sequences: Vec<Sequence> = Vec::with_capacity(batch.len());
    let mut last: Option<(&DialogMessage, InputKind)> = None;
    for message in batch {
        let (part, kind) = match &message.content {
            MessageContent::Text(text) => {
                let length = text.chars().count();
                if length > max_text_length {
                    return MappedInput::Refused(ErrorReport::new(
                        ErrorCode::InputTextTooLong,
                        format!(
                            "consumer message {} has {length} characters, more than the limit of \
                             {max_text_length} (conversation.max_text_length)",
                            message.sequence
                        ),
                    ));
                }
                if text.trim().is_empty() {
                    continue;
                }
                (text.as_str(), InputKind::Text)
            }
            MessageContent::RichContent(_) => (RICH_CONTENT_IDENTIFIER, InputKind::RichContent),
            MessageContent::File { .. } => (FILE_IDENTIFIER, InputKind::File),
            MessageContent::AcceptStatus { .. } | MessageContent::Other(_) => continue,
        };
        parts.push(part);
        sequences.push(message.sequence);
        last = Some((message, kind));
    }
    match last {
        None => MappedInput::Nothing,
        Some((message, kind)) => {
            MappedInput::Send(VendorInput::Message { text: parts.join(" "), kind, sequences, lp_event: message.raw.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Originator;

    fn m(sequence: Sequence, content: MessageContent) -> DialogMessage {
        DialogMessage {
            dialog_id: "d".into(),
            sequence,
            originator: Originator::Consumer,
            content,
            server_timestamp: 0,
            answer: None,
            raw: crate::model::JsonText::new(&json!({ "sequence": sequence })),
        }
    }

    fn text(t: &str) -> MessageContent {
        MessageContent::Text(t.into())
    }

    #[test]
    fn texts_are_joined_by_a_space_in_order_with_the_last_raw_event() {
        let batch = [m(1, text("hello")), m(2, text("I need")), m(4, text("a refund"))];
        let MappedInput::Send(VendorInput::Message { text, kind, sequences, lp_event }) = map_batch(&batch, 5000) else {
            panic!("expected an input");
        };
        assert_eq!(text, "hello I need a refund");
        assert_eq!(kind, InputKind::Text);
        assert_eq!(sequences, [1, 2, 4]);
        assert_eq!(lp_event.to_value(), json!({ "sequence": 4 }));
    }

    #[test]
    fn rich_content_and_files_become_identifiers() {
        let batch = [
            m(1, MessageContent::RichContent(json!({"type": "map"}))),
            m(2, MessageContent::File { relative_path: "/f".into(), file_type: "PNG".into(), caption: None }),
        ];
        let MappedInput::Send(VendorInput::Message { text, kind, .. }) = map_batch(&batch, 5000) else {
            panic!("expected an input");
        };
        assert_eq!(text, format!("{RICH_CONTENT_IDENTIFIER} {FILE_IDENTIFIER}"));
        assert_eq!(kind, InputKind::File);
    }

    #[test]
    fn empty_messages_are_not_sent_as_text() {
        assert_eq!(map_batch(&[m(1, text("")), m(2, text("   "))], 5000), MappedInput::Nothing);
        let MappedInput::Send(VendorInput::Message { text, sequences, .. }) = map_batch(&[m(1, text("")), m(2, text("hi"))], 5000) else {
            panic!("expected an input");
        };
        assert_eq!((text.as_str(), sequences), ("hi", vec![2]));
    }

    #[test]
    fn over_long_text_is_refused_with_its_code_not_truncated() {
        let long = "é".repeat(5001);
        let MappedInput::Refused(report) = map_batch(&[m(7, text(&long))], 5000) else {
            panic!("expected a refusal");
        };
        assert_eq!(report.code, ErrorCode::InputTextTooLong);
        assert!(report.message.contains("5001 characters"));
        assert!(matches!(map_batch(&[m(7, text(&"é".repeat(5000)))], 5000), MappedInput::Send(_)));
    }
}
