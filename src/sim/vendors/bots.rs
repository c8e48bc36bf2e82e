//! What the simulator's fake Lex, Watson and Bot Framework bots answer, read from one JSON file:
//! intents matched by phrase (whole text first, then as words within it, case-insensitive) or by
//! event (`WELCOME`), each answering in the vendor's own wire shape. For tests an intent may fail
//! instead (a status, a number of times per session), answer slowly, or answer a raw body.
//!
//! ```json
//! {"lex": [{"bot_id": "DEMOBOT", "alias_id": "TSTALIASID", "locale": "en_US", "intents": [
//!    {"name": "Greeting", "phrases": ["hi"], "answer": {"messages": [{"contentType": "PlainText", "content": "Hello!"}]}}]}],
//!  "watson": [{"assistant_id": "demo-assistant", "intents": [
//!    {"name": "greeting", "phrases": ["hi"], "answer": {"generic": [{"response_type": "text", "text": "Hello!"}]}}]}],
//!  "directline": {"intents": [
//!    {"name": "greeting", "phrases": ["hi"], "answer": {"activities": [{"type": "message", "text": "Hello!"}]}}]}}
//! ```
//!
//! A Lex answer is `{"messages", "state"?}` (the intent's state, default `Fulfilled`); a Watson
//! answer is `{"generic", "actions"?, "context"?}` (`context` is merged into the skill's
//! `user_defined` variables, which the session keeps); a Bot Framework answer is
//! `{"activities"}`, each sent as a reply.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::small_file::read_small_file;
pub use crate::sim::google::agents::Fault;

/// The largest bots file read.
pub const MAX_BOTS_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// The event of a welcome input, whichever vendor.
pub const WELCOME_EVENT: &str = "WELCOME";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotsFile {
    #[serde(default)]
    pub lex: Vec<LexBot>,
    #[serde(default)]
    pub watson: Vec<WatsonAssistant>,
    #[serde(default)]
    pub directline: Option<DirectLineBot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexBot {
    pub bot_id: String,
    pub alias_id: String,
    #[serde(default = "en_us")]
    pub locale: String,
    pub intents: Vec<FakeIntent>,
    /// What the FallbackIntent answers.
    #[serde(default)]
    pub fallback: Option<Value>,
}

fn en_us() -> String {
    "en_US".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatsonAssistant {
    pub assistant_id: String,
    pub intents: Vec<FakeIntent>,
    #[serde(default)]
    pub fallback: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectLineBot {
    pub intents: Vec<FakeIntent>,
    #[serde(default)]
    pub fallback: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeIntent {
    pub name: String,
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default)]
    pub events: Vec<String>,
    /// The answer in the vendor's wire shape.
    #[serde(default)]
    pub answer: Value,
    #[serde(default)]
    pub fault: Option<Fault>,
}

impl BotsFile {
    pub fn read(path: &Path) -> Result<Self, Vec<String>> {
        let shown = path.display().to_string();
        let text = read_small_file(path, MAX_BOTS_FILE_BYTES).map_err(|e| vec![e.to_string()])?;
        let file: BotsFile = serde_json::from_str(&text).map_err(|e| vec![format!("{shown}: {e}")])?;
        let problems = file.validate();
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(problems.into_iter().map(|p| format!("{shown}: {p}")).collect())
        }
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |at: String, intents: &[FakeIntent], key: &str| {
            for (i, intent) in intents.iter().enumerate() {
                if intent.phrases.is_empty() && intent.events.is_empty() {
                    problems.push(format!("{at}.intents[{i}]: give phrases or events"));
                }
                if intent.fault.as_ref().is_none_or(|f| f.raw.is_none()) && !intent.answer.get(key).is_some_and(Value::is_array) {
                    problems.push(format!("{at}.intents[{i}].answer.{key}: an array"));
                }
            }
        };
        for (b, bot) in self.lex.iter().enumerate() {
            check(format!("lex[{b}]"), &bot.intents, "messages");
        }
        for (a, assistant) in self.watson.iter().enumerate() {
            check(format!("watson[{a}]"), &assistant.intents, "generic");
        }
        if let Some(bot) = &self.directline {
            check("directline".into(), &bot.intents, "activities");
        }
        problems
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The intent an input matches: an event by name; a text whole, then as words within it.
pub fn match_input<'a>(intents: &'a [FakeIntent], text: Option<&str>, event: Option<&str>) -> Option<&'a FakeIntent> {
    if let Some(event) = event {
        return intents.iter().find(|i| i.events.iter().any(|e| e == event));
    }
    let text = normalise(text?);
    let padded = format!(" {text} ");
    intents
        .iter()
        .find(|i| i.phrases.iter().any(|p| normalise(p) == text))
        .or_else(|| intents.iter().find(|i| i.phrases.iter().any(|p| padded.contains(&format!(" {} ", normalise(p))))))
}
