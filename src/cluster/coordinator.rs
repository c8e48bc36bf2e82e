//! The cluster loop: at each tick it reads the members, the bots and their owners from the
//! store, asks `plan` what to do, and carries it out through the registry. With the embedded
//! store there is one member and no deadline, so it simply runs every bot not stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::counters::ClusterCounters;
use crate::cluster::fence::Fence;
use crate::cluster::plan::{plan, Action, BotView, PlanSettings, PlanState};
use crate::cluster::store::Store;
use crate::cluster::summary::{BotSummary, STATUS_KEY};
use crate::service::{BotRegistry, RegistryError};
use botvisor_actors::bot::GetBotStatus;

#[derive(Debug, Clone, Copy)]
pub struct CoordinatorSettings {
    /// How often the loop looks (a takeover happens within a tick of the owner's lease expiry).
    pub tick: Duration,
    pub plan: PlanSettings,
    /// The bots' definitions are re-read from the store this often (edits from other nodes).
    pub refresh_every_ticks: u32,
    /// Each owned bot's status summary is written to the store this often (the cluster view).
    pub report_every_ticks: u32,
}

impl Default for CoordinatorSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(500),
            plan: PlanSettings { handoffs_per_interval: 2, handoff_interval: Duration::from_secs(10) },
            refresh_every_ticks: 4,
            report_every_ticks: 4,
        }
    }
}

pub struct Coordinator {
    registry: Arc<BotRegistry>,
    /// The sessions' view of the ownership deadline, moved forward at every tick.
    fence: Fence,
    counters: Arc<ClusterCounters>,
    store: Arc<dyn Store>,
    settings: CoordinatorSettings,
    state: PlanState,
    /// Rebalancing waits: a member is unreachable, or the store could not say.
    unsettled: bool,
    ticks: u64,
    /// Bots whose start failed here (a vendor not online): not tried again before the instant,
    /// with the wait doubling up to `MAX_START_BACKOFF`.
    backoff: HashMap<String, (Instant, Duration)>,
}

/// The first and the longest wait before starting again a bot whose start failed.
const FIRST_START_BACKOFF: Duration = Duration::from_secs(2);
const MAX_START_BACKOFF: Duration = Duration::from_secs(60);

impl Coordinator {
    pub fn new(registry: Arc<BotRegistry>, store: Arc<dyn Store>, settings: CoordinatorSettings) -> Self {
        Self {
            registry,
            fence: Fence::open(),
            counters: Arc::default(),
            store,
            settings,
            state: PlanState::default(),
            unsettled: false,
            ticks: 0,
            backoff: HashMap::new(),
        }
    }

