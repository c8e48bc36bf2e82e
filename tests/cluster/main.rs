//! The cluster store's behaviour against real peers. The etcd back end's tests need the `etcd`
//! feature and Debian's `etcd` binary (`./scripts/test` installs it and enables the feature):
//! `cargo test --features etcd --test cluster`.

#[cfg(feature = "etcd")]
#[path = "../../benches/chaos/harness/mod.rs"]
mod chaos;
#[cfg(feature = "etcd")]
mod chaos_checks;
#[cfg(feature = "etcd")]
mod chaos_short;
#[cfg(feature = "etcd")]
mod etcd_harness;
#[cfg(feature = "etcd")]
mod etcd_store;
#[cfg(feature = "etcd")]
mod etcd_tls;
#[cfg(feature = "etcd")]
mod nodes;
