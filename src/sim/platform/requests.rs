//! The websocket's requests (spec §4): each is checked against the documented field rules
//! (`validate`), then answered, and the notifications it causes follow its response.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::dialog::Publication;
use super::{MAX_SUBSCRIPTIONS_PER_CONNECTION, NORMAL_TTR_SECONDS};
use crate::sim::frames::{error_response, notification, response, string_response, Request};
use crate::sim::state::{now_ms, ConnId, ExSubscription, Ring, SimState, Timer};
use crate::sim::validate;

impl SimState {
    /// Handles one request from `conn`: answers it and sends every notification it causes.
    pub fn handle_request(&mut self, conn: ConnId, request: Request) -> Vec<Timer> {
        let Some(user_id) = self.conns.get(&conn).map(|c| c.user_id.clone()) else {
            return Vec::new();
        };
        // What the platform refuses is never applied.
        if let Err(refusal) = validate::request(&request) {
            let message = refusal.to_string();
            tracing::debug!(conn, kind = %request.kind, %message, "request refused");
            let agent = self.old_id(&user_id);
            self.refusals.push(&agent, &request, &message);
            self.send_first(conn, error_response(Some(&request.id), 400, &message));
            return self.take_timers();
        }
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

    pub(super) fn set_agent_state(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let availability = request.body.get("availability").and_then(Value::as_str).unwrap_or("OFFLINE");
        if let Some(user) = self.users.get_mut(user_id) {
            user.availability = availability.to_owned();
        }
        let change = json!({"type": "UPSERT", "result": {"agentUserId": self.old_id(user_id), "channels": ["MESSAGING"], "availability": availability, "description": ""}});
        for conn in self.conns_of(user_id) {
            if let Some(sub) = self.conns[&conn].agent_state_sub.clone() {
                self.notify(
                    conn,
                    notification(".ams.routing.AgentStateNotification", json!({"subscriptionId": sub, "changes": [change.clone()]})),
                );
            }
        }
        self.route_queues();
        Ok(string_response(&request.id, 202, "Agent state updated successfully"))
    }

    pub(super) fn subscribe_routing(&mut self, conn: ConnId, user_id: &str, request: &Request) -> String {
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

    pub(super) fn subscribe_agents_state(&mut self, conn: ConnId, user_id: &str, request: &Request) -> String {
        let sub = self.uuid();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.agent_state_sub = Some(sub.clone());
        }
        let availability = self.users.get(user_id).map(|u| u.availability.clone()).unwrap_or_default();
        let change = json!({"type": "UPSERT", "result": {"agentUserId": self.old_id(user_id), "channels": ["MESSAGING"], "availability": availability, "description": ""}});
        self.notify(conn, notification(".ams.routing.AgentStateNotification", json!({"subscriptionId": sub, "changes": [change]})));
        response(&request.id, 200, ".ams.GenericSubscribe$Response", json!({"subscriptionId": sub}))
    }

    pub(super) fn update_ring_state(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
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

    pub(super) fn subscribe_ex_conversations(&mut self, conn: ConnId, request: &Request) -> Result<String, (u16, String)> {
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
            return Err((
                400,
                format!("at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} conversation subscriptions per connection; unsubscribe first"),
            ));
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

    pub(super) fn unsubscribe_ex_conversations(&mut self, conn: ConnId, request: &Request) -> String {
        let sub = request.body.get("subscriptionId").and_then(Value::as_str).unwrap_or("");
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ex_subs.retain(|s| s.id != sub);
        }
        string_response(&request.id, 200, "OK")
    }

    pub(super) fn query_messages(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
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

    pub(super) fn agent_publish(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let dialog = request.body.get("dialogId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let conversation = self.conversations.get(&dialog).ok_or((400, format!("dialogId: no dialog {dialog:?}")))?;
        if !self.is_participant(conversation, user_id) {
            return Err((400, "Agent does not exist in conversation".into()));
        }
        let event = request.body.get("event").cloned().ok_or((400, "event: required".to_owned()))?;
        let audience = request.body.get("messageAudience").and_then(Value::as_str).unwrap_or("ALL").to_owned();
        let role = if conversation.assigned.as_deref() == Some(user_id) { "ASSIGNED_AGENT" } else { "MANAGER" };
        let pid = self.users[user_id].pid.clone();
        let old_id = self.old_id(user_id);
        let publication = Publication {
            originator_id: old_id,
            originator_pid: pid,
            role,
            event,
            metadata: request.metadata.clone(),
            encoded_metadata: request.encoded_metadata().map(str::to_owned),
            audience,
        };
        let sequence = self.publish(&dialog, publication)?;
        Ok(response(&request.id, 200, ".ams.ms.PublishEvent$Response", json!({"sequence": sequence.unwrap_or(0)})))
    }

    pub(super) fn update_conversation_field(&mut self, user_id: &str, request: &Request) -> Result<String, (u16, String)> {
        let id = request.body.get("conversationId").and_then(Value::as_str).ok_or((400, "conversationId: required".to_owned()))?.to_owned();
        let conversation = self.conversations.get(&id).cloned().ok_or((400, format!("conversationId: no conversation {id:?}")))?;
        // Joining as a manager or reader is how an agent that is not in it becomes a participant.
        let joining = request.body.get("conversationField").and_then(Value::as_array).is_some_and(|fields| {
            !fields.is_empty()
                && fields.iter().all(|f| {
                    f["field"] == "ParticipantsChange" && f["type"] == "ADD" && matches!(f["role"].as_str(), Some("MANAGER" | "READER"))
                })
        });
        if !joining && !self.is_participant(&conversation, user_id) {
            return Err((400, "Agent does not exist in conversation".into()));
        }
        if conversation.state != "OPEN" {
            return Err((400, "the conversation is closed".into()));
        }
        // Validated: an array of field changes.
        let fields: Vec<Value> = request.body.get("conversationField").and_then(Value::as_array).cloned().unwrap_or_default();
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
                        let target = text("userId")
                            .and_then(|u| self.user_id_from(u))
                            .ok_or((400, format!("conversationField[{i}].userId: no such agent")))?;
                        suggest = Some(target);
                    }
                    (Some("ADD"), Some("MANAGER" | "READER")) => add_manager = true,
                    _ => return Err((400, format!("conversationField[{i}]: unsupported ParticipantsChange"))),
                },
                "Skill" => {
                    let skill_id = text("skill").unwrap_or_default().to_owned();
                    if self.skill_by_id(&skill_id).is_none() {
                        return Err((400, format!("conversationField[{i}].skill: no skill {skill_id:?}")));
                    }
                    skill = Some(skill_id);
                }
                "TTRField" => {
                    // Validated: both present (`TTRChange.json`).
                    let ttr_type = text("ttrType").unwrap_or("NORMAL");
                    let value = field.get("value").and_then(Value::as_u64).unwrap_or(NORMAL_TTR_SECONDS);
                    ttr = Some((ttr_type.to_owned(), value));
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

    pub(super) fn get_user_profile(&mut self, request: &Request) -> Result<String, (u16, String)> {
        let consumer = match &request.body {
            Value::String(id) => id.clone(),
            other => other
                .get("userId")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or((400, "body: the consumer id (a string) or {\"userId\": …}".to_owned()))?,
        };
        let conversation =
            self.by_consumer.get(&consumer).and_then(|id| self.conversations.get(id)).ok_or((400, format!("no consumer {consumer:?}")))?;
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
    pub(super) fn file_url(&mut self, request: &Request) -> String {
        let path = request
            .body
            .get("relativePath")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("/v1/AUTH_sim/files/{}", self.uuid()));
        let expires = now_ms() / 1000 + 60;
        response(
            &request.id,
            200,
            ".ams.ms.GenerateURLResponse",
            json!({"relativePath": path, "queryParams": {"temp_url_sig": self.token(), "temp_url_expires": expires.to_string()}}),
        )
    }
}
