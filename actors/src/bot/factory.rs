//! Builds ConversationActors: the one place a BotActor gets its children from.

use std::cell::RefCell;
use std::rc::Rc;

use actix::{Actor, Addr, Recipient};

use crate::conversation::session_epoch::SessionEpoch;
use crate::conversation::{ConversationActor, ConversationExited, ConversationSpec};
use crate::ports::{ConversationStatePort, ErrorHookPort, FunctionPort, PlatformPort, VendorPort};
use crate::settings::BotSettings;

/// Everything a conversation of this bot is built with.
#[derive(Clone)]
pub struct ConversationFactory {
    settings: Rc<BotSettings>,
    platform: Rc<dyn PlatformPort>,
    vendor: Rc<dyn VendorPort>,
    error_hook: Option<Rc<dyn ErrorHookPort>>,
    state: Option<Rc<dyn ConversationStatePort>>,
    functions: Option<Rc<dyn FunctionPort>>,
    vendor_stats: Rc<RefCell<crate::bot::vendor_stats::VendorCallStats>>,
    session_epoch: SessionEpoch,
}

impl ConversationFactory {
    pub fn new(settings: Rc<BotSettings>, platform: Rc<dyn PlatformPort>, vendor: Rc<dyn VendorPort>) -> Self {
        Self {
            settings,
            platform,
            vendor,
            error_hook: None,
            state: None,
            functions: None,
            vendor_stats: Rc::default(),
            session_epoch: SessionEpoch::default(),
        }
    }

    /// The vendor call statistics of every conversation built here.
    pub fn vendor_stats(&self) -> Rc<RefCell<crate::bot::vendor_stats::VendorCallStats>> {
        self.vendor_stats.clone()
    }

    /// The bot's platform session was lost: every conversation reads history before it answers.
    pub fn session_lost(&self) {
        self.session_epoch.advance();
    }

    /// Errors of the conversations built from now on go to `hook`.
    pub fn set_error_hook(&mut self, hook: Rc<dyn ErrorHookPort>) {
        self.error_hook = Some(hook);
    }

    /// The conversations built from now on keep their records in `state`.
    pub fn set_conversation_state(&mut self, state: Rc<dyn ConversationStatePort>) {
        self.state = Some(state);
    }

    /// The conversations built from now on run invoked functions through `functions`.
    pub fn set_functions(&mut self, functions: Rc<dyn FunctionPort>) {
        self.functions = Some(functions);
    }

    /// Starts a fresh ConversationActor on the current arbiter.
    pub fn build(&self, spec: ConversationSpec, parent: Recipient<ConversationExited>) -> Addr<ConversationActor> {
        let mut actor = ConversationActor::new(spec, self.settings.clone(), self.platform.clone(), self.vendor.clone(), parent)
            .with_vendor_stats(self.vendor_stats.clone())
            .with_session_epoch(self.session_epoch.clone());
        if let Some(hook) = &self.error_hook {
            actor = actor.with_error_hook(hook.clone());
        }
        if let Some(state) = &self.state {
            actor = actor.with_conversation_state(state.clone());
        }
        if let Some(functions) = &self.functions {
            actor = actor.with_functions(functions.clone());
        }
        actor.start()
    }
}
