//! The session actor's API: attach the bot, start, stop, end, and send one request.

use crate::platform::liveperson::frames::{Extras, RawJson};
use crate::platform::liveperson::session::inbound::ResponseBody;
use actix::prelude::*;
use botvisor_actors::errors::PlatformError;
use botvisor_actors::ports::PlatformEvent;

/// Where platform events go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachBot(pub Recipient<PlatformEvent>);

/// Open the session (no-op when it is open or opening).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartSession;

/// Close the session: log out (waited for, bounded), close the socket, no reconnect.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSession;

/// Close the session as `StopSession` does and end the actor (its bot is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndSession;

/// One request frame; the reply is the response frame's body, or the error it maps to.
#[derive(Message)]
#[rtype(result = "Result<ResponseBody, PlatformError>")]
pub struct SendRequest {
    pub kind: &'static str,
    pub body: RawJson,
    pub extras: Extras,
}
