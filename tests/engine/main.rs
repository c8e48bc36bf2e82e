//! Behaviour tests of the engine core through the in-process fakes, in paused time. Each
//! asserts what a user would notice: the consumer's transcript, the skill a conversation lands
//! on, the TTR, the bot's state.

mod harness;

mod answers;
mod combining;
mod commands;
mod escalation;
mod functions;
mod idle;
mod lifecycle;
mod load;
mod passivation;
mod records;
mod resume;
mod supervision;
mod universe;
