//! Carrying out the vendor's answer: items in order, delays with typing, the single action,
//! READ receipts, input mapping, welcome and transfer-in.

use botvisor_actors::model::{
    BotAction, BotResponse, ChatState, MessageContent, Originator, ResponseItem, StructuredContentMessage, TextMessage, Ttr,
};
use botvisor_actors::ports::VendorInput;
use botvisor_actors::testkit::{advance, settle, FakeReply, FakeVendor, PlatformCall};
use serde_json::json;

use crate::harness::{run_test, secs, settings, Harness, MS};

fn answering(response: BotResponse) -> FakeVendor {
    FakeVendor::scripted(move |_| FakeReply::Answer(response.clone()))
}

#[test]
fn items_are_published_in_order_with_delays_and_typing() {
    run_test(async {
        let response = BotResponse::text("one")
            .with_item(ResponseItem::Delay { seconds: 3, typing: true })
            .with_item(ResponseItem::StructuredContent(StructuredContentMessage {
                content: json!({"type": "vertical", "elements": []}),
                metadata: None,
                encoded_metadata: None,
            }))
            .with_item(ResponseItem::Text(TextMessage::private("note for agents")))
            .with_item(ResponseItem::Text(TextMessage::plain("two")));
        let h = Harness::start(settings(), answering(response)).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(300 * MS + MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: one"]);
        assert_eq!(
            h.platform.count_calls(|c| matches!(c, PlatformCall::ChatState { state: ChatState::Composing, .. })),
            1,
            "typing is shown during the delay"
        );
        advance(secs(3) - 2 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: one"], "the delay holds the rest back");
        advance(2 * MS).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: one", "bot: [structured content]", "bot: two"]);
        assert_eq!(h.platform.transcript("c1")[3], "bot (private): note for agents", "private text is published for agents only");
    });
}

#[test]
fn one_read_receipt_per_consumer_message_handled() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        let a = h.platform.consumer_says("c1", "a");
        let b = h.platform.consumer_says("c1", "b");
        settle().await;
        advance(301 * MS).await;
        let reads: Vec<_> = h
            .platform
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                PlatformCall::Read { sequences, .. } => Some(sequences),
                _ => None,
            })
            .collect();
        assert_eq!(reads, [vec![a], vec![b]]);
    });
}

/// Where the first call matching `what` is in the platform's call log.
fn position(calls: &[PlatformCall], what: impl Fn(&PlatformCall) -> bool) -> usize {
    calls.iter().position(what).expect("the call was made")
}

#[test]
fn the_read_receipt_goes_out_before_the_answer_even_when_the_answer_transfers_or_closes() {
    for action in [BotAction::Transfer { skill: "billing".into(), agent_id: None }, BotAction::CloseConversation { without_pcs: false }] {
        run_test(async {
            let h = Harness::start(settings(), answering(BotResponse::text("bye").with_action(action.clone()))).await;
            h.open("c1").await;
            let sequence = h.platform.consumer_says("c1", "done");
            settle().await;
            advance(301 * MS).await;
            let calls = h.platform.calls();
            let read = position(&calls, |c| matches!(c, PlatformCall::Read { sequences, .. } if sequences == &[sequence]));
            let answer = position(&calls, |c| matches!(c, PlatformCall::Publish { .. }));
            let ended = position(&calls, |c| matches!(c, PlatformCall::TransferToSkill { .. } | PlatformCall::Close { .. }));
            assert!(read < answer && answer < ended, "READ, then the answer, then the action ({action:?}): {calls:?}");
            assert_eq!(h.platform.count_calls(|c| matches!(c, PlatformCall::Read { .. })), 1);
        });
    }
}

#[test]
fn a_ttr_change_the_platform_refuses_escalates() {
    run_test(async {
        let h = Harness::start(settings(), answering(BotResponse::text("noted").with_action(BotAction::ChangeTtr(Ttr::Urgent)))).await;
        h.platform.fail_ttr_changes();
        h.open("c1").await;
        h.platform.consumer_says("c1", "urgent please");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.ttr_of("c1"), None, "the platform refused the change");
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"), "the conversation went to the escalation skill");
        let transcript = h.platform.transcript("c1");
        assert!(transcript.iter().any(|l| l.starts_with("bot (private):")), "the agent is told why: {transcript:?}");
    });
}

#[test]
fn change_ttr_sets_the_conversation_ttr_and_the_conversation_goes_on() {
    run_test(async {
        let h = Harness::start(settings(), answering(BotResponse::text("noted").with_action(BotAction::ChangeTtr(Ttr::Urgent)))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "urgent please");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.ttr_of("c1"), Some(Ttr::Urgent));
        assert_eq!(h.conversation("c1").await.expect("still running").ttr, Some(Ttr::Urgent));
        h.platform.consumer_says("c1", "thanks");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs(), ["urgent please", "thanks"]);
    });
}

#[test]
fn transfer_lands_the_conversation_on_the_skill_and_the_bot_lets_go() {
    run_test(async {
        let response =
            BotResponse::text("Let me get you to billing").with_action(BotAction::Transfer { skill: "billing".into(), agent_id: None });
        let h = Harness::start(settings(), answering(response)).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "invoice question");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("billing"));
        assert_eq!(h.platform.consumer_transcript("c1").last().unwrap(), "bot: Let me get you to billing");
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.stats.transferred), (0, 1));
    });
}

#[test]
fn transfer_to_an_agent_names_the_agent_and_its_skill() {
    run_test(async {
        let response = BotResponse::default().with_action(BotAction::Transfer { skill: "billing".into(), agent_id: Some("acc.42".into()) });
        let h = Harness::start(settings(), answering(response)).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "I want Anna");
        settle().await;
        advance(301 * MS).await;
        assert!(h.platform.calls().contains(&PlatformCall::TransferToAgent {
            conversation: "c1".into(),
            agent_id: "acc.42".into(),
            skill: "billing".into()
        }));
    });
}

