//! The fuzz targets' bodies, shared by the libFuzzer binaries (`tests/fuzz/fuzz_targets/`) and
//! the corpus replay test (`tests/fuzz_corpus.rs`, on stable, in `./scripts/test`). Each takes the
//! bytes a peer or an operator could send, runs them through the same pure functions botvisor runs
//! them through, and asserts what must hold whatever the bytes: no panic, and an input refused
//! with a documented `botvisor.` code (a vendor answer, an admin API body) or a problem with its
//! path (a configuration), never silently half-read.

use botvisor::api::{parse_bot, parse_command, parse_json, CapacityChange, ACTIONS};
use botvisor::config::{BotConfig, ServiceConfig};
use botvisor::platform::liveperson::frames::{self, Identity};
use botvisor::platform::liveperson::session::inbound::{self, BadFrame, FragmentError, Fragments, Inbound};
use botvisor::service::registry::{capacity_of, with_capacity};
use botvisor::vendors::dialogflow::{cx_response, es_response};
use botvisor::vendors::scripted::ScriptedVendor;
use botvisor::vendors::{custom_endpoint_response, directline_response, function_response, lex_response, watson_response};
use botvisor_actors::conversation::ConversationCommand;
use botvisor_actors::errors::VendorError;
use botvisor_actors::load::Capacity;
use botvisor_actors::model::{BotResponse, ResponseItem, Ttr};
use botvisor_actors::ports::PlatformEvent;
use serde_json::Value;

/// A target's body: the bytes in, a panic when something that must hold does not.
pub type Body = fn(&[u8]);

/// Every target: its name (the folder of its corpus under `tests/fuzz/corpus/`) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("platform_frame", platform_frame),
    ("custom_endpoint_response", custom_endpoint_response),
    ("function_response", function_response),
    ("dialogflow_es_response", dialogflow_es_response),
    ("dialogflow_cx_response", dialogflow_cx_response),
    ("lex_response", lex_response),
    ("watson_response", watson_response),
    ("directline_response", directline_response),
    ("service_config", service_config),
    ("scripted_bot", scripted_bot),
    ("admin_bot_config", admin_bot_config),
    ("admin_capacity", admin_capacity),
    ("admin_conversation_action", admin_conversation_action),
];

// ---- the platform ----------------------------------------------------------------------------

fn me() -> Identity {
    Identity { account: "le1".into(), user_id: "7".into(), pid: "pid-7".into() }
}

/// A websocket text frame from the platform, whole or in fragments (pieces split at NUL bytes: a
/// first text fragment, continuations, a last one), as the session reads it: a response to
/// correlate (and the bodies the requests waiting for one read: history, conversation, profile)
/// or a notification dispatched into the core's events, as a live change and as a snapshot.
pub fn platform_frame(data: &[u8]) {
    use actix_http::ws::Item;
    use actix_web::web::Bytes;
    let pieces: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    if pieces.len() == 1 {
        // The session refuses a text frame that is not UTF-8 before reading it.
        if let Ok(text) = std::str::from_utf8(data) {
            platform_text(text);
        }
        return;
    }
    let mut fragments = Fragments::default();
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        let bytes = Bytes::copy_from_slice(piece);
        // A piece starting with 0xFF is a binary fragment (not part of the protocol).
        let item = match i {
            _ if piece.first() == Some(&0xFF) => Item::FirstBinary(bytes),
            0 => Item::FirstText(bytes),
            i if i == last => Item::Last(bytes),
            _ => Item::Continue(bytes),
        };
        match fragments.push(item) {
            Ok(Some(text)) => platform_text(&text),
            Ok(None) => {}
            Err(FragmentError::Skipped(bad) | FragmentError::Fatal(bad, _)) => check_bad_frame(&bad),
        }
    }
}

/// A frame that cannot be used says why (its kind is the peer's own, maybe empty).
fn check_bad_frame(bad: &BadFrame) {
    assert!(!bad.why.is_empty(), "a bad frame says why: {bad:?}");
}

