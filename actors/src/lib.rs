//! botvisor's engine core: the actor tree that decides what happens in every conversation.
//!
//! - [`bot::BotActor`] — one per bot agent: lifecycle, rings, supervision.
//! - [`conversation::ConversationActor`] — one per dialog: combining, vendor calls, execution,
//!   escalation, inactivity.
//! - [`load::LoadActor`] — one per bot: open-conversation count and admission.
//! - [`ports`] — the traits through which the core talks to the platform and the vendors.
//!
//! The crate does no I/O of its own; adapters live in the `botvisor` binary.

pub mod bot;
pub mod conversation;
pub mod errors;
pub mod live;
pub mod load;
pub mod model;
pub mod ports;
pub mod settings;
#[cfg(feature = "testkit")]
pub mod testkit;
