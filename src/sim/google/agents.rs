//! The fake Dialogflow agents, read from a JSON file: for each agent (ES: a project; CX: a
//! project, location and agent id), intents matched by phrase or event, each answering messages
//! in the API's own wire shape (ES `fulfillmentMessages`, CX `responseMessages`), with an
//! optional ES action and parameters. For tests, an intent may instead fail (a status, a number
//! of times per session), answer slowly, or answer a raw body.
//!
//! ```json
//! {"agents": [
//!   {"api": "es", "project": "demo", "language_code": "en", "intents": [
//!     {"name": "greeting", "phrases": ["hi", "hello"], "events": ["WELCOME"],
//!      "messages": [{"text": {"text": ["Hello! How can I help?"]}}]},
//!     {"name": "agent", "phrases": ["agent"], "action": "TRANSFER", "parameters": {"skill": "human-agents"},
//!      "messages": [{"text": {"text": ["Transferring you"]}}]}]},
//!   {"api": "cx", "project": "demo", "location": "global", "agent": "demo-agent", "intents": [ … ]}]}
//! ```

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::small_file::read_small_file;

/// The largest agents file read.
pub const MAX_AGENTS_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsFile {
    pub agents: Vec<Agent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Es,
    Cx,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub api: Api,
    pub project: String,
    /// CX only: `global` or a region.
    #[serde(default)]
    pub location: Option<String>,
    /// CX only: the agent's id.
    #[serde(default)]
    pub agent: Option<String>,
    /// The agent's language; requests in another language are refused, as Dialogflow does.
    #[serde(default = "english")]
    pub language_code: String,
    pub intents: Vec<IntentConfig>,
    /// What the fallback intent answers (default: "Sorry, I didn't get that.").
    #[serde(default)]
    pub fallback: Option<Vec<Value>>,
}

fn english() -> String {
    "en".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentConfig {
    pub name: String,
    /// Texts that match (case-insensitive): the whole text first, then contained as words.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Events that match (`WELCOME`, `DIALOGFLOW_CHAR_LIMIT`, …).
    #[serde(default)]
    pub events: Vec<String>,
    /// ES: the intent's action string.
    #[serde(default)]
    pub action: Option<String>,
    /// ES: the intent's parameters (CX: the session parameters shown).
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// The messages, in the API's wire shape.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// For tests: fail, answer slowly or answer a raw body instead.
    #[serde(default)]
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Answer this status with Google's error body (503 UNAVAILABLE, 500 INTERNAL, …).
    #[serde(default)]
    pub status: Option<u16>,
    /// Fail only this many times per session, then answer normally (default: always).
    #[serde(default)]
    pub times: Option<u32>,
    /// Wait this long before answering.
    #[serde(default, with = "humantime_serde")]
    pub delay: Option<Duration>,
    /// Answer 200 with this body as it is (a malformed answer).
    #[serde(default)]
    pub raw: Option<Value>,
}

/// ES message kinds a fake answer may hold (with an optional `platform`).
const ES_MESSAGES: &[&str] = &["text", "payload", "quickReplies", "card", "image", "simpleResponses", "basicCard", "suggestions"];
/// CX message kinds (with optional `channel` and `responseType`).
const CX_MESSAGES: &[&str] =
    &["text", "payload", "liveAgentHandoff", "endInteraction", "conversationSuccess", "outputAudioText", "playAudio"];

impl AgentsFile {
    /// Reads and checks a file; every problem with its path.
    pub fn read(path: &Path) -> Result<Self, Vec<String>> {
        let shown = path.display().to_string();
        let text = read_small_file(path, MAX_AGENTS_FILE_BYTES).map_err(|e| vec![e.to_string()])?;
        let file: AgentsFile = serde_json::from_str(&text).map_err(|e| vec![format!("{shown}: {e}")])?;
        let problems = file.validate();
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(problems.into_iter().map(|p| format!("{shown}: {p}")).collect())
        }
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (a, agent) in self.agents.iter().enumerate() {
            let at = format!("agents[{a}]");
            if agent.project.is_empty() {
                problems.push(format!("{at}.project: must not be empty"));
            }
            if agent.api == Api::Cx && (agent.location.is_none() || agent.agent.is_none()) {
                problems.push(format!("{at}: a CX agent needs location and agent"));
            }
            let kinds = if agent.api == Api::Es { ES_MESSAGES } else { CX_MESSAGES };
            let check_messages = |messages: &[Value], at: &str, problems: &mut Vec<String>| {
                for (m, message) in messages.iter().enumerate() {
                    let keys: Vec<&String> = message
                        .as_object()
                        .map(|o| o.keys().filter(|k| !matches!(k.as_str(), "platform" | "channel" | "responseType")).collect())
                        .unwrap_or_default();
                    if keys.len() != 1 || !kinds.contains(&keys[0].as_str()) {
                        problems.push(format!("{at}[{m}]: one of {kinds:?} per message"));
                    }
                }
            };
            for (i, intent) in agent.intents.iter().enumerate() {
                let at = format!("{at}.intents[{i}]");
                if intent.phrases.is_empty() && intent.events.is_empty() {
                    problems.push(format!("{at}: give phrases or events"));
                }
                if agent.api == Api::Cx && intent.action.is_some() {
                    problems.push(format!("{at}.action: CX intents answer actions as payloads"));
                }
                check_messages(&intent.messages, &format!("{at}.messages"), &mut problems);
            }
            if let Some(fallback) = &agent.fallback {
                check_messages(fallback, &format!("{at}.fallback"), &mut problems);
            }
        }
        problems
    }
}

/// Lower case, single spaces.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl Agent {
    /// The intent an input matches: an event by name; a text whole, then as words within it.
    pub fn match_input(&self, text: Option<&str>, event: Option<&str>) -> Option<&IntentConfig> {
        if let Some(event) = event {
            return self.intents.iter().find(|i| i.events.iter().any(|e| e == event));
        }
        let text = normalise(text?);
        let padded = format!(" {text} ");
        self.intents
            .iter()
            .find(|i| i.phrases.iter().any(|p| normalise(p) == text))
            .or_else(|| self.intents.iter().find(|i| i.phrases.iter().any(|p| padded.contains(&format!(" {} ", normalise(p))))))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn matching_whole_texts_before_words_and_events_by_name() {
        let file: AgentsFile = serde_json::from_value(json!({"agents": [{"api": "es", "project": "p", "intents": [
            {"name": "agent", "phrases": ["agent"]},
            {"name": "human agent", "phrases": ["human agent"]},
            {"name": "welcome", "events": ["WELCOME"]}
        ]}]}))
        .unwrap();
        assert!(file.validate().is_empty());
        let agent = &file.agents[0];
        assert_eq!(agent.match_input(Some("Human  Agent"), None).unwrap().name, "human agent");
        assert_eq!(agent.match_input(Some("I want an agent please"), None).unwrap().name, "agent");
        assert!(agent.match_input(Some("agents"), None).is_none());
        assert_eq!(agent.match_input(None, Some("WELCOME")).unwrap().name, "welcome");
    }

    #[test]
    fn problems_have_paths() {
        let file: AgentsFile = serde_json::from_value(json!({"agents": [{"api": "cx", "project": "p", "intents": [
            {"name": "x", "messages": [{"text": {}, "payload": {}}]}
        ]}]}))
        .unwrap();
        let problems = file.validate();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("agents[0]: a CX agent"));
    }
}
