//! A deterministic figure for the hot path: instructions per consumer message, counted with
//! valgrind's callgrind, which counts instructions rather than time (the same for the same binary
//! and inputs whatever else the machine does). `benches/instructions.sh` runs this twice under
//! callgrind, with N and 2N messages, and prints (instructions(2N) − instructions(N)) / N, so the
//! set-up cost cancels out.
//!
//! One message is what the engine does for a consumer message on the LivePerson adapter, less
//! the socket and TLS: the consumer's notification frame parsed and dispatched into a core event;
//! the core's round trip (BotActor → ConversationActor → zero-latency vendor → answer, through
//! the fake platform); the READ receipt and the answer built as request frames; their two
//! responses and the two notifications echoing them parsed and dispatched.
//!
//! `cargo bench --bench instructions -- N` runs N messages (default 10 000) and prints nothing
//! but a summary line.

#[path = "common/core_bench.rs"]
mod core_bench;

use botvisor::platform::liveperson::frames::{self, Identity};
use botvisor::platform::liveperson::session::inbound::{self, Inbound};
use botvisor_actors::model::{AnswerKey, MessageAudience, OutboundMessage, TextMessage};

const CONSUMER: &str = "consumer-pid";

fn notification(sequence: u64, originator: &str, role: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"notification","type":".ams.ms.OnlineEventDistribution","body":{{"sequence":{sequence},"dialogId":"c1","conversationId":"c1","originatorId":"{originator}","originatorPId":"{originator}","originatorMetadata":{{"id":"{originator}","role":"{role}"}},"serverTimestamp":1764633600000,"event":{{"type":"ContentEvent","contentType":"text/plain","message":"{message}"}}}}}}"#
    )
}

/// The adapter's frame work for one consumer message (the core's part is the fake platform's).
struct Frames {
    me: Identity,
    /// What the session knows: the conversation's consumer.
    known: frames::KnownIds,
    consumer_message: String,
    echo_answer: String,
    echo_receipt: String,
    publish_response: String,
    receipt_response: String,
}

impl Frames {
    fn new() -> Self {
        let me = Identity { account: "le1".into(), user_id: "7".into(), pid: "pid-7".into() };
        let echo_receipt: String = r#"{"kind":"notification","type":".ams.ms.OnlineEventDistribution","body":{"sequence":11,"dialogId":"c1","conversationId":"c1","originatorId":"le1.7","originatorPId":"pid-7","originatorMetadata":{"id":"pid-7","role":"ASSIGNED_AGENT"},"serverTimestamp":1764633600001,"event":{"type":"AcceptStatusEvent","status":"READ","sequenceList":[10]}}}"#.into();
        let known = frames::KnownIds::default();
        known.remember_consumer("c1".into(), CONSUMER.into());
        Frames {
            known,
            consumer_message: notification(10, CONSUMER, "CONSUMER", "hello"),
            echo_answer: notification(12, "le1.7", "ASSIGNED_AGENT", "You said: hello"),
            echo_receipt,
            publish_response: r#"{"kind":"resp","reqId":"41","code":200,"body":{"sequence":12},"type":".ams.ms.PublishEvent$Response"}"#
                .into(),
            receipt_response: r#"{"kind":"resp","reqId":"40","code":200,"body":{"sequence":11},"type":".ams.ms.PublishEvent$Response"}"#
                .into(),
            me,
        }
    }

    /// Parses a frame as the session does and dispatches a notification into core events; how
    /// many events it gave (kept so the work is not optimized away).
    fn read(&self, text: &str) -> usize {
        match inbound::parse(text) {
            Ok(Inbound::Notification(frame)) => inbound::dispatch(&self.me, &frame, false, &self.known).events.len(),
            Ok(Inbound::Response { status, result, .. }) => usize::from(status) + result.map_or(0, |body| body.get().len()),
            Err(_) => 0,
        }
    }

    /// Builds the READ receipt and the answer as request frames; their total length.
    fn write(&self, n: u64) -> usize {
        let (kind, body) = frames::read_receipt("c1", &[10]);
        let receipt = frames::request(&format!("bv-{}", 2 * n), kind, &body, &frames::Extras::default());
        let answer = OutboundMessage::Text(TextMessage {
            text: "You said: hello".into(),
            audience: MessageAudience::All,
            quick_replies: None,
            metadata: None,
            encoded_metadata: None,
        });
        let key = AnswerKey { conversation_id: "c1".into(), answers: Some(10), item: 0 };
        let (kind, body, extras) = frames::publish("c1", "c1", &answer, Some(&key));
        let publish = frames::request(&format!("bv-{}", 2 * n + 1), kind, &body, &extras);
        receipt.len() + publish.len()
    }
}

fn main() {
    let messages: u64 = std::env::args().skip(1).find(|a| a != "--bench").and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let frames = Frames::new();
    let mut work = 0usize;
    actix_rt::System::new().block_on(async {
        let mut bench = core_bench::one_conversation().await;
        for n in 0..messages {
            work += frames.read(&frames.consumer_message);
            bench.platform.consumer_says("c1", "hello");
            bench.answers.recv().await.expect("an answer");
            work += frames.write(n);
            for text in [&frames.receipt_response, &frames.publish_response, &frames.echo_receipt, &frames.echo_answer] {
                work += frames.read(text);
            }
        }
        bench.platform.forget_conversation("c1");
    });
    println!("instructions bench: {messages} consumer messages (frame work {work})");
}
