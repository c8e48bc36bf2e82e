//! The scripted vendor: a bot defined in a TOML file — intents matched by keywords or regular
//! expressions, each answering with the same item types as the Custom Endpoint and at most one
//! action; a fallback; a welcome. It needs no external service (the embedded default).

use std::sync::Arc;

use botvisor_actors::errors::VendorError;
use botvisor_actors::model::{BotAction, BotResponse, MessageAudience, ResponseItem, StructuredContentMessage, TextMessage, Ttr};
use botvisor_actors::ports::{VendorHealth, VendorInput, VendorPort, VendorRequest, VendorResult};
use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default)]
    welcome: Option<Answer>,
    #[serde(default)]
    intents: Vec<IntentFile>,
    fallback: Answer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentFile {
    name: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    patterns: Vec<toml::Spanned<String>>,
    #[serde(flatten)]
    answer: Answer,
}

#[derive(Debug, Clone, Deserialize)]
struct Answer {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    action: Option<Action>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Item {
    Text {
        text: String,
    },
    Private {
        text: String,
    },
    QuickReplies {
        text: String,
        replies: Vec<String>,
    },
    StructuredContent {
        content: toml::Value,
    },
    Delay {
        seconds: u32,
        #[serde(default = "yes")]
        typing: bool,
    },
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Action {
    Transfer {
        skill: String,
        #[serde(default)]
        agent_id: Option<String>,
    },
    Close {
        #[serde(default)]
        without_pcs: bool,
    },
    Ttr {
        ttr_type: String,
        #[serde(default)]
        seconds: Option<u64>,
    },
}

/// One intent, ready to match.
struct Intent {
    name: String,
    keywords: Vec<String>,
    patterns: Vec<Regex>,
    response: BotResponse,
}

/// A loaded script.
pub struct Script {
    welcome: Option<BotResponse>,
    intents: Vec<Intent>,
    fallback: BotResponse,
}

/// The scripted vendor. Cheap to clone.
#[derive(Clone)]
pub struct ScriptedVendor {
    script: Arc<Script>,
    /// Every answer comes this long after the call (a vendor's thinking time, for load tests).
    latency: Option<std::time::Duration>,
}

impl ScriptedVendor {
    /// How many intents the script has.
    pub fn intent_count(&self) -> usize {
        self.script.intents.len()
    }

    /// Answers `latency` after each call (load tests' slow vendor).
    pub fn with_latency(mut self, latency: Option<std::time::Duration>) -> Self {
        self.latency = latency;
        self
    }

    /// A script from its text (`config::read_script` reads one from a file); errors name the
    /// line and the field.
    pub fn from_toml(text: &str) -> Result<Self, ScriptError> {
        let file: ScriptFile = toml::from_str(text)
            .map_err(|e| ScriptError::Parse { line: e.span().map(|span| line_of(text, span.start)), message: e.message().to_owned() })?;
        Self::from_script(text, file).map_err(ScriptError::Invalid)
    }

    fn from_script(text: &str, file: ScriptFile) -> Result<Self, String> {
        let mut intents = Vec::new();
        for (i, intent) in file.intents.into_iter().enumerate() {
            if intent.keywords.is_empty() && intent.patterns.is_empty() {
                return Err(format!("intents[{i}] ({}): give keywords or patterns", intent.name));
            }
            let mut patterns = Vec::new();
            for (j, pattern) in intent.patterns.iter().enumerate() {
                let regex = Regex::new(pattern.get_ref()).map_err(|e| {
                    format!(
                        "line {}: intents[{i}].patterns[{j}] ({}): not a valid regular expression: {e}",
                        line_of(text, pattern.span().start),
                        intent.name
                    )
                })?;
                patterns.push(regex);
            }
            let response = answer(&intent.answer).map_err(|e| format!("intents[{i}] ({}): {e}", intent.name))?;
            intents.push(Intent {
                name: intent.name,
                keywords: intent.keywords.iter().map(|k| k.to_lowercase()).collect(),
                patterns,
                response,
            });
        }
        let welcome = file.welcome.as_ref().map(answer).transpose().map_err(|e| format!("welcome: {e}"))?;
        let fallback = answer(&file.fallback).map_err(|e| format!("fallback: {e}"))?;
        Ok(Self { script: Arc::new(Script { welcome, intents, fallback }), latency: None })
    }

