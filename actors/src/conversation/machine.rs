//! The ConversationActor's step order: what a conversation does next, as data and a pure
//! function of its state and `now`.
//!
//! A conversation works on one thing at a time. Whenever it is free ([`Phase::Ready`]) it asks
//! [`Machine::next_step`], and the actor carries the [`Step`] out. The order, first match wins:
//!
//! 1. the platform removed the bot while it was busy: end;
//! 2. a history re-read was asked for while busy: read it;
//! 3. work the session dropped in the middle of: the escalation, or the answer's action;
//! 4. the opening input (welcome event, transfer-in utterance);
//! 5. the waiting consumer messages once due, or a timer for when they are;
//! 6. messages left in the platform's history (the buffer was full): read them back;
//! 7. nothing: wait for news.

use tokio::time::Instant;

use crate::conversation::escalation::EscalationRequest;
use crate::conversation::state::Combiner;
use crate::errors::ErrorReport;
use crate::model::BotAction;
use crate::ports::VendorInput;
use crate::settings::CombineSettings;

/// What a conversation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the dialog's history.
    Loading,
    /// Waiting for consumer messages or the combining deadline.
    Ready,
    /// A vendor call is in flight.
    Calling,
    /// Publishing an answer and its action.
    Executing,
    Escalating,
    /// Closing for inactivity.
    Closing,
    /// The session dropped; waiting for a reconnect to re-read history.
    WaitingForSession,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Ready => "ready",
            Phase::Calling => "calling_vendor",
            Phase::Executing => "executing",
            Phase::Escalating => "escalating",
            Phase::Closing => "closing",
            Phase::WaitingForSession => "waiting_for_session",
        }
    }

    /// A removal waits for the work of this phase: the platform's notice of a transfer or close
    /// can overtake the answer to the bot's own command, whose reason must win.
    fn finishes_before_removal(self) -> bool {
        matches!(self, Phase::Executing | Phase::Escalating | Phase::Closing)
    }

    /// A history re-read can start at once in this phase (otherwise it waits for the work).
    fn can_read_history(self) -> bool {
        matches!(self, Phase::Ready | Phase::WaitingForSession)
    }
}

/// The first input of a conversation newly assigned to the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    /// History was not read yet: whether an opening input is due is not known.
    Unread,
    /// To send before any waiting consumer message: the welcome event, or the utterance of a
    /// conversation transferred in.
    Pending(Box<VendorInput>),
    /// Sent, or none was due.
    Done,
}

/// Work the session dropped in the middle of; redone once history is read again.
#[derive(Debug, Clone, PartialEq)]
pub enum Unfinished {
    /// An escalation (with how far it got).
    Escalation(Box<(ErrorReport, EscalationRequest)>),
    /// An answer's action: the answer's messages were out.
    Action(Box<BotAction>),
}

/// What the conversation does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It is working on something; the next step is chosen when that is done.
    Busy,
    /// The bot was removed from the conversation while it was busy: end (`Removed`).
    Finish,
    /// Re-read the history, as asked while busy (a reconnect, shed events).
    Resync,
    /// Redo the escalation the session dropped in the middle of.
    ResumeEscalation,
    /// Perform the answer's action the session dropped before.
    ResumeAction,
    /// Carry out the next command from outside.
    RunCommand,
    /// Send the opening input to the vendor.
    SendOpening,
    /// Send the waiting consumer messages to the vendor: they are due.
    SendBatch,
    /// The waiting consumer messages are due at this instant.
    WaitUntil(Instant),
    /// Read back the consumer messages left in history while the buffer was full.
    ReadBacklog,
    /// Nothing to do until news arrives.
    Idle,
}

/// The state the step order depends on. The actor owns one and changes it as work starts and
/// ends; only [`Machine::next_step`] decides what comes next.
#[derive(Debug)]
pub struct Machine {
    pub phase: Phase,
    /// The consumer messages waiting for the next vendor call.
    pub combiner: Combiner,
    pub opening: Opening,
    pub unfinished: Option<Unfinished>,
    /// A history re-read was asked for while the conversation was busy.
    pub resync_pending: bool,
    /// Consumer messages were left in the platform's history because the buffer was full; live
    /// messages stay there too until history is read again, so none is skipped.
    pub overflowed: bool,
    /// The platform removed the bot while its own action was in flight: end once the action is
    /// done, with the action's reason if it has one.
    pub removal_pending: bool,
    /// Commands from outside wait (they go before the vendor's next input).
    pub commands_waiting: bool,
}

