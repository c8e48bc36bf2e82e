//! The platform's behaviour on top of `SimState`: websocket requests, conversations and their
//! dialog events, routing with rings, and the notifications each change causes (spec §4–§5).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::sim::frames::{error_response, notification, response, string_response, Request};
use crate::sim::state::{now_ms, ConnId, Conversation, DialogEvent, ExSubscription, Outgoing, Ring, SimState, Timer};

/// Valid availability values (spec §4.1).
const AVAILABILITIES: &[&str] = &["ONLINE", "OCCUPIED", "AWAY", "BACK_SOON", "OFFLINE"];
/// Valid TTR types.
const TTR_TYPES: &[&str] = &["URGENT", "NORMAL", "PRIORITIZED", "CUSTOM"];
/// Valid chat states.
const CHAT_STATES: &[&str] = &["ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE", "BACKGROUND"];
/// Default TTR of a new conversation (seconds).
const NORMAL_TTR_SECONDS: u64 = 3600;
/// ExConversation subscriptions per connection, at most.
const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 16;
/// Closed conversations kept for the control API, at most (the oldest go first).
const MAX_CLOSED_CONVERSATIONS: usize = 20_000;

impl SimState {
    // ---- requests -------------------------------------------------------------------------

    /// Handles one request from `conn`: answers it and sends every notification it causes.
    pub fn handle_request(&mut self, conn: ConnId, request: Request) -> Vec<Timer> {
        let Some(user_id) = self.conns.get(&conn).map(|c| c.user_id.clone()) else { return Vec::new() };
        let reply = match request.kind.as_str() {
            "GetClock" => Ok(response(&request.id, 200, ".GetClock$Response", json!({"currentTime": now_ms()}))),
            "KeepAlive" => Ok(string_response(&request.id, 200, "OK")),
            "routing.SetAgentState" => self.set_agent_state(&user_id, &request),
            "routing.SubscribeRoutingTasks" => Ok(self.subscribe_routing(conn, &user_id, &request)),
            "routing.UpdateRingState" => self.update_ring_state(&user_id, &request),
            "routing.SubscribeAgentsState" => Ok(self.subscribe_agents_state(conn, &user_id, &request)),
            "aam.SubscribeExConversations" => self.subscribe_ex_conversations(conn, &request),
            "aam.UnsubscribeExConversations" => Ok(self.unsubscribe_ex_conversations(conn, &request)),
            "ms.QueryMessages" | "ms.SubscribeMessagingEvents" => self.query_messages(&user_id, &request),
            "ms.PublishEvent" => self.agent_publish(&user_id, &request),
            "cm.UpdateConversationField" => self.update_conversation_field(&user_id, &request),
            "userprofile.GetUserProfile" => self.get_user_profile(&request),
            "ms.GenerateURLForUploadFile" | "ms.GenerateURLForDownloadFile" => Ok(self.file_url(&request)),
            other => Err((400, format!("unknown request type {other:?}"))),
        };
        let frame = reply.unwrap_or_else(|(code, message)| error_response(Some(&request.id), code, &message));
        // The response goes out before the notifications the request caused (a subscribe's
        // snapshot follows its response, spec §10.6).
        self.send_first(conn, frame);
        self.take_timers()
    }

    /// Sends `frame` ahead of notifications queued during this request.
    fn send_first(&mut self, conn: ConnId, frame: String) {
        let pending = std::mem::take(&mut self.pending_after_response);
        self.send(conn, Outgoing::Text(frame));
        for (to, out) in pending {
            self.send(to, out);
        }
    }

    /// Queues a frame to go out once the current request's response is sent.
    fn notify(&mut self, conn: ConnId, frame: String) {
        self.pending_after_response.push((conn, Outgoing::Text(frame)));
    }

    /// Notifications caused outside a request (control API, timers) go out at once.
    pub fn flush_notifications(&mut self) {
        for (to, out) in std::mem::take(&mut self.pending_after_response) {
            self.send(to, out);
        }
    }

