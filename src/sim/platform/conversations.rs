//! Conversations: opened by consumers, closed by anyone, assigned on a ring's acceptance, and
//! shown to the ExConversation subscriptions that match them (spec §4.2, §5.3).

use serde_json::{json, Value};

use super::dialog::Publication;
use super::{MAX_CLOSED_CONVERSATIONS, NORMAL_TTR_SECONDS};
use crate::sim::frames::notification;
use crate::sim::state::{now_ms, Conversation, ExSubscription, SimState};
use crate::sim::validate;

impl SimState {
    /// A consumer opens a conversation on a skill; it is routed (or queued).
    pub fn open_conversation(&mut self, skill_name: &str, sdes: Value) -> Result<(String, String), String> {
        let skill = self.skill_by_name(skill_name).ok_or(format!("skill: no skill named {skill_name:?}"))?.id.clone();
        let id = self.uuid();
        let consumer_id = self.uuid();
        let now = now_ms();
        self.conversations.insert(
            id.clone(),
            Conversation {
                id: id.clone(),
                consumer_id: consumer_id.clone(),
                skill_id: skill,
                state: "OPEN".into(),
                assigned: None,
                suggested: None,
                managers: Vec::new(),
                ttr_type: "NORMAL".into(),
                ttr_value: NORMAL_TTR_SECONDS,
                close_reason: None,
                start_ts: now,
                end_ts: None,
                updated_ts: now,
                events: Vec::new(),
                next_sequence: 0,
                sdes,
                transferred: false,
            },
        );
        self.conversation_order.push(id.clone());
        self.by_consumer.insert(consumer_id.clone(), id.clone());
        self.conversation_changed(&id);
        self.route(&id);
        self.flush_notifications();
        Ok((id, consumer_id))
    }

    /// A consumer event from the control API (text, typing, rich content, file).
    pub fn consumer_event(&mut self, id: &str, event: Value) -> Result<Option<u64>, (u16, String)> {
        let conversation = self.conversations.get(id).ok_or((404, format!("no conversation {id:?}")))?;
        let consumer = conversation.consumer_id.clone();
        // The consumer's side follows the same event rules as an agent's.
        validate::event("event", &event).map_err(|refusal| (400, refusal.to_string()))?;
        let publication = Publication {
            originator_id: consumer.clone(),
            originator_pid: consumer,
            role: "CONSUMER",
            event,
            metadata: None,
            encoded_metadata: None,
            audience: "ALL".into(),
        };
        let result = self.publish(id, publication);
        self.flush_notifications();
        result
    }

    /// Closes a conversation (by an agent, the consumer or the system).
    pub fn close(&mut self, id: &str, reason: &str) {
        let Some(c) = self.conversations.get_mut(id) else {
            return;
        };
        if c.state != "OPEN" {
            return;
        }
        if let Some(agent) = &c.assigned {
            crate::sim::state::decrement(&mut self.open_per_agent, agent);
        }
        c.state = "CLOSE".into();
        c.close_reason = Some(reason.into());
        c.end_ts = Some(now_ms());
        c.updated_ts = now_ms();
        self.closed_count += 1;
        self.queued.remove(id);
        if let Some(ring) = self.ring_of.get(id).cloned() {
            self.end_ring(&ring, "CANCELLED");
        }
        self.declined_by.remove(id);
        self.conversation_changed(id);
        self.route_queues(); // a slot is free
        self.prune_closed();
    }

    /// Keeps at most `MAX_CLOSED_CONVERSATIONS` closed conversations (bounded memory).
    pub(super) fn prune_closed(&mut self) {
        let closed = self.closed_count;
        if closed <= MAX_CLOSED_CONVERSATIONS + MAX_CLOSED_CONVERSATIONS / 10 {
            return;
        }
        let mut excess = closed - MAX_CLOSED_CONVERSATIONS;
        self.closed_count = MAX_CLOSED_CONVERSATIONS;
        let conversations = &mut self.conversations;
        let by_consumer = &mut self.by_consumer;
        self.conversation_order.retain(|id| {
            if excess > 0 && conversations.get(id).is_some_and(|c| c.state != "OPEN") {
                if let Some(c) = conversations.remove(id) {
                    by_consumer.remove(&c.consumer_id);
                }
                excess -= 1;
                false
            } else {
                true
            }
        });
        for conn in self.conns.values_mut() {
            for sub in conn.ex_subs.iter_mut() {
                sub.shown.retain(|id| conversations.contains_key(id));
            }
        }
    }

    pub(super) fn assign(&mut self, id: &str, user_id: &str) {
        let Some(c) = self.conversations.get_mut(id) else {
            return;
        };
        // Whoever accepts, the suggestion is settled.
        c.suggested = None;
        c.updated_ts = now_ms();
        self.set_assigned(id, Some(user_id.to_owned()));
        self.queued.remove(id);
        self.declined_by.remove(id);
        self.conversation_changed(id);
    }

    pub fn is_participant(&self, c: &Conversation, user_id: &str) -> bool {
        c.assigned.as_deref() == Some(user_id) || c.managers.iter().any(|m| m == user_id)
    }