impl Machine {
    pub fn new(combine: std::sync::Arc<CombineSettings>) -> Self {
        Self {
            phase: Phase::Loading,
            combiner: Combiner::new(combine),
            opening: Opening::Unread,
            unfinished: None,
            resync_pending: false,
            overflowed: false,
            removal_pending: false,
            commands_waiting: false,
        }
    }

    /// What to do next, at `now` (see the module's head for the order).
    pub fn next_step(&self, now: Instant) -> Step {
        if self.phase != Phase::Ready {
            return Step::Busy;
        }
        if self.removal_pending {
            return Step::Finish;
        }
        if self.resync_pending {
            return Step::Resync;
        }
        match &self.unfinished {
            Some(Unfinished::Escalation(_)) => return Step::ResumeEscalation,
            Some(Unfinished::Action(_)) => return Step::ResumeAction,
            None => {}
        }
        if self.commands_waiting {
            return Step::RunCommand;
        }
        if matches!(self.opening, Opening::Pending(_)) {
            return Step::SendOpening;
        }
        if self.combiner.is_due(now) {
            return Step::SendBatch;
        }
        if let Some(deadline) = self.combiner.deadline() {
            return Step::WaitUntil(deadline);
        }
        if self.overflowed {
            return Step::ReadBacklog;
        }
        Step::Idle
    }

    /// The platform removed the bot from the conversation: true to end now; false when the
    /// current work finishes first (the end comes as [`Step::Finish`] or from the work).
    pub fn removal(&mut self) -> bool {
        if self.phase.finishes_before_removal() {
            self.removal_pending = true;
            return false;
        }
        true
    }

    /// A history re-read was asked for: true to read now; false when it waits for the current
    /// work (it comes as [`Step::Resync`]).
    pub fn resync_requested(&mut self) -> bool {
        if self.phase.can_read_history() {
            return true;
        }
        self.resync_pending = true;
        false
    }

    /// Takes the opening input to send (once).
    pub fn take_opening(&mut self) -> Option<VendorInput> {
        match std::mem::replace(&mut self.opening, Opening::Done) {
            Opening::Pending(input) => Some(*input),
            Opening::Unread | Opening::Done => None,
        }
    }

