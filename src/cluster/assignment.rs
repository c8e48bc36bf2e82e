//! Which node should own which bot: weighted rendezvous hashing (highest random weight) over the
//! live members. Every node computes the same ranking from the same member list, with no
//! coordination; a member joining or leaving moves only the bots it ranks first or ranked first.
//! A node campaigns for the bots it ranks first; the handoff plan says which bots an owner gives
//! up when a member joins, a few per interval.

use crate::cluster::store::Member;

/// A stable 64-bit hash of the pair (XXH3, a fixed specification): the same on every node and
/// every build, unlike std's hasher.
fn hash(bot_id: &str, node_id: &str) -> u64 {
    let mut key = Vec::with_capacity(bot_id.len() + node_id.len() + 1);
    key.extend_from_slice(bot_id.as_bytes());
    key.push(0xff); // not in any UTF-8 text: ("ab", "c") and ("a", "bc") differ
    key.extend_from_slice(node_id.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&key)
}

/// The weighted score of `node` for `bot`: `-weight / ln(u)` with `u` uniform in (0, 1), so a
/// node's share of the bots is proportional to its weight.
fn score(bot_id: &str, member: &Member) -> f64 {
    let u = ((hash(bot_id, &member.node_id) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let weight = f64::from(member.capacity.max(1));
    -weight / u.ln()
}

/// The members in the order they should own `bot_id` (first: the owner).
pub fn rank<'m>(bot_id: &str, members: &'m [Member]) -> Vec<&'m Member> {
    let mut ranked: Vec<(&Member, f64)> = members.iter().filter(|m| m.capacity > 0).map(|m| (m, score(bot_id, m))).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.node_id.cmp(&b.0.node_id)));
    ranked.into_iter().map(|(m, _)| m).collect()
}

/// The node that should own `bot_id`, if any member can.
pub fn preferred_owner<'m>(bot_id: &str, members: &'m [Member]) -> Option<&'m Member> {
    rank(bot_id, members).into_iter().next()
}

/// The bots `node_id` owns but should hand to another member now, at most `per_interval` of
/// them (a join moves bots a few at a time, not all at once).
pub fn handoffs<'b>(node_id: &str, owned: &'b [String], members: &[Member], per_interval: usize) -> Vec<&'b str> {
    owned
        .iter()
        .filter(|bot| preferred_owner(bot, members).is_some_and(|m| m.node_id != node_id))
        .map(String::as_str)
        .take(per_interval)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, capacity: u32) -> Member {
        Member { node_id: id.into(), admin_addr: String::new(), capacity, version: String::new() }
    }

    fn bots(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("bot-{i}")).collect()
    }

    fn shares(members: &[Member], bots: &[String]) -> Vec<usize> {
        members.iter().map(|m| bots.iter().filter(|b| preferred_owner(b, members).unwrap().node_id == m.node_id).count()).collect()
    }

    #[test]
    fn every_node_agrees_and_the_order_of_the_list_does_not_matter() {
        let a = [member("a", 1), member("b", 1), member("c", 1)];
        let b = [member("c", 1), member("a", 1), member("b", 1)];
        for bot in bots(50) {
            assert_eq!(preferred_owner(&bot, &a).unwrap().node_id, preferred_owner(&bot, &b).unwrap().node_id);
        }
    }

    #[test]
    fn shares_follow_the_weights() {
        let members = [member("a", 1), member("b", 1), member("c", 2)];
        let shares = shares(&members, &bots(4000));
        // Expected 1000 / 1000 / 2000.
        assert!((850..1150).contains(&shares[0]) && (850..1150).contains(&shares[1]), "{shares:?}");
        assert!((1800..2200).contains(&shares[2]), "{shares:?}");
        assert!(preferred_owner("x", &[member("a", 0)]).is_none(), "a member of weight 0 owns nothing");
    }

    #[test]
    fn a_join_moves_only_the_bots_the_new_member_ranks_first() {
        let before = [member("a", 1), member("b", 1)];
        let after = [member("a", 1), member("b", 1), member("c", 1)];
        for bot in bots(500) {
            let old = &preferred_owner(&bot, &before).unwrap().node_id;
            let new = &preferred_owner(&bot, &after).unwrap().node_id;
            assert!(old == new || new == "c", "{bot} moved from {old} to {new}, not to the new member");
        }
        // And a leave moves only the bots the leaving member owned.
        for bot in bots(500) {
            let old = &preferred_owner(&bot, &after).unwrap().node_id;
            let new = &preferred_owner(&bot, &before).unwrap().node_id;
            assert!(old == new || old == "c");
        }
    }

    #[test]
    fn handoffs_are_the_bots_that_now_rank_elsewhere_a_few_at_a_time() {
        let members = [member("a", 1), member("b", 1)];
        let owned = bots(100);
        let all = handoffs("a", &owned, &members, usize::MAX);
        assert!(all.iter().all(|bot| preferred_owner(bot, &members).unwrap().node_id == "b"));
        assert!((30..70).contains(&all.len()), "about half: {}", all.len());
        assert_eq!(handoffs("a", &owned, &members, 3).len(), 3);
        assert!(handoffs("a", &owned, &[member("a", 1)], 10).is_empty(), "alone, it keeps everything");
    }
}
