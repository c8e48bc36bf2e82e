//! One bot's session: CSDS → login → websocket, requests correlated by id with a deadline,
//! GetClock keepalive and ws pings, notifications turned into the core's events, refresh, and
//! reconnect with backoff — better than the SDK where it is known to be wrong: no reconnect
//! loop on its own close, no silent frame drops, no fighting a kick.
//!
//! `actor` carries out what the pure parts decide: `connect` (one attempt, every step with a
//! deadline), `requests` (correlation and the in-flight limit), `inbound` (frames → responses or
//! events), `reconnect` (backoff policy), `close_codes` (what a close means); `messages` is its
//! API and `settings` its configuration and the state it shares with the port.

mod actor;
pub mod close_codes;
mod connect;
pub mod inbound;
pub mod messages;
pub mod reconnect;
mod requests;
pub mod settings;

pub use actor::SessionActor;
pub use connect::ConnectError;
pub use messages::{AttachBot, EndSession, SendRequest, StartSession, StopSession};
pub use settings::{SessionSettings, SessionShared};
