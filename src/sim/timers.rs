//! The platform's timers (ring expiry, re-offers): operations on `SimState` return the timers
//! they ask for, and whoever ran the operation arms them here, on the current actix system.
//! A timer runs its operation on the state and arms the timers that asks for in turn.

use std::time::Duration;

use crate::sim::state::{Shared, SimState, Timer};

/// Arms the timers an operation asked for.
pub fn arm(state: &Shared, timers: Vec<Timer>) {
    for timer in timers {
        match timer {
            Timer::RingExpiry { ring_id, after } => later(state, after, move |s| s.expire_ring(&ring_id)),
            Timer::Reoffer { conversation_id, after } => later(state, after, move |s| s.reoffer(&conversation_id)),
        }
    }
}

/// Runs `then` on the state after `after`, and arms the timers it asks for.
fn later(state: &Shared, after: Duration, then: impl FnOnce(&mut SimState) + 'static) {
    let state = state.clone();
    actix_rt::spawn(async move {
        tokio::time::sleep(after).await;
        let timers = {
            let mut locked = state.lock().expect("state lock");
            then(&mut locked);
            locked.take_timers()
        };
        arm(&state, timers);
    });
}

/// Runs an operation on the state and arms the timers it asks for.
pub fn run<T>(state: &Shared, operation: impl FnOnce(&mut SimState) -> T) -> T {
    let (result, timers) = {
        let mut locked = state.lock().expect("state lock");
        let result = operation(&mut locked);
        (result, locked.take_timers())
    };
    arm(state, timers);
    result
}
