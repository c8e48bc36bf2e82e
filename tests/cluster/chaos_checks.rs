//! The chaos harness's own pieces, without processes: the invariant checks on the simulator's
//! and the nodes' JSON (`benches/chaos/harness/checks.rs`), the fault proxy, the report's dates.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use crate::chaos::checks::{answers, key_sequence, sessions, FaultWindow, Pause, Tokens, ANSWER_PREFIX};
use crate::chaos::observe::Observation;
use crate::chaos::proxy::{FaultProxy, ProxyMode};
use crate::chaos::report::utc;
use crate::chaos::FaultKind;

fn consumer(sequence: i64, text: &str, at: i64) -> Value {
    json!({"sequence": sequence, "role": "CONSUMER", "kind": "text", "text": text, "server_timestamp": at, "metadata": null})
}

fn answer(sequence: i64, asked: &str, key: Option<&str>, at: i64) -> Value {
    let metadata = key.map(|k| json!([{"type": "ExternalId", "id": k}])).unwrap_or(Value::Null);
    json!({"sequence": sequence, "role": "ASSIGNED_AGENT", "kind": "text", "text": format!("{ANSWER_PREFIX}{asked}"), "server_timestamp": at, "metadata": metadata})
}

fn conversation(skill: &str, transcript: Vec<Value>) -> Value {
    json!({"conversation_id": "c1", "skill": skill, "transcript": transcript})
}

#[test]
fn messages_answered_once_together_twice_or_never() {
    let c = conversation(
        "bots",
        vec![
            consumer(0, "q1.0", 1000),
            answer(1, "q1.0", Some("botvisor:c1:0:0"), 1010),
            consumer(2, "q1.1", 2000),
            consumer(3, "q1.2", 2001),
            // Both waited together (a failover): one answer for the two, keyed by the last.
            answer(4, "q1.1 q1.2", Some("botvisor:c1:3:0"), 6000),
            consumer(5, "q1.3", 7000),
            answer(6, "q1.3", Some("botvisor:c1:5:0"), 7010),
            // A zombie answers again.
            answer(7, "q1.3", Some("botvisor:c1:5:0"), 7020),
            consumer(8, "q1.4", 8000),
            // The bot's own texts that are not echoes are not answers.
            json!({"sequence": 9, "role": "ASSIGNED_AGENT", "kind": "text", "text": "Welcome", "server_timestamp": 8001}),
        ],
    );
    let a = answers(&c, "bots", None);
    assert_eq!((a.messages, a.answered, a.lost, a.duplicated, a.escalated), (5, 4, 1, 1, 0));
    assert_eq!((a.duplicate_keys, a.unkeyed, a.key_mismatches), (1, 0, 0));
    assert_eq!(a.slowest_answer_ms, 4000);
    assert!(a.examples.iter().any(|e| e.contains("q1.4") && e.contains("no answer")), "{:?}", a.examples);
    assert_eq!(a.resume_ms, 0, "no fault, no resume figure");
    // A fault at 2.5 s, recovered at 5 s: the two messages it left waiting are answered at 6 s.
    // The one answered before it and the one sent after the recovery do not count.
    let resumed = answers(&c, "bots", Some(FaultWindow { at_ms: 2500, recovered_ms: 5000 }));
    assert_eq!(resumed.resume_ms, 3500);
}

#[test]
fn escalated_conversations_answer_by_transfer_and_keys_are_checked() {
    let c = conversation("human-agents", vec![consumer(0, "a", 0), answer(1, "a", None, 5), consumer(2, "b", 6)]);
    let a = answers(&c, "bots", None);
    assert_eq!((a.answered, a.lost, a.escalated, a.unkeyed), (1, 0, 1, 1));
    let wrong = conversation("bots", vec![consumer(0, "a", 0), consumer(1, "b", 1), answer(2, "a b", Some("botvisor:c1:0:0"), 5)]);
    assert_eq!(answers(&wrong, "bots", None).key_mismatches, 1);
    assert_eq!(key_sequence("botvisor:a:b:7:0"), Some(7), "a conversation id may hold ':'");
}

fn session(at: i64, login: &str, kind: &str, conn: Option<u64>) -> Value {
    json!({"at_ms": at, "login": login, "kind": kind, "conn": conn})
}

