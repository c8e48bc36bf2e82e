//! The platform origin's HTTP endpoints: CSDS, login, refresh, logout (spec §1–§2), and the
//! websocket upgrade (§3.1).

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::sim::context::Sim;
use crate::sim::state::now_ms;
use crate::sim::ws::run_connection;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

fn error(status: u16, message: &str, internal_code: u32) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"error": {
        "time": now_ms(), "message": message, "internalCode": internal_code,
        "responseStatus": status.canonical_reason().unwrap_or("").to_uppercase().replace(' ', "_"),
    }}))
}

#[allow(clippy::result_large_err)] // the error is the handler's response
fn check_account(sim: &Sim, account: &str) -> Result<(), HttpResponse> {
    if account == sim.account {
        Ok(())
    } else {
        Err(error(404, &format!("unknown account {account:?}"), 0))
    }
}

pub async fn csds(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    let account = path.into_inner();
    if let Err(response) = check_account(&sim, &account) {
        return response;
    }
    HttpResponse::Ok().json(json!({"baseURIs": sim.base_uris()}))
}

pub async fn login(sim: web::Data<Sim>, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    if let Err(response) = check_account(&sim, &path.into_inner()) {
        return response;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "the body must be JSON: {\"username\", \"password\"} or the API key fields", 0);
    };
    let result = sim.state.lock().expect("state lock").login(&body);
    match result {
        Err((status, message, code)) => error(status, &message, code),
        Ok(session) => {
            let (login, pid) = {
                let state = sim.state.lock().expect("state lock");
                let user = &state.users[&session.user_id];
                (user.login.clone(), user.pid.clone())
            };
            HttpResponse::Ok().insert_header(("Set-Cookie", format!("session_id={}; Path=/; HttpOnly; Secure", session.cookie))).json(
                json!({
                    "csrf": session.csrf,
                    "wsuk": session.cookie.chars().take(16).collect::<String>(),
                    "config": {"loginName": login, "userId": session.user_id, "userPid": pid, "accountId": sim.account, "userTypeId": 1},
                    "csdsCollectionResponse": {"baseURIs": sim.base_uris()},
                    "accountData": {"agentGroupsData": {"items": []}},
                    "sessionTTl": "28800000",
                    "bearer": session.bearer,
                }),
            )
        }
    }
}

/// The `session_id` cookie (any case of the name, as LivePerson documents `Session_id`).
fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("session_id"))
        .map(|(_, value)| value.to_owned())
}

/// Refresh and logout: the session cookie plus `{"csrf"}`.
pub async fn refresh(sim: web::Data<Sim>, path: web::Path<String>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    session_call(sim, path, req, body, false)
}

pub async fn logout(sim: web::Data<Sim>, path: web::Path<String>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    session_call(sim, path, req, body, true)
}

fn session_call(sim: web::Data<Sim>, path: web::Path<String>, req: HttpRequest, body: web::Bytes, end: bool) -> HttpResponse {
    if let Err(response) = check_account(&sim, &path.into_inner()) {
        return response;
    }
    let csrf = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b.get("csrf").and_then(Value::as_str).map(str::to_owned));
    let (Some(cookie), Some(csrf)) = (session_cookie(&req), csrf) else {
        return error(401, "CSRF token invalid! The session cookie and {\"csrf\"} are required", 10);
    };
    let mut state = sim.state.lock().expect("state lock");
    let Some(bearer) = state.session_by_cookie(&cookie, &csrf).map(|s| s.bearer.clone()) else {
        return error(401, "CSRF token invalid! Log in again", 10);
    };
    if end {
        state.revoke(&bearer, 1000, "logged out");
    }
    HttpResponse::Ok().finish()
}

/// The account's skills (`[{id, name}]`) for a logged-in user (`Authorization: Bearer …`).
pub async fn skills(sim: web::Data<Sim>, path: web::Path<String>, req: HttpRequest) -> HttpResponse {
    if let Err(response) = check_account(&sim, &path.into_inner()) {
        return response;
    }
    let bearer = req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
    let state = sim.state.lock().expect("state lock");
    if !state.sessions.contains_key(bearer) {
        return error(401, "a valid bearer token is required", 0);
    }
    if state.faults.skills_forbidden {
        return error(403, "the user has no permission to read skills", 0);
    }
    let skills: Vec<Value> =
        state.skills.iter().map(|s| json!({"id": s.id.parse::<u64>().unwrap_or(0), "name": s.name, "deleted": false})).collect();
    HttpResponse::Ok().json(skills)
}

/// `GET /ws_api/account/{acc}/messaging/brand/{bearer}?v=2.1`: the token is checked before the
/// upgrade (401 when unknown), then the connection runs on its own task.
pub async fn websocket(
    sim: web::Data<Sim>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let (account, bearer) = path.into_inner();
    if let Err(response) = check_account(&sim, &account) {
        return Ok(response);
    }
    // Check first (no side effects), upgrade, and only then register: a request that is not a
    // websocket upgrade must not kick the agent's live connection.
    if let Err((status, message)) = sim.state.lock().expect("state lock").may_connect(&bearer) {
        return Ok(error(status, &message, 0));
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let connection = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(sim.config.connection_queue);
    let admitted = sim.state.lock().expect("state lock").connect(connection, &bearer, tx);
    if let Err((status, message)) = admitted {
        return Ok(error(status, &message, 0));
    }
    actix_rt::spawn(run_connection(sim.into_inner(), connection, session, stream, rx));
    Ok(response)
}
