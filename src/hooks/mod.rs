//! Hooks: where botvisor calls out to the bot's own code and tells other systems what happens —
//! the error hook, the pre and post hooks around vendor calls, the bot's functions.

pub mod error_hook;
pub mod function_invoker;
pub mod vendor_hooks;
