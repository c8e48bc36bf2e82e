//! The invariants, read from what the simulator and the nodes report (pure functions of their
//! JSON, tested below):
//! - every consumer message answered exactly once: each consumer text is a unique token, the echo
//!   bot answers `You said: <the tokens it was asked about>` (several when messages waited
//!   together), and every answer carries its answer key (`botvisor:{conversation}:{sequence}:{item}`,
//!   ExternalId metadata); a message of a conversation moved to another skill counts as escalated;
//! - never two sessions of one bot at once, from the simulator's session log: a `kick` (a second
//!   connection of a login while one is open), or a login while a connection of the same bot is
//!   still open (the platform ends the old session). The one expected case is a paused node's
//!   connection, open since before the pause: the platform's kick is the second fence, and it is
//!   counted apart (`zombies_cut`);
//! - fencing tokens strictly increasing per bot, over every `/v1/cluster` observation in order (a
//!   token going back, or the same token under another node, is a regression).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::observe::Observation;

/// The echo bot's answer prefix (`benches/load/echo.toml`).
pub const ANSWER_PREFIX: &str = "You said: ";
/// Examples kept per kind of problem, for the report.
const EXAMPLES: usize = 5;

/// One conversation's consumer messages and the answers they got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// Consumer text messages.
    pub messages: u64,
    /// Answered at least once.
    pub answered: u64,
    /// Neither answered nor escalated.
    pub lost: u64,
    /// Answers beyond the first, summed over the messages.
    pub duplicated: u64,
    /// Not answered, in a conversation moved to another skill.
    pub escalated: u64,
    /// Answer keys seen more than once (the extra ones).
    pub duplicate_keys: u64,
    /// Answers without botvisor's answer key.
    pub unkeyed: u64,
    /// Answers whose key does not name the last consumer message they answer.
    pub key_mismatches: u64,
    /// The longest time from a consumer message to its first answer (server timestamps).
    pub slowest_answer_ms: i64,
    /// Resume: the time from the fault to the first answer of the last message the fault left
    /// waiting (sent before the cluster had recovered, answered after the fault).
    pub resume_ms: i64,
    pub examples: Vec<String>,
}

impl Answers {
    pub fn add(&mut self, other: &Answers) {
        self.messages += other.messages;
        self.answered += other.answered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.escalated += other.escalated;
        self.duplicate_keys += other.duplicate_keys;
        self.unkeyed += other.unkeyed;
        self.key_mismatches += other.key_mismatches;
        self.slowest_answer_ms = self.slowest_answer_ms.max(other.slowest_answer_ms);
        self.resume_ms = self.resume_ms.max(other.resume_ms);
        for example in &other.examples {
            if self.examples.len() < EXAMPLES * 4 {
                self.examples.push(example.clone());
            }
        }
    }
}

/// The sequence an answer key names (`botvisor:{conversation}:{sequence}:{item}`).
pub fn key_sequence(key: &str) -> Option<i64> {
    let rest = key.strip_prefix("botvisor:")?;
    let mut parts = rest.rsplitn(3, ':');
    let _item = parts.next()?;
    parts.next()?.parse().ok()
}

/// When a fault struck and when the cluster had recovered from it (epoch ms, the simulator's
/// clock), for the resume figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWindow {
    pub at_ms: i64,
    pub recovered_ms: i64,
}

/// Counts one conversation (`GET /sim/v1/conversations/{id}`); `skill` is the bots' skill.
pub fn answers(conversation: &Value, skill: &str, fault: Option<FaultWindow>) -> Answers {
    let id = conversation["conversation_id"].as_str().unwrap_or("?");
    let escalated = conversation["skill"].as_str().is_some_and(|s| s != skill);
    let events = conversation["transcript"].as_array().map(Vec::as_slice).unwrap_or_default();
    // Consumer token → (sequence, server timestamp).
    let mut consumer: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut covered: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut keys: HashMap<&str, u64> = HashMap::new();
    let mut out = Answers::default();
    let mut answers = Vec::new();
    for event in events {
        let Some(text) = event["text"].as_str() else { continue };
        let sequence = event["sequence"].as_i64().unwrap_or(-1);
        let at = event["server_timestamp"].as_i64().unwrap_or(0);
        if event["role"] == "CONSUMER" {
            if event["kind"] == "text" && !text.trim().is_empty() {
                consumer.insert(text.trim(), (sequence, at));
            }
        } else if let Some(asked) = text.strip_prefix(ANSWER_PREFIX) {
            let key = event["metadata"]
                .as_array()
                .and_then(|items| items.iter().find(|m| m["type"] == "ExternalId"))
                .and_then(|m| m["id"].as_str())
                .filter(|id| id.starts_with("botvisor:"));
            let tokens: Vec<&str> = asked.split_whitespace().collect();
            for token in &tokens {
                covered.entry(token).or_default().push(at);
            }
            match key {
                Some(key) => *keys.entry(key).or_default() += 1,
                None => {
                    out.unkeyed += 1;
                    note(&mut out.examples, format!("{id}: an answer without an answer key: {text:?}"));
                }
            }
            answers.push((key, tokens, sequence));
        }
    }
    for (token, (sequence, at)) in &consumer {
        out.messages += 1;
        match covered.get(token) {
            None if escalated => out.escalated += 1,
            None => {
                out.lost += 1;
                note(&mut out.examples, format!("{id}: consumer message {token:?} (sequence {sequence}) has no answer"));
            }
            Some(times) => {
                out.answered += 1;
                let extra = times.len() as u64 - 1;
                if extra > 0 {
                    out.duplicated += extra;
                    note(
                        &mut out.examples,
                        format!("{id}: consumer message {token:?} (sequence {sequence}) answered {} times", times.len()),
                    );
                }
                let first = times.iter().min().copied().unwrap_or(*at);
                out.slowest_answer_ms = out.slowest_answer_ms.max(first - at);
                if let Some(fault) = fault.filter(|f| *at <= f.recovered_ms && first > f.at_ms) {
                    out.resume_ms = out.resume_ms.max(first - fault.at_ms);
                }
            }
        }
    }
    for (key, count) in &keys {
        if *count > 1 {
            out.duplicate_keys += count - 1;
            note(&mut out.examples, format!("{id}: answer key {key} published {count} times"));
        }
    }
    for (key, tokens, sequence) in answers {
        let last = tokens.iter().filter_map(|t| consumer.get(t).map(|(s, _)| *s)).max();
        if let (Some(key), Some(last)) = (key, last) {
            if key_sequence(key) != Some(last) {
                out.key_mismatches += 1;
                note(&mut out.examples, format!("{id}: the answer at {sequence} with key {key} answers up to sequence {last}"));
            }
        }
    }
    out
}

