//! The LivePerson Messaging Agent API client: one bot's session (CSDS, login, websocket,
//! reconnect) behind the core's `PlatformPort`.

pub mod frames;
pub mod csds;
pub mod http_client;
pub mod login;
pub mod socket;
pub mod port;
pub mod counters;
pub mod backpressure;
pub mod bad_frame_log;

pub use port::LivePersonPlatform;
pub use counters::SessionCounters;
pub use socket::SessionSettings;
