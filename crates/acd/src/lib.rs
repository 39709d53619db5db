//! The agent manager (ACD): agent states, queues, skills, strategies and the traffic simulator. Sans-IO.

mod config;
mod engine;
pub mod erlang;
mod error;
mod ids;
mod io;
pub mod sim;
mod stats;

pub use config::{
    AcdConfig, AgentConfig, MAX_PROFICIENCY, MIN_PROFICIENCY, QueueConfig, Skills, Strategy,
};
pub use engine::Acd;
pub use error::{AcdError, ErrorKind, InvariantViolation};
pub use ids::{AgentId, ContactId, NotReadyReason, QueueId};
pub use io::{AgentState, CancelReason, ContactStatus, Input, Output, Rejection, StateKind};
pub use stats::{AgentCounts, AgentPeriodStats, AgentStats, PeriodStats, QueueStats};
