//! The LivePerson Messaging Agent API client: one bot's session (CSDS, login, websocket,
//! reconnect) behind the core's `PlatformPort`.

pub mod frames;
