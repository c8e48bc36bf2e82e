//! Running as a cluster (DESIGN.md, "Running as a cluster"): the store behind one trait, with the
//! embedded back end (a redb file in the data directory; this node owns every bot) and, with the
//! `etcd` feature, the etcd back end (bots owned through leases, every owner write fenced); the
//! assignment of bots to nodes, the loop that carries it out, and the fence its sessions check.

pub mod assignment;
pub mod conversation_records;
pub mod coordinator;
pub mod counters;
pub mod embedded;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod fence;
pub mod plan;
pub mod store;
pub mod summary;

pub use conversation_records::{SharedOwnership, StoreConversationRecords};
pub use counters::ClusterCounters;
pub use embedded::EmbeddedStore;
#[cfg(feature = "etcd")]
pub use etcd::{EtcdSettings, EtcdStore, EtcdTls};
pub use fence::Fence;
pub use store::{FencingToken, Member, Ownership, Store, StoreError, StoreStats};