    pub(super) fn participant_agents(&self, c: &Conversation) -> Vec<String> {
        let mut agents: Vec<String> = Vec::new();
        for agent in c.assigned.iter().chain(c.managers.iter()) {
            if !agents.contains(agent) {
                agents.push(agent.clone());
            }
        }
        agents
    }

    pub(super) fn matches(&self, sub: &ExSubscription, c: &Conversation) -> bool {
        shows(sub, c, &self.config.account)
    }

    /// Sends the conversation's change to every subscription that shows it (UPSERT) or showed
    /// it and no longer does (DELETE).
    pub fn conversation_changed(&mut self, id: &str) {
        self.placement_changed(id);
        let Some(conversation) = self.conversations.get(id) else {
            return;
        };
        let upsert = self.conversation_change("UPSERT", conversation);
        let delete = self.conversation_change("DELETE", conversation);
        let mut frames = Vec::new();
        for (conn_id, conn) in self.conns.iter_mut() {
            for sub in conn.ex_subs.iter_mut() {
                let change = if shows(sub, conversation, &self.config.account) {
                    sub.shown.insert(id.to_owned());
                    Some(&upsert)
                } else if sub.shown.remove(id) {
                    Some(&delete)
                } else {
                    None
                };
                if let Some(change) = change {
                    frames.push((
                        *conn_id,
                        notification(".ams.aam.ExConversationChangeNotification", json!({"subscriptionId": sub.id, "changes": [change]})),
                    ));
                }
            }
        }
        frames.sort_by_key(|(conn, _)| *conn);
        for (conn, frame) in frames {
            self.notify(conn, frame);
        }
    }

    /// One ExConversation change with full `conversationDetails` (spec §5.3).
    pub(super) fn conversation_change(&self, kind: &str, c: &Conversation) -> Value {
        let account = &self.config.account;
        let old = |user: &str| format!("{account}.{user}");
        let mut participants = json!({"CONSUMER": [c.consumer_id]});
        let mut participants_pid = json!({"CONSUMER": [c.consumer_id]});
        let mut details = vec![json!({"id": c.consumer_id, "role": "CONSUMER", "state": "ACTIVE"})];
        if let Some(agent) = &c.assigned {
            participants["ASSIGNED_AGENT"] = json!([old(agent)]);
            participants_pid["ASSIGNED_AGENT"] = json!([self.users[agent].pid]);
            details.push(json!({"id": old(agent), "role": "ASSIGNED_AGENT", "state": "ACTIVE"}));
        }
        if !c.managers.is_empty() {
            participants["MANAGER"] = json!(c.managers.iter().map(|m| old(m)).collect::<Vec<_>>());
            participants_pid["MANAGER"] = json!(c.managers.iter().map(|m| self.users[m].pid.clone()).collect::<Vec<_>>());
            for m in &c.managers {
                details.push(json!({"id": old(m), "role": "MANAGER", "state": "ACTIVE"}));
            }
        }
        if let Some(agent) = &c.suggested {
            // Only in the dialog's details, after the role's active entries (positional PIDs).
            details.push(json!({"id": old(agent), "role": "ASSIGNED_AGENT", "state": "SUGGESTED"}));
        }
        let mut details_obj = json!({
            "convId": c.id,
            "skillId": c.skill_id,
            "brandId": account,
            "note": "",
            "csatRate": 0,
            "participants": participants,
            "participantsPId": participants_pid,
            "dialogs": [{
                "dialogId": c.id, "dialogType": "MAIN", "channelType": "MESSAGING", "state": if c.state == "OPEN" { "OPEN" } else { "CLOSE" },
                "creationTs": c.start_ts, "metaDataLastUpdateTs": c.updated_ts, "participantsDetails": details,
            }],
            "state": c.state,
            "stage": c.state,
            "startTs": c.start_ts,
            "metaDataLastUpdateTs": c.updated_ts,
            "firstConversation": false,
            "ttr": {"ttrType": c.ttr_type, "value": c.ttr_value},
            "context": {"type": "MESSAGING", "skillId": c.skill_id, "visitor": {"consumerId": c.consumer_id}},
            "conversationHandlerDetails": {"accountId": account, "skillId": c.skill_id},
        });
        if let Some(reason) = &c.close_reason {
            details_obj["closeReason"] = json!(reason);
            details_obj["endTs"] = json!(c.end_ts);
        }
        json!({"type": kind, "result": {"convId": c.id, "effectiveTTR": -1, "lastUpdateTime": c.updated_ts, "numberOfunreadMessages": {}, "conversationDetails": details_obj}})
    }
}

/// Whether a SubscribeExConversations filter shows the conversation: its state is listed and
/// (with `agentIds`) one of the agents is assigned, suggested or a manager.
fn shows(sub: &ExSubscription, c: &Conversation, account: &str) -> bool {
    if !sub.states.contains(&c.state) {
        return false;
    }
    match &sub.agent_ids {
        None => true,
        Some(ids) => {
            c.assigned.iter().chain(c.suggested.iter()).chain(c.managers.iter()).any(|agent| ids.contains(&format!("{account}.{agent}")))
        }
    }
}
