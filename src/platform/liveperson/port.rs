//! The core's `PlatformPort` over a `SessionActor`: every command becomes the request of spec §4;
//! error responses map to the core's errors; 429 is retried after at least 1 s.

use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, Addr, Recipient};
use botvisor_actors::errors::PlatformError;
use botvisor_actors::model::{
    AnswerKey, Availability, ChatState, ConversationId, DialogId, DialogMessage, OutboundMessage, RingId, Sequence, Ttr,
};
use botvisor_actors::ports::{PlatformEvent, PlatformPort, PlatformResult};
use serde::Deserialize;
use serde_json::Value;

use crate::platform::liveperson::counters::SessionCounters;
use crate::platform::liveperson::frames::{self, Extras, Identity, RawJson};
use crate::platform::liveperson::session::inbound::ResponseBody;
use crate::platform::liveperson::session::{
    AttachBot, EndSession, SendRequest, SessionActor, SessionSettings, SessionShared, StartSession, StopSession,
};

/// Attempts for a request answered 429.
const RATE_LIMIT_ATTEMPTS: u32 = 3;
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// One bot's platform session, as the core's port. Create it on the bot's arbiter.
/// When the last clone is dropped, the session logs out and its actor ends.
#[derive(Clone)]
pub struct LivePersonPlatform {
    session: Addr<SessionActor>,
    shared: Rc<SessionShared>,
    ttr_seconds: frames::TtrSeconds,
    _owner: Rc<SessionOwner>,
}

/// Ends the session actor when the last `LivePersonPlatform` clone goes.
struct SessionOwner(Addr<SessionActor>);

impl Drop for SessionOwner {
    fn drop(&mut self) {
        self.0.do_send(EndSession);
    }
}

impl LivePersonPlatform {
    pub fn new(settings: SessionSettings) -> Result<Self, crate::http::TlsError> {
        let shared = Rc::new(SessionShared::default());
        let ttr_seconds = settings.ttr_seconds;
        let session = SessionActor::new(settings, shared.clone())?.start();
        Ok(Self { _owner: Rc::new(SessionOwner(session.clone())), session, shared, ttr_seconds })
    }

    /// Reconnects, login failures and bad frames, readable from any thread.
    pub fn counters(&self) -> std::sync::Arc<SessionCounters> {
        self.shared.counters.clone()
    }

    /// Where the session's events go (the bot's `Recipient<PlatformEvent>`).
    pub fn attach(&self, bot: Recipient<PlatformEvent>) {
        self.session.do_send(AttachBot(bot));
    }

    /// Frames that could not be read or were not expected, so far.
    pub fn bad_frames(&self) -> u64 {
        self.shared.counters.bad_frames()
    }

    fn identity(&self) -> Result<Rc<Identity>, PlatformError> {
        self.shared.identity.borrow().clone().ok_or(PlatformError::NotConnected)
    }

    fn skill_id(&self, name: &str) -> Result<String, PlatformError> {
        let skills = self.shared.skills.borrow();
        if let Some(id) = skills.get(name) {
            return Ok(id.clone());
        }
        // A numeric skill is taken as an id when the account's skill list does not know it.
        if name.chars().all(|c| c.is_ascii_digit()) && !name.is_empty() {
            return Ok(name.to_owned());
        }
        if self.shared.skills_forbidden.get() {
            return Err(PlatformError::SkillsNotReadable { skill: name.to_owned() });
        }
        Err(PlatformError::UnknownSkill { skill: name.to_owned() })
    }

