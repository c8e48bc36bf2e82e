//! Routing: rings for available agents, skill queues, ring expiry and re-offers (spec §5.2).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::sim::frames::notification;
use crate::sim::state::{now_ms, Ring, SimState, Timer};

impl SimState {
    /// Agents that may be rung for `skill_id` now: ONLINE, connected with a routing
    /// subscription, with a free slot; least loaded first.
    /// OCCUPIED agents take transferred conversations only (spec §4.1).
    pub(super) fn available_agents(&self, skill_id: &str, transferred: bool) -> Vec<String> {
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
        let Some(c) = self.conversations.get(id) else {
            return;
        };
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
            let target_free =
                self.users.get(target).is_some_and(|u| !u.disabled && u.availability != "AWAY" && u.availability != "OFFLINE")
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
                self.notify(
                    conn,
                    notification(".ams.routing.RoutingTaskNotification", json!({"subscriptionId": sub, "changes": [frame_change.clone()]})),
                );
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
        let Some(ring) = self.rings.get(ring_id).cloned() else {
            return;
        };
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

    pub(super) fn end_ring(&mut self, ring_id: &str, state: &str) {
        let Some(ring) = self.rings.get_mut(ring_id) else {
            return;
        };
        ring.state = state.into();
        let ring = ring.clone();
        if self.ring_of.get(&ring.conversation_id).is_some_and(|r| r == ring_id) {
            self.ring_of.remove(&ring.conversation_id);
        }
        crate::sim::state::decrement(&mut self.rings_per_agent, &ring.user_id);
        let change = self.ring_change(&ring, state == "ACCEPTED");
        for conn in self.conns_of(&ring.user_id) {
            if let Some(sub) = self.conns[&conn].routing_sub.clone() {
                self.notify(
                    conn,
                    notification(".ams.routing.RoutingTaskNotification", json!({"subscriptionId": sub, "changes": [change.clone()]})),
                );
            }
        }
        self.rings.remove(ring_id);
        self.placement_changed(&ring.conversation_id);
    }

    pub(super) fn ring_change(&self, ring: &Ring, completed: bool) -> Value {
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
