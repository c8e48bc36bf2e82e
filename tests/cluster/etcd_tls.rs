//! The etcd store over TLS: etcd serving its clients on `https://` only, with client
//! certificates required (`--client-cert-auth`). A node with the CA and its certificate owns bots
//! as over plain HTTP; a node without a client certificate, or trusting another CA, is refused
//! within its bounds with an error that says so, and never hangs.

use std::time::Duration;

use botvisor::cluster::{EtcdSettings, EtcdStore, EtcdTls, Member, Store};
use tokio::time::Instant;

use crate::etcd_harness::{EtcdCluster, TestPki};

fn member(node_id: &str) -> Member {
    Member { node_id: node_id.into(), admin_addr: "127.0.0.1:8080".into(), capacity: 1, version: "test".into() }
}

fn settings(cluster: &EtcdCluster, tls: EtcdTls) -> EtcdSettings {
    let mut settings = EtcdSettings::new(cluster.endpoints());
    settings.tls = Some(tls);
    settings.prefix = "tls-test/".into();
    settings.lease_ttl = Duration::from_secs(2);
    settings.deadline_margin = Duration::from_millis(300);
    settings.call_timeout = Duration::from_secs(1);
    settings.connect_timeout = Duration::from_secs(1);
    settings.attempts = 2;
    settings.initial_backoff = Duration::from_millis(50);
    settings.max_backoff = Duration::from_millis(200);
    settings
}

#[tokio::test]
async fn with_the_ca_and_a_client_certificate_a_node_owns_bots_over_tls() {
    let cluster = EtcdCluster::single_tls().await;
    assert!(cluster.endpoints().iter().all(|e| e.starts_with("https://")));
    let pki = cluster.pki.as_ref().unwrap();
    let tls = EtcdTls { ca_pem: pki.ca_pem.clone(), identity: Some(pki.client.clone()), server_name: None };
    let a = EtcdStore::connect(settings(&cluster, tls.clone()), member("a")).await.expect("a connects over TLS");
    let b = EtcdStore::connect(settings(&cluster, tls), member("b")).await.expect("b connects over TLS");
    let ownership = a.acquire("bot-1").await.expect("acquire").expect("a owns the free bot");
    assert!(b.acquire("bot-1").await.expect("acquire").is_none(), "one owner");
    a.put_fenced(&ownership, "status", b"{}").await.expect("a fenced write by the owner");
    let mut members: Vec<String> = b.members().await.expect("members").into_iter().map(|m| m.node_id).collect();
    members.sort();
    assert_eq!(members, ["a", "b"]);
}

#[tokio::test]
async fn without_a_client_certificate_or_with_another_ca_the_node_is_refused_within_bounds() {
    let cluster = EtcdCluster::single_tls().await;
    let pki = cluster.pki.as_ref().unwrap();
    let stranger = TestPki::new("stranger");
    let cases = [
        ("no client certificate", EtcdTls { ca_pem: pki.ca_pem.clone(), identity: None, server_name: None }),
        (
            "a CA etcd's certificate does not chain to",
            EtcdTls { ca_pem: stranger.ca_pem.clone(), identity: Some(pki.client.clone()), server_name: None },
        ),
        (
            "a client certificate from another CA",
            EtcdTls { ca_pem: pki.ca_pem.clone(), identity: Some(stranger.client.clone()), server_name: None },
        ),
        (
            "a server name etcd's certificate does not carry",
            EtcdTls { ca_pem: pki.ca_pem.clone(), identity: Some(pki.client.clone()), server_name: Some("etcd.example".into()) },
        ),
    ];
    for (case, tls) in cases {
        let start = Instant::now();
        let outcome = EtcdStore::connect(settings(&cluster, tls), member("x")).await;
        let Err(error) = outcome else { panic!("{case}: connected") };
        // Two attempts of at most a second each, the connection's and the backoff: well under 10 s.
        assert!(start.elapsed() < Duration::from_secs(10), "{case}: refused only after {:?}", start.elapsed());
        let text = error.to_string();
        assert!(
            text.contains("etcd lease grant") && text.contains("over TLS: check that ca_file"),
            "{case}: the error says where to look: {text}"
        );
    }
}

#[tokio::test]
async fn plain_http_to_a_tls_only_etcd_is_refused_by_the_settings() {
    let cluster = EtcdCluster::single_tls().await;
    let mut plain = EtcdSettings::new(cluster.endpoints());
    plain.tls = None;
    let error = EtcdStore::connect(plain, member("x")).await.err().expect("https:// without TLS settings is refused");
    assert!(error.to_string().contains("https:// needs the TLS settings"), "{error}");
}
