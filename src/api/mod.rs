//! The admin HTTP API — the Agent Connectors page as an API — and the Prometheus metrics.
//!
//! `GET /healthz`, `GET /readyz`, `GET /v1/bots`, `GET /v1/bots/{id}`, `POST /v1/bots/{id}/start`,
//! `POST /v1/bots/{id}/stop`, `GET /v1/bots/{id}/errors`, `GET /metrics`. Everything but health
//! needs `Authorization: Bearer <admin token>` when a token is configured; without one the API
//! only listens on loopback. Errors are `{"code", "message"}`; no secret is ever returned.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::Addr;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use botvisor_actors::bot::{BotActor, BotStatus, GetBotStatus, GetConversations, StartBot, StopBot};
use botvisor_actors::conversation::GetConversationSnapshot;
use botvisor_actors::model::BotState;
use serde_json::{json, Value};

/// One bot as the API sees it.
pub struct ManagedBot {
    pub id: String,
    pub name: Option<String>,
    pub addr: Addr<BotActor>,
    /// Stopped through the API (the documented `stopped` deployment status).
    pub stopped: AtomicBool,
}

/// What the API serves.
pub struct AdminState {
    pub bots: Vec<ManagedBot>,
    pub token: Option<String>,
    pub ready: AtomicBool,
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"code": code, "message": message}))
}

fn authorized(state: &AdminState, req: &HttpRequest) -> bool {
    match &state.token {
        None => true,
        Some(token) => req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")) == Some(token.as_str()),
    }
}

/// Starts the admin API. Without a token it must listen on loopback.
pub fn start(addr: SocketAddr, state: Arc<AdminState>) -> Result<(SocketAddr, actix_web::dev::ServerHandle), String> {
    if state.token.is_none() && !addr.ip().is_loopback() {
        return Err(format!("the admin API on {addr} needs node.admin_token: without a token it only listens on 127.0.0.1"));
    }
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "up"})) }))
            .route("/readyz", web::get().to(readyz))
            .route("/v1/bots", web::get().to(list_bots))
            .route("/v1/bots/{id}", web::get().to(get_bot))
            .route("/v1/bots/{id}/start", web::post().to(start_bot))
            .route("/v1/bots/{id}/stop", web::post().to(stop_bot))
            .route("/v1/bots/{id}/errors", web::get().to(bot_errors))
            .route("/v1/bots/{id}/conversations", web::get().to(bot_conversations))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(|| async { error(404, "not_found", "no such route; see /v1/bots") }))
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .bind(addr)
    .map_err(|e| format!("the admin API cannot listen on {addr}: {e}"))?;
    let bound = *server.addrs().first().ok_or("the admin API has no address")?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((bound, handle))
}

async fn readyz(state: web::Data<AdminState>) -> HttpResponse {
    if state.ready.load(Ordering::Relaxed) {
        HttpResponse::Ok().json(json!({"status": "ready", "bots": state.bots.len()}))
    } else {
        error(503, "not_ready", "the configuration is loaded but the bots are still starting")
    }
}

fn since_ms(status: &BotStatus) -> u128 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    now.saturating_sub(status.since.elapsed()).as_millis()
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

fn bot_json(bot: &ManagedBot, status: &BotStatus) -> Value {
    let deployment = if bot.stopped.load(Ordering::Relaxed) {
        "stopped"
    } else if status.state == BotState::Offline && status.last_error.is_none() && status.stats.conversations_started == 0 {
        "ready_to_start"
    } else if status.state == BotState::Offline {
        "offline"
    } else {
        "online"
    };
    let stats = &status.stats;
    let total = stats.conversations_started;
    json!({
        "id": bot.id,
        "name": bot.name,
        "deployment_status": deployment,
        "state": status.state.as_str(),
        "state_since": since_ms(status),
        "open_conversations": status.open_conversations,
        "capacity": {"recommended": status.load.recommended, "hard": status.load.hard},
        "last_error": status.last_error.as_ref().map(|e| json!({"code": e.code.as_str(), "message": e.message, "error_id": e.error_id})),
        "kpis": {
            "total_conversations": total,
            "closed_pct": pct(stats.closed, total),
            "transferred_pct": pct(stats.transferred, total),
            "escalated_pct": pct(stats.escalated, total),
        },
    })
}

fn find<'a>(state: &'a AdminState, id: &str) -> Option<&'a ManagedBot> {
    state.bots.iter().find(|b| b.id == id)
}

async fn status_of(bot: &ManagedBot) -> Result<BotStatus, HttpResponse> {
    bot.addr.send(GetBotStatus).await.map_err(|_| error(503, "bot_unavailable", "the bot's actor does not answer"))
}

async fn list_bots(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let mut bots = Vec::new();
    for bot in &state.bots {
        match status_of(bot).await {
            Ok(status) => bots.push(bot_json(bot, &status)),
            Err(response) => return response,
        }
    }
    HttpResponse::Ok().json(bots)
}

async fn get_bot(state: web::Data<AdminState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let Some(bot) = find(&state, &path) else { return error(404, "unknown_bot", "no bot with this id") };
    match status_of(bot).await {
        Ok(status) => HttpResponse::Ok().json(bot_json(bot, &status)),
        Err(response) => response,
    }
}

async fn start_bot(state: web::Data<AdminState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let Some(bot) = find(&state, &path) else { return error(404, "unknown_bot", "no bot with this id") };
    match bot.addr.send(StartBot).await {
        Ok(Ok(())) => {
            bot.stopped.store(false, Ordering::Relaxed);
            get_bot(state.clone(), req, path).await
        }
        Ok(Err(report)) => error(409, report.code.as_str(), &report.message),
        Err(_) => error(503, "bot_unavailable", "the bot's actor does not answer"),
    }
}