    /// The fence the node's sessions check (the launcher's): set from the store's deadline at
    /// every tick.
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// Counts its handoffs, takeovers and session drops into `counters` (the metrics').
    pub fn with_counters(mut self, counters: Arc<ClusterCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// Runs until the registry is dropped elsewhere and `stop` resolves.
    pub async fn run(mut self, stop: tokio::sync::oneshot::Receiver<()>) {
        tokio::pin!(stop);
        let mut interval = tokio::time::interval(self.settings.tick.max(Duration::from_millis(10)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = interval.tick() => self.tick().await,
            }
        }
    }

    /// One look at the cluster, and what follows from it.
    pub async fn tick(&mut self) {
        self.ticks += 1;
        let deadline = self.store.ownership_deadline();
        self.fence.set(deadline);
        if deadline.is_none_or(|d| Instant::now() < d)
            && (self.ticks - 1).is_multiple_of(u64::from(self.settings.refresh_every_ticks.max(1)))
        {
            match self.store.load_bots().await {
                Ok(stored) => self.registry.refresh_definitions(stored).await,
                Err(error) => tracing::warn!(%error, "the bots could not be read from the store"),
            }
        }
        let mut members = match self.store.members().await {
            Ok(members) => members,
            Err(error) => {
                tracing::warn!(%error, "the members could not be read from the store");
                Vec::new()
            }
        };
        self.observe_reachability(members.is_empty()).await;
        // A drained member ranks for no bot: its bots are handed to the others, a few at a time.
        if let Ok(drained) = self.store.drained().await {
            for member in &mut members {
                if drained.contains(&member.node_id) {
                    member.capacity = 0;
                }
            }
        }
        let mut bots = Vec::new();
        for bot in self.registry.list() {
            let owner = match self.store.owner(bot.id()).await {
                Ok(owner) => owner.map(|o| o.node_id),
                // Unknown: treat it as owned by someone, so nothing is taken on a guess.
                Err(_) => Some(String::new()),
            };
            bots.push(BotView {
                id: bot.id().to_owned(),
                stopped: self.registry.is_stored_stopped(bot.id()),
                owned_here: bot.ownership().is_some(),
                owner,
            });
        }
        let now = Instant::now();
        let node_id = self.store.node_id().to_owned();
        for action in plan(&node_id, &members, &bots, deadline, now, &self.settings.plan, &mut self.state) {
            self.carry_out(action).await;
        }
        if (self.ticks - 1).is_multiple_of(u64::from(self.settings.report_every_ticks.max(1))) {
            self.report_statuses().await;
        }
    }

    /// Asks the store which members stopped renewing their lease: while any did (or the store
    /// cannot say), the plan hands nothing off. Logged when it changes.
    async fn observe_reachability(&mut self, members_unknown: bool) {
        let unreachable = if members_unknown {
            Err("the members could not be read".to_owned())
        } else {
            self.store.unreachable_members().await.map_err(|e| e.to_string())
        };
        let unsettled = !matches!(&unreachable, Ok(ids) if ids.is_empty());
        self.counters.set_unreachable_members(unreachable.as_ref().map_or(0, Vec::len));
        if unsettled != self.unsettled {
            match &unreachable {
                Ok(ids) if !ids.is_empty() => tracing::warn!(members = ?ids, "members stopped renewing their lease: rebalancing waits"),
                Err(error) => tracing::warn!(%error, "member reachability unknown: rebalancing waits"),
                _ => tracing::info!("every member renews its lease again: rebalancing resumes after an interval"),
            }
            self.unsettled = unsettled;
        }
        self.state.set_unsettled(unsettled);
    }

    /// Writes each owned bot's status summary to the store, with its token (a node that lost
    /// the bot is refused).
    async fn report_statuses(&self) {
        for bot in self.registry.list() {
            let Some(ownership) = bot.ownership() else { continue };
            let Ok(status) = bot.addr.send(GetBotStatus).await else { continue };
            let summary = BotSummary::of(&ownership.node_id, &status);
            let Ok(bytes) = serde_json::to_vec(&summary) else { continue };
            if let Err(error) = self.store.put_fenced(&ownership, STATUS_KEY, &bytes).await {
                tracing::debug!(bot_id = %bot.id(), %error, "the bot's status could not be reported to the cluster");
            }
        }
    }

    async fn carry_out(&mut self, action: Action) {
        match action {
            Action::DropAll => {
                tracing::error!(
                    "the ownership deadline passed (the store is unreachable or the lease was lost): every bot's session is dropped"
                );
                self.counters.count_session_drop();
                self.registry.drop_all_sessions();
            }
            Action::Acquire(id) => {
                let now = Instant::now();
                if self.backoff.get(&id).is_some_and(|(until, _)| now < *until) {
                    return;
                }
                match self.registry.start(&id).await {
                    Ok(_) => {
                        self.backoff.remove(&id);
                        self.counters.count_takeover();
                        tracing::info!(bot_id = %id, "bot taken over by this node");
                    }
                    Err(RegistryError::OwnedElsewhere { node }) => tracing::debug!(bot_id = %id, %node, "another node took the bot first"),
                    Err(error) => {
                        let wait = self.backoff.get(&id).map_or(FIRST_START_BACKOFF, |(_, last)| (*last * 2).min(MAX_START_BACKOFF));
                        tracing::warn!(bot_id = %id, %error, retry_in = ?wait, "the bot could not be started here");
                        self.backoff.insert(id, (now + wait, wait));
                    }
                }
            }
            Action::HandOff(id) => match self.registry.hand_off(&id).await {
                Ok(()) => {
                    self.counters.count_handoff();
                    tracing::info!(bot_id = %id, "bot handed off to the node it now ranks first on");
                }
                Err(error) => tracing::warn!(bot_id = %id, %error, "the bot could not be handed off"),
            },
            Action::Stop(id) => {
                if let Err(error) = self.registry.hand_off(&id).await {
                    tracing::warn!(bot_id = %id, %error, "the bot could not be stopped here");
                }
            }
        }
    }
}
