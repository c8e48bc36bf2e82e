//! The `[cluster]` section: which store the node uses (the embedded one by default, or etcd), the
//! node's id and its share of the bots.

use std::time::Duration;

use serde::Deserialize;

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
    /// `http://host:port` of each member, at least one (TLS to etcd is not built in yet).
    pub endpoints: Vec<String>,
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
    /// The store's settings, with the password resolved (call it after `validate`).
    #[cfg(feature = "etcd")]
    pub fn settings(&self) -> Result<crate::cluster::EtcdSettings, crate::config::SecretError> {
        let mut settings = crate::cluster::EtcdSettings::new(self.endpoints.clone());
        settings.prefix = self.prefix.clone();
        settings.lease_ttl = self.lease_ttl;
        // The deadline's margin stays well inside a short lease.
        settings.deadline_margin = settings.deadline_margin.min(self.lease_ttl / 4);
        settings.call_timeout = settings.call_timeout.min(self.lease_ttl / 2);
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            settings.credentials = Some((user.clone(), password.resolve()?));
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
                for (i, endpoint) in etcd.endpoints.iter().enumerate() {
                    if endpoint.starts_with("https://") {
                        problem(
                            &format!("etcd.endpoints[{i}]"),
                            "TLS to etcd is not supported yet; use http:// on a trusted network".into(),
                        );
                    } else if !endpoint.starts_with("http://") || endpoint.len() <= "http://".len() {
                        problem(&format!("etcd.endpoints[{i}]"), "must be http://host:port".into());
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
}
