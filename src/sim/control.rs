//! The control API (plain HTTP JSON, its own port): skills, agents, conversations and consumer
//! events, transcripts, faults. Errors are 4xx with `{"error": {"code", "message"}}` naming the
//! field to fix.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::sim::context::Sim;
use crate::sim::state::{now_ms, Outgoing, CLOSE_TOKEN_EXPIRED};
use crate::sim::timers;

fn error(status: u16, code: &str, message: impl Into<String>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message.into()}}))
}

/// Reads a JSON body into `T`, or a 400 naming what is wrong.
#[allow(clippy::result_large_err)] // the error is the handler's response
fn parse<T: for<'de> Deserialize<'de>>(body: &web::Bytes) -> Result<T, HttpResponse> {
    serde_json::from_slice(body).map_err(|e| error(400, "invalid_body", format!("the JSON body is not valid: {e}")))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| {
        actix_web::error::InternalError::from_response(
            e.to_string(),
            error(400, "invalid_query", format!("the query string is not valid: {e}")),
        )
        .into()
    }))
    .app_data(web::PayloadConfig::new(1024 * 1024))
    .route("/sim/v1/skills", web::post().to(add_skill))
    .route("/sim/v1/skills", web::get().to(list_skills))
    .route("/sim/v1/agents", web::post().to(add_agent))
    .route("/sim/v1/agents", web::get().to(list_agents))
    .route("/sim/v1/agents/{id}/enable", web::post().to(enable_agent))
    .route("/sim/v1/conversations", web::post().to(open_conversation))
    .route("/sim/v1/conversations", web::get().to(list_conversations))
    .route("/sim/v1/conversations/{id}", web::get().to(get_conversation))
    .route("/sim/v1/conversations/{id}/events", web::post().to(consumer_event))
    .route("/sim/v1/conversations/{id}/close", web::post().to(close_conversation))
    .route("/sim/v1/traffic", web::post().to(start_traffic))
    .route("/sim/v1/traffic", web::get().to(traffic_status))
    .route("/sim/v1/traffic", web::delete().to(stop_traffic))
    .route("/sim/v1/load/conversations", web::post().to(load_conversations))
    .route("/sim/v1/load/messages", web::post().to(load_messages))
    .route("/sim/v1/load", web::get().to(load_status))
    .route("/sim/v1/load", web::delete().to(load_stop))
    .route("/sim/v1/refusals", web::get().to(list_refusals))
    .route("/sim/v1/sessions", web::get().to(list_sessions))
    .route("/sim/v1/faults", web::post().to(add_fault))
    .route("/sim/v1/faults", web::delete().to(clear_faults))
    .default_service(web::to(|| async { error(404, "not_found", "no such control endpoint; see /sim/v1/…") }));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSkill {
    name: String,
    #[serde(default)]
    human: bool,
}

async fn add_skill(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let skill: NewSkill = match parse(&body) {
        Ok(skill) => skill,
        Err(response) => return response,
    };
    match sim.state.lock().expect("state lock").add_skill(&skill.name, skill.human) {
        Ok(id) => HttpResponse::Created().json(json!({"id": id})),
        Err(problem) => error(400, "invalid_skill", problem.to_string()),
    }
}

async fn list_skills(sim: web::Data<Sim>) -> HttpResponse {
    let state = sim.state.lock().expect("state lock");
    let skills: Vec<Value> = state.skills.iter().map(|s| json!({"id": s.id, "name": s.name, "human": s.human})).collect();
    HttpResponse::Ok().json(skills)
}

async fn add_agent(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    // The same shape as a user in the simulator's configuration.
    let agent: crate::sim::config::UserConfig = match parse(&body) {
        Ok(agent) => agent,
        Err(response) => return response,
    };
    let added = sim.state.lock().expect("state lock").add_user(&agent.login, agent.credentials, &agent.skills, agent.max_slots, agent.kind);
    match added {
        Ok((user_id, pid)) => {
            HttpResponse::Created().json(json!({"user_id": user_id, "pid": pid, "agent_id": format!("{}.{user_id}", sim.account)}))
        }
        Err(problem) => error(400, "invalid_agent", problem.to_string()),
    }
}

async fn list_agents(sim: web::Data<Sim>) -> HttpResponse {
    let state = sim.state.lock().expect("state lock");
    let mut agents: Vec<Value> = state
        .users
        .values()
        .map(|u| {
            let skills: Vec<String> = u.skills.iter().filter_map(|id| state.skill_by_id(id).map(|s| s.name.clone())).collect();
            json!({
                "user_id": u.user_id, "pid": u.pid, "login": u.login, "kind": u.kind, "skills": skills,
                "max_slots": u.max_slots, "availability": u.availability, "connections": state.conns_of(&u.user_id).len(),
                "sessions": state.sessions.values().filter(|s| s.user_id == u.user_id).count(),
                "open_conversations": state.open_load(&u.user_id), "disabled": u.disabled, "failed_logins": u.failed_logins,
            })
        })
        .collect();
    agents.sort_by(|a, b| a["user_id"].as_str().cmp(&b["user_id"].as_str()));
    HttpResponse::Ok().json(agents)
}