#[test]
fn close_with_and_without_survey() {
    run_test(async {
        let h =
            Harness::start(settings(), answering(BotResponse::text("bye").with_action(BotAction::CloseConversation { without_pcs: true })))
                .await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "bye");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.closed("c1"), Some(false), "withoutPcs closes without the survey");
        assert_eq!(h.status().await.stats.closed, 1);

        h.vendor.set_script(|_| FakeReply::Answer(BotResponse::default().with_action(BotAction::CloseConversation { without_pcs: false })));
        h.open("c2").await;
        h.platform.consumer_says("c2", "bye");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.platform.closed("c2"), Some(true));
    });
}

#[test]
fn rich_content_and_files_reach_the_vendor_as_identifiers_with_the_raw_event() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_sends("c1", MessageContent::RichContent(json!({"type": "map", "la": 1.0, "lo": 2.0})));
        settle().await;
        advance(301 * MS).await;
        let requests = h.vendor.requests();
        let VendorInput::Message { text, lp_event, .. } = &requests[0].input else { panic!("expected a message") };
        assert_eq!(text, "com.liveperson.bot-connectors.consumer.send-rich-content");
        assert_eq!(lp_event.to_value()["event"]["type"], "RichContentEvent");
        assert_eq!(lp_event.to_value()["event"]["content"]["type"], "map");

        h.platform.consumer_sends("c1", MessageContent::File { relative_path: "/p.png".into(), file_type: "PNG".into(), caption: None });
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs()[1], "com.liveperson.bot-connectors.consumer.send-file");
    });
}

#[test]
fn an_empty_message_is_not_sent_to_the_vendor() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "   ");
        settle().await;
        advance(secs(1)).await;
        assert!(h.vendor.inputs().is_empty());
        assert_eq!(h.conversation("c1").await.unwrap().answered_below, 1, "it counts as handled");
    });
}

#[test]
fn welcome_greets_first_when_the_conversation_is_assigned() {
    run_test(async {
        let mut s = settings();
        s.conversation.welcome = true;
        let vendor = FakeVendor::scripted(|request| match &request.input {
            VendorInput::Welcome { .. } => FakeReply::Answer(BotResponse::text("Welcome! How can I help?")),
            VendorInput::Message { text, .. } => FakeReply::Answer(BotResponse::text(format!("about {text}"))),
        });
        let h = Harness::start(s, vendor).await;
        h.platform.consumer_says("c1", "hi");
        h.platform.assign("c1");
        settle().await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: hi", "bot: Welcome! How can I help?", "bot: about hi"]);
        let requests = h.vendor.requests();
        assert!(requests[0].conversation.first_call);
        assert!(matches!(&requests[0].input, VendorInput::Welcome { last_consumer_message: None, .. }));
        assert!(!requests[1].conversation.first_call);
    });
}

#[test]
fn welcome_after_a_transfer_in_carries_the_last_consumer_message() {
    run_test(async {
        let mut s = settings();
        s.conversation.welcome = true;
        let h = Harness::start(s, FakeVendor::echo()).await;
        h.platform.append("c1", Originator::Consumer, MessageContent::Text("my router is broken".into()));
        h.platform.append("c1", Originator::OtherAgent("acc.human".into()), MessageContent::Text("our bot will help".into()));
        h.platform.assign("c1");
        settle().await;
        let requests = h.vendor.requests();
        assert_eq!(requests.len(), 1, "nothing else is unanswered");
        let VendorInput::Welcome { last_consumer_message, lp_event } = &requests[0].input else { panic!("expected welcome") };
        assert_eq!(last_consumer_message.as_deref(), Some("my router is broken"));
        assert_eq!(lp_event.to_value()["lastConsumerMessage"], "my router is broken");
    });
}

#[test]
fn a_transfer_in_sends_the_last_agent_message_unless_skip_agent_message() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.platform.append("c1", Originator::Consumer, MessageContent::Text("router broken".into()));
        h.platform.append("c1", Originator::OtherAgent("acc.human".into()), MessageContent::Text("transferring you".into()));
        h.platform.assign("c1");
        settle().await;
        assert_eq!(h.vendor.inputs(), ["transferring you"]);

        let mut s = settings();
        s.conversation.skip_agent_message = true;
        let h2 = Harness::start(s, FakeVendor::echo()).await;
        h2.platform.append("c2", Originator::Consumer, MessageContent::Text("router broken".into()));
        h2.platform.append("c2", Originator::OtherAgent("acc.human".into()), MessageContent::Text("transferring you".into()));
        h2.platform.assign("c2");
        settle().await;
        assert_eq!(h2.vendor.inputs(), ["router broken"], "skipAgentMessage: the consumer's last message is the utterance");
        assert_eq!(h2.platform.consumer_transcript("c2").last().unwrap(), "bot: echo: router broken");
    });
}

#[test]
fn engagement_attributes_are_fetched_once_and_sent_with_every_call() {
    run_test(async {
        let mut s = settings();
        s.conversation.engagement_attributes = true;
        let h = Harness::start(s, FakeVendor::echo()).await;
        h.open("c1").await;
        for text in ["a", "b"] {
            h.platform.consumer_says("c1", text);
            settle().await;
            advance(301 * MS).await;
        }
        assert_eq!(h.platform.count_calls(|c| matches!(c, PlatformCall::EngagementAttributes { .. })), 1);
        for request in h.vendor.requests() {
            assert_eq!(request.conversation.sdes.as_ref().unwrap()["unauthenticatedSdes"]["customerInfo"]["customerId"], "consumer-c1");
        }
    });
}
