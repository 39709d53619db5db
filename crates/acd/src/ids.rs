//! Identifiers of the things the ACD manages.
//!
//! Agents and queues are named by the configuration (`alice`, `support`), so their ids are
//! cheap-to-clone shared strings. Contacts are numbered by the controller (its call-record id
//! is a natural choice), so a contact id is a plain `u64`.

use std::fmt;
use std::sync::Arc;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Creates an id from its textual form.
            pub fn new(id: impl AsRef<str>) -> Self {
                Self(Arc::from(id.as_ref()))
            }

            /// The textual form of the id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self::new(id)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(Arc::from(id))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

string_id!(
    /// An agent, as named in the configuration (e.g. `alice`).
    AgentId
);
string_id!(
    /// A queue, as named in the configuration (e.g. `support`).
    QueueId
);

/// A contact (one customer call) as numbered by the controller.
///
/// The ACD only requires that no two contacts it currently holds share an id; an id may be
/// reused once the ACD has let go of the contact (after it ended, abandoned or left the queue).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ContactId(pub u64);

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why an agent is not ready, as the agent (or the ACD) said it.
///
/// The ACD itself uses [`NotReadyReason::no_answer`], [`NotReadyReason::unreachable`] and
/// [`NotReadyReason::login`]; any other text comes from the agent's request.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NotReadyReason(Arc<str>);

impl NotReadyReason {
    /// A reason given by the agent or a supervisor.
    pub fn new(reason: impl AsRef<str>) -> Self {
        Self(Arc::from(reason.as_ref()))
    }

    /// The agent let an offer ring past the queue's ring timeout.
    pub fn no_answer() -> Self {
        Self::new("no answer")
    }

    /// The agent's device could not be reached (no registration, transport failure).
    pub fn unreachable() -> Self {
        Self::new("unreachable")
    }

    /// The agent logged in without asking to be ready.
    pub fn login() -> Self {
        Self::new("login")
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NotReadyReason {
    fn from(reason: &str) -> Self {
        Self::new(reason)
    }
}

impl fmt::Display for NotReadyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NotReadyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}
