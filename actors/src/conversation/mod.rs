//! The ConversationActor (one per dialog) and the logic it runs.

pub mod actor;
pub mod catch_panic;
pub mod deps;
pub mod escalation;
pub mod execute;
pub mod history;
pub mod input;
pub mod machine;
pub mod messages;
pub mod passive;
pub mod session_epoch;
pub mod state;
pub mod vendor_call;

pub use actor::{ConversationActor, ConversationSpec};
pub use messages::*;
pub use passive::PassiveConversation;