#[test]
fn overlaps_are_kicks_and_logins_over_open_connections_but_a_paused_node_is_cut_apart() {
    let bots: HashSet<String> = ["b1".to_owned(), "b2".to_owned()].into();
    let log = vec![
        session(10, "b1", "login", None),
        session(11, "b1", "connect", Some(1)),
        session(12, "b2", "login", None),
        session(13, "b2", "connect", Some(2)),
        // b1's node is killed: its socket closes; another node logs in.
        session(100, "b1", "disconnect", Some(1)),
        session(104, "b1", "revoke", None),
        session(104, "b1", "login", None),
        session(105, "b1", "connect", Some(3)),
        // b2's node is paused at 200 with connection 2 open: the new owner's login cuts it.
        session(205, "b2", "revoke", None),
        session(205, "b2", "login", None),
        session(206, "b2", "connect", Some(4)),
        // A second connection of b2 while 4 is open.
        session(300, "b2", "kick", Some(4)),
        session(300, "b2", "connect", Some(5)),
        // b1 logs out (its socket closed by the platform, no disconnect logged), logs in again.
        session(400, "b1", "revoke", None),
        session(410, "b1", "login", None),
        // b1 logs in again while 6 is open: two sessions at once.
        session(411, "b1", "connect", Some(6)),
        session(500, "b1", "revoke", None),
        session(500, "b1", "login", None),
    ];
    let pauses = [Pause { at_ms: 200, bots: ["b2".to_owned()].into() }];
    let s = sessions(&log, &bots, 0, 1000, &pauses);
    assert_eq!((s.logins, s.kicks, s.displaced, s.zombies_cut), (6, 1, 1, 1), "{:?}", s.examples);
    assert_eq!(s.overlapping(), 2);
    // Outside the window nothing is counted, but the open connections are still followed.
    let later = sessions(&log, &bots, 450, 1000, &[]);
    assert_eq!((later.logins, later.displaced, later.kicks), (1, 1, 0));
}

fn observation(at_ms: u64, owners: &[(&str, &str, i64)]) -> Observation {
    Observation {
        at: Duration::from_millis(at_ms),
        via: 0,
        members: Vec::new(),
        owners: owners.iter().map(|(bot, node, token)| (bot.to_string(), (node.to_string(), *token))).collect(),
    }
}

#[test]
fn tokens_must_only_grow_per_bot() {
    let mut tokens = Tokens::default();
    let first = tokens.check(&[observation(0, &[("b1", "n0", 5), ("b2", "n1", 6)]), observation(1, &[("b1", "n0", 5)])]);
    assert_eq!((first.regressions, first.owner_changes), (0, 0));
    let second = tokens.check(&[
        observation(2, &[("b1", "n1", 9)]),
        observation(3, &[("b1", "n0", 5)]),
        observation(4, &[("b1", "n2", 9), ("b2", "n1", 6)]),
    ]);
    assert_eq!((second.regressions, second.owner_changes), (2, 1), "{:?}", second.examples);
    // The highest token stays the one its owner holds.
    assert_eq!(tokens.check(&[observation(5, &[("b1", "n1", 9)])]).regressions, 0);
}

// ---- the fault proxy ----

fn echo_server() -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(3).flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = [0u8; 64];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, handle)
}

fn connect(endpoint: &str) -> TcpStream {
    let stream = TcpStream::connect(endpoint.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    stream
}

fn round_trip(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.write_all(b"ping").ok()?;
    let mut buffer = [0u8; 4];
    stream.read_exact(&mut buffer).ok()?;
    Some(buffer.to_vec())
}

#[test]
fn forwards_black_holes_refuses_and_heals() {
    let (upstream, _server) = echo_server();
    let proxy = FaultProxy::start(&[upstream]).unwrap();
    let mut first = connect(&proxy.endpoints[0]);
    assert_eq!(round_trip(&mut first).as_deref(), Some(&b"ping"[..]));

    proxy.set(ProxyMode::BlackHole);
    assert_eq!(round_trip(&mut first), None, "black-holed: the bytes go nowhere");
    let mut during = connect(&proxy.endpoints[0]);
    assert_eq!(round_trip(&mut during), None, "a new connection is held and goes nowhere too");

    proxy.set(ProxyMode::Refuse);
    let mut refused = connect(&proxy.endpoints[0]);
    let mut buffer = [0u8; 1];
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(refused.read(&mut buffer), Ok(0) | Err(_)), "refused: closed at once");

    proxy.set(ProxyMode::Forward);
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(first.read(&mut buffer), Ok(0) | Err(_)), "a connection that lived through the fault is closed");
    let mut healed = connect(&proxy.endpoints[0]);
    assert_eq!(round_trip(&mut healed).as_deref(), Some(&b"ping"[..]));
}

// ---- the report ----

#[test]
fn dates_are_civil_utc() {
    assert_eq!(utc(0), "1970-01-01 00:00");
    assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
    assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13");
}

#[test]
fn fault_kinds_are_named_by_their_flag() {
    for kind in FaultKind::ALL {
        assert_eq!(FaultKind::parse(kind.slug()), Some(kind));
    }
    assert_eq!(FaultKind::parse("kill-everything"), None);
}
