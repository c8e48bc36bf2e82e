//! `EtcdStore` against real etcd: who owns a bot among two and three nodes, tokens that grow when
//! ownership moves, a former owner's writes refused by etcd, release, the local ownership deadline
//! when etcd is gone, the lease kept through the loss of the etcd leader, members, and the bots
//! the admin API changed. Leases of 2 s keep the suite short; every wait is bounded.

use std::time::Duration;

use botvisor::cluster::{EtcdSettings, EtcdStore, Member, Ownership, Store, StoreError};
use botvisor::config::BotConfig;
use botvisor::service::StoredBots;
use serde_json::json;
use tokio::time::Instant;

use crate::etcd_harness::EtcdCluster;

const TTL: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_millis(300);

fn settings(cluster: &EtcdCluster, ttl: Duration) -> EtcdSettings {
    // The store's logs, shown with a failing test's output.
    let _ = tracing_subscriber::fmt().with_env_filter("botvisor=debug").with_test_writer().try_init();
    let mut settings = EtcdSettings::new(cluster.endpoints());
    settings.prefix = "test/".into();
    settings.lease_ttl = ttl;
    settings.deadline_margin = MARGIN;
    settings.call_timeout = Duration::from_secs(1);
    settings.connect_timeout = Duration::from_secs(1);
    settings.attempts = 3;
    settings.initial_backoff = Duration::from_millis(50);
    settings.max_backoff = Duration::from_millis(400);
    settings
}

fn member(node_id: &str) -> Member {
    Member { node_id: node_id.into(), admin_addr: "127.0.0.1:8080".into(), capacity: 1, version: "test".into() }
}

async fn node(cluster: &EtcdCluster, node_id: &str) -> EtcdStore {
    node_with_ttl(cluster, node_id, TTL).await
}

async fn node_with_ttl(cluster: &EtcdCluster, node_id: &str, ttl: Duration) -> EtcdStore {
    EtcdStore::connect(settings(cluster, ttl), member(node_id)).await.unwrap_or_else(|e| panic!("{node_id} connects: {e}"))
}