    /// Sends a request, retrying 429 after at least 1 s.
    fn send(&self, request: (&'static str, RawJson), extras: Extras) -> PlatformResult<ResponseBody> {
        let session = self.session.clone();
        Box::pin(async move {
            let (kind, body) = request;
            let mut attempt = 1;
            loop {
                let result = session
                    .send(SendRequest { kind, body: body.clone(), extras: extras.clone() })
                    .await
                    .unwrap_or(Err(PlatformError::NotConnected));
                match result {
                    Err(PlatformError::Rejected { status: 429, .. }) if attempt < RATE_LIMIT_ATTEMPTS => {
                        attempt += 1;
                        tokio::time::sleep(RATE_LIMIT_WAIT).await;
                    }
                    other => return other,
                }
            }
        })
    }

    fn command(&self, request: Result<(&'static str, RawJson), PlatformError>) -> PlatformResult<()> {
        match request {
            Ok(request) => {
                let reply = self.send(request, Extras::default());
                Box::pin(async move { reply.await.map(drop) })
            }
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }
}

impl PlatformPort for LivePersonPlatform {
    fn start_session(&self) -> PlatformResult<()> {
        self.session.do_send(StartSession);
        Box::pin(std::future::ready(Ok(())))
    }

    fn stop_session(&self) -> PlatformResult<()> {
        let stop = self.session.send(StopSession);
        Box::pin(async move {
            let _ = stop.await; // waits for the logout (bounded)
            Ok(())
        })
    }

    fn set_availability(&self, availability: Availability) -> PlatformResult<()> {
        self.command(self.identity().map(|me| frames::set_agent_state(&me, availability)))
    }

    fn accept_ring(&self, ring: &RingId) -> PlatformResult<()> {
        self.command(Ok(frames::update_ring_state(ring, true)))
    }

    fn reject_ring(&self, ring: &RingId) -> PlatformResult<()> {
        self.command(Ok(frames::update_ring_state(ring, false)))
    }

    fn query_messages(&self, dialog: &DialogId, from: Sequence) -> PlatformResult<Vec<DialogMessage>> {
        let me = match self.identity() {
            Ok(me) => me,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let reply = self.send(frames::query_messages(dialog.as_str(), from), Extras::default());
        let shared = self.shared.clone();
        let consumer = shared.known.consumer_of(dialog.as_str());
        Box::pin(async move {
            let body = reply.await?;
            let events = frames::history_events(&body).map_err(|message| PlatformError::Rejected { status: 502, message })?;
            let mut messages = Vec::with_capacity(events.len());
            for raw in events {
                match frames::dialog_message(&me, raw, consumer.as_deref()) {
                    // The query asks from one below (see `frames::query_messages`).
                    Ok(message) if message.sequence < from => {}
                    Ok(message) => messages.push(message),
                    Err(why) => shared.bad_frame(&me.account, "history event", &why),
                }
            }
            Ok(messages)
        })
    }

    fn publish(
        &self,
        conversation: &ConversationId,
        dialog: &DialogId,
        message: OutboundMessage,
        answer: Option<AnswerKey>,
    ) -> PlatformResult<Sequence> {
        let (kind, body, extras) = frames::publish(conversation.as_str(), dialog.as_str(), &message, answer.as_ref());
        let reply = self.send((kind, body), extras);
        Box::pin(async move { Ok(published_sequence(&reply.await?)) })
    }

    fn publish_chat_state(&self, _conversation: &ConversationId, dialog: &DialogId, state: ChatState) -> PlatformResult<()> {
        self.command(Ok(frames::chat_state(dialog.as_str(), state)))
    }

    fn publish_read(&self, _conversation: &ConversationId, dialog: &DialogId, sequences: &[Sequence]) -> PlatformResult<()> {
        self.command(Ok(frames::read_receipt(dialog.as_str(), sequences)))
    }

    fn transfer_to_skill(&self, conversation: &ConversationId, skill: &str) -> PlatformResult<()> {
        let request = self.identity().and_then(|me| Ok(frames::transfer_to_skill(&me, conversation.as_str(), &self.skill_id(skill)?)));
        self.command(request)
    }

    fn transfer_to_agent(&self, conversation: &ConversationId, agent_id: &str, skill: &str) -> PlatformResult<()> {
        let request =
            self.identity().and_then(|me| Ok(frames::transfer_to_agent(&me, conversation.as_str(), agent_id, &self.skill_id(skill)?)));
        self.command(request)
    }

    fn change_ttr(&self, conversation: &ConversationId, ttr: Ttr) -> PlatformResult<()> {
        self.command(Ok(frames::change_ttr(conversation.as_str(), ttr, &self.ttr_seconds)))
    }

    fn close_conversation(&self, conversation: &ConversationId, with_survey: bool) -> PlatformResult<()> {
        self.command(Ok(frames::close(conversation.as_str(), with_survey)))
    }

    fn engagement_attributes(&self, consumer_id: &str) -> PlatformResult<Value> {
        let reply = self.send(frames::get_user_profile(consumer_id), Extras::default());
        Box::pin(async move {
            let profile = serde_json::from_str::<Value>(reply.await?.get()).unwrap_or(Value::Null);
            Ok(frames::engagement_attributes(&profile))
        })
    }
}

/// The sequence a PublishEvent response gives the published event (0 when it gives none).
fn published_sequence(body: &ResponseBody) -> Sequence {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Published {
        sequence: frames::lenient::U64,
    }
    serde_json::from_str::<frames::lenient::Object<Published>>(body.get()).ok().and_then(|p| p.0).and_then(|p| p.sequence.0).unwrap_or(0)
}