fn platform_text(text: &str) {
    let me = me();
    match inbound::parse(text) {
        Err(bad) => check_bad_frame(&bad),
        Ok(Inbound::Response { id: _, status, result }) => match result {
            Ok(body) => {
                assert!((200..300).contains(&status), "only a 2xx is a success, not {status}");
                // The body is kept as text: it must be JSON whoever reads it later.
                let value: Value = serde_json::from_str(body.get()).expect("a response body is JSON text");
                // QueryMessages' history, ExConversation's result, GetUserProfile's profile.
                for raw in frames::history_events(&body).into_iter().flatten() {
                    if let Ok(message) = frames::dialog_message(&me, raw, Some("consumer-pid")) {
                        let raw: Value = serde_json::from_str(raw.get()).expect("an event is JSON text");
                        assert!(!message.dialog_id.as_str().is_empty() || raw["dialogId"] == "");
                        if message.originator == botvisor_actors::model::Originator::Consumer {
                            assert_eq!(message.raw.to_value(), raw, "a consumer's event reaches the vendor whole");
                        }
                    }
                }
                let _ = frames::conversation_info(&value, &frames::KnownIds::default());
                let attributes = frames::engagement_attributes(&value);
                assert!(attributes["authenticatedSdes"]["SDEs"].is_array(), "{attributes}");
            }
            Err(_) => assert!(!(200..300).contains(&status), "a {status} is a success"),
        },
        Ok(Inbound::Notification(frame)) => {
            let known = frames::KnownIds::default();
            known.remember_consumer("c1".into(), "consumer-pid".into());
            for snapshot in [false, true] {
                let dispatch = inbound::dispatch(&me, &frame, snapshot, &known);
                for bad in &dispatch.problems {
                    check_bad_frame(bad);
                }
                let reconciles = dispatch.events.iter().filter(|e| matches!(e, PlatformEvent::OpenConversations { .. })).count();
                // Only a snapshot read in full lets the bot drop the conversations it holds.
                assert_eq!(reconciles, usize::from(snapshot && dispatch.problems.is_empty()), "{dispatch:?}");
                if reconciles == 1 {
                    assert!(matches!(dispatch.events.last(), Some(PlatformEvent::OpenConversations { .. })), "reconciling comes last");
                }
            }
        }
    }
}

// ---- the vendors -----------------------------------------------------------------------------

/// An answer body as the adapters read it: JSON, or (empty, not JSON) nothing.
fn body(data: &[u8]) -> Value {
    serde_json::from_slice(data).unwrap_or(Value::Null)
}

/// A vendor answer is a response or an `InvalidResponse` with a documented `botvisor.` code.
fn check_answer(result: Result<BotResponse, VendorError>) {
    match result {
        Ok(response) => {
            for item in &response.items {
                if let ResponseItem::StructuredContent(content) = item {
                    assert!(content.content.is_object(), "structured content is an object: {}", content.content);
                }
            }
        }
        Err(VendorError::InvalidResponse { code, message }) => {
            assert!(code.starts_with("botvisor.") && code.len() > "botvisor.".len(), "undocumented code {code:?}");
            assert!(!message.is_empty(), "{code} says what is wrong");
        }
        Err(other) => panic!("a parser refuses an answer with InvalidResponse, not {other:?}"),
    }
}

pub fn custom_endpoint_response(data: &[u8]) {
    check_answer(custom_endpoint_response::parse_response(&body(data)));
}

pub fn function_response(data: &[u8]) {
    // The function adapter passes no body when the answer is empty or not JSON.
    let value = serde_json::from_slice::<Value>(data).ok();
    check_answer(function_response::parse_function_response(value.as_ref()));
}

pub fn dialogflow_es_response(data: &[u8]) {
    check_answer(es_response::parse_response(&body(data)));
}

pub fn dialogflow_cx_response(data: &[u8]) {
    check_answer(cx_response::parse_response(&body(data)));
}

pub fn lex_response(data: &[u8]) {
    check_answer(lex_response::parse_response(&body(data)));
}

/// Watson's answers, without and with the `encodedMetadata` an earlier answer left in force.
pub fn watson_response(data: &[u8]) {
    let value = body(data);
    for sticky in [None, Some("ZWFybGllcg==")] {
        let result = watson_response::parse_response_with(&value, sticky);
        if let Ok((_, encoded)) = &result {
            if sticky.is_some() {
                assert!(encoded.is_some(), "an answer does not forget the metadata in force");
            }
        }
        check_answer(result.map(|(response, _)| response));
    }
}

pub fn directline_response(data: &[u8]) {
    check_answer(directline_response::parse_response(&body(data)));
}

// ---- configuration ---------------------------------------------------------------------------

/// The service configuration: parsed, validated (every problem with its path), and, when valid,
/// every bot's engine settings built as `run` builds them.
pub fn service_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = ServiceConfig::from_toml(text, "fuzz.toml") else { return };
    let problems = config.validate();
    for problem in &problems {
        assert!(!problem.path.is_empty() && !problem.message.is_empty(), "a problem says where and what: {problem:?}");
    }
    if problems.is_empty() {
        for bot in &config.bots {
            assert!(ServiceConfig::bot_settings(bot).is_ok(), "a valid bot has settings: {}", bot.id);
            assert_round_trip(bot);
        }
    }
}

