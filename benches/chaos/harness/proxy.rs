//! A TCP fault proxy between one node and the etcd members: one loopback port per member, every
//! byte forwarded until it is told otherwise. `BlackHole` keeps every connection open and drops
//! what flows through it (the node's calls time out, like a partition); `Refuse` closes every
//! connection and closes new ones at once (the node's calls fail fast). Back to `Forward`, the
//! connections that lived through a fault are closed (a stream that lost bytes cannot go on) and
//! new ones forward again. Plain std threads: a listener per port and two pumps per connection,
//! each waking every `TICK` to see the mode, all ended when the proxy is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a listener or a pump looks at the mode (and at the end of the proxy).
const TICK: Duration = Duration::from_millis(20);
/// Connecting to an etcd member, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Forward,
    BlackHole,
    Refuse,
}

impl ProxyMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::BlackHole => "black-hole",
            Self::Refuse => "refuse",
        }
    }
}

/// The mode and how many times it changed: a connection forwards only while the mode is still the
/// one it was accepted under.
struct Shared {
    mode: Mutex<(ProxyMode, u64)>,
    stop: AtomicBool,
}

impl Shared {
    fn now(&self) -> (ProxyMode, u64) {
        *self.mode.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct FaultProxy {
    /// `http://127.0.0.1:{port}` for each upstream, in the upstreams' order.
    pub endpoints: Vec<String>,
    shared: Arc<Shared>,
    listeners: Vec<JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy forwarding a fresh loopback port to each of `upstreams` (`http://host:port`).
    pub fn start(upstreams: &[String]) -> Result<FaultProxy, String> {
        let shared = Arc::new(Shared { mode: Mutex::new((ProxyMode::Forward, 0)), stop: AtomicBool::new(false) });
        let mut endpoints = Vec::new();
        let mut listeners = Vec::new();
        for upstream in upstreams {
            let target: SocketAddr =
                upstream.trim_start_matches("http://").parse().map_err(|e| format!("proxy upstream {upstream}: {e}"))?;
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("proxy port: {e}"))?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            endpoints.push(format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?));
            let shared = shared.clone();
            listeners.push(std::thread::spawn(move || listen(listener, target, &shared)));
        }
        Ok(FaultProxy { endpoints, shared, listeners })
    }

    pub fn set(&self, mode: ProxyMode) {
        let mut now = self.shared.mode.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = (mode, now.1 + 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for listener in self.listeners.drain(..) {
            let _ = listener.join();
        }
    }
}

fn listen(listener: TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => accept(client, target, shared),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(_) => std::thread::sleep(TICK),
        }
    }
}

fn accept(client: TcpStream, target: SocketAddr, shared: &Arc<Shared>) {
    let _ = client.set_nonblocking(false);
    let (mode, epoch) = shared.now();
    match mode {
        ProxyMode::Refuse => drop(client),
        ProxyMode::BlackHole => {
            let shared = shared.clone();
            std::thread::spawn(move || pump(client, None, epoch, &shared));
        }
        ProxyMode::Forward => {
            let Ok(upstream) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else { return };
            let (Ok(client_out), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else { return };
            let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
            let to_upstream = shared.clone();
            std::thread::spawn(move || pump(client, Some(upstream), epoch, &to_upstream));
            let to_client = shared.clone();
            std::thread::spawn(move || pump(upstream_in, Some(client_out), epoch, &to_client));
        }
    }
}

/// Copies `from` into `to` while the mode is the one the connection was accepted under (`epoch`);
/// discards while black-holed; ends the connection (both ways) otherwise.
fn pump(mut from: TcpStream, mut to: Option<TcpStream>, epoch: u64, shared: &Shared) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buffer = vec![0u8; 16 * 1024];
    // Forwarding while the mode is the one accepted under; holding (discarding) while black-holed.
    let forwarding = || {
        let (mode, now) = shared.now();
        (now == epoch && mode == ProxyMode::Forward, mode == ProxyMode::BlackHole)
    };
    while !shared.stop.load(Ordering::Relaxed) {
        if forwarding() == (false, false) {
            break;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                // Looked at again: bytes that arrived after a switch do not pass.
                if forwarding().0 {
                    if let Some(to) = to.as_mut() {
                        if to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    if let Some(to) = to {
        let _ = to.shutdown(Shutdown::Both);
    }
}
