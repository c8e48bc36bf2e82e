//! What the demo's simulated consumers say (the bot's side is `config/demo-scripted-bot.toml`).

/// What each simulated consumer says, one script per conversation in turn.
pub const CONSUMER_SCRIPTS: &[&[&str]] = &[
    &["hi", "menu", "urgent please", "bye"],
    &["hello", "show me a card", "I want an agent"],
    &["hey there", "what can you do?", "bye"],
];
