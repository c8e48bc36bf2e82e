//! Builds ConversationActors: the one place a BotActor gets its children from.

use std::cell::RefCell;
use std::rc::Rc;

use actix::{Actor, Addr, Recipient};

use crate::conversation::deps::ConversationDeps;
use crate::conversation::{ConversationActor, ConversationExited, ConversationSpec};
use crate::ports::{ConversationStatePort, ErrorHookPort, FunctionPort, PlatformPort, VendorPort};
use crate::settings::BotSettings;

/// Everything a conversation of this bot is built with.
#[derive(Clone)]
pub struct ConversationFactory {
    /// Shared by the conversations built; a change makes a new one for those built after it.
    deps: Rc<ConversationDeps>,
}

impl ConversationFactory {
    pub fn new(settings: Rc<BotSettings>, platform: Rc<dyn PlatformPort>, vendor: Rc<dyn VendorPort>) -> Self {
        Self { deps: Rc::new(ConversationDeps::new(settings, platform, vendor)) }
    }

    /// The vendor call statistics of every conversation built here.
    pub fn vendor_stats(&self) -> Rc<RefCell<crate::bot::vendor_stats::VendorCallStats>> {
        self.deps.vendor_stats.clone()
    }

    /// The bot's platform session was lost: every conversation reads history before it answers.
    pub fn session_lost(&self) {
        self.deps.session_epoch.advance();
    }

    /// Errors of the conversations built from now on go to `hook`.
    pub fn set_error_hook(&mut self, hook: Rc<dyn ErrorHookPort>) {
        Rc::make_mut(&mut self.deps).error_hook = Some(hook);
    }

    /// The conversations built from now on keep their records in `state`.
    pub fn set_conversation_state(&mut self, state: Rc<dyn ConversationStatePort>) {
        Rc::make_mut(&mut self.deps).state = Some(state);
    }

    /// The conversations built from now on run invoked functions through `functions`.
    pub fn set_functions(&mut self, functions: Rc<dyn FunctionPort>) {
        Rc::make_mut(&mut self.deps).functions = Some(functions);
    }

    /// Starts a fresh ConversationActor on the current arbiter.
    pub fn build(&self, spec: ConversationSpec, parent: Recipient<ConversationExited>) -> Addr<ConversationActor> {
        ConversationActor::new(spec, self.deps.clone(), parent).start()
    }
}
