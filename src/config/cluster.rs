//! The `[cluster]` section: which store the node uses (the embedded one by default, or etcd), the
//! node's id and its share of the bots.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::small_file::{read_small_file, MAX_SECRET_FILE_BYTES};
use crate::config::{Problem, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's id; default: the host name and a hash of the data directory.
    pub node_id: Option<String>,
    /// This node's share of the bots relative to the other members' (rendezvous weight).
    pub capacity: u32,
    pub store: StoreKind,
    /// With `store = "etcd"`.
    pub etcd: Option<EtcdConfig>,
    /// When a member joins, each owner hands off at most this many bots per interval.
    pub handoffs_per_interval: u32,
    #[serde(with = "humantime_serde")]
    pub handoff_interval: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_id: None,
            capacity: 1,
            store: StoreKind::Embedded,
            etcd: None,
            handoffs_per_interval: 2,
            handoff_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// A redb file in the data directory; this node owns every bot.
    #[default]
    Embedded,
    /// etcd (≥ 3.4): bots owned through leases, shared by every node.
    Etcd,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// `http://host:port` of each member, at least one; `https://host:port` with `[cluster.etcd.tls]`.
    pub endpoints: Vec<String>,
    /// TLS to etcd.
    #[serde(default)]
    pub tls: Option<EtcdTlsConfig>,
    /// Every key of this cluster is under it (ends with `/`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// A node that stops renewing its lease loses its bots after this long.
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// With etcd's authentication on.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
}

/// `[cluster.etcd.tls]`: the CA etcd's certificates chain to (the only one trusted) and, when
/// etcd checks client certificates (`--client-cert-auth`), this node's certificate and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdTlsConfig {
    /// PEM file of the CA certificate(s).
    pub ca_file: PathBuf,
    /// PEM file of this node's client certificate (chain), with `key`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM), a secret.
    #[serde(default)]
    pub key: Option<Secret>,
    /// The name etcd's certificate must carry; default: each endpoint's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// The PEM material of `[cluster.etcd.tls]`, read and checked: each problem with its field.
#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
struct TlsMaterial {
    ca: String,
    identity: Option<(String, String)>,
}

impl EtcdTlsConfig {
    fn read(&self) -> Result<TlsMaterial, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let certificate = |field: &'static str, path: &PathBuf, problems: &mut Vec<(&'static str, String)>| match read_small_file(
            path,
            MAX_SECRET_FILE_BYTES,
        ) {
            Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => Some(text),
            Ok(_) => {
                problems.push((field, format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())));
                None
            }
            Err(error) => {
                problems.push((field, error.to_string()));
                None
            }
        };
        let ca = certificate("ca_file", &self.ca_file, &mut problems);
        let identity = match (&self.cert_file, &self.key) {
            (Some(cert_file), Some(key)) => {
                let cert = certificate("cert_file", cert_file, &mut problems);
                let key = match key.resolve() {
                    // The key's text is never quoted.
                    Ok(key) if key.contains("PRIVATE KEY-----") => Some(key),
                    Ok(_) => {
                        problems.push(("key", "is not a PEM private key (-----BEGIN PRIVATE KEY-----); the value is not shown".into()));
                        None
                    }
                    Err(error) => {
                        problems.push(("key", error.to_string()));
                        None
                    }
                };
                cert.zip(key)
            }
            (None, None) => None,
            _ => {
                problems.push(("cert_file", "give both cert_file and key (a client certificate), or neither".into()));
                None
            }
        };
        if self.server_name.as_ref().is_some_and(|name| name.is_empty() || name.len() > 253) {
            problems.push(("server_name", "must be a host name of 1 to 253 characters".into()));
        }
        match ca {
            Some(ca) if problems.is_empty() => Ok(TlsMaterial { ca, identity }),
            _ => Err(problems),
        }
    }
}

fn default_prefix() -> String {
    "botvisor/".into()
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}

/// The lease TTL's range: below 2 s a GC pause or a slow disk loses every bot; above a minute a
/// crashed node's bots wait too long.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(2);
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(60);

