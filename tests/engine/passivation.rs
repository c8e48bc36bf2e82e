//! Passivation: a settled conversation is kept as data instead of an actor, and carries on as if
//! it had never stopped on its next message, command, timer or reconnect.

use std::time::Duration;

use botvisor_actors::bot::{ConversationView, GetConversations, PassivateSettled};
use botvisor_actors::live::LiveActors;
use botvisor_actors::settings::{BotSettings, InactivitySettings};
use botvisor_actors::testkit::{advance, settle, FakeVendor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::harness::{run_test, secs, settings, Harness, MS};

const AFTER: Duration = Duration::from_secs(30);

fn passivating() -> BotSettings {
    let mut s = settings();
    s.lifecycle.passivate_after = AFTER;
    s
}

/// The phase each conversation shows in the bot's listing.
async fn phases(h: &Harness) -> Vec<(String, &'static str)> {
    let mut phases = Vec::new();
    for (id, view) in h.bot.send(GetConversations).await.expect("bot alive") {
        let phase = match view {
            ConversationView::Running(_) => "running",
            ConversationView::Passive(snapshot) => snapshot.phase,
            ConversationView::Starting => "starting",
        };
        phases.push((id.to_string(), phase));
    }
    phases
}

#[test]
fn a_settled_conversation_is_passivated_and_answers_its_next_message_as_before() {
    run_test(async {
        let h = Harness::start(passivating(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "a");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(LiveActors::on_this_thread().conversations, 1);
        // Not before it has been settled for 30 s.
        advance(secs(29)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "running")]);
        // Asked every 7.5 s once nothing has reached it for 30 s: passive within 37.5 s.
        advance(secs(9)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "passive")]);
        assert_eq!(LiveActors::on_this_thread().conversations, 0, "no actor for a passive conversation");
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.passive_conversations, status.stats.passivated), (1, 1, 1));

        h.platform.consumer_says("c1", "b");
        settle().await;
        advance(301 * MS).await;
        assert_eq!(h.vendor.inputs(), ["a", "b"], "b alone: a was answered before");
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: a", "bot: echo: a", "consumer: b", "bot: echo: b"]);
        let status = h.status().await;
        assert_eq!((status.passive_conversations, status.stats.reactivated), (0, 1));
        assert_eq!(phases(&h).await, [("c1".to_owned(), "running")]);
    });
}

#[test]
fn a_conversation_at_work_is_not_passivated() {
    run_test(async {
        let h = Harness::start(passivating(), FakeVendor::answering_after(secs(50))).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "slow");
        settle().await;
        advance(secs(46)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "running")], "its vendor call is under way");
        advance(secs(5)).await;
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: slow", "bot: answer to slow"]);
        advance(secs(46)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "passive")]);
    });
}

#[test]
fn messages_racing_the_passivation_are_each_answered_once() {
    run_test(async {
        let h = Harness::start(passivating(), FakeVendor::echo()).await;
        let conversations: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        for id in &conversations {
            h.open(id).await;
        }
        let mut rng = StdRng::seed_from_u64(7);
        let mut said: Vec<Vec<String>> = vec![Vec::new(); conversations.len()];
        for round in 0..200 {
            tokio::time::sleep([MS, 300 * MS, secs(1), secs(14), secs(29)][rng.random_range(0..5)]).await;
            for _ in 0..rng.random_range(0..4) {
                tokio::task::yield_now().await;
            }
            // Half the rounds, the bot is asked to passivate just before the messages come: they
            // reach it while it waits for its conversations' answers.
            if rng.random_bool(0.5) {
                let idle_for = if rng.random_bool(0.5) { Duration::ZERO } else { AFTER };
                h.bot.do_send(PassivateSettled { idle_for });
            }
            for (i, id) in conversations.iter().enumerate() {
                if rng.random_bool(0.1) {
                    let text = format!("m{round}");
                    h.platform.consumer_says(id, &text);
                    said[i].push(text);
                }
            }
        }
        settle().await;
        advance(secs(2)).await;
        let status = h.status().await;
        assert!(status.stats.held > 0, "some messages came while a passivation was asked: {:?}", status.stats);
        assert!(status.stats.passivated > 40 && status.stats.reactivated > 0, "{:?}", status.stats);
        for (i, id) in conversations.iter().enumerate() {
            let answered: Vec<String> = h
                .platform
                .consumer_transcript(id)
                .iter()
                .filter_map(|line| line.strip_prefix("bot: echo: "))
                .flat_map(|texts| texts.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .collect();
            assert_eq!(answered, said[i], "{id}: every message answered once, in order");
        }
    });
}

#[test]
fn a_passive_conversation_is_woken_by_its_inactivity_timer() {
    run_test(async {
        let mut s = passivating();
        s.conversation.inactivity = Some(InactivitySettings { close_after: secs(600), warning: None, close_message: None });
        let h = Harness::start(s, FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "hi");
        settle().await;
        advance(secs(60)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "passive")]);
        advance(secs(540) - secs(2)).await;
        assert_eq!(h.platform.closed("c1"), None, "not before its time");
        advance(secs(3)).await;
        assert_eq!(h.platform.closed("c1"), Some(true), "closed on time, from passive");
        assert_eq!(h.status().await.open_conversations, 0);
    });
}

#[test]
fn messages_said_while_disconnected_reach_a_passive_conversation_after_the_reconnect() {
    run_test(async {
        let h = Harness::start(passivating(), FakeVendor::echo()).await;
        h.open("c1").await;
        h.platform.consumer_says("c1", "a");
        settle().await;
        advance(secs(46)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "passive")]);
        h.platform.lose_session();
        settle().await;
        h.platform.consumer_says("c1", "b"); // only in history
        advance(secs(5)).await;
        h.platform.reconnect();
        settle().await;
        advance(secs(1)).await;
        assert_eq!(h.vendor.inputs(), ["a", "b"]);
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: a", "bot: echo: a", "consumer: b", "bot: echo: b"]);
    });
}

#[test]
fn a_passive_conversation_closed_by_the_consumer_leaves_the_bot() {
    run_test(async {
        let h = Harness::start(passivating(), FakeVendor::echo()).await;
        h.open("c1").await;
        advance(secs(46)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "passive")]);
        h.platform.remove("c1");
        settle().await;
        let status = h.status().await;
        assert_eq!((status.open_conversations, status.passive_conversations), (0, 0));
        assert_eq!(status.load.open, 0, "its load slot is free");
    });
}

#[test]
fn passivation_can_be_turned_off() {
    run_test(async {
        let mut s = settings();
        s.lifecycle.passivate_after = Duration::ZERO;
        let h = Harness::start(s, FakeVendor::echo()).await;
        h.open("c1").await;
        advance(secs(600)).await;
        assert_eq!(phases(&h).await, [("c1".to_owned(), "running")]);
    });
}
