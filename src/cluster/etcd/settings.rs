//! How a node reaches etcd: endpoints, the key prefix, the lease TTL and the time bounds of every
//! call. The `[cluster.etcd]` configuration section maps onto this (credentials become
//! `crate::config::Secret`s there, resolved before they reach here).

use std::fmt;
use std::time::Duration;

/// The longest lease TTL accepted: etcd takes far more, but an owner that stays silent for longer
/// than this would keep its bots down too long after a crash.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(300);
/// etcd's own floor with its default timing (1.5 × the election timeout of 1 s).
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(2);
/// The most attempts one store call makes before answering `Unavailable`.
pub const MAX_ATTEMPTS: u32 = 10;

/// TLS to etcd (`https://` endpoints): the CA that signed etcd's certificates (the only one
/// trusted) and, when etcd checks client certificates (`--client-cert-auth`), this node's.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// PEM: the CA certificate(s) etcd's server certificates chain to.
    pub ca_pem: String,
    /// PEM: the client certificate chain and its private key.
    pub identity: Option<(String, String)>,
    /// The name etcd's certificate is checked against; default: each endpoint's host.
    pub server_name: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct EtcdSettings {
    /// `http://host:port` of each member, or `https://host:port` of each with `tls` (at least one).
    pub endpoints: Vec<String>,
    /// With `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// Every key lives under it (`botvisor/` by default); ends with `/`.
    pub prefix: String,
    /// The node's lease: its members and owner keys vanish this long after its last renewal.
    pub lease_ttl: Duration,
    /// Taken off the local ownership deadline, for clock rate drift and the renewal's trip to the
    /// leader (`deadline = last acknowledged renewal's send time + lease_ttl - deadline_margin`).
    pub deadline_margin: Duration,
    /// `(user, password)` when etcd's authentication is on.
    pub credentials: Option<(String, String)>,
    /// Every call's bound, each attempt (a read, a Txn, a lease grant or renewal).
    pub call_timeout: Duration,
    /// Establishing the connection to an endpoint.
    pub connect_timeout: Duration,
    /// Attempts per call when etcd is unavailable (1 = no retry), with a doubling backoff.
    pub attempts: u32,
    /// The first retry's wait; doubled at each retry up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl EtcdSettings {
    /// The defaults for these endpoints.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            tls: None,
            prefix: default_prefix(),
            lease_ttl: default_lease_ttl(),
            deadline_margin: default_deadline_margin(),
            credentials: None,
            call_timeout: default_call_timeout(),
            connect_timeout: default_connect_timeout(),
            attempts: default_attempts(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }

    /// Every problem, each with the field it is about.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.endpoints.is_empty() {
            problems.push("endpoints: at least one etcd endpoint is needed".to_owned());
        }
        let scheme = if self.tls.is_some() { "https://" } else { "http://" };
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if !endpoint.starts_with(scheme) || endpoint.len() <= scheme.len() {
                let why = if self.tls.is_some() {
                    "with TLS settings every endpoint is https://host:port"
                } else {
                    "must be http://host:port (https:// needs the TLS settings)"
                };
                problems.push(format!("endpoints[{i}]: {why}"));
            }
        }
        if let Some(tls) = &self.tls {
            if !tls.ca_pem.contains("-----BEGIN CERTIFICATE-----") {
                problems.push("tls.ca: not a PEM certificate".to_owned());
            }
            if let Some((cert, key)) = &tls.identity {
                if !cert.contains("-----BEGIN CERTIFICATE-----") {
                    problems.push("tls.cert: not a PEM certificate".to_owned());
                }
                if !key.contains("PRIVATE KEY-----") {
                    problems.push("tls.key: not a PEM private key".to_owned());
                }
            }
        }
        if self.prefix.is_empty() || !self.prefix.ends_with('/') {
            problems.push("prefix: must not be empty and must end with '/'".to_owned());
        }
        if self.lease_ttl < MIN_LEASE_TTL || self.lease_ttl > MAX_LEASE_TTL {
            problems.push(format!("lease_ttl: must be between {MIN_LEASE_TTL:?} and {MAX_LEASE_TTL:?}"));
        }
        if self.deadline_margin >= self.lease_ttl / 2 {
            problems.push("deadline_margin: must be less than half of lease_ttl".to_owned());
        }
        if self.call_timeout.is_zero() || self.call_timeout > self.lease_ttl {
            problems.push("call_timeout: must be more than zero and at most lease_ttl".to_owned());
        }
        if self.connect_timeout.is_zero() {
            problems.push("connect_timeout: must be more than zero".to_owned());
        }
        if self.attempts == 0 || self.attempts > MAX_ATTEMPTS {
            problems.push(format!("attempts: must be between 1 and {MAX_ATTEMPTS}"));
        }
        if self.initial_backoff.is_zero() || self.max_backoff < self.initial_backoff || self.max_backoff > self.lease_ttl {
            problems.push("initial_backoff, max_backoff: 0 < initial_backoff <= max_backoff <= lease_ttl".to_owned());
        }
        if let Some((user, _)) = &self.credentials {
            if user.is_empty() {
                problems.push("credentials: the user name must not be empty".to_owned());
            }
        }
        problems
    }

    /// How often the lease is renewed: three renewals per TTL, so one lost renewal costs nothing.
    pub fn renew_interval(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// What an acknowledged renewal buys: the time to the local ownership deadline.
    pub fn deadline_after_renewal(&self) -> Duration {
        self.lease_ttl.saturating_sub(self.deadline_margin)
    }

    /// The TTL in whole seconds, as etcd takes it (rounded up: never shorter than asked).
    pub fn lease_ttl_secs(&self) -> i64 {
        let secs = self.lease_ttl.as_secs() + u64::from(self.lease_ttl.subsec_nanos() > 0);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

// The password never reaches a log line through `{:?}`.
impl fmt::Debug for EtcdSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdSettings")
            .field("endpoints", &self.endpoints)
            .field("tls", &self.tls.as_ref().map(|tls| (tls.identity.is_some(), &tls.server_name)))
            .field("prefix", &self.prefix)
            .field("lease_ttl", &self.lease_ttl)
            .field("deadline_margin", &self.deadline_margin)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempts", &self.attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

pub fn default_prefix() -> String {
    "botvisor/".to_owned()
}

pub fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}

pub fn default_deadline_margin() -> Duration {
    Duration::from_secs(1)
}

pub fn default_call_timeout() -> Duration {
    Duration::from_secs(2)
}

pub fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

pub fn default_attempts() -> u32 {
    4
}

pub fn default_initial_backoff() -> Duration {
    Duration::from_millis(100)
}

pub fn default_max_backoff() -> Duration {
    Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(EtcdSettings::new(vec!["http://127.0.0.1:2379".into()]).validate(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut settings = EtcdSettings::new(vec!["127.0.0.1:2379".into(), "https://127.0.0.1:2379".into()]);
        settings.prefix = "botvisor".into();
        settings.lease_ttl = Duration::from_secs(1);
        settings.call_timeout = Duration::ZERO;
        settings.attempts = 0;
        let problems = settings.validate();
        for field in [
            "endpoints[0]",
            "endpoints[1]: must be http://host:port (https:// needs",
            "prefix",
            "lease_ttl",
            "deadline_margin",
            "call_timeout",
            "attempts",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(field)), "{field} missing from {problems:?}");
        }
        assert!(EtcdSettings::new(vec![]).validate().iter().any(|p| p.starts_with("endpoints:")));
    }

    #[test]
    fn tls_takes_https_endpoints_and_pem_material() {
        let mut settings = EtcdSettings::new(vec!["https://127.0.0.1:2379".into(), "http://127.0.0.1:2380".into()]);
        settings.tls = Some(EtcdTls { ca_pem: "nope".into(), identity: Some(("nope".into(), "nope".into())), server_name: None });
        let problems = settings.validate();
        for field in ["endpoints[1]: with TLS", "tls.ca", "tls.cert", "tls.key"] {
            assert!(problems.iter().any(|p| p.starts_with(field)), "{field} missing from {problems:?}");
        }
        assert!(!problems.iter().any(|p| p.starts_with("endpoints[0]")), "{problems:?}");
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let mut settings = EtcdSettings::new(vec!["http://127.0.0.1:2379".into()]);
        settings.credentials = Some(("root".into(), "hunter2".into()));
        let key = "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----";
        settings.tls = Some(EtcdTls { ca_pem: "ca".into(), identity: Some(("cert".into(), key.into())), server_name: None });
        let text = format!("{settings:?}");
        assert!(text.contains("root") && !text.contains("hunter2") && !text.contains("secret-key-bytes"), "{text}");
    }

    #[test]
    fn the_ttl_is_rounded_up_to_whole_seconds_and_renewed_three_times() {
        let mut settings = EtcdSettings::new(vec!["http://127.0.0.1:2379".into()]);
        settings.lease_ttl = Duration::from_millis(2500);
        assert_eq!(settings.lease_ttl_secs(), 3);
        settings.lease_ttl = Duration::from_secs(10);
        assert_eq!(settings.lease_ttl_secs(), 10);
        assert_eq!(settings.renew_interval(), Duration::from_nanos(3_333_333_333));
        assert_eq!(settings.deadline_after_renewal(), Duration::from_secs(9));
    }
}
