//! A blocking HTTP/1.1 client for the simulator's control API and the nodes' admin APIs (plain
//! HTTP on 127.0.0.1), every call bounded: a paused node accepts the connection (the kernel does)
//! and never answers, so each read waits at most `timeout`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// A call's bound when the caller has no better one.
#[allow(dead_code)] // not every bench uses it
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Calls `method path` on `addr` (`host:port`): the status and the body as JSON (a string when
/// it is not JSON).
pub fn call(addr: &str, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Result<(u16, Value), String> {
    let socket: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("{method} {path}: {e}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("{method} {path} on {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(format!("{method} {path}: no HTTP status"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::String(body))))
}

/// Expects a 2xx answer.
pub fn ok(addr: &str, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Result<Value, String> {
    match call(addr, method, path, body, timeout)? {
        (status, answer) if (200..300).contains(&status) => Ok(answer),
        (status, answer) => Err(format!("{method} {path}: {status} {answer}")),
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