impl EtcdConfig {
    /// The store's settings, with the password and the TLS files read (call it after
    /// `validate`); otherwise what to fix, with the setting's path.
    #[cfg(feature = "etcd")]
    pub fn settings(&self) -> Result<crate::cluster::EtcdSettings, String> {
        let mut settings = crate::cluster::EtcdSettings::new(self.endpoints.clone());
        settings.prefix = self.prefix.clone();
        settings.lease_ttl = self.lease_ttl;
        // The deadline's margin stays well inside a short lease.
        settings.deadline_margin = settings.deadline_margin.min(self.lease_ttl / 4);
        settings.call_timeout = settings.call_timeout.min(self.lease_ttl / 2);
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            settings.credentials = Some((user.clone(), password.resolve().map_err(|e| format!("cluster.etcd.password: {e}"))?));
        }
        if let Some(tls) = &self.tls {
            let material = tls.read().map_err(|problems| {
                problems.into_iter().map(|(field, p)| format!("cluster.etcd.tls.{field}: {p}")).collect::<Vec<_>>().join("; ")
            })?;
            settings.tls =
                Some(crate::cluster::EtcdTls { ca_pem: material.ca, identity: material.identity, server_name: tls.server_name.clone() });
        }
        Ok(settings)
    }
}

impl ClusterConfig {
    /// Every problem, with its path under `cluster`.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: &str, message: String| problems.push(Problem { path: format!("cluster.{path}"), message });
        if let Some(id) = &self.node_id {
            if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                problem("node_id", "letters, digits, '-', '_' and '.', 1 to 64".into());
            }
        }
        if !(1..=1000).contains(&self.capacity) {
            problem("capacity", "must be between 1 and 1000".into());
        }
        if self.handoffs_per_interval == 0 {
            problem("handoffs_per_interval", "must be at least 1".into());
        }
        if self.handoff_interval < Duration::from_secs(1) || self.handoff_interval > Duration::from_secs(3600) {
            problem("handoff_interval", "must be between 1s and 1h".into());
        }
        match (self.store, &self.etcd) {
            (StoreKind::Embedded, Some(_)) => problem("etcd", "is used only with store = \"etcd\"".into()),
            (StoreKind::Embedded, None) => {}
            (StoreKind::Etcd, None) => problem("etcd", "store = \"etcd\" needs a [cluster.etcd] section with endpoints".into()),
            (StoreKind::Etcd, Some(etcd)) => {
                if !cfg!(feature = "etcd") {
                    problem(
                        "store",
                        "this botvisor was built without etcd support; build it with `cargo build --release --features etcd`".into(),
                    );
                }
                if etcd.endpoints.is_empty() {
                    problem("etcd.endpoints", "give at least one endpoint".into());
                }
                let scheme = if etcd.tls.is_some() { "https://" } else { "http://" };
                for (i, endpoint) in etcd.endpoints.iter().enumerate() {
                    if !endpoint.starts_with(scheme) || endpoint.len() <= scheme.len() {
                        let why = if etcd.tls.is_some() {
                            "must be https://host:port (every endpoint, with [cluster.etcd.tls])"
                        } else {
                            "must be http://host:port (https:// needs a [cluster.etcd.tls] section with ca_file)"
                        };
                        problem(&format!("etcd.endpoints[{i}]"), why.into());
                    }
                }
                if let Some(Err(tls_problems)) = etcd.tls.as_ref().map(EtcdTlsConfig::read) {
                    for (field, message) in tls_problems {
                        problem(&format!("etcd.tls.{field}"), message);
                    }
                }
                if etcd.prefix.is_empty() || !etcd.prefix.ends_with('/') {
                    problem("etcd.prefix", "must not be empty and must end with '/' (\"botvisor/\")".into());
                }
                if etcd.lease_ttl < MIN_LEASE_TTL || etcd.lease_ttl > MAX_LEASE_TTL {
                    problem("etcd.lease_ttl", format!("must be between {}s and {}s", MIN_LEASE_TTL.as_secs(), MAX_LEASE_TTL.as_secs()));
                }
                match (&etcd.user, &etcd.password) {
                    (Some(_), Some(password)) => {
                        if let Err(error) = password.resolve() {
                            problem("etcd.password", error.to_string());
                        }
                    }
                    (None, None) => {}
                    _ => problem("etcd", "give both user and password, or neither".into()),
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ClusterConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_default_is_the_embedded_store() {
        let config = ClusterConfig::default();
        assert_eq!(config.store, StoreKind::Embedded);
        assert!(config.validate().is_empty());
    }

    #[test]
    fn an_etcd_section_is_checked_field_by_field() {
        let config = parse("store = \"etcd\"\ncapacity = 0\n[etcd]\nendpoints = [\"127.0.0.1:2379\"]\nprefix = \"/botvisor\"\nlease_ttl = \"0s\"\nuser = \"root\"\n");
        let paths: Vec<String> = config.validate().into_iter().map(|p| p.path).collect();
        for expected in ["cluster.capacity", "cluster.etcd.endpoints[0]", "cluster.etcd.prefix", "cluster.etcd.lease_ttl", "cluster.etcd"] {
            assert!(paths.iter().any(|p| p == expected), "{expected} in {paths:?}");
        }
        let missing = parse("store = \"etcd\"\n");
        assert_eq!(missing.validate()[0].path, "cluster.etcd");
    }

    #[test]
    fn a_good_etcd_section_passes_when_built_with_etcd() {
        let config = parse("store = \"etcd\"\nnode_id = \"node-a\"\n[etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n");
        let problems = config.validate();
        assert_eq!(problems.is_empty(), cfg!(feature = "etcd"), "{problems:?}");
        assert_eq!(config.etcd.unwrap().lease_ttl, Duration::from_secs(10));
    }

    /// A PEM certificate and key made for the test, written under a fresh directory.
    fn tls_files(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("botvisor-etcd-tls-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("ca.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("node.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("node-key.pem"), certified.key_pair.serialize_pem()).unwrap();
        std::fs::write(dir.join("not-pem.txt"), "hello").unwrap();
        dir
    }

    fn etcd_with_tls(dir: &std::path::Path, tls: &str, endpoint: &str) -> ClusterConfig {
        parse(&format!(
            "store = \"etcd\"\n[etcd]\nendpoints = [\"{endpoint}\"]\n[etcd.tls]\n{}\n",
            tls.replace("DIR", dir.to_str().unwrap())
        ))
    }

    #[test]
    fn a_tls_section_reads_the_ca_and_the_client_certificate() {
        let dir = tls_files("good");
        let config = etcd_with_tls(
            &dir,
            "ca_file = \"DIR/ca.pem\"\ncert_file = \"DIR/node.pem\"\nkey = { file = \"DIR/node-key.pem\" }",
            "https://127.0.0.1:2379",
        );
        let problems = config.validate();
        assert_eq!(problems.is_empty(), cfg!(feature = "etcd"), "{problems:?}");
        #[cfg(feature = "etcd")]
        {
            let settings = config.etcd.unwrap().settings().expect("the TLS files are read");
            let tls = settings.tls.expect("TLS settings");
            assert!(tls.ca_pem.contains("BEGIN CERTIFICATE") && tls.identity.is_some_and(|(_, key)| key.contains("PRIVATE KEY")));
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn tls_problems_name_their_field_and_never_quote_the_key() {
        let dir = tls_files("bad");
        let paths =
            |config: ClusterConfig| -> Vec<(String, String)> { config.validate().into_iter().map(|p| (p.path, p.message)).collect() };
        // http:// endpoints with TLS; a CA file that is not PEM; a key that is not a key.
        let problems = paths(etcd_with_tls(
            &dir,
            "ca_file = \"DIR/not-pem.txt\"\ncert_file = \"DIR/node.pem\"\nkey = { value = \"hunter2\" }",
            "http://127.0.0.1:2379",
        ));
        for expected in ["cluster.etcd.endpoints[0]", "cluster.etcd.tls.ca_file", "cluster.etcd.tls.key"] {
            assert!(problems.iter().any(|(path, _)| path == expected), "{expected} in {problems:?}");
        }
        assert!(!format!("{problems:?}").contains("hunter2"));
        // A missing CA file; a certificate without its key.
        let problems = paths(etcd_with_tls(&dir, "ca_file = \"DIR/missing.pem\"\ncert_file = \"DIR/node.pem\"", "https://127.0.0.1:2379"));
        for expected in ["cluster.etcd.tls.ca_file", "cluster.etcd.tls.cert_file"] {
            assert!(problems.iter().any(|(path, _)| path == expected), "{expected} in {problems:?}");
        }
        // https:// with no TLS section says what to add.
        let problems = paths(parse("store = \"etcd\"\n[etcd]\nendpoints = [\"https://127.0.0.1:2379\"]\n"));
        assert!(
            problems.iter().any(|(path, message)| path == "cluster.etcd.endpoints[0]" && message.contains("[cluster.etcd.tls]")),
            "{problems:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
