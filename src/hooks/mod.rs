//! Hooks: where botvisor tells other systems about what happens.

pub mod error_hook;
