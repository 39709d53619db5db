//! The live directory other tasks read without asking the agent manager: SIP credentials
//! (for the registrar's digest check) and routes (number → flow). The admin API changes it
//! together with the store, so a new agent can register and a new number can be dialled at
//! once, without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use store::{Agent, Route, SipSecret};

#[derive(Default)]
struct Inner {
    /// SIP user → (agent id, plain password).
    credentials: HashMap<String, (String, String)>,
    /// Agent id → SIP user (to drop the old user when an agent's SIP user changes).
    sip_users: HashMap<String, String>,
    /// Number → route.
    routes: HashMap<String, Route>,
}

/// Credentials and routes, shared by the registrar, the contact tasks and the admin API.
/// Cheap to clone; every read takes a short read lock and never waits on I/O.
#[derive(Clone, Default)]
pub struct Directory {
    inner: Arc<RwLock<Inner>>,
}

impl Directory {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // Plain maps replaced entry by entry: a panic elsewhere cannot leave them torn.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        // As in `read`.
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The digest password of a SIP user (the registrar's lookup), `None` for an unknown user
    /// or an agent whose secret is stored only as HA1 hashes (which the registrar cannot use).
    pub fn password(&self, sip_user: &str) -> Option<String> {
        self.read()
            .credentials
            .get(sip_user)
            .map(|(_, pw)| pw.clone())
    }

    /// The agent who registers as `sip_user`.
    pub fn agent_of(&self, sip_user: &str) -> Option<String> {
        self.read()
            .credentials
            .get(sip_user)
            .map(|(agent, _)| agent.clone())
    }

    /// The route of a dialled number.
    pub fn route(&self, number: &str) -> Option<Route> {
        self.read().routes.get(number).cloned()
    }

    /// Every route, by number.
    pub fn routes(&self) -> Vec<Route> {
        let mut v: Vec<Route> = self.read().routes.values().cloned().collect();
        v.sort_by(|a, b| a.number.cmp(&b.number));
        v
    }

    /// Adds or replaces an agent's credentials. The registrar needs the plain password: a
    /// secret stored as HA1 hashes (how the configuration file's agents are stored) uses
    /// `file_password`, else the password this agent already had here.
    pub(crate) fn put_agent(&self, agent: &Agent, file_password: Option<&str>) {
        let mut inner = self.write();
        let known = inner
            .sip_users
            .get(&agent.id)
            .and_then(|user| inner.credentials.get(user))
            .map(|(_, pw)| pw.clone());
        if let Some(old) = inner.sip_users.remove(&agent.id) {
            inner.credentials.remove(&old);
        }
        let password = match &agent.secret {
            Some(SipSecret::Password(pw)) => Some(pw.clone()),
            Some(SipSecret::Ha1 { .. }) => file_password.map(str::to_string).or(known),
            None => None,
        };
        match password {
            Some(pw) => {
                inner
                    .credentials
                    .insert(agent.sip_user.clone(), (agent.id.clone(), pw));
                inner
                    .sip_users
                    .insert(agent.id.clone(), agent.sip_user.clone());
            }
            None if agent.secret.is_some() => {
                tracing::warn!(agent = %agent.id, "SIP secret stored as HA1 only and no password known: the agent's phone cannot register");
            }
            None => {}
        }
    }

    /// Drops an agent's credentials.
    pub(crate) fn remove_agent(&self, agent_id: &str) {
        let mut inner = self.write();
        if let Some(old) = inner.sip_users.remove(agent_id) {
            inner.credentials.remove(&old);
        }
    }

    /// Adds or replaces a route.
    pub(crate) fn put_route(&self, route: Route) {
        self.write().routes.insert(route.number.clone(), route);
    }

    /// Drops a route.
    pub(crate) fn remove_route(&self, number: &str) {
        self.write().routes.remove(number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, user: &str, pw: &str) -> Agent {
        Agent {
            id: id.into(),
            name: id.into(),
            sip_user: user.into(),
            secret: Some(SipSecret::Password(pw.into())),
            skills: Default::default(),
            queues: Default::default(),
            wrap_up: None,
        }
    }

    #[test]
    fn changing_an_agents_sip_user_drops_the_old_user() {
        let d = Directory::default();
        d.put_agent(&agent("alice", "1001", "pw1"), None);
        assert_eq!(d.password("1001").as_deref(), Some("pw1"));
        d.put_agent(&agent("alice", "2001", "pw2"), None);
        assert_eq!(d.password("1001"), None);
        assert_eq!(d.password("2001").as_deref(), Some("pw2"));
        assert_eq!(d.agent_of("2001").as_deref(), Some("alice"));
        d.remove_agent("alice");
        assert_eq!(d.password("2001"), None);
    }

    #[test]
    fn ha1_secrets_use_the_file_password_or_keep_the_known_one() {
        let d = Directory::default();
        let mut a = agent("bob", "1002", "x");
        a.secret = Some(SipSecret::digest("1002", "realm", "x"));
        d.put_agent(&a, None);
        assert_eq!(d.password("1002"), None, "nothing to go on");
        d.put_agent(&a, Some("x"));
        assert_eq!(d.password("1002").as_deref(), Some("x"));
        // An update through the API that does not touch the secret keeps the password.
        a.name = "Bob".into();
        d.put_agent(&a, None);
        assert_eq!(d.password("1002").as_deref(), Some("x"));
    }
}
