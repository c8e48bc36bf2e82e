//! One websocket connection: requests in, responses and notifications out, pings answered,
//! closed after the idle timeout. A bad frame gets a 400 error response; it never closes the
//! connection.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, MessageStream, Session};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::sim::context::Sim;
use crate::sim::frames::{error_response, parse_request};
use crate::sim::state::{ConnId, Outgoing};
use crate::sim::timers;

/// Frames beyond this are a protocol error (the connection closes); below it, frames larger
/// than the configured limit get a 400 and the connection stays.
const HARD_FRAME_LIMIT: usize = 16 * 1024 * 1024;

pub async fn run_connection(sim: Arc<Sim>, conn: ConnId, mut session: Session, stream: MessageStream, mut rx: mpsc::Receiver<Outgoing>) {
    let mut stream = stream.max_frame_size(HARD_FRAME_LIMIT).aggregate_continuations().max_continuation_size(HARD_FRAME_LIMIT);
    let idle = sim.config.idle_timeout;
    let mut last_traffic = Instant::now();
    let mut window_start = Instant::now();
    let mut window_requests = 0u32;
    let close: Option<CloseReason> = loop {
        tokio::select! {
            incoming = stream.recv() => {
                last_traffic = Instant::now();
                match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        let rate_limit = sim.state.lock().expect("state lock").faults.rate_limit;
                        if let Some(limit) = rate_limit {
                            if window_start.elapsed() >= Duration::from_secs(1) {
                                window_start = Instant::now();
                                window_requests = 0;
                            }
                            window_requests += 1;
                            if window_requests > limit {
                                let id = parse_request(&text).ok().map(|r| r.id);
                                reply(&sim, conn, error_response(id.as_deref(), 429, "too many requests; retry after 1 s"));
                                continue;
                            }
                        }
                        handle_text(&sim, conn, &text).await;
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        let _ = session.pong(&bytes).await;
                    }
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        reply(&sim, conn, error_response(None, 400, "binary frames are not supported; send JSON text frames"));
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                }
            }
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Text(text)) => {
                    if session.text(text).await.is_err() {
                        break None;
                    }
                }
                Some(Outgoing::Close(code, reason)) => break Some(CloseReason { code: CloseCode::Other(code), description: Some(reason) }),
                Some(Outgoing::Drop) | None => {
                    sim.state.lock().expect("state lock").disconnect(conn);
                    return; // dropped without a close frame
                }
            },
            _ = tokio::time::sleep_until(last_traffic + idle) => {
                break Some(CloseReason { code: CloseCode::Normal, description: Some(format!("idle for {}s", idle.as_secs())) });
            }
        }
    };
    sim.state.lock().expect("state lock").disconnect(conn);
    let _ = session.close(close).await;
}

/// An answer that goes through the connection's queue, after what is queued already.
fn reply(sim: &Arc<Sim>, conn: ConnId, frame: String) {
    sim.state.lock().expect("state lock").send(conn, Outgoing::Text(frame));
}

async fn handle_text(sim: &Arc<Sim>, conn: ConnId, text: &str) {
    if text.len() > sim.config.max_frame_bytes {
        let id = parse_request(text).ok().map(|r| r.id);
        let message = format!("frame of {} bytes is over the limit of {} bytes", text.len(), sim.config.max_frame_bytes);
        reply(sim, conn, error_response(id.as_deref(), 400, &message));
        return;
    }
    let request = match parse_request(text) {
        Ok(request) => request,
        Err(bad) => {
            reply(sim, conn, error_response(bad.req_id.as_deref(), 400, &bad.message));
            return;
        }
    };
    let latency = sim.state.lock().expect("state lock").faults.latency;
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let timers = sim.state.lock().expect("state lock").handle_request(conn, request);
    timers::arm(&sim.state, timers);
}
