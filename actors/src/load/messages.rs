//! The LoadActor's API.

use actix::Message;

use crate::load::state::{Admission, LoadSnapshot, RingDecision};
use crate::model::{Availability, ConversationId};

/// Should the bot accept this ring?
#[derive(Debug, Message)]
#[rtype(result = "RingDecision")]
pub struct DecideRing;

/// A conversation was assigned to the bot: start it, or escalate it at once?
#[derive(Debug, Message)]
#[rtype(result = "AdmissionReply")]
pub struct AdmitConversation {
    pub conversation_id: ConversationId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionReply {
    pub admission: Admission,
    /// The availability the bot should now publish, if it changed.
    pub availability: Option<Availability>,
}

/// A conversation left the bot. Replies with the availability to publish, if it changed.
#[derive(Debug, Message)]
#[rtype(result = "Option<Availability>")]
pub struct ReleaseConversation {
    pub conversation_id: ConversationId,
}

/// The availability the load asks for now.
#[derive(Debug, Message)]
#[rtype(result = "Availability")]
pub struct GetLoadAvailability;

#[derive(Debug, Message)]
#[rtype(result = "LoadSnapshot")]
pub struct GetLoad;

/// New capacity thresholds for a running bot; answers the availability to publish, if changed.
#[derive(Debug, Message)]
#[rtype(result = "Option<crate::model::Availability>")]
pub struct SetLoadCapacity(pub crate::load::state::Capacity);
