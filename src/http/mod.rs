//! Shared HTTP plumbing for every adapter: TLS trust (`tls`) and one `awc::Client` per arbiter
//! thread and trust configuration (`client`), reused by the platform sessions, the vendors and
//! the error hooks of the bots on that thread.

pub mod client;
pub mod json_call;
pub mod tls;

pub use client::shared_client;
pub use json_call::{post_json, CallFailure, JsonAnswer};
pub use tls::TlsError;
