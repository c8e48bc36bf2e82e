//! Real etcd for tests: Debian's `etcd` binary (package `etcd-server`, installed by
//! `./scripts/test`) started on free loopback ports with a temporary data directory per member,
//! one member or three (one `--initial-cluster`), waited for until every live member has a leader
//! (bounded), and killed by PID — only the processes it started — when dropped. A member can be
//! killed alone (`kill -9`) to test the loss of the etcd leader. A single member can also serve
//! its clients over TLS only, with client certificates required, from a CA made for the test.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use etcd_client::Client;
use tokio::time::Instant;

/// How long a cluster may take to elect a leader after it starts (or loses one).
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);
/// Attempts to start a cluster (a free port can be taken by another test between the probe and
/// etcd's bind).
const START_ATTEMPTS: u32 = 3;

pub struct EtcdMember {
    pub name: String,
    pub client_url: String,
    child: Option<Child>,
    /// How it was started (to start it again on its data directory).
    command: Vec<OsString>,
    log: PathBuf,
}

pub struct EtcdCluster {
    pub members: Vec<EtcdMember>,
    /// With TLS: the test CA, and a client certificate it signed.
    pub pki: Option<TestPki>,
    dir: PathBuf,
}

/// A CA made for one test, and the certificates it signed (PEM): etcd's server certificate for
/// 127.0.0.1 and localhost, and a client certificate.
pub struct TestPki {
    pub ca_pem: String,
    pub server: (String, String),
    pub client: (String, String),
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, format!("botvisor test CA {name}"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issue = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, common_name: &str| {
            let mut params = CertificateParams::new(names).expect("certificate parameters");
            params.distinguished_name.push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
            (cert.pem(), key.serialize_pem())
        };
        let server = issue(vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth, "etcd");
        let client = issue(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, "botvisor-node");
        Self { ca_pem: ca.pem(), server, client }
    }

    /// etcd-client's TLS options with this CA and the client certificate.
    pub fn client_options(&self) -> etcd_client::ConnectOptions {
        let tls = etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(&self.ca_pem))
            .identity(etcd_client::Identity::from_pem(&self.client.0, &self.client.1));
        etcd_client::ConnectOptions::new().with_tls(tls)
    }
}

impl EtcdCluster {
    /// One member: most tests.
    pub async fn single() -> Self {
        Self::start(1).await
    }

    /// Three members: failover tests.
    pub async fn three() -> Self {
        Self::start(3).await
    }

    /// `size` members on 127.0.0.1, every one with a leader when this returns.
    pub async fn start(size: usize) -> Self {
        Self::start_with(size, false).await
    }

    /// One member serving its clients over TLS only, client certificates required.
    pub async fn single_tls() -> Self {
        Self::start_with(1, true).await
    }

