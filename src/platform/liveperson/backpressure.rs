//! Backpressure from the bot to the socket. The session hands each event to the BotActor with
//! `try_send`; when the bot's mailbox is full, the event waits here, in order with every later
//! one, and the session stops reading its websocket until the bot has taken them all. A burst
//! then waits in the kernel's socket buffers and on the platform, not in botvisor's memory:
//! what botvisor holds for a bot is its mailbox plus the events of one frame.
//!
//! Only consumer typing, which is advisory, is shed while the bot is behind.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix::prelude::SendError;
use actix::Recipient;
use botvisor_actors::ports::PlatformEvent;
use futures_util::Stream;

use crate::platform::liveperson::counters::SessionCounters;

/// Waiting events are offered to the bot again after the other tasks of the thread (the bot
/// among them) have run, this many times in a row; then every `RETRY_EVERY`, so a bot that
/// does not move costs no CPU.
const RETRIES_AFTER_YIELD: u32 = 64;
const RETRY_EVERY: Duration = Duration::from_millis(1);

/// Whether the session may read its socket.
#[derive(Default)]
struct ReadGate {
    closed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl ReadGate {
    fn open(&self) {
        self.closed.set(false);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// A socket's frames, read only while the gate is open.
pub struct Gated<S> {
    inner: S,
    gate: Rc<ReadGate>,
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.gate.closed.get() {
            *self.gate.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

struct Outbox {
    bot: Option<Recipient<PlatformEvent>>,
    /// Events the bot's full mailbox did not take yet, oldest first.
    waiting: VecDeque<PlatformEvent>,
    gate: Rc<ReadGate>,
    counters: Arc<SessionCounters>,
}

/// Where the session puts the events it reads for its bot.
pub struct EventOutbox {
    inner: Rc<RefCell<Outbox>>,
}

impl EventOutbox {
    pub fn new(counters: Arc<SessionCounters>) -> Self {
        Self { inner: Rc::new(RefCell::new(Outbox { bot: None, waiting: VecDeque::new(), gate: Rc::default(), counters })) }
    }

    /// Where the events go from now on.
    pub fn attach(&self, bot: Recipient<PlatformEvent>) {
        self.inner.borrow_mut().bot = Some(bot);
    }

    /// The socket's frames, paused while events wait for the bot.
    pub fn gate<S>(&self, stream: S) -> Gated<S> {
        Gated { inner: stream, gate: self.inner.borrow().gate.clone() }
    }

    /// Hands an event to the bot, or keeps it until the bot has room (the socket is not read
    /// meanwhile). Without a bot the event is dropped.
    pub fn deliver(&self, event: PlatformEvent) {
        let mut outbox = self.inner.borrow_mut();
        let outbox = &mut *outbox;
        // The same sender every time: actix marks a sender full (parks it) when the mailbox
        // reaches its capacity; a fresh clone would never be.
        let Some(bot) = outbox.bot.as_ref() else { return };
        let typing = matches!(event, PlatformEvent::ConsumerTyping { .. });
        if !outbox.waiting.is_empty() {
            if !typing {
                outbox.waiting.push_back(event);
            }
            return;
        }
        match bot.try_send(event) {
            Ok(()) | Err(SendError::Closed(_)) => {}
            Err(SendError::Full(_)) if typing => {}
            Err(SendError::Full(event)) => {
                outbox.waiting.push_back(event);
                outbox.gate.closed.set(true);
                outbox.counters.count_read_pause();
                actix_rt::spawn(flush(Rc::downgrade(&self.inner)));
            }
        }
    }
}

/// Offers the waiting events to the bot until it has taken them all, then opens the gate.
/// Ends early if the session is gone. (actix gives no wake-up when a mailbox has room again.)
async fn flush(outbox: Weak<RefCell<Outbox>>) {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if attempts <= RETRIES_AFTER_YIELD {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(RETRY_EVERY).await;
        }
        let Some(outbox) = outbox.upgrade() else { return };
        let mut outbox = outbox.borrow_mut();
        let outbox = &mut *outbox;
        while let Some(event) = outbox.waiting.pop_front() {
            let Some(bot) = outbox.bot.as_ref() else {
                outbox.waiting.clear();
                break;
            };
            match bot.try_send(event) {
                Ok(()) => {}
                Err(SendError::Closed(_)) => outbox.waiting.clear(),
                Err(SendError::Full(event)) => {
                    outbox.waiting.push_front(event);
                    break;
                }
            }
            attempts = 0; // the bot is moving
        }
        if outbox.waiting.is_empty() {
            outbox.gate.open();
            return;
        }
    }
}
