//! What a node does at each tick of the cluster loop, decided from what it sees: the live
//! members, its bots and who owns them, its ownership deadline and the time. Pure: the
//! coordinator carries the actions out.
//!
//! - Past its ownership deadline (its lease may have expired) a node drops every session at once
//!   and does nothing else until the deadline moves again.
//! - It campaigns for the bots it ranks first (rendezvous hashing over the live members) that
//!   nobody owns; a crashed owner's bots come free when its lease expires, and its member key goes
//!   with it, so the ranking moves them to the survivors.
//! - It hands off the bots it owns that now rank elsewhere (a member joined), at most `k` per
//!   interval, and only once the member list has been stable for an interval (no rebalancing
//!   while members come and go) with every member reachable (no rebalancing towards, or away
//!   from, a member that stopped renewing its lease: it may be gone a moment later).

use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::assignment::preferred_owner;
use crate::cluster::store::Member;

/// One bot as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotView {
    pub id: String,
    /// Stopped through the admin API: it runs nowhere.
    pub stopped: bool,
    /// This node owns it and runs it.
    pub owned_here: bool,
    /// The node that owns it, as the store says (this node, another, or none).
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Past the ownership deadline: stop every bot's session now, release nothing (the store may
    /// be unreachable; the lease lapses by itself).
    DropAll,
    /// Become the owner and start it.
    Acquire(String),
    /// Stop it here gracefully and release it for the node it now ranks first on.
    HandOff(String),
    /// Stop it here: stopped through the admin API (from any node), or owned by another node.
    Stop(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    pub handoffs_per_interval: usize,
    pub handoff_interval: Duration,
}

/// What the loop remembers between ticks.
#[derive(Debug, Clone, Default)]
pub struct PlanState {
    /// The sessions were dropped for a passed deadline.
    pub fenced: bool,
    /// The member ids last seen, sorted, and since when.
    members: Vec<String>,
    members_since: Option<Instant>,
    last_handoff: Option<Instant>,
    /// The coordinator's last look found a member unreachable, or could not tell.
    unsettled: bool,
}

impl PlanState {
    /// Whether some member is unreachable (or the members could not be read) now: rebalancing
    /// waits until every member has been reachable, and the list unchanged, for an interval.
    pub fn set_unsettled(&mut self, unsettled: bool) {
        self.unsettled = unsettled;
    }
}

