//! Running as a cluster (DESIGN.md, "Running as a cluster"): the store behind one trait, with the
//! embedded back end (a redb file in the data directory; this node owns every bot) and, with the
//! `etcd` feature, the etcd back end (bots owned through leases, every owner write fenced).

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod store;

#[cfg(feature = "etcd")]
pub use etcd::{EtcdSettings, EtcdStore};
pub use store::{FencingToken, Member, Ownership, Store, StoreError};
