//! Platform adapters: implementations of the core's `PlatformPort`.

pub mod liveperson;