    async fn start_with(size: usize, tls: bool) -> Self {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut cluster = Self::spawn(size, tls);
            match cluster.wait_healthy().await {
                Ok(()) => return cluster,
                Err(reason) => failures.push(reason),
            }
        }
        panic!("etcd did not start: {}", failures.join("\n---\n"));
    }

    fn spawn(size: usize, tls: bool) -> Self {
        static CLUSTERS: AtomicU32 = AtomicU32::new(0);
        let n = CLUSTERS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("botvisor-etcd-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("etcd test directory");
        let ports = free_ports(size * 2);
        let names: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
        let peer_url = |i: usize| format!("http://127.0.0.1:{}", ports[size + i]);
        let initial_cluster = names.iter().enumerate().map(|(i, name)| format!("{name}={}", peer_url(i))).collect::<Vec<_>>().join(",");
        let binary = etcd_binary();
        let pki = tls.then(|| TestPki::new(&format!("{}-{n}", std::process::id())));
        let mut tls_args: Vec<Vec<OsString>> = Vec::new();
        if let Some(pki) = &pki {
            let write = |file: &str, pem: &str| {
                let path = dir.join(file);
                std::fs::write(&path, pem).expect("a PEM file for etcd");
                path.into_os_string()
            };
            tls_args.push(vec!["--cert-file".into(), write("server.pem", &pki.server.0)]);
            tls_args.push(vec!["--key-file".into(), write("server-key.pem", &pki.server.1)]);
            tls_args.push(vec!["--trusted-ca-file".into(), write("ca.pem", &pki.ca_pem)]);
            // A Go boolean flag takes its value after '='.
            tls_args.push(vec!["--client-cert-auth=true".into()]);
        }
        let scheme = if tls { "https" } else { "http" };
        let members = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let client_url = format!("{scheme}://127.0.0.1:{}", ports[i]);
                let log = dir.join(format!("{name}.log"));
                let mut command: Vec<OsString> =
                    vec![binary.clone().into(), "--name".into(), name.into(), "--data-dir".into(), dir.join(name).into()];
                let token = format!("botvisor-test-{}-{n}", std::process::id());
                for arg in [
                    ["--listen-client-urls", &client_url],
                    ["--advertise-client-urls", &client_url],
                    ["--listen-peer-urls", &peer_url(i)],
                    ["--initial-advertise-peer-urls", &peer_url(i)],
                    ["--initial-cluster", &initial_cluster],
                    ["--initial-cluster-state", "new"],
                    ["--initial-cluster-token", &token],
                    ["--logger", "zap"],
                    ["--log-outputs", "stderr"],
                    ["--log-level", "warn"],
                ] {
                    command.extend(arg.map(OsString::from));
                }
                for arg in &tls_args {
                    command.extend(arg.iter().cloned());
                }
                let child = spawn(&command, &log);
                EtcdMember { name: name.clone(), client_url, child: Some(child), command, log }
            })
            .collect();
        Self { members, pki, dir }
    }

    /// Every member's client URL (the dead ones too: a client must cope).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    pub fn is_alive(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// `kill -9` of member `i` (its PID, as started here), reaped at once.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory and ports (after `kill`); it rejoins its
    /// cluster. Wait for `wait_healthy` before relying on it.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.is_alive(i), "{} is running", self.members[i].name);
        let member = &mut self.members[i];
        member.child = Some(spawn(&member.command, &member.log));
    }

    /// The index of the member that leads now (asked of each live member).
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + HEALTHY_WITHIN;
        loop {
            for (i, member) in self.members.iter().enumerate().filter(|(i, _)| self.is_alive(*i)) {
                if let Ok(Some((id, leader))) = status(&member.client_url, self.pki.as_ref()).await {
                    if id == leader {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no etcd member leads after {HEALTHY_WITHIN:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (bounded) until every live member knows a leader and answers a linearizable read.
    pub async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + HEALTHY_WITHIN;
        'poll: loop {
            if Instant::now() >= deadline {
                return Err(format!("not healthy within {HEALTHY_WITHIN:?}\n{}", self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            for i in 0..self.members.len() {
                let Some(child) = self.members[i].child.as_mut() else { continue };
                if let Ok(Some(exit)) = child.try_wait() {
                    self.members[i].child = None;
                    return Err(format!("{} exited ({exit})\n{}", self.members[i].name, self.logs()));
                }
                match status(&self.members[i].client_url, self.pki.as_ref()).await {
                    Ok(Some((_, leader))) if leader != 0 => {}
                    _ => continue 'poll,
                }
            }
            return Ok(());
        }
    }

    /// The tail of every member's log, for a failure message.
    pub fn logs(&self) -> String {
        self.members.iter().map(|m| format!("== {} ==\n{}", m.name, tail(&m.log, 2000))).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts etcd as `command` says, its log appended to `log`.
fn spawn(command: &[OsString], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("etcd log file");
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", command[0].to_string_lossy()))
}

/// `(this member's id, its leader's id)`, from the member alone (bounded).
async fn status(url: &str, pki: Option<&TestPki>) -> Result<Option<(u64, u64)>, String> {
    let ask = async {
        let mut client = Client::connect([url], pki.map(TestPki::client_options)).await.map_err(|e| e.to_string())?;
        let status = client.status().await.map_err(|e| e.to_string())?;
        // A linearizable read: the member serves through its leader.
        client.get("health", None).await.map_err(|e| e.to_string())?;
        Ok(status.header().map(|h| (h.member_id(), status.leader())))
    };
    tokio::time::timeout(Duration::from_secs(2), ask).await.map_err(|_| "no answer".to_owned())?
}

/// `count` distinct free loopback ports (held together while probing so none repeats).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count).map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port")).collect();
    listeners.iter().map(|l| l.local_addr().expect("a bound port").port()).collect()
}

/// `etcd` on PATH, else Debian's `/usr/bin/etcd`.
fn etcd_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("etcd")).find(|p| p.is_file()));
    let binary = on_path.unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"));
    assert!(binary.is_file(), "etcd is not installed: apt-get install etcd-server (./scripts/test does it as root)");
    binary
}

fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    text[start..].to_owned()
}
