//! Provisioning bot users: what a host embedding the simulator (botvisor's `csds = "embedded"`
//! bots) needs so that a configured bot can log in, through an API rather than the state's lock.

use crate::sim::config::{Credentials, UserKind};
use crate::sim::state::{Shared, SkillError, UserError};

/// A bot's agent user: its login, password, skill (by name) and slots.
#[derive(Clone)]
pub struct BotUser {
    pub login: String,
    pub password: String,
    /// Created (not human) if the simulator has no skill of this name.
    pub skill: String,
    pub max_slots: usize,
}

impl std::fmt::Debug for BotUser {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotUser")
            .field("login", &self.login)
            .field("skill", &self.skill)
            .field("max_slots", &self.max_slots)
            .finish_non_exhaustive()
    }
}

/// What provisioning did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provided {
    /// A new agent user.
    Created { user_id: String, pid: String },
    /// The user existed; its password is now the given one (its skills and slots are kept).
    PasswordUpdated { user_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("the simulator's state is unusable: a thread panicked while holding it")]
    Poisoned,
    #[error("the bot's skill: {0}")]
    Skill(#[from] SkillError),
    #[error("the bot's agent user: {0}")]
    User(#[from] UserError),
}

/// Makes sure `user` can log in: its skill exists, and its agent user is created, or given the
/// password.
pub fn provide_bot_user(state: &Shared, user: &BotUser) -> Result<Provided, ProvisionError> {
    let mut state = state.lock().map_err(|_| ProvisionError::Poisoned)?;
    if state.skill_by_name(&user.skill).is_none() {
        state.add_skill(&user.skill, false)?;
    }
    let credentials = Credentials::Password { password: user.password.clone() };
    if let Some(existing) = state.users.values_mut().find(|u| u.login == user.login) {
        existing.credentials = credentials;
        return Ok(Provided::PasswordUpdated { user_id: existing.user_id.clone() });
    }
    let (user_id, pid) = state.add_user(&user.login, credentials, std::slice::from_ref(&user.skill), user.max_slots, UserKind::Bot)?;
    Ok(Provided::Created { user_id, pid })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sim::config::SimConfig;
    use crate::sim::state::SimState;

    fn bot(password: &str) -> BotUser {
        BotUser { login: "bot1".into(), password: password.into(), skill: "sales".into(), max_slots: 5 }
    }

    #[test]
    fn creates_the_skill_and_user_then_updates_the_password() {
        let state = SimState::new(SimConfig::default()).shared();
        let Ok(Provided::Created { user_id, .. }) = provide_bot_user(&state, &bot("one")) else { panic!("created") };
        assert_eq!(provide_bot_user(&state, &bot("two")), Ok(Provided::PasswordUpdated { user_id: user_id.clone() }));
        let mut locked = state.lock().unwrap();
        assert_eq!(locked.skills.len(), 1, "the skill is created once");
        let user = &locked.users[&user_id];
        assert_eq!((user.max_slots, user.skills.clone()), (5, vec![locked.skills[0].id.clone()]));
        assert!(locked.login(&json!({"username": "bot1", "password": "two"})).is_ok(), "the new password logs in");
        assert!(format!("{:?}", bot("secret")).find("secret").is_none(), "Debug hides the password");
    }

    #[test]
    fn refuses_what_the_simulator_would_refuse() {
        let state = SimState::new(SimConfig::default()).shared();
        let empty = BotUser { login: " ".into(), ..bot("pw") };
        assert_eq!(provide_bot_user(&state, &empty), Err(ProvisionError::User(UserError::EmptyLogin)));
        let no_slots = BotUser { max_slots: 0, ..bot("pw") };
        assert_eq!(provide_bot_user(&state, &no_slots).unwrap_err().to_string(), "the bot's agent user: max_slots: must be at least 1");
        let no_skill = BotUser { skill: "".into(), ..bot("pw") };
        assert_eq!(provide_bot_user(&state, &no_skill), Err(ProvisionError::Skill(SkillError::EmptyName)));
    }
}
