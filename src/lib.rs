//! botvisor's adapters and service, as a library so black-box tests and benches can embed
//! them in-process. The engine core is the `botvisor-actors` crate.

pub mod api;
pub mod cluster;
pub mod config;
pub mod hooks;
pub mod http;
pub mod platform;
pub mod service;
pub mod sim;
pub mod vendors;
