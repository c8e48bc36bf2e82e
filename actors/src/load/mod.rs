//! The LoadActor (one per bot): open-conversation count, capacity and admission.

pub mod actor;
pub mod messages;
pub mod state;

pub use actor::LoadActor;
pub use messages::*;
pub use state::{Admission, Capacity, LoadSnapshot, RingDecision};
