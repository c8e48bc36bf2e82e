//! The LivePerson Messaging Agent API client: one bot's session (CSDS, login, websocket,
//! reconnect) behind the core's `PlatformPort`.

pub mod backpressure;
pub mod bad_frame_log;
pub mod counters;
pub mod csds;
pub mod frames;
pub mod login;
pub mod port;
pub mod session;

pub use counters::SessionCounters;
pub use port::LivePersonPlatform;
pub use session::SessionSettings;
