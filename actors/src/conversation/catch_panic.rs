//! A future wrapper that turns a panic inside the wrapped future into an error value, so a
//! ConversationActor can end with `ExitReason::Panicked` and be rebuilt instead of dying silently.
//! Port adapters (vendor and platform clients) run inside these futures.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> CatchPanic<F> {
    pub fn new(inner: F) -> Self {
        Self { inner: Box::pin(inner) }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    /// The output, or the panic's message.
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ok = runtime.block_on(CatchPanic::new(async { 7 }));
        assert_eq!(ok, Ok(7));
        let failed = runtime.block_on(CatchPanic::new(async { panic!("adapter bug {}", 42) }));
        assert_eq!(failed, Err::<(), _>("adapter bug 42".to_owned()));
    }
}