fn note(examples: &mut Vec<String>, example: String) {
    if examples.len() < EXAMPLES {
        examples.push(example);
    }
}

/// The bots' sessions as the simulator logged them, over one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sessions {
    pub logins: u64,
    /// A second connection of a bot while one was open.
    pub kicks: u64,
    /// A login while a connection of the bot (not a paused node's) was still open.
    pub displaced: u64,
    /// A login while a paused node's connection, open since before the pause, was still open.
    pub zombies_cut: u64,
    pub examples: Vec<String>,
}

impl Sessions {
    /// Two sessions of one bot at once.
    pub fn overlapping(&self) -> u64 {
        self.kicks + self.displaced
    }
}

/// A paused node: when the pause began (epoch ms) and the bots it owned then.
#[derive(Debug, Clone)]
pub struct Pause {
    pub at_ms: i64,
    pub bots: HashSet<String>,
}

/// Reads the whole session log (`GET /sim/v1/sessions`, oldest first) to know which connections
/// are open, and counts what happened to `bots` within `[from_ms, to_ms]`.
pub fn sessions(log: &[Value], bots: &HashSet<String>, from_ms: i64, to_ms: i64, pauses: &[Pause]) -> Sessions {
    let mut out = Sessions::default();
    let mut by_login: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for event in log {
        if let Some(login) = event["login"].as_str().filter(|l| bots.contains(*l)) {
            by_login.entry(login).or_default().push(event);
        }
    }
    for (login, events) in by_login {
        // Open connections: id → connected at.
        let mut open: BTreeMap<u64, i64> = BTreeMap::new();
        for (i, event) in events.iter().enumerate() {
            let at = event["at_ms"].as_i64().unwrap_or(0);
            let counted = (from_ms..=to_ms).contains(&at);
            let conn = event["conn"].as_u64();
            match event["kind"].as_str().unwrap_or_default() {
                "connect" => {
                    if let Some(conn) = conn {
                        open.insert(conn, at);
                    }
                }
                "disconnect" => {
                    if let Some(conn) = conn {
                        open.remove(&conn);
                    }
                }
                "kick" => {
                    if let Some(conn) = conn {
                        open.remove(&conn);
                    }
                    if counted {
                        out.kicks += 1;
                        note(&mut out.examples, format!("{login}: connection {conn:?} kicked by a second connection at {at}"));
                    }
                }
                "revoke" => {
                    // Right before a login (the same lock hold: the same millisecond, give or take
                    // one): the login's doing, judged there. Alone (a logout, an expired token):
                    // its connections are closed.
                    let next = events[i + 1..].iter().find(|e| e["kind"] != "revoke");
                    let before_login = next.is_some_and(|e| e["kind"] == "login" && e["at_ms"].as_i64().unwrap_or(0) - at <= 1);
                    if !before_login {
                        open.clear();
                    }
                }
                "login" => {
                    if counted {
                        out.logins += 1;
                        for (conn, since) in &open {
                            let zombie = pauses.iter().any(|p| p.bots.contains(login) && *since < p.at_ms && p.at_ms <= at);
                            if zombie {
                                out.zombies_cut += 1;
                            } else {
                                out.displaced += 1;
                                note(
                                    &mut out.examples,
                                    format!("{login}: logged in at {at} while connection {conn} (open since {since}) was still open"),
                                );
                            }
                        }
                    }
                    open.clear();
                }
                _ => {}
            }
        }
    }
    out
}

/// Fencing tokens per bot over every observation, in the order they were made.
#[derive(Debug, Default)]
pub struct Tokens {
    /// Bot → the highest token seen and its owner.
    highest: HashMap<String, (i64, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCount {
    pub observations: u64,
    pub regressions: u64,
    /// Bots whose owner changed (a new token) in these observations.
    pub owner_changes: u64,
    pub examples: Vec<String>,
}

impl Tokens {
    pub fn check(&mut self, observations: &[Observation]) -> TokenCount {
        let mut out = TokenCount::default();
        for observation in observations {
            out.observations += 1;
            for (bot, (node, token)) in &observation.owners {
                match self.highest.get(bot) {
                    Some((highest, owner)) if token < highest || (token == highest && node != owner) => {
                        out.regressions += 1;
                        note(
                            &mut out.examples,
                            format!(
                                "{bot}: token {token} on {node} seen via node-{} at {:.3}s, after token {highest} on {owner}",
                                observation.via,
                                observation.at.as_secs_f64()
                            ),
                        );
                    }
                    Some((highest, _)) if token == highest => {}
                    previous => {
                        if previous.is_some() {
                            out.owner_changes += 1;
                        }
                        self.highest.insert(bot.clone(), (*token, node.clone()));
                    }
                }
            }
        }
        out
    }
}