/// The actions for this tick.
pub fn plan(
    node_id: &str,
    members: &[Member],
    bots: &[BotView],
    deadline: Option<Instant>,
    now: Instant,
    settings: &PlanSettings,
    state: &mut PlanState,
) -> Vec<Action> {
    if deadline.is_some_and(|deadline| now >= deadline) {
        if state.fenced {
            return Vec::new();
        }
        state.fenced = true;
        return vec![Action::DropAll];
    }
    state.fenced = false;
    let mut ids: Vec<String> = members.iter().map(|m| m.node_id.clone()).collect();
    ids.sort();
    if state.unsettled {
        state.members_since = None;
    } else if ids != state.members || state.members_since.is_none() {
        state.members = ids;
        state.members_since = Some(now);
    }
    let mut actions = Vec::new();
    let mut handoff_candidates = Vec::new();
    for bot in bots {
        let preferred_here = preferred_owner(&bot.id, members).is_some_and(|m| m.node_id == node_id);
        match (bot.stopped, bot.owned_here) {
            (true, true) => actions.push(Action::Stop(bot.id.clone())),
            (true, false) => {}
            (false, true) if bot.owner.as_deref().is_some_and(|owner| owner != node_id) => actions.push(Action::Stop(bot.id.clone())),
            // Its owner key is gone (the lease was lost and replaced): this node's token no longer
            // owns it; stop, and campaign again on a later tick with a new token.
            (false, true) if bot.owner.is_none() => actions.push(Action::Stop(bot.id.clone())),
            (false, true) if !preferred_here => handoff_candidates.push(bot.id.clone()),
            (false, true) => {}
            // The store names this node the owner but the bot does not run here: its sessions were
            // dropped when the deadline passed while the lease lived on (an etcd leader election
            // longer than TTL - margin, a short cut), or a release failed. Nobody else can take it
            // while the lease lives, so take it back: the acquisition answers the ownership still
            // held, with its token, when the key is on this node's current lease (and nothing
            // when it is on an older one, which expires).
            (false, false) if bot.owner.as_deref() == Some(node_id) => actions.push(Action::Acquire(bot.id.clone())),
            (false, false) if preferred_here && bot.owner.is_none() => actions.push(Action::Acquire(bot.id.clone())),
            (false, false) => {}
        }
    }
    let stable = state.members_since.is_some_and(|since| now.saturating_duration_since(since) >= settings.handoff_interval);
    let due = state.last_handoff.is_none_or(|last| now.saturating_duration_since(last) >= settings.handoff_interval);
    if stable && due && !handoff_candidates.is_empty() {
        state.last_handoff = Some(now);
        actions.extend(handoff_candidates.into_iter().take(settings.handoffs_per_interval).map(Action::HandOff));
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: PlanSettings = PlanSettings { handoffs_per_interval: 2, handoff_interval: Duration::from_secs(10) };

    fn member(id: &str) -> Member {
        Member { node_id: id.into(), admin_addr: String::new(), capacity: 1, version: String::new() }
    }

    fn bot(id: &str, owned_here: bool, owner: Option<&str>) -> BotView {
        BotView { id: id.into(), stopped: false, owned_here, owner: owner.map(str::to_owned) }
    }

    /// Bots `a` ranks first among a and b, and bots `b` ranks first.
    fn split(n: usize) -> (Vec<String>, Vec<String>) {
        let members = [member("a"), member("b")];
        (0..n).map(|i| format!("bot-{i}")).partition(|id| preferred_owner(id, &members).unwrap().node_id == "a")
    }

    #[test]
    fn a_node_campaigns_only_for_the_free_bots_it_ranks_first() {
        let members = [member("a"), member("b")];
        let (mine, theirs) = split(20);
        let bots: Vec<BotView> = mine.iter().chain(&theirs).map(|id| bot(id, false, None)).collect();
        let actions = plan("a", &members, &bots, None, Instant::now(), &SETTINGS, &mut PlanState::default());
        assert_eq!(actions, mine.iter().map(|id| Action::Acquire(id.clone())).collect::<Vec<_>>());
        // One owned by b already is left alone.
        let owned = [bot(&mine[0], false, Some("b"))];
        assert!(plan("a", &members, &owned, None, Instant::now(), &SETTINGS, &mut PlanState::default()).is_empty());
    }

    #[test]
    fn when_the_owner_dies_its_bots_move_to_the_survivors() {
        let (_, theirs) = split(20);
        // b's lease expired: its member key and its owner keys are gone.
        let bots: Vec<BotView> = theirs.iter().map(|id| bot(id, false, None)).collect();
        let actions = plan("a", &[member("a")], &bots, None, Instant::now(), &SETTINGS, &mut PlanState::default());
        assert_eq!(actions.len(), theirs.len(), "a takes every one of them");
    }

    #[test]
    fn past_the_deadline_every_session_is_dropped_once_and_nothing_else_happens() {
        let t0 = Instant::now();
        let mut state = PlanState::default();
        let bots = [bot("x", true, Some("a")), bot("y", false, None)];
        assert_eq!(plan("a", &[member("a")], &bots, Some(t0), t0, &SETTINGS, &mut state), [Action::DropAll]);
        assert!(plan("a", &[member("a")], &bots, Some(t0), t0 + Duration::from_secs(1), &SETTINGS, &mut state).is_empty());
        // The lease is renewed again: back to normal.
        let later = t0 + Duration::from_secs(2);
        let actions = plan("a", &[member("a")], &bots, Some(later + Duration::from_secs(5)), later, &SETTINGS, &mut state);
        assert_eq!(actions, [Action::Acquire("y".into())]);
    }

    #[test]
    fn on_a_join_bots_are_handed_off_a_few_per_interval_once_the_members_are_stable() {
        let t0 = Instant::now();
        let (_, theirs) = split(40);
        assert!(theirs.len() > 4);
        // a owned everything while alone; b joins.
        let bots: Vec<BotView> = theirs.iter().map(|id| bot(id, true, Some("a"))).collect();
        let members = [member("a"), member("b")];
        let mut state = PlanState::default();
        assert!(plan("a", &members, &bots, None, t0, &SETTINGS, &mut state).is_empty(), "not while the member list just changed");
        let first = plan("a", &members, &bots, None, t0 + Duration::from_secs(10), &SETTINGS, &mut state);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|a| matches!(a, Action::HandOff(_))));
        assert!(plan("a", &members, &bots, None, t0 + Duration::from_secs(15), &SETTINGS, &mut state).is_empty(), "one batch per interval");
        assert_eq!(plan("a", &members, &bots, None, t0 + Duration::from_secs(20), &SETTINGS, &mut state).len(), 2);
        // A member leaving again restarts the wait.
        assert!(plan("a", &[member("a"), member("b"), member("c")], &bots, None, t0 + Duration::from_secs(40), &SETTINGS, &mut state)
            .iter()
            .all(|a| !matches!(a, Action::HandOff(_))));
    }

    #[test]
    fn nothing_is_rebalanced_while_a_member_is_unreachable_nor_for_an_interval_after() {
        let t0 = Instant::now();
        let (_, theirs) = split(40);
        let bots: Vec<BotView> = theirs.iter().map(|id| bot(id, true, Some("a"))).collect();
        let members = [member("a"), member("b")];
        let mut state = PlanState::default();
        assert!(plan("a", &members, &bots, None, t0, &SETTINGS, &mut state).is_empty());
        // b stops renewing its lease just as the list has been stable for an interval.
        state.set_unsettled(true);
        for secs in [10, 20, 30] {
            assert!(plan("a", &members, &bots, None, t0 + Duration::from_secs(secs), &SETTINGS, &mut state).is_empty(), "at {secs}s");
        }
        // b renews again: a full interval of calm before the first handoff.
        state.set_unsettled(false);
        assert!(plan("a", &members, &bots, None, t0 + Duration::from_secs(31), &SETTINGS, &mut state).is_empty());
        assert!(plan("a", &members, &bots, None, t0 + Duration::from_secs(40), &SETTINGS, &mut state).is_empty());
        assert_eq!(plan("a", &members, &bots, None, t0 + Duration::from_secs(41), &SETTINGS, &mut state).len(), 2);
    }

    #[test]
    fn free_bots_are_still_taken_while_a_member_is_unreachable() {
        // Taking a bot nobody owns is not rebalancing: a crashed owner's bots must still move.
        let (mine, _) = split(20);
        let bots: Vec<BotView> = mine.iter().map(|id| bot(id, false, None)).collect();
        let mut state = PlanState::default();
        state.set_unsettled(true);
        let actions = plan("a", &[member("a"), member("b")], &bots, None, Instant::now(), &SETTINGS, &mut state);
        assert_eq!(actions.len(), mine.len());
    }

    #[test]
    fn a_bot_whose_owner_key_vanished_is_stopped_and_taken_again_later() {
        // The lease was lost and a new one granted: the deadline is fine, the owner keys are gone.
        let bots = [bot("x", true, None)];
        assert_eq!(
            plan("a", &[member("a")], &bots, None, Instant::now(), &SETTINGS, &mut PlanState::default()),
            [Action::Stop("x".into())]
        );
        let stopped = [bot("x", false, None)];
        assert_eq!(
            plan("a", &[member("a")], &stopped, None, Instant::now(), &SETTINGS, &mut PlanState::default()),
            [Action::Acquire("x".into())]
        );
    }

    #[test]
    fn a_bot_still_owned_here_after_its_sessions_were_dropped_is_taken_back() {
        // The deadline passed (its sessions dropped, its ownership forgotten) but the lease lived
        // on: the owner key still names this node. Left alone, the bot would stay down while no
        // other node may take it; it is taken back, whichever node it ranks first on.
        let t0 = Instant::now();
        let mut state = PlanState::default();
        let (_, theirs) = split(20);
        let bots = [bot(&theirs[0], true, Some("a"))];
        let members = [member("a"), member("b")];
        assert_eq!(plan("a", &members, &bots, Some(t0), t0, &SETTINGS, &mut state), [Action::DropAll]);
        let dropped = [bot(&theirs[0], false, Some("a"))];
        let later = t0 + Duration::from_secs(1);
        let actions = plan("a", &members, &dropped, Some(later + Duration::from_secs(5)), later, &SETTINGS, &mut state);
        assert_eq!(actions, [Action::Acquire(theirs[0].clone())]);
        // Owned by another node: left alone.
        let elsewhere = [bot(&theirs[0], false, Some("b"))];
        assert!(plan("a", &members, &elsewhere, None, later, &SETTINGS, &mut state).is_empty());
    }

    #[test]
    fn stopped_bots_stop_everywhere_and_a_bot_another_node_owns_is_let_go() {
        let mut stopped = bot("s", true, Some("a"));
        stopped.stopped = true;
        let lost = bot("l", true, Some("b"));
        let actions = plan("a", &[member("a")], &[stopped, lost], None, Instant::now(), &SETTINGS, &mut PlanState::default());
        assert_eq!(actions, [Action::Stop("s".into()), Action::Stop("l".into())]);
    }
}
