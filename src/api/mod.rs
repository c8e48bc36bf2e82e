//! The admin HTTP API — the Agent Connectors page as an API — and the Prometheus metrics.
//!
//! `GET /healthz`, `GET /readyz`; `GET|POST /v1/bots`; `GET|PUT|DELETE /v1/bots/{id}`;
//! `POST /v1/bots/{id}/start|stop`; `GET /v1/bots/{id}/errors|conversations`; `GET /metrics`.
//! Everything but health needs `Authorization: Bearer <admin token>` when a token is configured;
//! without one the API only listens on loopback. Errors are `{"code", "message"}`; no secret is
//! ever returned (inline credentials show as `"***"`).

mod bots;
mod cluster;
mod conversation_actions;
mod dashboard;
pub mod errors;
mod metrics;
pub mod openapi;

// The request bodies' parsers, pure (the fuzz targets call them too).
pub use bots::{parse_bot, parse_json, CapacityChange};
pub use conversation_actions::{parse_command, ACTIONS};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::service::BotRegistry;
use errors::ApiError;

/// The largest request body the API reads (one bot's configuration).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the API serves.
pub struct AdminState {
    pub registry: Arc<BotRegistry>,
    /// The node's store: the cluster view and drains.
    pub store: Arc<dyn crate::cluster::Store>,
    /// What the cluster loop did (handoffs, takeovers, session drops), for the metrics.
    pub cluster: Arc<crate::cluster::ClusterCounters>,
    pub token: Option<String>,
    /// The configuration is loaded and the bots were started.
    pub ready: AtomicBool,
}

/// Everything but the health probes needs the token, when one is configured.
async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AdminState>>().cloned();
    let allowed = match state.as_ref().and_then(|s| s.token.as_deref()) {
        None => true,
        // The probes, and the console's page (it asks for the token and sends it with each call).
        Some(_) if matches!(req.path(), "/healthz" | "/readyz" | "/") => true,
        Some(token) => {
            let given = req.headers().get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
            given.is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
        }
    };
    if !allowed {
        return Ok(req.into_response(ApiError::Unauthorized.response()).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn method_not_allowed() -> HttpResponse {
    ApiError::MethodNotAllowed.response()
}

/// Every route of the admin API: method, path (actix's `{param}` syntax, as OpenAPI writes it),
/// handler. The router is built from this table, and the OpenAPI document
/// (`/v1/openapi.json`) is checked against it by the tests: every route documented, every
/// documented route served.
pub fn route_table() -> Vec<(&'static str, &'static str, actix_web::Route)> {
    vec![
        ("GET", "/", web::get().to(dashboard::page)),
        ("GET", "/healthz", web::get().to(healthz)),
        ("GET", "/readyz", web::get().to(readyz)),
        ("GET", "/v1/openapi.json", web::get().to(openapi::document)),
        ("GET", "/v1/bots", web::get().to(bots::list)),
        ("POST", "/v1/bots", web::post().to(bots::add)),
        ("GET", "/v1/bots/{id}", web::get().to(bots::get)),
        ("PUT", "/v1/bots/{id}", web::put().to(bots::replace)),
        ("DELETE", "/v1/bots/{id}", web::delete().to(bots::remove)),
        ("POST", "/v1/bots/{id}/start", web::post().to(bots::start)),
        ("POST", "/v1/bots/{id}/stop", web::post().to(bots::stop)),
        ("PATCH", "/v1/bots/{id}/capacity", web::patch().to(bots::set_capacity)),
        ("GET", "/v1/bots/{id}/errors", web::get().to(bots::errors)),
        ("GET", "/v1/bots/{id}/conversations", web::get().to(bots::conversations)),
        ("POST", "/v1/bots/{id}/conversations/{cid}/{action}", web::post().to(conversation_actions::act)),
        ("GET", "/v1/cluster", web::get().to(cluster::view)),
        ("POST", "/v1/nodes/{id}/drain", web::post().to(cluster::drain)),
        ("DELETE", "/v1/nodes/{id}/drain", web::delete().to(cluster::drain)),
        ("GET", "/metrics", web::get().to(metrics::render)),
    ]
}

/// The (method, path) pairs the router serves.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    route_table().into_iter().map(|(method, path, _)| (method, path)).collect()
}

/// One resource per path, its methods from the table, any other method answered 405.
fn register_routes(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    let mut table = route_table();
    for (_, path, _) in &table {
        if !paths.contains(path) {
            paths.push(path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        let mut i = 0;
        while i < table.len() {
            if table[i].1 == path {
                resource = resource.route(table.remove(i).2);
            } else {
                i += 1;
            }
        }
        cfg.service(resource.default_service(web::to(|| async { method_not_allowed() })));
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "up"}))
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
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            // Extractor errors answer as every other error does: JSON with a code.
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|error, _| ApiError::BadQuery(format!("the query string is not valid: {error}")).into()),
            )
            .app_data(
                web::PathConfig::default().error_handler(|error, _| ApiError::BadQuery(format!("the path is not valid: {error}")).into()),
            )
            .wrap(from_fn(require_token))
            .configure(register_routes)
            .default_service(web::to(|| async { ApiError::NotFound.response() }))
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
        HttpResponse::Ok().json(json!({"status": "ready", "bots": state.registry.list().len()}))
    } else {
        ApiError::NotReady.response()
    }
}
