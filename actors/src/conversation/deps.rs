//! What every conversation of a bot shares: its settings, its ports and the bot's statistics.
//! One `Rc` per bot, held by each of its ConversationActors as one pointer rather than a copy of
//! each (an actor lives in every active conversation; its size is most of what one costs).

use std::cell::RefCell;
use std::rc::Rc;

use crate::bot::vendor_stats::VendorCallStats;
use crate::conversation::session_epoch::SessionEpoch;
use crate::ports::{ConversationStatePort, ErrorHookPort, FunctionPort, PlatformPort, VendorPort};
use crate::settings::BotSettings;

#[derive(Clone)]
pub struct ConversationDeps {
    pub settings: Rc<BotSettings>,
    pub platform: Rc<dyn PlatformPort>,
    pub vendor: Rc<dyn VendorPort>,
    /// Where errors are reported besides the log.
    pub error_hook: Option<Rc<dyn ErrorHookPort>>,
    /// Where conversation records are kept (loaded at start, saved as they change).
    pub state: Option<Rc<dyn ConversationStatePort>>,
    /// What runs the functions a vendor invokes.
    pub functions: Option<Rc<dyn FunctionPort>>,
    /// The bot's vendor call statistics (outcome, latency).
    pub vendor_stats: Rc<RefCell<VendorCallStats>>,
    /// The bot's lost sessions (see [`SessionEpoch`]).
    pub session_epoch: SessionEpoch,
}

impl ConversationDeps {
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
}