/// A scripted bot's file: parsed (errors name the line) and, when it parses, answering.
pub fn scripted_bot(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(vendor) = ScriptedVendor::from_toml(text) else { return };
    let head: String = text.chars().take(64).collect();
    for said in ["hello", "", "I want to talk to an agent", head.as_str()] {
        let _ = vendor.answer(said);
    }
}

/// What the store keeps of a bot (its JSON) reads back as the same bot: a bot the API accepted
/// is still there after a restart.
fn assert_round_trip(bot: &BotConfig) {
    let stored = serde_json::to_string(bot).expect("a bot config serialises");
    let back = parse_bot(&stored, false).unwrap_or_else(|e| panic!("a stored bot reads back: {e}\n{stored}"));
    assert_eq!(serde_json::to_value(&back).ok(), serde_json::to_value(bot).ok(), "a stored bot reads back the same");
}

// ---- the admin API's request bodies ----------------------------------------------------------

fn check_api_error(error: &botvisor::api::errors::ApiError) {
    assert!(error.code().starts_with("botvisor.api."), "{}", error.code());
    assert!(error.status().is_client_error(), "a body the API refuses is the client's mistake: {}", error.status());
    assert!(!error.to_string().is_empty());
}

/// `POST /v1/bots` and `PUT /v1/bots/{id}` bodies, as JSON and as TOML: a bot, or
/// `botvisor.api.invalid-config` with the problem's path; a bot is then validated as the registry
/// does (with and without the embedded simulator), and one that passes survives the store.
pub fn admin_bot_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for toml in [false, true] {
        match parse_bot(text, toml) {
            Ok(bot) => {
                for simulator in [false, true] {
                    if bot.validate("", simulator).is_empty() {
                        assert_round_trip(&bot);
                    }
                }
                let _ = bot.redacted();
            }
            Err(error) => check_api_error(&error),
        }
    }
}

/// A bot the capacity target changes: valid, with nothing on disk.
pub const CAPACITY_BOT: &str = r#"{"id": "cap", "name": "Capacity",
    "platform": {"csds": "embedded", "login": "cap", "auth": {"password": {"value": "pw"}}},
    "vendor": {"kind": "custom_endpoint", "base_url": "http://127.0.0.1:9", "bot_id": "b1", "auth": {"token": {"value": "t"}}},
    "settings": {"skill": "bots", "escalation": {"skill": "human-agents"}, "load": {"recommended": 20, "hard": 30, "low_water": 10}}}"#;

/// `PATCH /v1/bots/{id}/capacity` bodies: a change applied to a bot's capacity; numbers the
/// registry accepts are written into the configuration and read back the same, and the bot stays
/// valid.
pub fn admin_capacity(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let change: CapacityChange = match parse_json(text) {
        Ok(change) => change,
        Err(error) => return check_api_error(&error),
    };
    let mut bot = parse_bot(CAPACITY_BOT, false).expect("the capacity target's bot parses");
    let current = capacity_of(&bot).expect("the capacity target's bot has a capacity");
    let capacity: Capacity = change.applied_to(current);
    if capacity.problems().is_empty() {
        with_capacity(&mut bot, capacity);
        assert_eq!(capacity_of(&bot), Some(capacity), "the capacity written is the capacity read");
        assert_eq!(bot.validate("", true), vec![], "a capacity the registry accepts keeps the bot valid");
    }
}

/// `POST /v1/bots/{id}/conversations/{cid}/{action}` bodies: the action on the first line, its
/// JSON body after. A command keeps the documented bounds; a refusal is a documented 4xx.
pub fn admin_conversation_action(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (action, body) = text.split_once('\n').unwrap_or((text, ""));
    match parse_command(action, body) {
        Ok(command) => {
            assert!(ACTIONS.contains(&action), "{action:?} is not an action");
            match command {
                ConversationCommand::Transfer { skill, agent_id } => {
                    assert!(!skill.trim().is_empty());
                    assert!(agent_id.is_none_or(|a| !a.is_empty()));
                }
                ConversationCommand::Close { .. } => {}
                ConversationCommand::ChangeTtr(Ttr::Custom { seconds }) => assert!((1..=2_592_000).contains(&seconds)),
                ConversationCommand::ChangeTtr(_) => {}
                ConversationCommand::Send(items) => {
                    assert!((1..=10).contains(&items.len()));
                    for item in items {
                        match item {
                            ResponseItem::Text(text) => assert!(!text.text.trim().is_empty() && text.text.chars().count() <= 10_000),
                            ResponseItem::StructuredContent(content) => assert!(content.content.is_object()),
                            ResponseItem::Delay { .. } => panic!("the API sends no delays"),
                        }
                    }
                }
            }
        }
        Err(error) => check_api_error(&error),
    }
}