/// Polls `acquire` until it succeeds (bounded by `within`).
async fn acquire_within(store: &EtcdStore, bot_id: &str, within: Duration) -> (Ownership, Duration) {
    let start = Instant::now();
    loop {
        if let Some(ownership) = store.acquire(bot_id).await.expect("acquire") {
            return (ownership, start.elapsed());
        }
        assert!(start.elapsed() < within, "{} could not acquire {bot_id} within {within:?}", store.node_id());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until the lease's deadline is past `instant`: a renewal sent after it was
/// acknowledged.
async fn renewed_after(store: &EtcdStore, instant: Instant, within: Duration) {
    let start = Instant::now();
    while store.ownership_deadline().expect("a lease deadline") < instant + (TTL - MARGIN) {
        assert!(start.elapsed() < within, "no renewal acknowledged within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_of_two_nodes_owns_a_bot_and_the_other_gets_none() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    for bot in ["b1", "b2", "b3", "b4"] {
        let (from_a, from_b) = tokio::join!(a.acquire(bot), b.acquire(bot));
        let (from_a, from_b) = (from_a.expect("a acquires"), from_b.expect("b acquires"));
        let winner = match (from_a, from_b) {
            (Some(won), None) | (None, Some(won)) => won,
            both => panic!("{bot}: exactly one node must own it, got {both:?}"),
        };
        assert_eq!(a.owner(bot).await.expect("owner"), Some(winner.clone()));
        assert_eq!(b.owner(bot).await.expect("owner"), Some(winner.clone()));
        // Asking again keeps the ownership (and its token); the loser still gets none.
        let (winner_store, loser_store) = if winner.node_id == "a" { (&a, &b) } else { (&b, &a) };
        assert_eq!(winner_store.acquire(bot).await.expect("acquire again"), Some(winner.clone()));
        assert_eq!(loser_store.acquire(bot).await.expect("acquire again"), None);
    }
}

#[tokio::test]
async fn one_of_three_nodes_owns_each_bot() {
    let cluster = EtcdCluster::single().await;
    let nodes = [node(&cluster, "a").await, node(&cluster, "b").await, node(&cluster, "c").await];
    for bot in ["b1", "b2", "b3", "b4", "b5", "b6"] {
        let (x, y, z) = tokio::join!(nodes[0].acquire(bot), nodes[1].acquire(bot), nodes[2].acquire(bot));
        let won: Vec<Ownership> = [x, y, z].into_iter().filter_map(|r| r.expect("acquire")).collect();
        assert_eq!(won.len(), 1, "{bot}: {won:?}");
        assert_eq!(nodes[2].owner(bot).await.expect("owner"), Some(won[0].clone()));
    }
}

#[tokio::test]
async fn the_token_grows_when_ownership_moves_and_the_former_owner_is_fenced_off() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    let first = a.acquire("b1").await.expect("acquire").expect("a owns b1");
    a.put_fenced(&first, "conversation/1", b"from a").await.expect("the owner writes");
    assert_eq!(b.acquire("b1").await.expect("acquire"), None);

    a.leave().await.expect("a leaves");
    let (second, waited) = acquire_within(&b, "b1", Duration::from_secs(1)).await;
    assert!(waited < Duration::from_secs(1), "a revoked lease frees its bots at once ({waited:?})");
    assert_eq!(second.node_id, "b");
    assert!(second.token > first.token, "{} then {}", first.token, second.token);

    // The former owner's token no longer writes, whoever sends it: etcd refuses the Txn.
    let fenced = StoreError::Fenced { bot_id: "b1".into(), token: first.token };
    assert_eq!(a.put_fenced(&first, "conversation/1", b"late from a").await, Err(fenced.clone()));
    assert_eq!(b.put_fenced(&first, "conversation/1", b"late from a").await, Err(fenced.clone()));
    assert_eq!(a.delete_fenced(&first, "conversation/1").await, Err(fenced));
    assert_eq!((a.fenced_refusals(), b.fenced_refusals()), (2, 1));
    assert_eq!(b.get_state("b1", "conversation/1").await.expect("get"), Some(b"from a".to_vec()), "state outlives its owner");

    b.put_fenced(&second, "conversation/1", b"from b").await.expect("the new owner writes");
    assert_eq!(a.get_state("b1", "conversation/1").await.expect("get"), Some(b"from b".to_vec()));
    b.delete_fenced(&second, "conversation/1").await.expect("the new owner deletes");
    assert_eq!(a.get_state("b1", "conversation/1").await.expect("get"), None);
}

#[tokio::test]
async fn an_owner_that_stops_renewing_loses_its_bots_after_the_ttl_and_is_fenced_off() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    let first = a.acquire("b1").await.expect("acquire").expect("a owns b1");
    // Dropped without leaving, as a crashed node: its lease runs out.
    drop(a);
    let (second, waited) = acquire_within(&b, "b1", TTL + Duration::from_secs(2)).await;
    assert!(waited >= TTL - MARGIN - Duration::from_millis(700), "taken over before the lease could expire ({waited:?})");
    assert!(second.token > first.token);
    assert_eq!(b.put_fenced(&first, "k", b"zombie").await, Err(StoreError::Fenced { bot_id: "b1".into(), token: first.token }));
    assert_eq!(b.members().await.expect("members").iter().map(|m| m.node_id.as_str()).collect::<Vec<_>>(), ["b"]);
}

#[tokio::test]
async fn a_member_that_stops_renewing_is_seen_unreachable_before_its_lease_expires() {
    let ttl = Duration::from_secs(6);
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node_with_ttl(&cluster, "a", ttl).await, node_with_ttl(&cluster, "b", ttl).await);
    // Renewing every TTL/3: never unreachable, over more than one renewal.
    let calm = Instant::now();
    while calm.elapsed() < ttl / 2 {
        assert_eq!(b.unreachable_members().await.expect("reachability"), Vec::<String>::new());
        assert_eq!(a.unreachable_members().await.expect("reachability"), Vec::<String>::new());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // a stops renewing (as if cut off from etcd, or paused) but its lease still lives.
    drop(a);
    let stopped = Instant::now();
    loop {
        let unreachable = b.unreachable_members().await.expect("reachability");
        let listed = b.members().await.expect("members").iter().any(|m| m.node_id == "a");
        if unreachable == ["a"] {
            assert!(listed, "seen unreachable while still a member");
            break;
        }
        assert!(unreachable.is_empty(), "{unreachable:?}");
        assert!(stopped.elapsed() < ttl, "a never seen unreachable before its lease expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn release_lets_another_node_acquire_at_once() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    let first = a.acquire("b1").await.expect("acquire").expect("a owns b1");
    assert_eq!(b.acquire("b1").await.expect("acquire"), None);
    a.release(&first).await.expect("release");
    let second = b.acquire("b1").await.expect("acquire").expect("b owns b1 at once");
    assert!(second.token > first.token);
    // A stale release (a repeat) leaves the new owner alone.
    a.release(&first).await.expect("a repeated release");
    assert_eq!(a.owner("b1").await.expect("owner"), Some(second));
}

#[tokio::test]
async fn a_node_joins_at_connect_and_leaves_the_members() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    let mut members = a.members().await.expect("members");
    members.sort_by(|x, y| x.node_id.cmp(&y.node_id));
    assert_eq!(members, [member("a"), member("b")]);
    b.leave().await.expect("b leaves");
    assert_eq!(a.members().await.expect("members"), [member("a")]);
    assert!(b.ownership_deadline().expect("deadline") <= Instant::now(), "a node that left owns nothing");
}

#[tokio::test]
async fn the_local_deadline_passes_when_etcd_is_gone() {
    let mut cluster = EtcdCluster::single().await;
    let a = node(&cluster, "a").await;
    let ownership = a.acquire("b1").await.expect("acquire").expect("a owns b1");
    let start = Instant::now();
    renewed_after(&a, start, TTL).await;

    cluster.kill(0);
    let killed = Instant::now();
    let deadline = a.ownership_deadline().expect("deadline");
    assert!(deadline > killed && deadline <= killed + (TTL - MARGIN), "{:?} after the kill", deadline - killed);
    // The deadline stops moving and passes within the TTL.
    while Instant::now() <= deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.ownership_deadline(), Some(deadline), "no renewal without etcd");
    assert!(a.lease_counters().renewal_failures >= 1, "{:?}", a.lease_counters());
    // Calls fail, bounded, as Unavailable.
    let call = Instant::now();
    assert!(matches!(a.put_fenced(&ownership, "k", b"v").await, Err(StoreError::Unavailable(_))));
    assert!(call.elapsed() < Duration::from_secs(5), "a call took {:?}", call.elapsed());
}

#[tokio::test]
async fn the_lease_survives_the_loss_of_the_etcd_leader() {
    // A lease of 5 s: an election takes one to two election timeouts (1 s each).
    const LONG_TTL: Duration = Duration::from_secs(5);
    let mut cluster = EtcdCluster::three().await;
    let a = node_with_ttl(&cluster, "a", LONG_TTL).await;
    let b = node_with_ttl(&cluster, "b", LONG_TTL).await;
    let ownership = a.acquire("b1").await.expect("acquire").expect("a owns b1");

    let leader = cluster.leader().await;
    cluster.kill(leader);
    let killed = Instant::now();
    // Until a renewal sent after the kill is acknowledged, the deadline never passes.
    let within = Duration::from_secs(10);
    while a.ownership_deadline().expect("deadline") < killed + (LONG_TTL - MARGIN) {
        assert!(Instant::now() < a.ownership_deadline().expect("deadline"), "the local deadline passed during the election");
        assert!(killed.elapsed() < within, "no renewal within {within:?} of the leader's death\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let renewal_took = killed.elapsed();
    assert!(a.lease_counters().renewals >= 2);
    cluster.wait_healthy().await.expect("the two others elect a leader");
    assert_eq!(b.owner("b1").await.expect("owner"), Some(ownership.clone()), "renewed {renewal_took:?} after the kill");
    assert_eq!(b.acquire("b1").await.expect("acquire"), None);
    a.put_fenced(&ownership, "k", b"v").await.expect("the owner still writes");
    // And it keeps being renewed.
    renewed_after_long(&a, Instant::now(), LONG_TTL).await;
}

#[tokio::test]
async fn the_keep_alive_is_reopened_when_etcd_comes_back() {
    // The one member killed and started again: the stream surely dies and must be re-opened.
    const LONG_TTL: Duration = Duration::from_secs(5);
    let mut cluster = EtcdCluster::single().await;
    let a = node_with_ttl(&cluster, "a", LONG_TTL).await;
    let ownership = a.acquire("b1").await.expect("acquire").expect("a owns b1");
    cluster.kill(0);
    let killed = Instant::now();
    let before = a.ownership_deadline().expect("deadline");
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.restart(0);
    cluster.wait_healthy().await.expect("etcd is back");
    renewed_after_long(&a, killed, LONG_TTL).await;
    assert!(a.ownership_deadline().expect("deadline") > before);
    // etcd keeps leases across a restart: the bot is still a's, with the same token.
    assert_eq!(a.owner("b1").await.expect("owner"), Some(ownership.clone()));
    assert_eq!(a.acquire("b1").await.expect("acquire"), Some(ownership.clone()));
    a.put_fenced(&ownership, "k", b"v").await.expect("the owner still writes");
}

async fn renewed_after_long(store: &EtcdStore, instant: Instant, ttl: Duration) {
    let start = Instant::now();
    while store.ownership_deadline().expect("deadline") < instant + (ttl - MARGIN) {
        assert!(start.elapsed() < ttl, "no renewal acknowledged within {ttl:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_lost_lease_is_replaced_and_its_ownerships_are_gone() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    let first = a.acquire("b1").await.expect("acquire").expect("a owns b1");
    let generation = a.lease_generation();
    // Revoked behind the node's back (an operator, or an expiry while it was paused).
    let mut raw = etcd_client::Client::connect(cluster.endpoints(), None).await.expect("a raw client");
    raw.lease_revoke(a.lease_id()).await.expect("revoke");
    assert_eq!(b.owner("b1").await.expect("owner"), None);

    let start = Instant::now();
    while a.lease_generation() == generation {
        assert!(start.elapsed() < TTL, "the loss not noticed within {TTL:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The node is a member again, on its new lease; its old token writes nothing.
    let rejoined = Instant::now();
    while !b.members().await.expect("members").iter().any(|m| m.node_id == "a") {
        assert!(rejoined.elapsed() < TTL, "a did not rejoin");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(a.put_fenced(&first, "k", b"v").await, Err(StoreError::Fenced { .. })));
    assert_eq!(a.lease_counters().leases_lost, 1);
    let second = a.acquire("b1").await.expect("acquire").expect("a owns b1 again");
    assert!(second.token > first.token);
    assert!(a.ownership_deadline().expect("deadline") > Instant::now());
}

#[tokio::test]
async fn connecting_to_no_etcd_is_unavailable_within_its_bounds() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mut settings = EtcdSettings::new(vec![format!("http://127.0.0.1:{port}")]);
    settings.lease_ttl = TTL;
    settings.deadline_margin = MARGIN;
    settings.call_timeout = Duration::from_millis(500);
    settings.attempts = 2;
    let start = Instant::now();
    let result = EtcdStore::connect(settings, member("a")).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{:?}", result.err());
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}

fn bot(id: &str, name: &str) -> BotConfig {
    serde_json::from_value(json!({
        "id": id,
        "name": name,
        "platform": {"csds": "embedded", "login": id, "auth": {"password": {"value": "secret"}}},
        "vendor": {"kind": "scripted", "script": "config/demo-scripted-bot.toml"},
        "settings": {"skill": "bots", "escalation": {"skill": "human-agents"}},
    }))
    .expect("a bot config")
}

fn as_json(stored: &StoredBots) -> serde_json::Value {
    serde_json::to_value(stored).expect("json")
}

#[tokio::test]
async fn bots_changed_through_the_api_load_as_stored_bots_would_hold_them() {
    let cluster = EtcdCluster::single().await;
    let (a, b) = (node(&cluster, "a").await, node(&cluster, "b").await);
    // The same changes applied to `StoredBots` (bots.json's semantics) and to etcd through two
    // nodes; every node loads what StoredBots holds.
    let mut expected = StoredBots { version: 1, ..StoredBots::default() };
    assert_eq!(as_json(&a.load_bots().await.expect("load")), as_json(&expected));

    a.upsert_bot(&bot("b1", "one")).await.expect("upsert");
    expected.upsert(bot("b1", "one"));
    b.upsert_bot(&bot("b2", "two")).await.expect("upsert");
    expected.upsert(bot("b2", "two"));
    a.set_stopped("b2", true).await.expect("stop");
    expected.set_stopped("b2", true);
    b.delete_bot("file-bot").await.expect("delete");
    expected.delete("file-bot");
    assert_eq!(as_json(&b.load_bots().await.expect("load")), as_json(&expected));

    a.upsert_bot(&bot("b1", "one, edited")).await.expect("edit");
    expected.upsert(bot("b1", "one, edited"));
    b.delete_bot("b2").await.expect("delete");
    expected.delete("b2");
    a.upsert_bot(&bot("file-bot", "back")).await.expect("re-add");
    expected.upsert(bot("file-bot", "back"));
    a.set_stopped("b1", true).await.expect("stop");
    expected.set_stopped("b1", true);
    a.set_stopped("b1", false).await.expect("start");
    expected.set_stopped("b1", false);
    a.set_stopped("never-stopped", false).await.expect("a no-op");
    expected.set_stopped("never-stopped", false);
    let loaded = a.load_bots().await.expect("load");
    assert_eq!(as_json(&loaded), as_json(&expected));
    assert_eq!(loaded.bots.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["b1", "file-bot"], "edited in place, re-added last");
    assert!(loaded.deleted.contains(&"b2".to_owned()) && !loaded.is_stopped("b2"));
}

#[tokio::test]
async fn with_authentication_on_the_right_credentials_work_and_wrong_ones_are_refused_unretried() {
    let cluster = EtcdCluster::single().await;
    let mut admin = etcd_client::Client::connect(cluster.endpoints(), None).await.expect("a raw client");
    admin.user_add("root", "root-password", None).await.expect("root user");
    admin.user_grant_role("root", "root").await.expect("root role");
    admin.auth_enable().await.expect("auth on");

    let mut right = settings(&cluster, TTL);
    right.credentials = Some(("root".into(), "root-password".into()));
    let a = EtcdStore::connect(right, member("a")).await.expect("connects with its credentials");
    assert!(a.acquire("b1").await.expect("acquire").is_some());

    let mut wrong = settings(&cluster, TTL);
    wrong.credentials = Some(("root".into(), "not-the-password".into()));
    let start = Instant::now();
    let refused = EtcdStore::connect(wrong, member("b")).await.err().expect("refused");
    assert!(matches!(&refused, StoreError::Io(_)), "{refused:?}");
    assert!(!refused.to_string().contains("not-the-password"), "{refused}");
    assert!(start.elapsed() < Duration::from_secs(2), "a refusal is not retried ({:?})", start.elapsed());
}