async fn enable_agent(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    let mut state = sim.state.lock().expect("state lock");
    let Some(user_id) = state.user_id_from(&path.into_inner()) else {
        return error(404, "unknown_agent", "no such agent");
    };
    let user = state.users.get_mut(&user_id).expect("exists");
    user.disabled = false;
    user.failed_logins = 0;
    HttpResponse::Ok().json(json!({"user_id": user_id, "disabled": false}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConversation {
    skill: String,
    #[serde(default)]
    sdes: Option<Value>,
}

async fn open_conversation(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let new: NewConversation = match parse(&body) {
        Ok(new) => new,
        Err(response) => return response,
    };
    let (opened, timers) = {
        let mut state = sim.state.lock().expect("state lock");
        let opened = state.open_conversation(&new.skill, new.sdes.unwrap_or(json!({})));
        (opened, state.take_timers())
    };
    timers::arm(&sim.state, timers);
    match opened {
        Ok((id, consumer)) => HttpResponse::Created().json(json!({"conversation_id": id, "consumer_id": consumer})),
        Err(message) => error(400, "invalid_conversation", message),
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ConsumerEvent {
    Text {
        text: String,
    },
    Typing {
        #[serde(default)]
        state: Option<String>,
    },
    Rich {
        content: Value,
    },
    File {
        file_type: String,
        #[serde(default)]
        caption: Option<String>,
        #[serde(default)]
        relative_path: Option<String>,
    },
}

async fn consumer_event(sim: web::Data<Sim>, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let event: ConsumerEvent = match parse(&body) {
        Ok(event) => event,
        Err(response) => return response,
    };
    let id = path.into_inner();
    let event = match event {
        ConsumerEvent::Text { text } => {
            json!({"type": "ContentEvent", "contentType": "text/plain", "message": text})
        }
        ConsumerEvent::Typing { state } => {
            json!({"type": "ChatStateEvent", "chatState": state.unwrap_or_else(|| "COMPOSING".into())})
        }
        ConsumerEvent::Rich { content } => json!({"type": "RichContentEvent", "content": content}),
        ConsumerEvent::File { file_type, caption, relative_path } => {
            json!({"type": "ContentEvent", "contentType": "hosted/file", "message": {
                "relativePath": relative_path.unwrap_or_else(|| format!("/v1/AUTH_sim/{id}/{}.{}", now_ms(), file_type.to_lowercase())),
                "fileType": file_type, "caption": caption.unwrap_or_default(),
            }})
        }
    };
    let result = sim.state.lock().expect("state lock").consumer_event(&id, event);
    match result {
        // Chat states take no sequence; like PublishEvent, report 0.
        Ok(sequence) => HttpResponse::Ok().json(json!({"sequence": sequence.unwrap_or(0)})),
        Err((status, message)) => error(status, if status == 404 { "unknown_conversation" } else { "invalid_event" }, message),
    }
}

fn conversation_json(state: &crate::sim::state::SimState, id: &str) -> Option<Value> {
    let c = state.conversations.get(id)?;
    let name = |user: &Option<String>| user.as_ref().map(|u| state.old_id(u));
    let skill = state.skill_by_id(&c.skill_id).map(|s| s.name.clone());
    let transcript: Vec<Value> = c
        .events
        .iter()
        .map(|e| {
            let kind = match (e.event["type"].as_str(), e.event["contentType"].as_str()) {
                (Some("ContentEvent"), Some("hosted/file")) => "file",
                (Some("ContentEvent"), _) => "text",
                (Some("RichContentEvent"), _) => "rich",
                (Some("AcceptStatusEvent"), _) => "accept_status",
                _ => "other",
            };
            json!({
                "sequence": e.sequence, "originator": e.originator_id, "role": e.role, "kind": kind,
                "text": e.event["message"].as_str(), "content": e.event.get("content").or_else(|| e.event.get("message").filter(|m| m.is_object())),
                "status": e.event.get("status"), "quick_replies": e.event.get("quickReplies"), "audience": e.audience, "server_timestamp": e.server_timestamp,
                // What the consumer's side receives, frame-level fields included.
                "originator_pid": e.originator_pid, "event": e.event, "metadata": e.metadata, "encoded_metadata": e.encoded_metadata,
            })
        })
        .collect();
    let mut participants = vec![json!({"id": c.consumer_id, "role": "CONSUMER", "state": "ACTIVE"})];
    if let Some(agent) = name(&c.assigned) {
        participants.push(json!({"id": agent, "role": "ASSIGNED_AGENT", "state": "ACTIVE"}));
    }
    for manager in &c.managers {
        participants.push(json!({"id": state.old_id(manager), "role": "MANAGER", "state": "ACTIVE"}));
    }
    if let Some(agent) = name(&c.suggested) {
        participants.push(json!({"id": agent, "role": "ASSIGNED_AGENT", "state": "SUGGESTED"}));
    }
    Some(json!({
        "conversation_id": c.id, "consumer_id": c.consumer_id, "state": c.state, "skill": skill, "skill_id": c.skill_id,
        "assigned_agent": name(&c.assigned), "suggested_agent": name(&c.suggested), "participants": participants,
        "ttr": {"type": c.ttr_type, "value": c.ttr_value}, "close_reason": c.close_reason, "transcript": transcript,
    }))
}

async fn get_conversation(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    let state = sim.state.lock().expect("state lock");
    match conversation_json(&state, &path.into_inner()) {
        Some(body) => HttpResponse::Ok().json(body),
        None => error(404, "unknown_conversation", "no such conversation"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationFilter {
    state: Option<String>,
    skill: Option<String>,
}

async fn list_conversations(sim: web::Data<Sim>, query: web::Query<ConversationFilter>) -> HttpResponse {
    let state = sim.state.lock().expect("state lock");
    let skill_id = match &query.skill {
        Some(name) => match state.skill_by_name(name) {
            Some(skill) => Some(skill.id.clone()),
            None => return error(400, "invalid_query", format!("skill: no skill named {name:?}")),
        },
        None => None,
    };
    let list: Vec<Value> = state
        .conversation_order
        .iter()
        .filter_map(|id| state.conversations.get(id))
        .filter(|c| query.state.as_ref().is_none_or(|s| *s == c.state))
        .filter(|c| skill_id.as_ref().is_none_or(|s| *s == c.skill_id))
        .filter_map(|c| conversation_json(&state, &c.id))
        .collect();
    HttpResponse::Ok().json(list)
}

async fn close_conversation(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    let id = path.into_inner();
    let timers = {
        let mut state = sim.state.lock().expect("state lock");
        if !state.conversations.contains_key(&id) {
            return error(404, "unknown_conversation", "no such conversation");
        }
        state.close(&id, "CONSUMER");
        state.flush_notifications();
        state.take_timers()
    };
    timers::arm(&sim.state, timers);
    HttpResponse::Ok().json(json!({"conversation_id": id, "state": "CLOSE"}))
}

/// The request frames refused by the field rules: a total and the most recent ones.
#[derive(serde::Deserialize)]
struct SessionsQuery {
    login: Option<String>,
}

/// Every login, connection, kick, revocation and disconnection (bounded), oldest first.
async fn list_sessions(sim: web::Data<Sim>, query: web::Query<SessionsQuery>) -> HttpResponse {
    let state = sim.state.lock().expect("state lock");
    let log = &state.session_log;
    HttpResponse::Ok().json(json!({"total": log.total(), "events": log.events(query.login.as_deref())}))
}

async fn list_refusals(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.state.lock().expect("state lock").refusals.to_json())
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Fault {
    DropConnections {
        agent: Option<String>,
    },
    ExpireTokens,
    LoginUnavailable {
        #[serde(rename = "for", with = "humantime_serde")]
        duration: Duration,
    },
    UmsUnavailable {
        #[serde(rename = "for", with = "humantime_serde")]
        duration: Duration,
    },
    Latency {
        ms: u64,
    },
    RateLimit {
        requests_per_second: u32,
    },
    /// The account-config skills API answers 403 (a bot user without the permission).
    SkillsForbidden,
    /// The demo function answers 503 for a while (a vendor's 5xx burst).
    FunctionsUnavailable {
        #[serde(rename = "for", with = "humantime_serde")]
        duration: Duration,
    },
}

async fn add_fault(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let fault: Fault = match parse(&body) {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    // Bounded, so no clock arithmetic can overflow.
    let too_long = match &fault {
        Fault::LoginUnavailable { duration } | Fault::UmsUnavailable { duration } | Fault::FunctionsUnavailable { duration } => {
            *duration > Duration::from_secs(86_400)
        }
        Fault::Latency { ms } => *ms > 60_000,
        _ => false,
    };
    if too_long {
        return error(400, "invalid_fault", "for: at most 24h; ms: at most 60000");
    }
    let mut state = sim.state.lock().expect("state lock");
    let until = |d: Duration| now_ms().saturating_add(d.as_millis() as i64);
    match fault {
        Fault::DropConnections { agent } => {
            let user = match agent.as_deref().map(|a| state.user_id_from(a)) {
                Some(None) => return error(400, "invalid_fault", "agent: no such agent"),
                Some(Some(user)) => Some(user),
                None => None,
            };
            let conns: Vec<_> =
                state.conns.iter().filter(|(_, c)| user.as_ref().is_none_or(|u| *u == c.user_id)).map(|(id, _)| *id).collect();
            for conn in conns {
                state.send(conn, Outgoing::Drop);
                state.disconnect(conn);
            }
        }
        Fault::ExpireTokens => {
            let bearers: Vec<String> = state.sessions.keys().cloned().collect();
            for bearer in bearers {
                state.revoke(&bearer, CLOSE_TOKEN_EXPIRED, "token expired");
            }
        }
        Fault::LoginUnavailable { duration } => state.faults.login_unavailable_until = Some(until(duration)),
        Fault::UmsUnavailable { duration } => state.faults.ums_unavailable_until = Some(until(duration)),
        Fault::Latency { ms } => state.faults.latency = Some(Duration::from_millis(ms)),
        Fault::SkillsForbidden => state.faults.skills_forbidden = true,
        Fault::FunctionsUnavailable { duration } => state.faults.functions_unavailable_until = Some(until(duration)),
        Fault::RateLimit { requests_per_second } => {
            if requests_per_second == 0 {
                return error(400, "invalid_fault", "requests_per_second: must be at least 1");
            }
            state.faults.rate_limit = Some(requests_per_second)
        }
    }
    HttpResponse::Ok().json(json!({"ok": true}))
}

async fn clear_faults(sim: web::Data<Sim>) -> HttpResponse {
    // Every fault ends, the functions' outage too (it is kept with the others).
    sim.state.lock().expect("state lock").faults = Default::default();
    HttpResponse::Ok().json(json!({"ok": true}))
}

async fn start_traffic(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let config: crate::sim::config::TrafficConfig = match parse(&body) {
        Ok(config) => config,
        Err(response) => return response,
    };
    let mut problems = config.validate("traffic");
    if sim.state.lock().expect("state lock").skill_by_name(&config.skill).is_none() {
        problems.push(format!("skill: no skill named {:?}", config.skill));
    }
    if !problems.is_empty() {
        return error(400, "invalid_traffic", problems.join("; "));
    }
    let mut current = sim.traffic.lock().expect("traffic lock");
    if let Some(running) = current.take() {
        running.stop();
    }
    *current = Some(crate::sim::traffic::start(sim.state.clone(), config));
    HttpResponse::Ok().json(json!({"started": true}))
}

async fn traffic_status(sim: web::Data<Sim>) -> HttpResponse {
    let current = sim.traffic.lock().expect("traffic lock");
    match &*current {
        Some(t) => HttpResponse::Ok().json(json!({"running": !t.finished.load(std::sync::atomic::Ordering::Relaxed), "opened": t.opened.load(std::sync::atomic::Ordering::Relaxed), "messages": t.messages.load(std::sync::atomic::Ordering::Relaxed)})),
        None => HttpResponse::Ok().json(json!({"running": false})),
    }
}

async fn stop_traffic(sim: web::Data<Sim>) -> HttpResponse {
    if let Some(running) = sim.traffic.lock().expect("traffic lock").take() {
        running.stop();
    }
    HttpResponse::Ok().json(json!({"running": false}))
}

/// The benchmark's load: open N conversations on a skill.
async fn load_conversations(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let request: crate::sim::load::OpenConversations = match parse(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    match crate::sim::load::open(sim.state.clone(), request) {
        Ok(()) => HttpResponse::Accepted().json(json!({"status": "opening"})),
        Err(message) => error(400, "invalid_load", message),
    }
}

/// The benchmark's load: send messages at a fixed rate over its conversations.
async fn load_messages(sim: web::Data<Sim>, body: web::Bytes) -> HttpResponse {
    let request: crate::sim::load::SendMessages = match parse(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    match crate::sim::load::send(sim.state.clone(), request) {
        Ok(()) => HttpResponse::Accepted().json(json!({"status": "sending"})),
        Err(message) => error(400, "invalid_load", message),
    }
}

async fn load_status(sim: web::Data<Sim>) -> HttpResponse {
    match crate::sim::load::status(&sim.state) {
        Some(status) => HttpResponse::Ok().json(status),
        None => error(404, "no_load", "no load run; POST /sim/v1/load/conversations starts one"),
    }
}

async fn load_stop(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(crate::sim::load::stop(sim.state.clone()))
}