    /// The escalation the session dropped in the middle of is pending.
    pub fn escalation_unfinished(&self) -> bool {
        matches!(self.unfinished, Some(Unfinished::Escalation(_)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::conversation::state::tests::msg;
    use crate::errors::ErrorCode;

    const MS: Duration = Duration::from_millis(1);

    fn ready() -> Machine {
        Machine { phase: Phase::Ready, ..Machine::new(Default::default()) }
    }

    fn escalation() -> Unfinished {
        let report = ErrorReport::new(ErrorCode::VendorTimeout, "x");
        Unfinished::Escalation(Box::new((report, EscalationRequest { announce: false, ..EscalationRequest::new("humans", Some(1)) })))
    }

    fn action() -> Unfinished {
        Unfinished::Action(Box::new(BotAction::CloseConversation { without_pcs: false }))
    }

    fn welcome() -> Opening {
        Opening::Pending(Box::new(VendorInput::Welcome { last_consumer_message: None, lp_event: Default::default() }))
    }

    /// A machine with every kind of work waiting: each step in turn is the next one.
    fn everything(now: Instant) -> Machine {
        let mut m = ready();
        m.removal_pending = true;
        m.resync_pending = true;
        m.unfinished = Some(escalation());
        m.opening = welcome();
        m.combiner.push(msg(1), now);
        m.combiner.make_due(now);
        m.overflowed = true;
        m
    }

    #[test]
    fn nothing_starts_while_the_conversation_is_busy() {
        let now = Instant::now();
        for phase in [Phase::Loading, Phase::Calling, Phase::Executing, Phase::Escalating, Phase::Closing, Phase::WaitingForSession] {
            let m = Machine { phase, ..everything(now) };
            assert_eq!(m.next_step(now), Step::Busy, "{phase:?}");
        }
        assert_eq!(everything(now).next_step(now), Step::Finish);
    }

    #[test]
    fn the_steps_come_in_their_order() {
        let now = Instant::now();
        let mut m = everything(now);
        assert_eq!(m.next_step(now), Step::Finish, "a removal beats everything");
        m.removal_pending = false;
        assert_eq!(m.next_step(now), Step::Resync, "a resync beats unfinished work");
        m.resync_pending = false;
        assert_eq!(m.next_step(now), Step::ResumeEscalation, "unfinished work beats the opening");
        m.unfinished = Some(action());
        assert_eq!(m.next_step(now), Step::ResumeAction);
        m.unfinished = None;
        assert_eq!(m.next_step(now), Step::SendOpening, "the opening goes before waiting messages");
        assert!(m.take_opening().is_some());
        assert_eq!(m.opening, Opening::Done);
        assert_eq!(m.next_step(now), Step::SendBatch, "due messages beat the backlog");
        m.combiner.take();
        assert_eq!(m.next_step(now), Step::ReadBacklog);
        m.overflowed = false;
        assert_eq!(m.next_step(now), Step::Idle);
    }

    #[test]
    fn waiting_messages_are_sent_at_their_deadline_not_before() {
        let t0 = Instant::now();
        let mut m = ready();
        m.overflowed = true;
        m.combiner.push(msg(1), t0);
        let deadline = m.combiner.deadline().unwrap();
        assert_eq!(m.next_step(t0), Step::WaitUntil(deadline), "waiting messages go before the backlog is read");
        assert_eq!(m.next_step(deadline - MS), Step::WaitUntil(deadline));
        assert_eq!(m.next_step(deadline + MS), Step::SendBatch);
    }

    #[test]
    fn an_opening_not_yet_known_or_already_sent_is_not_sent() {
        let now = Instant::now();
        let mut m = ready();
        assert_eq!(m.opening, Opening::Unread);
        assert_eq!(m.next_step(now), Step::Idle);
        assert_eq!(m.take_opening(), None);
        m.opening = welcome();
        assert!(m.take_opening().is_some());
        assert_eq!(m.take_opening(), None, "sent once");
    }

    #[test]
    fn a_removal_waits_only_for_the_bots_own_commands() {
        for (phase, now) in [
            (Phase::Loading, true),
            (Phase::Ready, true),
            (Phase::Calling, true),
            (Phase::WaitingForSession, true),
            (Phase::Executing, false),
            (Phase::Escalating, false),
            (Phase::Closing, false),
        ] {
            let mut m = Machine { phase, ..ready() };
            assert_eq!(m.removal(), now, "{phase:?}");
            assert_eq!(m.removal_pending, !now, "{phase:?}");
        }
    }

    #[test]
    fn a_resync_asked_for_while_busy_waits_for_the_work() {
        for (phase, now) in [
            (Phase::Ready, true),
            (Phase::WaitingForSession, true),
            (Phase::Loading, false),
            (Phase::Calling, false),
            (Phase::Executing, false),
            (Phase::Escalating, false),
            (Phase::Closing, false),
        ] {
            let mut m = Machine { phase, ..ready() };
            assert_eq!(m.resync_requested(), now, "{phase:?}");
            assert_eq!(m.resync_pending, !now, "{phase:?}");
        }
        let mut m = Machine { phase: Phase::Calling, ..ready() };
        m.resync_requested();
        m.phase = Phase::Ready;
        assert_eq!(m.next_step(Instant::now()), Step::Resync);
    }

    #[test]
    fn only_an_unfinished_escalation_keeps_the_messages_in_flight() {
        let mut m = ready();
        assert!(!m.escalation_unfinished());
        m.unfinished = Some(action());
        assert!(!m.escalation_unfinished());
        m.unfinished = Some(escalation());
        assert!(m.escalation_unfinished());
    }
}
