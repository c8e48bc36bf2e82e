//! Builds ConversationActors: the one place a BotActor gets its children from.

use std::rc::Rc;

use actix::{Actor, Addr, Recipient};

use crate::conversation::{ConversationActor, ConversationExited, ConversationSpec};
use crate::ports::{PlatformPort, VendorPort};
use crate::settings::BotSettings;

/// Everything a conversation of this bot is built with.
#[derive(Clone)]
pub struct ConversationFactory {
    settings: Rc<BotSettings>,
    platform: Rc<dyn PlatformPort>,
    vendor: Rc<dyn VendorPort>,
}

impl ConversationFactory {
    pub fn new(settings: Rc<BotSettings>, platform: Rc<dyn PlatformPort>, vendor: Rc<dyn VendorPort>) -> Self {
        Self { settings, platform, vendor }
    }

    /// Starts a fresh ConversationActor on the current arbiter.
    pub fn build(&self, spec: ConversationSpec, parent: Recipient<ConversationExited>) -> Addr<ConversationActor> {
        ConversationActor::new(spec, self.settings.clone(), self.platform.clone(), self.vendor.clone(), parent).start()
    }
}