    /// The answer to `text` and the intent that matched (`None`: the fallback).
    pub fn answer(&self, text: &str) -> (BotResponse, Option<&str>) {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        for intent in &self.script.intents {
            let keyword =
                intent.keywords.iter().any(|k| if k.contains(' ') { lower.contains(k.as_str()) } else { words.contains(&k.as_str()) });
            if keyword || intent.patterns.iter().any(|p| p.is_match(text)) {
                return (with_text(&intent.response, text), Some(&intent.name));
            }
        }
        (with_text(&self.script.fallback, text), None)
    }
}

/// Why a script cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Parse { line: Option<usize>, message: String },
    #[error("{0}")]
    Invalid(String),
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// `{text}` in the script's texts is the consumer's message.
fn with_text(response: &BotResponse, text: &str) -> BotResponse {
    let mut response = response.clone();
    for item in &mut response.items {
        if let ResponseItem::Text(t) = item {
            t.text = t.text.replace("{text}", text);
        }
    }
    response
}

fn answer(answer: &Answer) -> Result<BotResponse, String> {
    if answer.items.is_empty() && answer.action.is_none() {
        return Err("an answer needs items or an action".into());
    }
    let items = answer
        .items
        .iter()
        .map(|item| match item {
            Item::Text { text } => ResponseItem::Text(TextMessage::plain(text)),
            Item::Private { text } => ResponseItem::Text(TextMessage {
                text: text.clone(),
                audience: MessageAudience::AgentsAndManagers,
                ..TextMessage::default()
            }),
            Item::QuickReplies { text, replies } => ResponseItem::Text(TextMessage {
                text: text.clone(),
                quick_replies: Some(
                    json!({"type": "quickReplies", "itemsPerRow": replies.len().clamp(1, 8), "replies": replies.iter().map(|r| json!({
                    "type": "button", "title": r, "click": {"actions": [{"type": "publishText", "text": r}]}
                })).collect::<Vec<_>>()}),
                ),
                ..TextMessage::default()
            }),
            Item::StructuredContent { content } => ResponseItem::StructuredContent(StructuredContentMessage {
                content: serde_json::to_value(content).unwrap_or(Value::Null),
                metadata: None,
                encoded_metadata: None,
            }),
            Item::Delay { seconds, typing } => ResponseItem::Delay { seconds: *seconds, typing: *typing },
        })
        .collect();
    let action = match &answer.action {
        None => None,
        Some(Action::Transfer { skill, agent_id }) => Some(BotAction::Transfer { skill: skill.clone(), agent_id: agent_id.clone() }),
        Some(Action::Close { without_pcs }) => Some(BotAction::CloseConversation { without_pcs: *without_pcs }),
        Some(Action::Ttr { ttr_type, seconds }) => Some(BotAction::ChangeTtr(match (ttr_type.as_str(), seconds) {
            ("URGENT", _) => Ttr::Urgent,
            ("NORMAL", _) => Ttr::Normal,
            ("PRIORITIZED", _) => Ttr::Prioritized,
            ("CUSTOM", Some(seconds)) => Ttr::Custom { seconds: *seconds },
            (other, _) => return Err(format!("action.ttr_type: {other:?} is not URGENT, NORMAL, PRIORITIZED, or CUSTOM with seconds")),
        })),
    };
    Ok(BotResponse { items, action, ..BotResponse::default() })
}

impl VendorPort for ScriptedVendor {
    fn send(&self, request: VendorRequest) -> VendorResult<BotResponse> {
        let response = match &request.input {
            VendorInput::Welcome { last_consumer_message, .. } => Ok(match &self.script.welcome {
                Some(welcome) => welcome.clone(),
                None => self.answer(last_consumer_message.as_deref().unwrap_or("hello")).0,
            }),
            VendorInput::Message { text, .. } => Ok(self.answer(text).0),
        };
        match self.latency {
            Some(latency) => Box::pin(async move {
                tokio::time::sleep(latency).await;
                response
            }),
            None => Box::pin(std::future::ready(response)),
        }
    }

    fn health(&self) -> VendorResult<VendorHealth> {
        Box::pin(std::future::ready(Ok::<_, VendorError>(VendorHealth::Online)))
    }

    fn name(&self) -> &'static str {
        "scripted"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_file_answers_every_intent() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo-scripted-bot.toml");
        let vendor = ScriptedVendor::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
        let intent = |text: &str| vendor.answer(text).1.map(str::to_owned);
        assert_eq!(intent("I want an AGENT please").as_deref(), Some("agent"));
        assert_eq!(intent("bye!").as_deref(), Some("bye"));
        assert_eq!(intent("this is urgent").as_deref(), Some("urgent"));
        assert_eq!(intent("show the menu").as_deref(), Some("menu"));
        assert_eq!(intent("a card please").as_deref(), Some("card"));
        assert_eq!(intent("where is order #1234?").as_deref(), Some("order"));
        assert_eq!(intent("something else"), None);
        let (agent, _) = vendor.answer("agent");
        assert!(matches!(agent.action, Some(BotAction::Transfer { ref skill, .. }) if skill == "human-agents"));
        assert!(agent.items.iter().any(|i| matches!(i, ResponseItem::Text(t) if t.audience == MessageAudience::AgentsAndManagers)));
        assert_eq!(vendor.answer("bye").0.action, Some(BotAction::CloseConversation { without_pcs: false }));
        assert_eq!(vendor.answer("urgent").0.action, Some(BotAction::ChangeTtr(Ttr::Urgent)));
        assert!(matches!(&vendor.answer("menu").0.items[0], ResponseItem::Text(t) if t.quick_replies.is_some()));
        assert!(matches!(&vendor.answer("card").0.items[0], ResponseItem::StructuredContent(sc) if sc.content["type"] == "vertical"));
        let (fallback, _) = vendor.answer("hello there");
        assert!(matches!(fallback.items[0], ResponseItem::Delay { seconds: 1, typing: true }));
        assert!(matches!(&fallback.items[1], ResponseItem::Text(t) if t.text == "You said: hello there"));
        assert!(vendor.script.welcome.is_some());
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let unknown_action = "[fallback]\nitems = [{ type = \"text\", text = \"x\" }]\naction = { type = \"dance\" }\n";
        let error = ScriptedVendor::from_toml(unknown_action).err().unwrap().to_string();
        assert!(error.starts_with("line 3:") && error.contains("dance"), "{error}");
        let bad_regex = "[fallback]\nitems = [{ type = \"text\", text = \"x\" }]\n\n[[intents]]\nname = \"broken\"\npatterns = [\"(unclosed\"]\nitems = [{ type = \"text\", text = \"y\" }]\n";
        let error = ScriptedVendor::from_toml(bad_regex).err().unwrap().to_string();
        assert!(error.starts_with("line 6: intents[0].patterns[0] (broken): not a valid regular expression"), "{error}");
        let empty = "[fallback]\nitems = []\n";
        assert_eq!(ScriptedVendor::from_toml(empty).err().unwrap().to_string(), "fallback: an answer needs items or an action");
    }
}
