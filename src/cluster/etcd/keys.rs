//! Where each thing lives under the prefix. Bot ids are letters, digits, `-`, `_` and `.`
//! (`BotConfig::validate`), so no id holds the `/` that separates a bot from its state keys.
//!
//! | key                         | value                        | bound to the node's lease |
//! |-----------------------------|------------------------------|---------------------------|
//! | `bots/{id}`                 | the bot's config (JSON)      | no                        |
//! | `deleted/{id}`              | empty                        | no                        |
//! | `stopped/{id}`              | empty                        | no                        |
//! | `members/{node_id}`         | the `Member` (JSON)          | yes                       |
//! | `owners/{bot_id}`           | the owner's node id          | yes                       |
//! | `drained/{node_id}`         | empty                        | no                        |
//! | `state/{bot_id}/{key}`      | the owner's bytes            | no (outlives its owner)   |

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` ends with `/` (`EtcdSettings::validate`).
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    pub fn bot(&self, id: &str) -> String {
        format!("{}bots/{id}", self.prefix)
    }

    pub fn bots(&self) -> String {
        format!("{}bots/", self.prefix)
    }

    pub fn deleted_bot(&self, id: &str) -> String {
        format!("{}deleted/{id}", self.prefix)
    }

    pub fn deleted_bots(&self) -> String {
        format!("{}deleted/", self.prefix)
    }

    pub fn stopped_bot(&self, id: &str) -> String {
        format!("{}stopped/{id}", self.prefix)
    }

    pub fn stopped_bots(&self) -> String {
        format!("{}stopped/", self.prefix)
    }

    pub fn member(&self, node_id: &str) -> String {
        format!("{}members/{node_id}", self.prefix)
    }

    pub fn members(&self) -> String {
        format!("{}members/", self.prefix)
    }

    /// A drained node (not bound to a lease: a drain outlives restarts until undone).
    pub fn drained(&self, node_id: &str) -> String {
        format!("{}drained/{node_id}", self.prefix)
    }

    pub fn all_drained(&self) -> String {
        format!("{}drained/", self.prefix)
    }

    pub fn owner(&self, bot_id: &str) -> String {
        format!("{}owners/{bot_id}", self.prefix)
    }

    pub fn state(&self, bot_id: &str, key: &str) -> String {
        format!("{}state/{bot_id}/{key}", self.prefix)
    }

    /// What follows `listing` in `key` (a bot id under `bots/`, …); `None` for a key outside it.
    pub fn name_in<'k>(listing: &str, key: &'k [u8]) -> Option<&'k str> {
        std::str::from_utf8(key).ok()?.strip_prefix(listing).filter(|name| !name.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_under_the_prefix() {
        let keys = Keys::new("cluster-a/");
        assert_eq!(keys.bot("b1"), "cluster-a/bots/b1");
        assert_eq!(keys.deleted_bot("b1"), "cluster-a/deleted/b1");
        assert_eq!(keys.stopped_bot("b1"), "cluster-a/stopped/b1");
        assert_eq!(keys.member("n1"), "cluster-a/members/n1");
        assert_eq!(keys.owner("b1"), "cluster-a/owners/b1");
        assert_eq!(keys.state("b1", "conv/42"), "cluster-a/state/b1/conv/42");
    }

    #[test]
    fn a_listed_name_is_what_follows_the_listing() {
        let keys = Keys::new("p/");
        assert_eq!(Keys::name_in(&keys.bots(), b"p/bots/b1"), Some("b1"));
        assert_eq!(Keys::name_in(&keys.bots(), b"p/bots/"), None);
        assert_eq!(Keys::name_in(&keys.bots(), b"q/bots/b1"), None);
        assert_eq!(Keys::name_in(&keys.bots(), b"p/bots/\xff"), None);
    }
}