    fn set_agent_state(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let availability = request.body.get("availability").and_then(Value::as_str).unwrap_or("");
        if !AVAILABILITIES.contains(&availability) {
            return Err((400, format!("availability: must be one of {}", AVAILABILITIES.join(", "))));
        }
        if let Some(user) = self.users.get_mut(user_id) {
            user.availability = availability.to_owned();
        }
        let change = json!({"type": "UPSERT", "result": {"agentUserId": self.old_id(user_id), "channels": ["MESSAGING"], "availability": availability, "description": ""}});
        for conn in self.conns_of(user_id) {
            if let Some(sub) = self.conns[&conn].agent_state_sub.clone() {
                self.notify(conn, notification(".ams.routing.AgentStateNotification", json!({"subscriptionId": sub, "changes": [change.clone()]})));
            }
        }
        self.route_queues();
        Ok(string_response(&request.id, 202, "Agent state updated successfully"))
    }

    fn subscribe_routing(&mut self, conn: ConnId, user_id: &str, request: &Request) -> String {
        let sub = self.uuid();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.routing_sub = Some(sub.clone());
        }
        // The snapshot: this agent's waiting rings (possibly none).
        let mut rings: Vec<Ring> = self.rings.values().filter(|r| r.user_id == user_id && r.state == "WAITING").cloned().collect();
        rings.sort_by_key(|r| r.created_ts);
        let changes: Vec<Value> = rings.iter().map(|r| self.ring_change(r, false)).collect();
        self.notify(conn, notification(".ams.routing.RoutingTaskNotification", json!({"subscriptionId": sub, "changes": changes})));
        self.route_queues();
        response(&request.id, 200, ".ams.GenericSubscribe$Response", json!({"subscriptionId": sub}))
    }

    fn subscribe_agents_state(&mut self, conn: ConnId, user_id: &str, request: &Request) -> String {
        let sub = self.uuid();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.agent_state_sub = Some(sub.clone());
        }
        let availability = self.users.get(user_id).map(|u| u.availability.clone()).unwrap_or_default();
        let change = json!({"type": "UPSERT", "result": {"agentUserId": self.old_id(user_id), "channels": ["MESSAGING"], "availability": availability, "description": ""}});
        self.notify(conn, notification(".ams.routing.AgentStateNotification", json!({"subscriptionId": sub, "changes": [change]})));
        response(&request.id, 200, ".ams.GenericSubscribe$Response", json!({"subscriptionId": sub}))
    }

    fn update_ring_state(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let ring_id = request.body.get("ringId").and_then(Value::as_str).ok_or((400, "ringId: required".to_owned()))?.to_owned();
        let state = request.body.get("ringState").and_then(Value::as_str).unwrap_or("");
        let ring = self.rings.get(&ring_id).cloned().ok_or((400, format!("ringId: no ring {ring_id:?}")))?;
        if ring.user_id != user_id {
            return Err((400, "ringId: the ring is not this agent's".into()));
        }
        if ring.state != "WAITING" {
            return Err((400, format!("ringId: the ring is {} already", ring.state)));
        }
        match state {
            "ACCEPTED" => {
                self.end_ring(&ring_id, "ACCEPTED");
                self.assign(&ring.conversation_id, user_id);
            }
            "REJECTED" => {
                self.end_ring(&ring_id, "REJECTED");
                self.declined_by.entry(ring.conversation_id.clone()).or_default().insert(user_id.to_owned());
                self.route(&ring.conversation_id);
                self.route_queues();
            }
            other => return Err((400, format!("ringState: must be ACCEPTED or REJECTED, not {other:?}"))),
        }
        Ok(string_response(&request.id, 202, "Ring state updated successfully"))
    }

    fn subscribe_ex_conversations(&mut self, conn: ConnId, request: &Request) -> Result<String, (u16, String)> {
        let strings = |field: &str| -> Result<Option<Vec<String>>, (u16, String)> {
            match request.body.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or((400, format!("{field}: must be an array of strings"))))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                // "A single-element array may be sent as the element itself."
                Some(Value::String(one)) => Ok(Some(vec![one.clone()])),
                Some(_) => Err((400, format!("{field}: must be an array of strings"))),
            }
        };
        if self.conns.get(&conn).is_some_and(|c| c.ex_subs.len() >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
            return Err((400, format!("at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} conversation subscriptions per connection; unsubscribe first")));
        }
        let agent_ids = strings("agentIds")?;
        let states = strings("convState")?.or(strings("stage")?).unwrap_or_else(|| vec!["OPEN".into()]);
        let sub = self.uuid();
        let mut subscription = ExSubscription { id: sub.clone(), agent_ids, states, shown: HashSet::new() };
        // The snapshot of matching conversations, oldest first (at most 1000).
        let mut changes = Vec::new();
        for id in self.conversation_order.clone() {
            let conversation = &self.conversations[&id];
            if self.matches(&subscription, conversation) && changes.len() < 1000 {
                subscription.shown.insert(id.clone());
                changes.push(self.conversation_change("UPSERT", conversation));
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ex_subs.push(subscription);
        }
        self.notify(conn, notification(".ams.aam.ExConversationChangeNotification", json!({"subscriptionId": sub, "changes": changes})));
        Ok(response(&request.id, 200, ".ams.aam.SubscribeExConversations$Response", json!({"subscriptionId": sub})))
    }

    fn unsubscribe_ex_conversations(&mut self, conn: ConnId, request: &Request) -> String {
        let sub = request.body.get("subscriptionId").and_then(Value::as_str).unwrap_or("");
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ex_subs.retain(|s| s.id != sub);
        }
        string_response(&request.id, 200, "OK")
    }

    fn query_messages(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let dialog = request.body.get("dialogId").and_then(Value::as_str).ok_or((400, "dialogId: required".to_owned()))?;
        let conversation = self.conversations.get(dialog).ok_or((400, format!("dialogId: no dialog {dialog:?}")))?;
        if !self.is_participant(conversation, user_id) {
            return Err((400, "Agent does not exist in conversation".into()));
        }
        let from = ["newerThanSequence", "fromSeq"].iter().filter_map(|f| request.body.get(*f).and_then(Value::as_u64)).max().unwrap_or(0);
        let max = request.body.get("maxQuantity").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
        let events: Vec<Value> = conversation
            .events
            .iter()
            .filter(|e| e.sequence.is_some_and(|s| s >= from))
            .take(max)
            .map(|e| self.event_json(conversation, e))
            .collect();
        Ok(response(&request.id, 200, ".ams.ms.QueryMessages$Response", Value::Array(events)))
    }

    fn agent_publish(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let dialog = request.body.get("dialogId").or_else(|| request.body.get("conversationId")).and_then(Value::as_str).ok_or((400, "dialogId: required".to_owned()))?.to_owned();
        let conversation = self.conversations.get(&dialog).ok_or((400, format!("dialogId: no dialog {dialog:?}")))?;
        if !self.is_participant(conversation, user_id) {
            return Err((400, "Agent does not exist in conversation".into()));
        }
        let event = request.body.get("event").cloned().ok_or((400, "event: required".to_owned()))?;
        let audience = request.body.get("messageAudience").and_then(Value::as_str).unwrap_or("ALL").to_owned();
        let role = if conversation.assigned.as_deref() == Some(user_id) { "ASSIGNED_AGENT" } else { "MANAGER" };
        let pid = self.users[user_id].pid.clone();
        let old_id = self.old_id(user_id);
        let sequence = self.publish(&dialog, old_id, pid, role, event, request.metadata.clone(), audience)?;
        Ok(response(&request.id, 200, ".ams.ms.PublishEvent$Response", json!({"sequence": sequence.unwrap_or(0)})))
    }

    /// Validates and stores a dialog event, and sends it to every connection of every
    /// participant agent (the publisher included). Returns its sequence (none for chat states).
    #[allow(clippy::too_many_arguments)]
    pub fn publish(&mut self, dialog: &str, originator_id: String, originator_pid: String, role: &str, event: Value, metadata: Option<Value>, audience: String) -> Result<Option<u64>, (u16, String)> {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "ContentEvent" => {
                let content_type = event.get("contentType").and_then(Value::as_str).unwrap_or("text/plain");
                let ok = match content_type {
                    "hosted/file" => event.get("message").is_some_and(Value::is_object),
                    _ => event.get("message").is_some_and(Value::is_string),
                };
                if !ok {
                    return Err((400, "event.message: required (a string, or a hosted file object)".into()));
                }
            }
            "RichContentEvent" => {
                if !event.get("content").is_some_and(Value::is_object) {
                    return Err((400, "event.content: required, an object".into()));
                }
            }
            "AcceptStatusEvent" => {
                if !event.get("sequenceList").is_some_and(Value::is_array) || event.get("status").and_then(Value::as_str).is_none() {
                    return Err((400, "event.status and event.sequenceList: required".into()));
                }
            }
            "ChatStateEvent" => {
                let state = event.get("chatState").and_then(Value::as_str).unwrap_or("");
                if !CHAT_STATES.contains(&state) {
                    return Err((400, format!("event.chatState: must be one of {}", CHAT_STATES.join(", "))));
                }
            }
            other => return Err((400, format!("event.type: unknown event type {other:?}"))),
        }
        if !matches!(audience.as_str(), "ALL" | "AGENTS_AND_MANAGERS") {
            return Err((400, "messageAudience: must be ALL or AGENTS_AND_MANAGERS".into()));
        }
        let conversation = self.conversations.get_mut(dialog).ok_or((400, format!("dialogId: no dialog {dialog:?}")))?;
        if conversation.state != "OPEN" {
            return Err((400, "the conversation is closed".into()));
        }
        let sequence = (kind != "ChatStateEvent").then(|| {
            let s = conversation.next_sequence;
            conversation.next_sequence += 1;
            s
        });
        let stored = DialogEvent { sequence, originator_id, originator_pid, role: role.into(), server_timestamp: now_ms(), event, metadata, audience };
        conversation.updated_ts = stored.server_timestamp;
        if sequence.is_some() {
            conversation.events.push(stored.clone());
        }
        let (frame, conns) = {
            let conversation = &self.conversations[dialog];
            let frame = notification(".ams.ms.OnlineEventDistribution", self.event_json(conversation, &stored));
            let conns: Vec<ConnId> = self.participant_agents(conversation).iter().flat_map(|agent| self.conns_of(agent)).collect();
            (frame, conns)
        };
        for conn in conns {
            self.notify(conn, frame.clone());
        }
        if role == "ASSIGNED_AGENT" {
            if let (Some(load), Some(text)) = (self.load.as_mut(), stored.event.get("message").and_then(Value::as_str)) {
                load.on_agent_text(dialog, text);
            }
        }
        Ok(sequence)
    }

    fn update_conversation_field(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let id = request.body.get("conversationId").and_then(Value::as_str).ok_or((400, "conversationId: required".to_owned()))?.to_owned();
        let conversation = self.conversations.get(&id).cloned().ok_or((400, format!("conversationId: no conversation {id:?}")))?;
        // Joining as a manager or reader is how an agent that is not in it becomes a participant.
        let joining = request.body.get("conversationField").and_then(Value::as_array).is_some_and(|fields| {
            !fields.is_empty()
                && fields.iter().all(|f| f["field"] == "ParticipantsChange" && f["type"] == "ADD" && matches!(f["role"].as_str(), Some("MANAGER" | "READER")))
        });
        if !joining && !self.is_participant(&conversation, user_id) {
            return Err((400, "Agent does not exist in conversation".into()));
        }
        if conversation.state != "OPEN" {
            return Err((400, "the conversation is closed".into()));
        }
        let fields: Vec<Value> = match request.body.get("conversationField") {
            Some(Value::Array(items)) => items.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => return Err((400, "conversationField: required, an array of field changes".into())),
        };
        // Check every change before applying any.
        let mut close = false;
        let mut remove_assigned = false;
        let mut suggest: Option<String> = None;
        let mut skill: Option<String> = None;
        let mut ttr: Option<(String, u64)> = None;
        let mut add_manager = false;
        for (i, field) in fields.iter().enumerate() {
            let name = field.get("field").and_then(Value::as_str).unwrap_or("");
            let text = |key: &str| field.get(key).and_then(Value::as_str);
            match name {
                "ConversationStateField" if text("conversationState") == Some("CLOSE") => close = true,
                "DialogChange" if field.pointer("/dialog/state").and_then(Value::as_str) == Some("CLOSE") => close = true,
                "ParticipantsChange" => match (text("type"), text("role")) {
                    (Some("REMOVE"), Some("ASSIGNED_AGENT")) => {
                        if conversation.assigned.is_none() {
                            return Err((400, "there is no assigned agent to remove".into()));
                        }
                        remove_assigned = true;
                    }
                    (Some("SUGGEST"), Some("ASSIGNED_AGENT")) => {
                        let target = text("userId").and_then(|u| self.user_id_from(u)).ok_or((400, format!("conversationField[{i}].userId: no such agent")))?;
                        suggest = Some(target);
                    }
                    (Some("ADD"), Some("MANAGER" | "READER")) => add_manager = true,
                    _ => return Err((400, format!("conversationField[{i}]: unsupported ParticipantsChange"))),
                },
                "Skill" => {
                    let skill_id = match field.get("skill") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => return Err((400, format!("conversationField[{i}].skill: required"))),
                    };
                    if self.skill_by_id(&skill_id).is_none() {
                        return Err((400, format!("conversationField[{i}].skill: no skill {skill_id:?}")));
                    }
                    skill = Some(skill_id);
                }
                "TTRField" => {
                    let ttr_type = text("ttrType").unwrap_or("");
                    if !TTR_TYPES.contains(&ttr_type) {
                        return Err((400, format!("conversationField[{i}].ttrType: must be one of {}", TTR_TYPES.join(", "))));
                    }
                    let value = field.get("value").and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
                    if ttr_type == "CUSTOM" && value.is_none() {
                        return Err((400, format!("conversationField[{i}].value: seconds required for CUSTOM")));
                    }
                    ttr = Some((ttr_type.to_owned(), value.unwrap_or(NORMAL_TTR_SECONDS)));
                }
                other => return Err((400, format!("conversationField[{i}].field: unsupported {other:?}"))),
            }
        }
        if (skill.is_some() || suggest.is_some()) && !remove_assigned && conversation.assigned.is_some() {
            return Err((400, "a transfer must remove the assigned agent in the same request".into()));
        }
        let mut reply = "OK";
        if close {
            self.close(&id, "AGENT");
            return Ok(string_response(&request.id, 200, "OK"));
        }
        let c = self.conversations.get_mut(&id).expect("checked above");
        if let Some((ttr_type, value)) = ttr {
            c.ttr_type = ttr_type;
            c.ttr_value = value;
        }
        if add_manager && !c.managers.contains(&user_id.to_owned()) {
            c.managers.push(user_id.to_owned());
            reply = "OK Agent added successfully";
        }
        if let Some(target) = suggest {
            c.suggested = Some(target);
        }
        let skill_changed = skill.as_ref().is_some_and(|s| *s != c.skill_id);
        if let Some(skill_id) = skill {
            c.skill_id = skill_id;
            c.transferred = true;
        }
        c.updated_ts = now_ms();
        if remove_assigned {
            self.set_assigned(&id, None);
            reply = "OK Agent removed successfully";
        }
        self.conversation_changed(&id);
        if skill_changed {
            // Rings for the old skill no longer stand.
            if let Some(ring) = self.ring_of.get(&id).cloned() {
                self.end_ring(&ring, "CANCELLED");
            }
            self.declined_by.remove(&id);
        }
        if remove_assigned || skill_changed {
            self.route(&id);
            self.route_queues(); // the agent has a free slot
        }
        Ok(string_response(&request.id, 200, reply))
    }

    fn get_user_profile(&mut self, request: &Request) -> Result<String, (u16, String)> {
        let consumer = match &request.body {
            Value::String(id) => id.clone(),
            other => other.get("userId").and_then(Value::as_str).map(str::to_owned).ok_or((400, "body: the consumer id (a string) or {\"userId\": …}".to_owned()))?,
        };
        let conversation = self.by_consumer.get(&consumer).and_then(|id| self.conversations.get(id)).ok_or((400, format!("no consumer {consumer:?}")))?;
        let sdes = conversation.sdes.clone();
        let profile = json!({
            "firstName": sdes.get("firstName").cloned().unwrap_or(Value::Null),
            "lastName": sdes.get("lastName").cloned().unwrap_or(Value::Null),
            "privateData": sdes.get("privateData").cloned().unwrap_or(json!({})),
            "authenticatedData": {"lp_sdes": sdes.get("lp_sdes").cloned().unwrap_or(json!([]))},
        });
        Ok(response(&request.id, 200, ".ams.userprofile.GetUserProfile$Response", profile))
    }

    /// A temporary file URL (spec §4): the simulator stores no files; the shape is what counts.
    fn file_url(&mut self, request: &Request) -> String {
        let path = request.body.get("relativePath").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| format!("/v1/AUTH_sim/files/{}", self.uuid()));
        let expires = now_ms() / 1000 + 60;
        response(&request.id, 200, ".ams.ms.GenerateURLResponse", json!({"relativePath": path, "queryParams": {"temp_url_sig": self.token(), "temp_url_expires": expires.to_string()}}))
    }

    // ---- conversations ------------------------------------------------------------------

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
        let result = self.publish(id, consumer.clone(), consumer, "CONSUMER", event, None, "ALL".into());
        self.flush_notifications();
        result
    }

    /// Closes a conversation (by an agent, the consumer or the system).
    pub fn close(&mut self, id: &str, reason: &str) {
        let Some(c) = self.conversations.get_mut(id) else { return };
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
    fn prune_closed(&mut self) {
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

    fn assign(&mut self, id: &str, user_id: &str) {
        let Some(c) = self.conversations.get_mut(id) else { return };
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

    fn participant_agents(&self, c: &Conversation) -> Vec<String> {
        let mut agents: Vec<String> = Vec::new();
        for agent in c.assigned.iter().chain(c.managers.iter()) {
            if !agents.contains(agent) {
                agents.push(agent.clone());
            }
        }
        agents
    }

    fn matches(&self, sub: &ExSubscription, c: &Conversation) -> bool {
        shows(sub, c, &self.config.account)
    }

    /// Sends the conversation's change to every subscription that shows it (UPSERT) or showed
    /// it and no longer does (DELETE).
    pub fn conversation_changed(&mut self, id: &str) {
        self.placement_changed(id);
        let Some(conversation) = self.conversations.get(id) else { return };
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
                    frames.push((*conn_id, notification(".ams.aam.ExConversationChangeNotification", json!({"subscriptionId": sub.id, "changes": [change]}))));
                }
            }
        }
        frames.sort_by_key(|(conn, _)| *conn);
        for (conn, frame) in frames {
            self.notify(conn, frame);
        }
    }

    /// One ExConversation change with full `conversationDetails` (spec §5.3).
    fn conversation_change(&self, kind: &str, c: &Conversation) -> Value {
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

    /// A dialog event as UMS sends it (spec §5.4).
    pub fn event_json(&self, c: &Conversation, e: &DialogEvent) -> Value {
        let mut body = json!({
            "dialogId": c.id,
            "conversationId": c.id,
            "originatorId": e.originator_id,
            "originatorPId": e.originator_pid,
            "originatorMetadata": {"id": e.originator_pid, "role": e.role, "clientProperties": {"type": ".ClientProperties", "features": []}},
            "originatorClientProperties": {"type": ".ClientProperties", "features": []},
            "event": e.event,
            "messageAudience": e.audience,
        });
        if let Some(sequence) = e.sequence {
            body["sequence"] = json!(sequence);
            body["serverTimestamp"] = json!(e.server_timestamp);
        }
        if let Some(metadata) = &e.metadata {
            body["metadata"] = metadata.clone();
        }
        body
    }

    // ---- routing --------------------------------------------------------------------------

    /// Agents that may be rung for `skill_id` now: ONLINE, connected with a routing
    /// subscription, with a free slot; least loaded first.
    /// OCCUPIED agents take transferred conversations only (spec §4.1).
    fn available_agents(&self, skill_id: &str, transferred: bool) -> Vec<String> {
        let subscribed: HashSet<&str> = self.conns.values().filter(|c| c.routing_sub.is_some()).map(|c| c.user_id.as_str()).collect();
        let mut agents: Vec<(usize, String)> = self
            .users
            .values()
            .filter(|u| u.skills.iter().any(|s| s == skill_id) && !u.disabled)
            .filter(|u| u.availability == "ONLINE" || (transferred && u.availability == "OCCUPIED"))
            .filter(|u| subscribed.contains(u.user_id.as_str()))
            .map(|u| (self.open_load(&u.user_id) + self.waiting_rings(&u.user_id), u.user_id.clone()))
            .filter(|(load, user_id)| *load < self.users[user_id].max_slots)
            .collect();
        agents.sort();
        agents.into_iter().map(|(_, user)| user).collect()
    }

    /// Rings an agent for the conversation, or queues it on its skill.
    pub fn route(&mut self, id: &str) {
        let Some(c) = self.conversations.get(id) else { return };
        if c.state != "OPEN" || c.assigned.is_some() || self.ring_of.contains_key(id) {
            return;
        }
        let skill_id = c.skill_id.clone();
        let suggested = c.suggested.clone();
        let transferred = c.transferred;
        let human = self.skill_by_id(&skill_id).is_some_and(|s| s.human);
        let mut available = if human { Vec::new() } else { self.available_agents(&skill_id, transferred) };
        // A transfer to an agent rings that agent first when it can take the conversation.
        if let Some(target) = &suggested {
            let target_free = self.users.get(target).is_some_and(|u| !u.disabled && u.availability != "AWAY" && u.availability != "OFFLINE")
                && self.conns.values().any(|c| c.user_id == *target && c.routing_sub.is_some());
            if target_free && !available.contains(target) {
                available.insert(0, target.clone());
            } else if let Some(at) = available.iter().position(|a| a == target) {
                let target = available.remove(at);
                available.insert(0, target);
            }
        }
        let declined = self.declined_by.get(id).cloned().unwrap_or_default();
        let candidate = available.iter().find(|a| !declined.contains(*a)).cloned();
        let Some(agent) = candidate else {
            if self.queued.insert(id.to_owned()) {
                self.queues.entry(skill_id).or_default().push_back(id.to_owned());
            }
            if !available.is_empty() {
                // Everyone available declined: offer it again after a ring period, not at once.
                self.pending_timers.push(Timer::Reoffer { conversation_id: id.to_owned(), after: self.config.ring_expiration });
            }
            return;
        };
        let now = now_ms();
        let expiration = self.config.ring_expiration;
        let serial = self.serial();
        let ring = Ring {
            id: format!("{id}_{}_{now}{serial}", self.config.account),
            conversation_id: id.to_owned(),
            user_id: agent.clone(),
            created_ts: now,
            expires_ts: now + expiration.as_millis() as i64,
            state: "WAITING".into(),
        };
        let frame_change = self.ring_change(&ring, false);
        self.rings.insert(ring.id.clone(), ring.clone());
        self.ring_of.insert(id.to_owned(), ring.id.clone());
        *self.rings_per_agent.entry(agent.clone()).or_default() += 1;
        self.placement_changed(id);
        for conn in self.conns_of(&agent) {
            if let Some(sub) = self.conns[&conn].routing_sub.clone() {
                self.notify(conn, notification(".ams.routing.RoutingTaskNotification", json!({"subscriptionId": sub, "changes": [frame_change.clone()]})));
            }
        }
        self.pending_timers.push(Timer::RingExpiry { ring_id: ring.id, after: expiration });
    }

    /// Routes queued conversations, oldest first, while agents are free.
    /// A skill nobody can take a conversation of now (human, or no agent free) keeps its queue
    /// as it is, so a long queue costs nothing until an agent frees up.
    pub fn route_queues(&mut self) {
        let skills: Vec<String> = self.queues.iter().filter(|(_, q)| !q.is_empty()).map(|(skill, _)| skill.clone()).collect();
        let mut queued: Vec<String> = Vec::new();
        for skill in skills {
            let human = self.skill_by_id(&skill).is_none_or(|s| s.human);
            // OCCUPIED agents count too: they take transferred conversations. A conversation
            // transferred to an agent may still ring that agent.
            let nobody = human || self.available_agents(&skill, true).is_empty();
            let suggested = |id: &String| self.queued.contains(id) && self.conversations.get(id).is_some_and(|c| c.suggested.is_some());
            if nobody && !self.queues.get(&skill).is_some_and(|q| q.iter().any(suggested)) {
                continue;
            }
            if let Some(queue) = self.queues.get_mut(&skill) {
                queued.extend(queue.drain(..));
            }
        }
        // Stale entries (assigned or closed since) and duplicates are dropped here.
        queued.retain(|id| self.queued.remove(id));
        queued.sort_by_key(|id| self.conversations.get(id).map(|c| c.start_ts).unwrap_or(0));
        for id in queued {
            self.route(&id);
        }
    }

    /// A ring's time is up: it expires and the next agent is rung.
    pub fn expire_ring(&mut self, ring_id: &str) {
        let Some(ring) = self.rings.get(ring_id).cloned() else { return };
        if ring.state != "WAITING" {
            return;
        }
        self.end_ring(ring_id, "EXPIRED");
        self.declined_by.entry(ring.conversation_id.clone()).or_default().insert(ring.user_id.clone());
        self.route(&ring.conversation_id);
        self.route_queues();
        self.flush_notifications();
    }

    /// A conversation every available agent declined is offered to them again.
    pub fn reoffer(&mut self, conversation_id: &str) {
        self.declined_by.remove(conversation_id);
        self.route(conversation_id);
        self.flush_notifications();
    }

    /// The timers operations asked for since the last call; the caller arms them.
    pub fn take_timers(&mut self) -> Vec<Timer> {
        std::mem::take(&mut self.pending_timers)
    }

    fn end_ring(&mut self, ring_id: &str, state: &str) {
        let Some(ring) = self.rings.get_mut(ring_id) else { return };
        ring.state = state.into();
        let ring = ring.clone();
        if self.ring_of.get(&ring.conversation_id).is_some_and(|r| r == ring_id) {
            self.ring_of.remove(&ring.conversation_id);
        }
        crate::sim::state::decrement(&mut self.rings_per_agent, &ring.user_id);
        let change = self.ring_change(&ring, state == "ACCEPTED");
        for conn in self.conns_of(&ring.user_id) {
            if let Some(sub) = self.conns[&conn].routing_sub.clone() {
                self.notify(conn, notification(".ams.routing.RoutingTaskNotification", json!({"subscriptionId": sub, "changes": [change.clone()]})));
            }
        }
        self.rings.remove(ring_id);
        self.placement_changed(&ring.conversation_id);
    }

    fn ring_change(&self, ring: &Ring, completed: bool) -> Value {
        let c = self.conversations.get(&ring.conversation_id);
        let consumer = c.map(|c| c.consumer_id.clone()).unwrap_or_default();
        let skill = c.map(|c| c.skill_id.clone()).unwrap_or_default();
        let account = &self.config.account;
        json!({"type": "UPSERT", "result": {
            "routingTaskId": format!("task-{}", ring.conversation_id),
            "taskCompleted": completed,
            "conversationId": ring.conversation_id,
            "consumerId": consumer,
            "skillId": skill,
            "brandId": account,
            "assignedAgentId": if completed { format!("{account}.{}", ring.user_id) } else { String::new() },
            "ringsDetails": [{
                "ringId": ring.id,
                "ringExpiration": ring.expires_ts - ring.created_ts,
                "ringExpirationTs": ring.expires_ts,
                "ringState": ring.state,
                "weight": 1,
                "brandId": account,
                "convId": ring.conversation_id,
                "consumerId": consumer,
                "skillId": skill,
            }],
        }})
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
        Some(ids) => c.assigned.iter().chain(c.suggested.iter()).chain(c.managers.iter()).any(|agent| ids.contains(&format!("{account}.{agent}"))),
    }
}
