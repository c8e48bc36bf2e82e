//! The etcd back end of the store (feature `etcd`): bots owned through a lease per node, the
//! owner key's `create_revision` as the fencing token, every owner write a Txn guarded by it.
//!
//! - `settings.rs`: endpoints, prefix, lease TTL and the time bounds of every call.
//! - `keys.rs`: the key layout under the prefix.
//! - `call.rs`: one bounded call, retried while etcd is unavailable; etcd's errors sorted.
//! - `lease.rs`: the node's lease, its keeper task and the local ownership deadline.
//! - `store.rs`: `EtcdStore`, the `Store` on etcd.

mod call;
mod keys;
mod lease;
mod settings;
mod store;

pub use lease::LeaseCounters;
pub use settings::{EtcdSettings, EtcdTls};
pub use store::EtcdStore;
