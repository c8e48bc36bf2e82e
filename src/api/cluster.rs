//! The cluster as one service: `GET /v1/cluster` (this node, the members, the bots each owns
//! with its token), `POST`/`DELETE /v1/nodes/{id}/drain`.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::AdminState;
use crate::cluster::StoreError;

fn store_error(error: StoreError) -> HttpResponse {
    match error {
        StoreError::Unsupported(why) => ApiError::Unsupported(why).response(),
        other => ApiError::StoreFailed(other.to_string()).response(),
    }
}

/// The members, drained or not, each with the bots it owns and their tokens; this node's
/// ownership deadline (ms from now; `null` without a lease).
pub async fn view(state: web::Data<AdminState>) -> HttpResponse {
    let store = &state.store;
    let members = match store.members().await {
        Ok(members) => members,
        Err(error) => return store_error(error),
    };
    let drained = store.drained().await.unwrap_or_default();
    let mut owned: Vec<(String, String, i64)> = Vec::new();
    for bot in state.registry.list() {
        if let Ok(Some(owner)) = store.owner(bot.id()).await {
            owned.push((owner.node_id, owner.bot_id, owner.token.0));
        }
    }
    let members: Vec<Value> = members
        .iter()
        .map(|m| {
            let bots: Vec<Value> =
                owned.iter().filter(|(node, _, _)| *node == m.node_id).map(|(_, bot, token)| json!({"id": bot, "token": token})).collect();
            json!({
                "node_id": m.node_id, "admin_addr": m.admin_addr, "capacity": m.capacity, "version": m.version,
                "drained": drained.contains(&m.node_id), "bots": bots,
            })
        })
        .collect();
    let deadline_ms = store.ownership_deadline().map(|d| d.saturating_duration_since(tokio::time::Instant::now()).as_millis());
    HttpResponse::Ok().json(json!({"node_id": store.node_id(), "ownership_deadline_ms": deadline_ms, "members": members}))
}

/// `POST` drains the node (it hands its bots to the others, a few per interval, and takes none);
/// `DELETE` undoes it.
pub async fn drain(state: web::Data<AdminState>, path: web::Path<String>, req: actix_web::HttpRequest) -> HttpResponse {
    let node_id = path.into_inner();
    let drained = req.method() == actix_web::http::Method::POST;
    match state.store.members().await {
        Ok(members) if !members.iter().any(|m| m.node_id == node_id) => return ApiError::UnknownNode(node_id).response(),
        Ok(_) => {}
        Err(error) => return store_error(error),
    }
    match state.store.set_drained(&node_id, drained).await {
        Ok(()) => {
            tracing::info!(node_id = %node_id, drained, "node drain changed through the admin API");
            HttpResponse::Ok().json(json!({"node_id": node_id, "drained": drained}))
        }
        Err(error) => store_error(error),
    }
}
