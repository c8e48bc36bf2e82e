//! The service around the actor tree: how a bot's configuration becomes a running BotActor
//! (`launcher`), the bots of a node and their edits at run time (`registry`), and where edits
//! made through the admin API are kept across restarts (`store`).

pub mod launcher;
pub mod registry;
pub mod store;

pub use launcher::{BotLauncher, EmbeddedPlatform, LaunchError};
pub use registry::{BotRegistry, DeploymentStatus, ManagedBot, RegistryError};
pub use store::{BotStore, StoreError, StoredBots};
