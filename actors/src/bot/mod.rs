//! The BotActor (one per bot agent): lifecycle, rings, supervision of its conversations.

pub mod actor;
pub mod factory;
pub mod messages;
pub mod restart;
pub mod state;
pub mod vendor_stats;

pub use actor::BotActor;
pub use factory::ConversationFactory;
pub use messages::*;
pub use restart::{Restart, RestartPolicy, RestartVerdict};
pub use state::Lifecycle;
