//! What the simulator's HTTP handlers share: the account, the configuration, the state, the
//! platform origin's address, and the traffic generator started through the control API.

use serde_json::{json, Value};

use crate::sim::config::SimConfig;
use crate::sim::state::Shared;
use crate::sim::traffic::TrafficHandle;

/// What the HTTP handlers share.
pub struct Sim {
    pub account: String,
    pub config: SimConfig,
    pub state: Shared,
    /// `host:port` of the platform origin, as CSDS lists it.
    pub host: String,
    /// The traffic generator started through the control API, if any.
    pub traffic: std::sync::Mutex<Option<TrafficHandle>>,
}

impl Sim {
    pub fn base_uris(&self) -> Vec<Value> {
        ["agentVep", "facadeMsg", "asyncMessagingEnt", "msgHist", "accountConfigReadOnly"]
            .iter()
            .map(|service| json!({"service": service, "account": self.account, "baseURI": self.host}))
            .collect()
    }
}
