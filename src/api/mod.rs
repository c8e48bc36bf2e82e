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
pub mod errors;
mod metrics;

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
        Some(_) if matches!(req.path(), "/healthz" | "/readyz") => true,
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

/// Starts the admin API. Without a token it must listen on loopback.
pub fn start(addr: SocketAddr, state: Arc<AdminState>) -> Result<(SocketAddr, actix_web::dev::ServerHandle), String> {
    if state.token.is_none() && !addr.ip().is_loopback() {
        return Err(format!("the admin API on {addr} needs node.admin_token: without a token it only listens on 127.0.0.1"));
    }
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        let not_allowed = || web::to(|| async { method_not_allowed() });
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
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "up"})) }))
            .route("/readyz", web::get().to(readyz))
            .service(
                web::resource("/v1/bots").route(web::get().to(bots::list)).route(web::post().to(bots::add)).default_service(not_allowed()),
            )
            .service(
                web::resource("/v1/bots/{id}")
                    .route(web::get().to(bots::get))
                    .route(web::put().to(bots::replace))
                    .route(web::delete().to(bots::remove))
                    .default_service(not_allowed()),
            )
            .service(web::resource("/v1/bots/{id}/start").route(web::post().to(bots::start)).default_service(not_allowed()))
            .service(web::resource("/v1/bots/{id}/stop").route(web::post().to(bots::stop)).default_service(not_allowed()))
            .service(web::resource("/v1/bots/{id}/capacity").route(web::patch().to(bots::set_capacity)).default_service(not_allowed()))
            .service(web::resource("/v1/bots/{id}/errors").route(web::get().to(bots::errors)).default_service(not_allowed()))
            .service(web::resource("/v1/bots/{id}/conversations").route(web::get().to(bots::conversations)).default_service(not_allowed()))
            .service(
                web::resource("/v1/bots/{id}/conversations/{cid}/{action}")
                    .route(web::post().to(conversation_actions::act))
                    .default_service(not_allowed()),
            )
            .service(web::resource("/v1/cluster").route(web::get().to(cluster::view)).default_service(not_allowed()))
            .service(
                web::resource("/v1/nodes/{id}/drain")
                    .route(web::post().to(cluster::drain))
                    .route(web::delete().to(cluster::drain))
                    .default_service(not_allowed()),
            )
            .route("/metrics", web::get().to(metrics::render))
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
