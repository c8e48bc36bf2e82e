//! LoadActor: owns one bot's open-conversation count and answers admission questions.

use actix::prelude::*;

use crate::live::{ActorKind, LiveToken};
use crate::load::messages::{
    AdmissionReply, AdmitConversation, DecideRing, GetLoad, GetLoadAvailability, ReleaseConversation, SetLoadCapacity,
};
use crate::load::state::{LoadSnapshot, LoadState, RingDecision};
use crate::model::Availability;
use crate::settings::LoadSettings;

const LOAD_MAILBOX: usize = 1024;

pub struct LoadActor {
    state: LoadState,
    /// Counts this actor as running (see [`crate::live`]).
    live: Option<LiveToken>,
}

impl LoadActor {
    pub fn new(settings: LoadSettings, escalation_skill: String) -> Self {
        Self { state: LoadState::new(settings, escalation_skill), live: None }
    }
}

impl Actor for LoadActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(LOAD_MAILBOX);
        self.live = Some(LiveToken::new(ActorKind::Load));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.live = None;
    }
}

impl Handler<DecideRing> for LoadActor {
    type Result = MessageResult<DecideRing>;

    fn handle(&mut self, _msg: DecideRing, _ctx: &mut Context<Self>) -> MessageResult<DecideRing> {
        let decision: RingDecision = self.state.decide_ring();
        MessageResult(decision)
    }
}

impl Handler<AdmitConversation> for LoadActor {
    type Result = MessageResult<AdmitConversation>;

    fn handle(&mut self, msg: AdmitConversation, _ctx: &mut Context<Self>) -> Self::Result {
        let (admission, availability) = self.state.admit(msg.conversation_id);
        MessageResult(AdmissionReply { admission, availability })
    }
}

impl Handler<ReleaseConversation> for LoadActor {
    type Result = Option<Availability>;

    fn handle(&mut self, msg: ReleaseConversation, _ctx: &mut Context<Self>) -> Option<Availability> {
        self.state.release(&msg.conversation_id)
    }
}

impl Handler<GetLoadAvailability> for LoadActor {
    type Result = MessageResult<GetLoadAvailability>;

    fn handle(&mut self, _msg: GetLoadAvailability, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.availability())
    }
}

impl Handler<GetLoad> for LoadActor {
    type Result = MessageResult<GetLoad>;

    fn handle(&mut self, _msg: GetLoad, _ctx: &mut Context<Self>) -> MessageResult<GetLoad> {
        let snapshot: LoadSnapshot = self.state.snapshot();
        MessageResult(snapshot)
    }
}

impl Handler<SetLoadCapacity> for LoadActor {
    type Result = Option<Availability>;

    fn handle(&mut self, msg: SetLoadCapacity, _ctx: &mut Context<Self>) -> Option<Availability> {
        self.state.set_capacity(msg.0)
    }
}
