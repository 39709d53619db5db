//! The ACD's one error type.

use crate::ids::{AgentId, ContactId, QueueId};

/// Why the ACD refused an input. A refused input changes nothing and produces no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    /// No agent with this id is configured.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// No queue with this id is configured.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// The ACD holds no contact with this id (it may have ended or left the queue already).
    #[error("unknown contact {0}")]
    UnknownContact(ContactId),
    /// The ACD already holds a contact with this id.
    #[error("contact {0} is already in the ACD")]
    DuplicateContact(ContactId),
    /// The request does not apply to the agent's current state (e.g. `hold` while available).
    #[error("agent {agent} cannot {request} while {state}")]
    InvalidTransition {
        /// The agent.
        agent: AgentId,
        /// The name of the agent's state (see [`AgentState::name`](crate::AgentState::name)).
        state: &'static str,
        /// What was asked.
        request: &'static str,
    },
    /// The device reported on an offer that is not ringing (it was cancelled, answered
    /// elsewhere, or never made). A late answer must be hung up by the controller.
    #[error("agent {agent} has no offer ringing for contact {contact}")]
    NoSuchOffer {
        /// The agent.
        agent: AgentId,
        /// The contact.
        contact: ContactId,
    },
    /// The contact is connected to an agent, so it can no longer be withdrawn from its queue.
    #[error("contact {0} is connected to an agent")]
    ContactConnected(ContactId),
    /// The agent is handling a contact; it must hang up first.
    #[error("agent {0} is handling a contact")]
    AgentBusy(AgentId),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// The category of an [`AcdError`], which is also how an HTTP API should answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something named does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with the current state (HTTP 409).
    Conflict,
    /// The request itself is malformed (HTTP 422).
    Invalid,
}

impl AcdError {
    /// The error's category.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AcdError::UnknownAgent(_) | AcdError::UnknownQueue(_) | AcdError::UnknownContact(_) => {
                ErrorKind::NotFound
            }
            AcdError::DuplicateContact(_)
            | AcdError::InvalidTransition { .. }
            | AcdError::NoSuchOffer { .. }
            | AcdError::ContactConnected(_)
            | AcdError::AgentBusy(_) => ErrorKind::Conflict,
            AcdError::InvalidConfig(_) => ErrorKind::Invalid,
        }
    }

    /// The HTTP status an API should answer this error with.
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Invalid => 422,
        }
    }
}

/// An internal inconsistency found by [`Acd::check_invariants`](crate::Acd::check_invariants):
/// always a bug in the ACD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ACD invariant violated: {0}")]
pub struct InvariantViolation(pub String);
