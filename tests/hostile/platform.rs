//! A hostile platform on 127.0.0.1: CSDS, login and the websocket, each able to misbehave —
//! dribble its answer a byte a second, never answer, or send a websocket frame no client may
//! accept. Plain blocking sockets, one thread per connection, so nothing in it is botvisor's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha1::{Digest, Sha1};

/// How one endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Normal,
    /// The status line and headers at once, then the body one byte a second.
    Dribble,
    /// Reads the request and never answers.
    Never,
}

/// What the websocket does once it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// Sends a frame with a reserved bit set (RSV1, no extension negotiated).
    ReservedBits,
    /// Sends a frame with a reserved opcode (0x3).
    BadOpcode,
    /// Sends a text frame that is not UTF-8.
    BadUtf8,
    /// Sends a continuation frame with no message begun.
    StrayContinuation,
    /// Sends a text message in 1 MiB fragments, 17 MiB in all (over the 16 MiB a message may be).
    OversizedMessage,
    /// Reads everything and answers nothing (no subscription is ever confirmed).
    Silent,
}

#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub csds: Reply,
    pub login: Reply,
    pub upgrade: Reply,
    pub socket: Socket,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self { csds: Reply::Normal, login: Reply::Normal, upgrade: Reply::Normal, socket: Socket::Silent }
    }
}

/// Requests seen, per endpoint.
#[derive(Debug, Default)]
pub struct Seen {
    pub csds: AtomicUsize,
    pub login: AtomicUsize,
    pub upgrades: AtomicUsize,
}

pub struct HostilePlatform {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

pub const ACCOUNT: &str = "666";

impl HostilePlatform {
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = shared.clone();
                std::thread::spawn(move || serve(stream, addr, behaviour, &seen));
            }
        });
        Self { addr, seen }
    }

    pub fn upgrades(&self) -> usize {
        self.seen.upgrades.load(Ordering::SeqCst)
    }
}

/// The request head (bounded) and the body its Content-Length announces.
fn read_request(stream: &mut TcpStream) -> Option<(String, Option<String>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0u8; length.min(1024 * 1024)];
    stream.read_exact(&mut body).ok()?;
    let key = header(&head, "sec-websocket-key");
    Some((head, key))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

fn serve(mut stream: TcpStream, addr: SocketAddr, behaviour: Behaviour, seen: &Seen) {
    let Some((head, key)) = read_request(&mut stream) else { return };
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    if path.contains("/service/baseURI.json") {
        seen.csds.fetch_add(1, Ordering::SeqCst);
        let body = format!(
            r#"{{"baseURIs":[{{"service":"agentVep","account":"{ACCOUNT}","baseURI":"{addr}"}},{{"service":"asyncMessagingEnt","account":"{ACCOUNT}","baseURI":"{addr}"}}]}}"#
        );
        answer(&mut stream, behaviour.csds, &body);
    } else if path.contains("/login") {
        seen.login.fetch_add(1, Ordering::SeqCst);
        answer(&mut stream, behaviour.login, r#"{"bearer":"hostile-bearer","csrf":"c","config":{"userId":"7","userPid":"pid-7"}}"#);
    } else if path.contains("/ws_api/") {
        seen.upgrades.fetch_add(1, Ordering::SeqCst);
        match behaviour.upgrade {
            Reply::Never => hold(&mut stream),
            _ => {
                let accept = base64::engine::general_purpose::STANDARD
                    .encode(Sha1::digest(format!("{}258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key.unwrap_or_default())));
                let response = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
                if stream.write_all(response.as_bytes()).is_err() {
                    return;
                }
                match behaviour.socket {
                    // FIN + RSV1 + text, 2 bytes, unmasked: a protocol error for a client
                    // that negotiated no extension.
                    Socket::ReservedBits => drop(stream.write_all(&[0xC1, 0x02, b'h', b'i'])),
                    Socket::BadOpcode => drop(stream.write_all(&[0x83, 0x00])),
                    Socket::BadUtf8 => drop(stream.write_all(&[0x81, 0x02, 0xFF, 0xFE])),
                    Socket::StrayContinuation => drop(stream.write_all(&[0x80, 0x02, b'h', b'i'])),
                    Socket::OversizedMessage => {
                        let fragment = vec![b'a'; 1024 * 1024];
                        for i in 0..17 {
                            // Text first, then continuations; FIN on the last.
                            let opcode = match i {
                                0 => 0x01,
                                16 => 0x80,
                                _ => 0x00,
                            };
                            let mut head = vec![opcode, 127];
                            head.extend_from_slice(&(fragment.len() as u64).to_be_bytes());
                            if stream.write_all(&head).and_then(|()| stream.write_all(&fragment)).is_err() {
                                break; // the client closed the connection: what it should do
                            }
                        }
                    }
                    Socket::Silent => {}
                }
                hold(&mut stream);
            }
        }
    } else {
        answer(&mut stream, Reply::Normal, "{}");
    }
}

/// Reads (and drops) whatever comes until the peer closes.
fn hold(stream: &mut TcpStream) {
    let mut buffer = [0u8; 4096];
    while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
}

fn answer(stream: &mut TcpStream, reply: Reply, body: &str) {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    match reply {
        Reply::Never => hold(stream),
        Reply::Normal => {
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
        }
        Reply::Dribble => {
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            for byte in body.bytes() {
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