async fn stop_bot(state: web::Data<AdminState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let Some(bot) = find(&state, &path) else { return error(404, "unknown_bot", "no bot with this id") };
    // The bot's open conversations stay on the platform, untouched.
    if bot.addr.send(StopBot).await.is_err() {
        return error(503, "bot_unavailable", "the bot's actor does not answer");
    }
    bot.stopped.store(true, Ordering::Relaxed);
    get_bot(state.clone(), req, path).await
}

async fn bot_errors(state: web::Data<AdminState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let Some(bot) = find(&state, &path) else { return error(404, "unknown_bot", "no bot with this id") };
    match status_of(bot).await {
        Ok(status) => HttpResponse::Ok().json(
            status
                .conversation_errors
                .iter()
                .map(|e| json!({"code": e.report.code.as_str(), "message": e.report.message, "error_id": e.report.error_id, "conversation_id": e.conversation_id}))
                .collect::<Vec<_>>(),
        ),
        Err(response) => response,
    }
}

/// The bot's open conversations as its actors see them.
async fn bot_conversations(state: web::Data<AdminState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let Some(bot) = find(&state, &path) else { return error(404, "unknown_bot", "no bot with this id") };
    let Ok(conversations) = bot.addr.send(GetConversations).await else {
        return error(503, "bot_unavailable", "the bot's actor does not answer");
    };
    let mut list = Vec::with_capacity(conversations.len());
    for (id, actor) in conversations {
        let snapshot = match actor {
            Some(actor) => actor.send(GetConversationSnapshot).await.ok(),
            None => None,
        };
        list.push(match snapshot {
            Some(s) => json!({
                "conversation_id": id, "phase": s.phase, "answered_below": s.answered_below,
                "waiting_messages": s.waiting_messages, "vendor_calls": s.vendor_calls,
                "last_error": s.last_error.map(|e| json!({"code": e.code.as_str(), "message": e.message, "error_id": e.error_id})),
            }),
            None => json!({"conversation_id": id, "phase": "starting"}),
        });
    }
    HttpResponse::Ok().json(list)
}

/// Prometheus text format: per bot — state, open conversations, conversations by outcome.
async fn metrics(state: web::Data<AdminState>, req: HttpRequest) -> HttpResponse {
    if !authorized(&state, &req) {
        return error(401, "unauthorized", "send Authorization: Bearer <admin token>");
    }
    let mut out = String::new();
    out.push_str("# HELP botvisor_bot_state The bot's state (1 for the current one).\n# TYPE botvisor_bot_state gauge\n");
    let mut statuses = Vec::new();
    for bot in &state.bots {
        if let Ok(status) = status_of(bot).await {
            for s in ["offline", "online", "vendor_interruption", "service_interruption"] {
                out.push_str(&format!("botvisor_bot_state{{bot_id=\"{}\",state=\"{s}\"}} {}\n", bot.id, u8::from(status.state.as_str() == s)));
            }
            statuses.push((bot.id.clone(), status));
        }
    }
    out.push_str("# HELP botvisor_open_conversations Conversations the bot holds.\n# TYPE botvisor_open_conversations gauge\n");
    for (id, status) in &statuses {
        out.push_str(&format!("botvisor_open_conversations{{bot_id=\"{id}\"}} {}\n", status.open_conversations));
    }
    out.push_str("# HELP botvisor_conversations_total Conversations by outcome.\n# TYPE botvisor_conversations_total counter\n");
    for (id, status) in &statuses {
        let s = &status.stats;
        for (outcome, n) in [("started", s.conversations_started), ("closed", s.closed), ("transferred", s.transferred), ("escalated", s.escalated), ("removed", s.removed), ("failed", s.failed), ("panicked", s.panicked)] {
            out.push_str(&format!("botvisor_conversations_total{{bot_id=\"{id}\",outcome=\"{outcome}\"}} {n}\n"));
        }
    }
    out.push_str("# HELP botvisor_vendor_calls_total Vendor calls by outcome.\n# TYPE botvisor_vendor_calls_total counter\n");
    for (id, status) in &statuses {
        for (outcome, n) in &status.vendor.outcomes {
            out.push_str(&format!("botvisor_vendor_calls_total{{bot_id=\"{id}\",outcome=\"{outcome}\"}} {n}\n"));
        }
    }
    out.push_str("# HELP botvisor_vendor_call_duration_seconds Vendor call latency, retries included.\n# TYPE botvisor_vendor_call_duration_seconds histogram\n");
    for (id, status) in &statuses {
        let v = &status.vendor;
        for (bound, n) in botvisor_actors::bot::vendor_stats::LATENCY_BUCKETS.iter().zip(v.latency_buckets.iter()) {
            out.push_str(&format!("botvisor_vendor_call_duration_seconds_bucket{{bot_id=\"{id}\",le=\"{bound}\"}} {n}\n"));
        }
        out.push_str(&format!("botvisor_vendor_call_duration_seconds_bucket{{bot_id=\"{id}\",le=\"+Inf\"}} {}\n", v.calls));
        out.push_str(&format!("botvisor_vendor_call_duration_seconds_sum{{bot_id=\"{id}\"}} {}\n", v.latency_sum_seconds));
        out.push_str(&format!("botvisor_vendor_call_duration_seconds_count{{bot_id=\"{id}\"}} {}\n", v.calls));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}
