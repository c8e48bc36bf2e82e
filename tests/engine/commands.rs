//! Commands from outside the conversation (the admin API's transfer, close, TTR and messages):
//! carried out by the conversation's actor in order with its other work, with the same rules as
//! the vendor's actions — a failed transfer escalates with the same code.

use botvisor_actors::bot::GetConversation;
use botvisor_actors::conversation::{CommandOutcome, CommandRefused, ConversationCommand, RunCommand};
use botvisor_actors::errors::ErrorCode;
use botvisor_actors::model::{ResponseItem, TextMessage, Ttr};
use botvisor_actors::testkit::{advance, settle, FakeVendor};

use crate::harness::{run_test, secs, settings, Harness, MS};

async fn command(h: &Harness, conversation: &str, command: ConversationCommand) -> Result<CommandOutcome, CommandRefused> {
    let addr = h.bot.send(GetConversation { conversation_id: conversation.into() }).await.unwrap().expect("the conversation runs");
    addr.send(RunCommand(command)).await.expect("the conversation answers")
}

fn texts(items: &[(&str, bool)]) -> ConversationCommand {
    ConversationCommand::Send(
        items
            .iter()
            .map(|(text, private)| ResponseItem::Text(if *private { TextMessage::private(*text) } else { TextMessage::plain(*text) }))
            .collect(),
    )
}

#[test]
fn messages_go_out_in_order_and_the_conversation_goes_on() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.open("c1").await;
        let outcome = command(&h, "c1", texts(&[("Hello from a supervisor.", false), ("Watch this one.", true)])).await;
        assert_eq!(outcome, Ok(CommandOutcome::Done));
        h.platform.consumer_says("c1", "thanks");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(
            h.platform.transcript("c1"),
            ["bot: Hello from a supervisor.", "bot (private): Watch this one.", "consumer: thanks", "bot: echo: thanks"]
        );
    });
}

#[test]
fn a_command_waits_for_the_vendor_call_under_way() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::answering_after(secs(5))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "question");
        settle().await;
        advance(301 * MS).await;
        // The vendor is thinking; the command queues behind the answer.
        let addr = h.bot.send(GetConversation { conversation_id: "c1".into() }).await.unwrap().unwrap();
        let pending = addr.send(RunCommand(texts(&[("A human will follow up.", false)])));
        let pending = actix_rt::spawn(pending);
        settle().await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: question"]);
        advance(secs(5)).await;
        assert_eq!(pending.await.unwrap().unwrap(), Ok(CommandOutcome::Done));
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: question", "bot: answer to question", "bot: A human will follow up."]);
    });
}

#[test]
fn transfer_close_and_ttr_do_what_the_vendor_actions_do() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        for id in ["c1", "c2", "c3"] {
            h.open(id).await;
        }
        let ttr = command(&h, "c1", ConversationCommand::ChangeTtr(Ttr::Urgent)).await;
        assert_eq!(ttr, Ok(CommandOutcome::Done));
        assert_eq!(h.platform.ttr_of("c1"), Some(Ttr::Urgent));

        let transfer = command(&h, "c1", ConversationCommand::Transfer { skill: "sales".into(), agent_id: None }).await;
        assert_eq!(transfer, Ok(CommandOutcome::Transferred { skill: "sales".into(), agent_id: None }));
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("sales"));

        let close = command(&h, "c2", ConversationCommand::Close { without_pcs: true }).await;
        assert_eq!(close, Ok(CommandOutcome::Closed));
        assert_eq!(h.platform.closed("c2"), Some(false), "closed without the survey");
        settle().await;
        assert_eq!(h.status().await.open_conversations, 1);
    });
}

#[test]
fn a_transfer_to_an_unknown_skill_escalates_with_the_vendors_code() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::echo()).await;
        h.platform.with_skills(&["bots", "humans"]);
        h.open("c1").await;
        let outcome = command(&h, "c1", ConversationCommand::Transfer { skill: "nowhere".into(), agent_id: None }).await;
        let Ok(CommandOutcome::Escalated(report)) = outcome else { panic!("{outcome:?}") };
        assert_eq!(report.code, ErrorCode::TransferSkillNotExisting);
        settle().await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"), "escalated to the escalation skill");
    });
}

#[test]
fn too_many_waiting_commands_are_refused_and_a_gone_conversation_refuses_too() {
    run_test(async {
        let h = Harness::start(settings(), FakeVendor::answering_after(secs(30))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "slow one");
        settle().await;
        advance(301 * MS).await;
        let addr = h.bot.send(GetConversation { conversation_id: "c1".into() }).await.unwrap().unwrap();
        let mut waiting = Vec::new();
        for n in 0..16 {
            waiting.push(actix_rt::spawn(addr.send(RunCommand(texts(&[(&format!("note {n}"), true)])))));
        }
        settle().await;
        let refused = addr.send(RunCommand(texts(&[("one too many", false)]))).await.unwrap();
        assert_eq!(refused, Err(CommandRefused::Busy));
        // The consumer leaves: the waiting commands end unrun.
        h.platform.remove("c1");
        settle().await;
        advance(secs(31)).await;
        for pending in waiting {
            assert!(matches!(pending.await.unwrap(), Ok(Err(CommandRefused::Ended)) | Err(_)), "ended");
        }
    });
}
